//! The cron engine on a manual clock: headers, exactly-once ticks across engines and
//! restarts, catch-up of the latest missed tick, production only.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use eddy_control::model::{CronTrigger, EnvTarget, EnvType, Target};
use eddy_control::{Clock, CronEngine, CronRequest, Invoker, SqliteStore, Store, Upload};

use super::support::{output_tar, plane_at, project, t};

/// Records every request and answers 200.
#[derive(Default)]
struct Recorder(Mutex<Vec<CronRequest>>);

impl Recorder {
    fn calls(&self) -> Vec<CronRequest> {
        self.0.lock().expect("recorder lock").clone()
    }
}

impl Invoker for Recorder {
    fn invoke(
        &self,
        request: CronRequest,
    ) -> Pin<Box<dyn Future<Output = Result<u16, String>> + Send + '_>> {
        self.0.lock().expect("recorder lock").push(request);
        Box::pin(async { Ok(200) })
    }
}

const EVERY_MINUTE: &str = r#"[{"path":"/api/hello","schedule":"* * * * *"}]"#;

fn engine(store: Arc<dyn Store>, clock: Arc<dyn Clock>, recorder: &Arc<Recorder>) -> CronEngine {
    CronEngine::new(store, clock, recorder.clone())
}

#[tokio::test]
async fn a_tick_runs_once_with_the_cron_headers_even_with_two_engines_racing() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, clock) = plane_at(data.path(), t("2026-03-01T10:00:30Z"));
    let app = project("app");
    plane
        .add_env(
            &app,
            "CRON_SECRET",
            "shh",
            &[EnvTarget::Production],
            EnvType::Secret,
        )
        .expect("env");
    let deployed = plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", EVERY_MINUTE)),
        )
        .expect("deploy");

    let recorder = Arc::new(Recorder::default());
    // A second connection to the same file, as a second server process would have.
    let other_store: Arc<dyn Store> =
        Arc::new(SqliteStore::open_in(data.path()).expect("second store"));
    let one = engine(plane.store().clone(), clock.clone(), &recorder);
    let two = engine(other_store, clock.clone(), &recorder);

    // 10:00 is before the deployment became production (10:00:30): it never runs.
    let (a, b) = tokio::join!(one.run_due(), two.run_due());
    assert_eq!(a.expect("one").len() + b.expect("two").len(), 0);

    for minute in ["10:01:00", "10:01:20", "10:01:59", "10:02:05"] {
        clock.set(t(&format!("2026-03-01T{minute}Z")));
        for _ in 0..3 {
            let (a, b) = tokio::join!(one.run_due(), two.run_due());
            a.expect("one");
            b.expect("two");
        }
    }
    let calls = recorder.calls();
    assert_eq!(
        calls.len(),
        2,
        "ticks 10:01 and 10:02, once each: {calls:?}"
    );
    let call = &calls[0];
    assert_eq!(call.deployment, deployed.id);
    assert_eq!(call.path, "/api/hello");
    assert!(
        call.headers
            .contains(&("user-agent".into(), "vercel-cron/1.0".into()))
    );
    assert!(
        call.headers
            .contains(&("authorization".into(), "Bearer shh".into()))
    );

    let runs = plane.store().cron_runs(&app, 10).expect("runs");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].tick, t("2026-03-01T10:02:00Z"));
    assert_eq!(runs[0].status, Some(200));
    assert!(runs[0].duration_ms.is_some());
}

#[tokio::test]
async fn after_downtime_only_the_latest_missed_tick_runs_and_a_restart_does_not_repeat_it() {
    let data = tempfile::tempdir().expect("tempdir");
    let app = project("app");
    let recorder = Arc::new(Recorder::default());
    {
        let (plane, clock) = plane_at(data.path(), t("2026-03-01T09:59:00Z"));
        plane
            .deploy(
                &app,
                Target::Production,
                Upload::Tar(&output_tar("v1", EVERY_MINUTE)),
            )
            .expect("deploy");
        clock.set(t("2026-03-01T10:00:10Z"));
        engine(plane.store().clone(), clock, &recorder)
            .run_due()
            .await
            .expect("run");
    }
    // Down from 10:00:10 to 10:07:30: seven ticks missed, one catch-up run.
    for _ in 0..2 {
        let (plane, clock) = plane_at(data.path(), t("2026-03-01T10:07:30Z"));
        engine(plane.store().clone(), clock, &recorder)
            .run_due()
            .await
            .expect("run");
    }
    assert_eq!(recorder.calls().len(), 2, "10:00 and the catch-up of 10:07");
    let (plane, _) = plane_at(data.path(), t("2026-03-01T10:07:30Z"));
    let runs = plane.store().cron_runs(&app, 10).expect("runs");
    assert_eq!(runs[0].tick, t("2026-03-01T10:07:00Z"));
    assert_eq!(runs[1].tick, t("2026-03-01T10:00:00Z"));
}

#[tokio::test]
async fn preview_deployments_have_no_crons_and_run_now_runs_production_ones() {
    let data = tempfile::tempdir().expect("tempdir");
    let (plane, clock) = plane_at(data.path(), t("2026-03-01T10:00:30Z"));
    let app = project("app");
    plane
        .deploy(
            &app,
            Target::Preview,
            Upload::Tar(&output_tar("p", EVERY_MINUTE)),
        )
        .expect("preview");
    let recorder = Arc::new(Recorder::default());
    let cron = engine(plane.store().clone(), clock.clone(), &recorder);
    clock.set(t("2026-03-01T10:05:00Z"));
    assert!(cron.run_due().await.expect("run").is_empty());
    assert!(
        cron.run_now(&app, "/api/hello").await.is_err(),
        "no production deployment"
    );

    plane
        .deploy(
            &app,
            Target::Production,
            Upload::Tar(&output_tar("v1", EVERY_MINUTE)),
        )
        .expect("production");
    let run = cron.run_now(&app, "/api/hello").await.expect("run now");
    assert_eq!(run.trigger, CronTrigger::Manual);
    assert_eq!(run.status, Some(200));
    assert!(cron.run_now(&app, "/api/other").await.is_err());
    assert_eq!(recorder.calls().len(), 1);
}
