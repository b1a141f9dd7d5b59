//! The admin `Client` against a real admin listener: what the `eddy` verbs will do.

use std::sync::Arc;
use std::time::Duration;

use eddy_control::admin::types::{LogsQuery, UsageQuery};
use eddy_control::admin::{self, AdminState, Client, ClientError, FollowEvent};
use eddy_control::model::{EnvTarget, EnvType, Level, LogRecord, Target, UsageSample};
use eddy_control::{ControlPlane, EdgeConfigOp, LogSink, deploy};
use futures_util::StreamExt;

use super::support::{plane_at, project, t, write_output};

struct Server {
    plane: Arc<ControlPlane>,
    sink: Arc<LogSink>,
    base: String,
    token: String,
    _data: tempfile::TempDir,
}

async fn server() -> Server {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
    let token = plane
        .init_admin_token()
        .expect("token")
        .expect("first start");
    let sink = Arc::new(LogSink::default());
    let state = AdminState {
        logs: Some(sink.clone()),
        ..AdminState::new(plane.clone())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        axum::serve(listener, admin::router(state))
            .await
            .expect("serve")
    });
    Server {
        plane,
        sink,
        base,
        token,
        _data: data,
    }
}

fn packed(marker: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_output(dir.path(), marker, "[]");
    deploy::pack_dir(dir.path()).expect("pack")
}

#[tokio::test]
async fn the_client_deploys_promotes_and_rolls_back_a_packed_directory() {
    let server = server().await;
    let client = Client::new(&server.base, &server.token);
    let app = project("app");
    let v1 = client
        .deploy(&app, Target::Production, packed("v1"))
        .await
        .expect("deploy v1");
    let v2 = client
        .deploy(&app, Target::Production, packed("v2"))
        .await
        .expect("deploy v2");
    assert!(v1.url.starts_with("http://dpl_"));
    assert_eq!(client.deployments(Some(&app)).await.expect("ls").len(), 2);
    assert_eq!(
        client.rollback(&app).await.expect("rollback").record.id,
        v1.record.id
    );
    assert_eq!(
        client
            .promote(v2.record.id.as_str())
            .await
            .expect("promote")
            .record
            .id,
        v2.record.id
    );
    let error = client
        .remove(v2.record.id.as_str())
        .await
        .expect_err("production");
    assert_eq!(error.code(), Some("DEPLOYMENT_IS_PRODUCTION"));
    assert!(error.to_string().contains("promote another one"), "{error}");
    client
        .remove(v1.record.id.as_str())
        .await
        .expect("remove v1");
    let error = client
        .deployment("dpl_000000000000000000000000")
        .await
        .expect_err("unknown");
    assert_eq!(error.code(), Some("DEPLOYMENT_NOT_FOUND"));

    let wrong = Client::new(&server.base, "eddy_wrong");
    assert_eq!(
        wrong.projects().await.expect_err("bad token").code(),
        Some("UNAUTHORIZED")
    );
    let nowhere = Client::new("http://127.0.0.1:1", &server.token);
    assert!(matches!(
        nowhere.projects().await,
        Err(ClientError::Unreachable { .. })
    ));
}

#[tokio::test]
async fn the_client_edits_env_and_edge_config_and_reads_usage() {
    let server = server().await;
    let client = Client::new(&server.base, &server.token);
    let app = project("app");
    let all = [
        EnvTarget::Production,
        EnvTarget::Preview,
        EnvTarget::Development,
    ];
    client
        .env_add(&app, "API_KEY", "k", &all, EnvType::Secret)
        .await
        .expect("add");
    client
        .env_add(&app, "MODE", "fast", &all, EnvType::Plain)
        .await
        .expect("add");
    let listed = client.env_ls(&app).await.expect("ls");
    assert_eq!(
        listed
            .iter()
            .find(|v| v.key == "API_KEY")
            .expect("listed")
            .value,
        None
    );
    let pulled = client
        .env_pull(&app, EnvTarget::Development)
        .await
        .expect("pull");
    assert_eq!(pulled["MODE"], "fast");
    assert_eq!(
        client
            .env_rm(&app, "MODE", Some(EnvTarget::Preview))
            .await
            .expect("rm"),
        1
    );
    assert_eq!(
        client
            .env_rm(&app, "NOPE", None)
            .await
            .expect_err("missing")
            .code(),
        Some("ENV_NOT_FOUND")
    );

    let created = client
        .edge_config_create(&app, serde_json::Map::new())
        .await
        .expect("create");
    let op = EdgeConfigOp::Upsert {
        key: "flag".into(),
        value: serde_json::json!(true),
    };
    let patched = client
        .edge_config_patch(&created.record.id, vec![op])
        .await
        .expect("patch");
    assert_eq!(patched.record.version, 2);
    assert_eq!(client.edge_configs(Some(&app)).await.expect("ls").len(), 1);

    let deployed = client
        .deploy(&app, Target::Preview, packed("v"))
        .await
        .expect("deploy");
    let sample = UsageSample {
        invocations: 2,
        ..UsageSample::default()
    };
    server
        .plane
        .record_invocation(&deployed.record.id, "api/hello", &sample)
        .expect("usage");
    let report = client
        .usage(&UsageQuery {
            project: Some("app".into()),
            ..UsageQuery::default()
        })
        .await
        .expect("usage");
    assert_eq!(report.total.invocations, 2);
    assert!(
        client
            .set_usage_cap(&app, None)
            .await
            .is_ok_and(|paused| !paused)
    );
}

#[tokio::test]
async fn the_client_follows_logs_as_they_are_pushed() {
    let server = server().await;
    let client = Client::new(&server.base, &server.token);
    let deployed = client
        .deploy(&project("app"), Target::Preview, packed("v"))
        .await
        .expect("deploy");
    let line = |request: &str| LogRecord {
        deployment: deployed.record.id.clone(),
        function: Some("api/hello".into()),
        request_id: Some(request.into()),
        level: Level::Info,
        time: t("2026-03-01T10:00:00Z"),
        message: format!("hello from {request}"),
    };
    server.sink.push(line("first"));
    server.plane.flush_logs(&server.sink).expect("flush");
    let filter = LogsQuery {
        deployment: Some(deployed.record.id.to_string()),
        ..LogsQuery::default()
    };
    assert_eq!(client.logs(&filter).await.expect("logs").len(), 1);

    let mut events = client.follow_logs(&filter).await.expect("follow");
    let next = async |events: &mut (dyn futures_util::Stream<Item = _> + Unpin)| {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("in time")
            .expect("open")
    };
    let first = next(&mut events).await.expect("event");
    assert!(matches!(first, FollowEvent::Line(l) if l.request_id.as_deref() == Some("first")));
    server.sink.push(line("second"));
    let second = next(&mut events).await.expect("event");
    assert!(matches!(second, FollowEvent::Line(l) if l.message == "hello from second"));
}
