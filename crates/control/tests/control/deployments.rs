//! Deployments, aliases, env vars, usage and logs through `ControlPlane`, across restarts.

use std::fs;

use eddy_control::model::{
    EnvTarget, EnvType, Level, LogQuery, LogRecord, Target, UsageCap, UsageSample,
};
use eddy_control::{
    AliasError, ControlPlane, DeployError, DeploymentState, EdgeConfigOp, HostRoute, Settings,
    Upload, UsageMeter, UsageScope,
};

use super::support::{PORT, output_tar, plane_at, project, t, write_output};

#[test]
fn everything_survives_a_restart_of_the_store() {
    let data = tempfile::tempdir().expect("tempdir");
    let app = project("app");
    let (first_id, edge_id) = {
        let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
        plane
            .add_env(
                &app,
                "API_KEY",
                "s3cret",
                &[EnvTarget::Production],
                EnvType::Secret,
            )
            .expect("env");
        let deployed = plane
            .deploy(
                &app,
                Target::Production,
                Upload::Tar(&output_tar("v1", "[]")),
            )
            .expect("deploy");
        let edge = plane
            .create_edge_config(&app, serde_json::Map::new())
            .expect("edge config");
        plane
            .patch_edge_config(
                &edge.id,
                &[EdgeConfigOp::Upsert {
                    key: "flag".into(),
                    value: serde_json::json!(true),
                }],
            )
            .expect("patch");
        plane
            .append_logs(&[LogRecord {
                deployment: deployed.id.clone(),
                function: Some("api/hello".into()),
                request_id: Some("req-1".into()),
                level: Level::Info,
                time: t("2026-03-01T10:00:01Z"),
                message: "hello".into(),
            }])
            .expect("logs");
        (deployed.id, edge.id)
    };

    let (plane, _) = plane_at(data.path(), t("2026-03-01T11:00:00Z"));
    let deployment = plane
        .resolve_host("app.localhost:4321")
        .expect("production alias");
    assert_eq!(deployment.id, first_id);
    assert!(deployment.output_dir.join("static/index.html").is_file());
    assert_eq!(
        plane
            .deployment_env(&first_id)
            .expect("env")
            .get("API_KEY")
            .map(String::as_str),
        Some("s3cret")
    );
    let edge = plane
        .edge_config_replica()
        .get(&edge_id)
        .expect("replica reloaded from the store");
    assert_eq!(edge.items.get("flag"), Some(&serde_json::json!(true)));
    assert_eq!(edge.version, 2);
    let logs = plane
        .logs(&LogQuery {
            request_id: Some("req-1".into()),
            ..LogQuery::default()
        })
        .expect("logs");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].message, "hello");
}

#[test]
fn promote_and_rollback_move_the_production_alias() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let v1 = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", "[]")),
        )
        .expect("v1");
    let v2 = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v2", "[]")),
        )
        .expect("v2");
    let preview = plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("v3", "[]")))
        .expect("preview");
    assert_ne!(v1.id, v2.id);
    let production = || plane.resolve_host("app.localhost").expect("alias").id;
    assert_eq!(production(), v2.id, "a production deploy is promoted");

    plane
        .promote(preview.id.as_str())
        .expect("promote the preview");
    assert_eq!(production(), preview.id);
    assert_eq!(plane.rollback(&app).expect("rollback").id, v2.id);
    assert_eq!(production(), v2.id);
    assert_eq!(plane.rollback(&app).expect("second rollback").id, v1.id);
    assert!(matches!(
        plane.rollback(&app),
        Err(AliasError::NothingToRollBack(_))
    ));

    // Each deployment stays reachable by its own host.
    let by_id = plane
        .resolve_host(&format!("{}.localhost:{PORT}", preview.id))
        .expect("preview");
    assert_eq!(by_id.target, Target::Preview);
    assert!(plane.resolve_host("other.localhost").is_none());
    assert!(plane.resolve_host("example.com").is_none());
}

#[test]
fn remove_deletes_the_tree_but_not_production() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let v1 = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", "[]")),
        )
        .expect("v1");
    assert!(matches!(
        plane.remove(v1.id.as_str()),
        Err(AliasError::IsProduction(_))
    ));
    let preview = plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("p", "[]")))
        .expect("preview");
    let removed = plane.remove(preview.id.as_str()).expect("remove");
    assert_eq!(removed.state, DeploymentState::Removed);
    assert!(!preview.output_dir.exists());
    assert!(
        plane
            .resolve_host(&format!("{}.localhost", preview.id))
            .is_none()
    );
    assert!(matches!(
        plane.remove("dpl_000000000000000000000000"),
        Err(AliasError::UnknownDeployment(_))
    ));
}

#[test]
fn the_same_tree_deployed_twice_is_one_deployment_and_a_directory_upload_matches_a_tar() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let source = tempfile::tempdir().expect("tempdir");
    write_output(source.path(), "same", "[]");
    let from_dir = plane
        .deploy(&app, Target::Preview, Upload::Directory(source.path()))
        .expect("dir");
    let from_tar = plane
        .deploy(
            &app,
            Target::Preview,
            Upload::Tar(&output_tar("same", "[]")),
        )
        .expect("tar");
    assert_eq!(from_dir.id, from_tar.id);
    let as_production = plane
        .deploy(&app, Target::Production, Upload::Directory(source.path()))
        .expect("prod");
    assert_ne!(
        as_production.id, from_dir.id,
        "the target is part of the address"
    );
    assert_eq!(
        plane.store().deployments(Some(&app)).expect("list").len(),
        2
    );
}

#[test]
fn a_malformed_upload_stores_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let error = plane
        .deploy(&app, Target::Preview, Upload::Tar(b"not a tar at all"))
        .expect_err("garbage");
    assert!(
        matches!(error, DeployError::MalformedUpload { .. }),
        "{error}"
    );
    let no_config = {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_cksum();
        builder
            .append_data(&mut header, "static/a.txt", &b"hi"[..])
            .expect("append");
        builder.into_inner().expect("tar")
    };
    let error = plane
        .deploy(&app, Target::Preview, Upload::Tar(&no_config))
        .expect_err("no config.json");
    assert!(
        matches!(error, DeployError::InvalidOutput { .. }),
        "{error}"
    );
    let bad_cron = output_tar("c", r#"[{"path":"/api/hello","schedule":"every minute"}]"#);
    let error = plane
        .deploy(&app, Target::Production, Upload::Tar(&bad_cron))
        .expect_err("bad cron");
    assert!(error.to_string().contains("crons[0]"), "{error}");
    assert!(plane.store().deployments(None).expect("list").is_empty());
    let leftovers = fs::read_dir(plane.settings().deployments_dir())
        .expect("list")
        .count();
    assert_eq!(leftovers, 0, "a failed upload left a directory behind");
}

#[test]
fn an_env_over_64_kb_refuses_the_deploy_and_names_the_biggest_vars() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let targets = [EnvTarget::Production];
    plane
        .add_env(
            &app,
            "BIG_ONE",
            &"a".repeat(40_000),
            &targets,
            EnvType::Plain,
        )
        .expect("env");
    plane
        .add_env(
            &app,
            "BIG_TWO",
            &"b".repeat(30_000),
            &targets,
            EnvType::Secret,
        )
        .expect("env");
    let error = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", "[]")),
        )
        .expect_err("too big");
    let text = error.to_string();
    assert!(matches!(error, DeployError::EnvTooLarge { .. }));
    assert!(
        text.contains("BIG_ONE (40007 bytes)") && text.contains("BIG_TWO"),
        "{text}"
    );
    assert!(plane.store().deployments(None).expect("list").is_empty());
    // The same vars only on production leave preview deploys alone.
    plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("v1", "[]")))
        .expect("preview fits");
}

#[test]
fn secrets_are_hidden_from_listings_but_reach_the_deployment_with_system_vars() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let all = [
        EnvTarget::Production,
        EnvTarget::Preview,
        EnvTarget::Development,
    ];
    plane
        .add_env(&app, "TOKEN", "hidden", &all, EnvType::Secret)
        .expect("secret");
    plane
        .add_env(&app, "MODE", "fast", &all, EnvType::Plain)
        .expect("plain");
    assert!(
        plane
            .add_env(&app, "VERCEL_URL", "x", &all, EnvType::Plain)
            .is_err(),
        "system vars are reserved"
    );
    assert!(
        plane
            .add_env(&app, "1BAD", "x", &all, EnvType::Plain)
            .is_err()
    );
    let listed = plane.store().list_env(&app).expect("list");
    let token = listed.iter().find(|v| v.key == "TOKEN").expect("listed");
    assert_eq!(token.value, None);
    assert_eq!(token.targets.len(), 3);
    assert!(
        !serde_json::to_string(&listed)
            .expect("json")
            .contains("hidden")
    );
    assert_eq!(
        plane
            .pull_env(&app, EnvTarget::Development)
            .expect("pull")
            .get("TOKEN")
            .map(String::as_str),
        Some("")
    );

    plane
        .create_edge_config(&app, serde_json::Map::new())
        .expect("edge config");
    let deployed = plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("v1", "[]")))
        .expect("deploy");
    let env = plane.deployment_env(&deployed.id).expect("env");
    assert_eq!(env["TOKEN"], "hidden");
    assert_eq!(env["VERCEL"], "1");
    assert_eq!(env["VERCEL_ENV"], "preview");
    assert_eq!(env["VERCEL_REGION"], "dev1");
    assert_eq!(env["VERCEL_DEPLOYMENT_ID"], deployed.id.as_str());
    assert_eq!(
        env["VERCEL_URL"],
        format!("{}.localhost:{PORT}", deployed.id)
    );
    assert_eq!(
        env["VERCEL_PROJECT_PRODUCTION_URL"],
        format!("app.localhost:{PORT}")
    );
    assert!(
        env["EDGE_CONFIG"].starts_with("http://127.0.0.1:9/edge-config/ecfg_"),
        "{}",
        env["EDGE_CONFIG"]
    );

    // Env changes apply to later deployments only.
    plane
        .add_env(&app, "MODE", "slow", &all, EnvType::Plain)
        .expect("change");
    assert_eq!(
        plane.deployment_env(&deployed.id).expect("env")["MODE"],
        "fast"
    );
    let served = plane.load(&deployed).expect("load");
    assert_eq!(served.deployment.id, deployed.id.as_str());
    let function_env = &served.deployment.functions["api/hello"].env;
    assert_eq!(
        function_env["TOKEN"], "hidden",
        "project vars reach the function"
    );
    assert_eq!(
        function_env["MODE"], "build",
        ".vc-config.json environment overrides project vars"
    );
    assert_eq!(function_env["FROM_BUILD"], "1");
    assert_eq!(function_env["VERCEL_ENV"], "preview", "system vars are set");
    let again = plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("v1", "[]")))
        .expect("redeploy");
    assert_ne!(
        again.id, deployed.id,
        "a changed env makes a new deployment"
    );
    assert_eq!(
        plane.deployment_env(&again.id).expect("env")["MODE"],
        "slow"
    );
}

#[test]
fn usage_adds_up_per_hour_and_a_reached_cap_pauses_until_raised() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, clock) = plane_at(data.path(), t("2026-03-01T10:10:00Z"));
    let app = project("app");
    let deployed = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", "[]")),
        )
        .expect("deploy");
    let sample = UsageSample {
        invocations: 1,
        active_cpu_ms: 40,
        gb_seconds: 0.5,
        edge_units: 0,
        wall_ms: 100,
    };
    assert!(
        !plane
            .record_invocation(&deployed.id, "api/hello", &sample)
            .expect("record")
    );
    clock.set(t("2026-03-01T10:50:00Z"));
    plane
        .record_invocation(&deployed.id, "api/hello", &sample)
        .expect("record");
    clock.set(t("2026-03-01T11:05:00Z"));
    plane
        .record_invocation(&deployed.id, "api/hello", &sample)
        .expect("record");

    let rows = plane
        .usage(
            &UsageScope::Project(app.clone()),
            t("2026-03-01T00:00:00Z"),
            t("2026-03-02T00:00:00Z"),
        )
        .expect("usage");
    assert_eq!(rows.len(), 2, "two hour buckets");
    assert_eq!(rows[0].usage.invocations, 2);
    assert_eq!(rows[0].usage.active_cpu_ms, 80);
    assert_eq!(rows[1].bucket, t("2026-03-01T11:00:00Z"));

    let cap = UsageCap {
        active_cpu_ms: Some(150),
        ..UsageCap::default()
    };
    assert!(
        !plane.set_usage_cap(&app, Some(cap)).expect("cap"),
        "120 ms is under the cap"
    );
    assert!(
        plane
            .record_invocation(&deployed.id, "api/hello", &sample)
            .expect("record"),
        "160 ms reaches it"
    );
    assert!(plane.is_paused(&app).expect("paused"));
    let route = plane.route_host("app.localhost:4321");
    assert!(
        matches!(route, HostRoute::Paused(d) if d.id == deployed.id),
        "a paused project is not served"
    );
    let raised = UsageCap {
        active_cpu_ms: Some(1000),
        ..UsageCap::default()
    };
    assert!(!plane.set_usage_cap(&app, Some(raised)).expect("raise"));
    assert!(!plane.is_paused(&app).expect("unpaused"));
    assert!(matches!(
        plane.route_host("app.localhost"),
        HostRoute::Serve(_)
    ));
    assert_eq!(plane.route_host("nope.localhost"), HostRoute::NotFound);
}

#[test]
fn the_usage_meter_batches_in_memory_and_a_flush_writes_and_checks_caps() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:10:00Z"));
    let app = project("app");
    let deployed = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", "[]")),
        )
        .expect("deploy");
    plane
        .set_usage_cap(
            &app,
            Some(UsageCap {
                invocations: Some(100),
                ..UsageCap::default()
            }),
        )
        .expect("cap");
    let meter = UsageMeter::default();
    let one = UsageSample {
        invocations: 1,
        active_cpu_ms: 2,
        gb_seconds: 0.25,
        edge_units: 0,
        wall_ms: 5,
    };
    for _ in 0..60 {
        meter.add(&deployed.id, "api/hello", &one);
    }
    meter.add(&deployed.id, "api/other", &one);
    let window = (t("2026-03-01T00:00:00Z"), t("2026-03-02T00:00:00Z"));
    let scope = UsageScope::Deployment(deployed.id.clone());
    assert!(
        plane
            .usage(&scope, window.0, window.1)
            .expect("usage")
            .is_empty(),
        "nothing written before a flush"
    );

    assert!(
        plane.flush_usage(&meter).expect("flush").is_empty(),
        "61 invocations are under the cap"
    );
    let rows = plane.usage(&scope, window.0, window.1).expect("usage");
    assert_eq!(rows.len(), 2);
    let total = eddy_control::usage::total(&rows);
    assert_eq!(
        (total.invocations, total.active_cpu_ms, total.wall_ms),
        (61, 122, 305)
    );
    assert!(plane.flush_usage(&meter).expect("empty flush").is_empty());
    assert_eq!(
        eddy_control::usage::total(&plane.usage(&scope, window.0, window.1).expect("usage"))
            .invocations,
        61
    );

    for _ in 0..40 {
        meter.add(&deployed.id, "api/hello", &one);
    }
    assert_eq!(
        plane.flush_usage(&meter).expect("flush"),
        vec![app.clone()],
        "101 reaches the cap"
    );
    assert!(plane.is_paused(&app).expect("paused"));
}

#[test]
fn log_retention_prunes_old_lines_and_queries_filter() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, clock) = plane_at(data.path(), t("2026-03-10T00:00:00Z"));
    let app = project("app");
    let deployed = plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("v1", "[]")))
        .expect("deploy");
    let line = |time: &str, level: Level, request: &str| LogRecord {
        deployment: deployed.id.clone(),
        function: Some("api/hello".into()),
        request_id: Some(request.into()),
        level,
        time: t(time),
        message: format!("{request} at {time}"),
    };
    plane
        .append_logs(&[
            line("2026-03-01T00:00:00Z", Level::Error, "old"),
            line("2026-03-09T00:00:00Z", Level::Info, "a"),
            line("2026-03-09T01:00:00Z", Level::Error, "b"),
        ])
        .expect("append");
    let errors = plane
        .logs(&LogQuery {
            level: Some(Level::Warn),
            ..LogQuery::default()
        })
        .expect("query");
    assert_eq!(
        errors
            .iter()
            .map(|l| l.request_id.as_deref())
            .collect::<Vec<_>>(),
        [Some("old"), Some("b")]
    );

    clock.set(t("2026-03-10T00:00:00Z"));
    let pruned = plane
        .prune_logs(std::time::Duration::from_secs(3 * 24 * 3600))
        .expect("prune");
    assert_eq!(pruned, 1);
    let left = plane
        .logs(&LogQuery {
            deployment: Some(deployed.id.clone()),
            ..LogQuery::default()
        })
        .expect("query");
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].request_id.as_deref(), Some("a"), "oldest first");
    let since = plane
        .logs(&LogQuery {
            since: Some(t("2026-03-09T00:30:00Z")),
            ..LogQuery::default()
        })
        .expect("since");
    assert_eq!(since.len(), 1);
}

#[test]
fn idle_deployments_are_archived_after_their_limit_and_come_back() {
    use eddy_control::lifecycle::{PREVIEW_IDLE, PRODUCTION_IDLE};
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, clock) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let production = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", "[]")),
        )
        .expect("prod");
    let preview = plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("p", "[]")))
        .expect("preview");
    let used = plane
        .deploy(&app, Target::Preview, Upload::Tar(&output_tar("u", "[]")))
        .expect("used");
    clock.set(t("2026-03-02T20:00:00Z"));
    plane
        .record_invocation(&used.id, "api/hello", &UsageSample::default())
        .expect("usage");

    clock.set(t("2026-03-03T11:00:00Z"));
    let ids = |list: Vec<eddy_control::DeploymentRecord>| {
        list.into_iter().map(|d| d.id).collect::<Vec<_>>()
    };
    let idle = ids(plane
        .archive_candidates(PRODUCTION_IDLE, PREVIEW_IDLE)
        .expect("candidates"));
    assert_eq!(
        idle,
        vec![preview.id.clone()],
        "49 h idle preview only; production waits 2 weeks"
    );

    clock.set(t("2026-03-16T10:00:00Z"));
    let idle = ids(plane
        .archive_candidates(PRODUCTION_IDLE, PREVIEW_IDLE)
        .expect("candidates"));
    assert_eq!(idle.len(), 3);
    assert!(idle.contains(&production.id));

    let archived = plane.archive(preview.id.as_str()).expect("archive");
    assert_eq!(archived.state, DeploymentState::Archived);
    let ids_now = ids(plane
        .archive_candidates(PRODUCTION_IDLE, PREVIEW_IDLE)
        .expect("candidates"));
    assert!(
        !ids_now.contains(&preview.id),
        "archived ones are not candidates again"
    );
    assert!(matches!(
        plane.route_host(&format!("{}.localhost", preview.id)),
        HostRoute::Serve(_)
    ));
    assert_eq!(
        plane
            .unarchive(preview.id.as_str())
            .expect("unarchive")
            .state,
        DeploymentState::Ready
    );
    plane.remove(preview.id.as_str()).expect("remove");
    assert!(
        plane.archive(preview.id.as_str()).is_err(),
        "a removed deployment is not archived"
    );
}

#[test]
fn opening_the_data_dir_sweeps_unfinished_uploads_and_orphan_trees() {
    let data = tempfile::tempdir().expect("tempdir");
    let kept = {
        let plane = ControlPlane::open(Settings::new(data.path(), 3000)).expect("open");
        plane
            .deploy(
                &project("app"),
                Target::Preview,
                Upload::Tar(&output_tar("v1", "[]")),
            )
            .expect("deploy")
    };
    let deployments = data.path().join("deployments");
    // What a crash leaves: a half-written upload, and a tree renamed into place whose row
    // was never inserted.
    write_output(
        &deployments.join("upload.tmp-0123456789abcdef"),
        "half",
        "[]",
    );
    write_output(
        &deployments.join("dpl_0123456789abcdef01234567"),
        "orphan",
        "[]",
    );

    let plane = ControlPlane::open(Settings::new(data.path(), 3000)).expect("reopen");
    let mut left: Vec<String> = fs::read_dir(&deployments)
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    left.sort();
    assert_eq!(left, vec![kept.id.to_string()]);
    assert!(
        plane
            .resolve_host(&format!("{}.localhost", kept.id))
            .is_some()
    );
}

#[test]
fn another_process_sees_routing_changes_after_a_host_refresh() {
    let data = tempfile::tempdir().expect("tempdir");
    let (writer, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let (reader, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let app = project("app");
    let deployed = writer
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", "[]")),
        )
        .expect("deploy");
    assert!(matches!(
        writer.route_host("app.localhost"),
        HostRoute::Serve(_)
    ));
    assert_eq!(
        reader.route_host("app.localhost"),
        HostRoute::NotFound,
        "served from memory"
    );
    reader.refresh_hosts();
    let host = format!("{}.LOCALHOST.:{PORT}", deployed.id.as_str().to_uppercase());
    assert!(matches!(reader.route_host(&host), HostRoute::Serve(d) if d.id == deployed.id));
    assert!(matches!(
        reader.route_host("app.localhost"),
        HostRoute::Serve(_)
    ));
}
