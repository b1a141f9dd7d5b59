//! Drain, kill, statistics, health check and the environment an instance gets.

use std::time::{Duration, Instant};

use crate::harness::{Project, call, get, node_available, spawn, wait_health};
use eddy_runtime::Health;

const BACKGROUND: &str = r#"
import { writeFileSync } from 'node:fs';
import { waitUntil } from '@vercel/functions';

export default function handler(req, res) {
  const ms = Number(req.query.ms);
  waitUntil(new Promise((resolve) => {
    if (ms >= 0) setTimeout(() => { writeFileSync('background.txt', 'done'); resolve(); }, ms);
  }));
  res.send('scheduled');
}
"#;

#[tokio::test]
async fn drain_lets_wait_until_work_finish_then_the_process_exits_cleanly() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/background.mjs", BACKGROUND);
    let instance = spawn(&project, "lifecycle-drain", "api/background.mjs").await;
    assert_eq!(
        call(&instance, get("/api/background?ms=700")).await.text(),
        "scheduled"
    );
    assert!(!project.path("background.txt").exists());
    let started = Instant::now();
    instance.drain(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "drain returned before the work"
    );
    assert!(
        project.path("background.txt").exists(),
        "waitUntil work did not run"
    );
    assert_eq!(
        *instance.health().borrow(),
        Health::Exited {
            reason: "exited with code 0".into()
        }
    );
}

#[tokio::test]
async fn drain_kills_an_instance_that_outlives_its_grace() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/background.mjs", BACKGROUND);
    let instance = spawn(&project, "lifecycle-grace", "api/background.mjs").await;
    // A waitUntil promise that never settles keeps a draining instance alive.
    call(&instance, get("/api/background?ms=-1")).await;
    let started = Instant::now();
    instance.drain(Duration::from_millis(500)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        *instance.health().borrow(),
        Health::Exited {
            reason: "killed by signal 9 (SIGKILL)".into()
        }
    );
}

#[tokio::test]
async fn kill_stops_the_process_at_once() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/ok.js", "module.exports = (req, res) => res.end('ok');");
    let instance = spawn(&project, "lifecycle-kill", "api/ok.js").await;
    instance.kill();
    let health = wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Exited { .. })
    })
    .await;
    assert_eq!(
        health,
        Health::Exited {
            reason: "killed by signal 9 (SIGKILL)".into()
        }
    );
}

#[tokio::test]
async fn stats_report_the_process_and_its_cold_start() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/busy.js",
        "module.exports = (req, res) => { let x = 0; for (let i = 0; i < 5e7; i++) x += i; res.end(String(x > 0)); };",
    );
    let instance = spawn(&project, "lifecycle-stats", "api/busy.js").await;
    call(&instance, get("/api/busy")).await;
    let stats = instance.stats();
    assert!(stats.pid.is_some());
    assert!(stats.cold_start > Duration::ZERO && stats.cold_start < Duration::from_secs(20));
    assert!(
        stats
            .cpu_time
            .is_some_and(|cpu| cpu >= Duration::from_millis(10)),
        "{stats:?}"
    );
    assert!(
        stats.memory_bytes.is_some_and(|rss| rss > 10 << 20),
        "{stats:?}"
    );
    instance.kill();
    wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Exited { .. })
    })
    .await;
    let gone = instance.stats();
    assert_eq!((gone.cpu_time, gone.memory_bytes), (None, None));
}

#[tokio::test]
async fn answers_the_health_check_without_user_code() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/never.js",
        "module.exports = () => { throw new Error('must not run'); };",
    );
    let instance = spawn(&project, "lifecycle-ping", "api/never.js").await;
    let reply = call(&instance, get("/_vercel/ping")).await;
    assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "OK"));
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn instances_get_the_function_environment_in_utc_and_nothing_of_eddys() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/env.js",
        r#"module.exports = (req, res) => res.json({
  keys: Object.keys(process.env),
  spec: process.env.EDDY_TEST_VAR,
  tz: process.env.TZ,
  offset: new Date(2024, 6, 1).getTimezoneOffset(),
  cwd: process.cwd(),
});"#,
    );
    let instance = spawn(&project, "lifecycle-env", "api/env.js").await;
    let json = call(&instance, get("/api/env")).await.json();
    assert_eq!(json["spec"], "from spec");
    assert_eq!(json["tz"], "UTC");
    assert_eq!(json["offset"], 0);
    let cwd = std::fs::canonicalize(project.dir.path()).unwrap();
    assert_eq!(json["cwd"], cwd.to_string_lossy().as_ref());
    let keys: Vec<&str> = json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    // Of this process's environment (cargo adds CARGO_*), only PATH, HOME and LANG pass.
    let inherited: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| !["PATH", "HOME", "LANG", "TZ"].contains(&k.as_str()))
        .filter(|k| keys.contains(&k.as_str()))
        .collect();
    assert!(inherited.is_empty(), "inherited {inherited:?}");
    assert!(
        keys.contains(&"PATH") && keys.contains(&"VERCEL_IPC_PATH"),
        "{keys:?}"
    );
}

#[tokio::test]
async fn dropping_an_invocation_closes_its_request_in_the_function() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/hold.js",
        r#"
const { writeFileSync } = require('node:fs');
module.exports = (req, res) => {
  res.write('started');
  res.on('close', () => writeFileSync('closed.txt', String(res.writableFinished)));
};
"#,
    );
    let instance = spawn(&project, "lifecycle-cancel", "api/hold.js").await;
    let response = instance
        .invoke(crate::harness::invocation(get("/api/hold"), "req-cancel"))
        .await
        .unwrap();
    drop(response);
    let closed = project.path("closed.txt");
    assert!(crate::harness::eventually(Duration::from_secs(5), || closed.exists()).await);
    assert_eq!(std::fs::read_to_string(closed).unwrap(), "false");
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn dropping_the_last_handle_kills_the_process() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("api/ok.js", "module.exports = (req, res) => res.end('ok');");
    let instance = spawn(&project, "lifecycle-drop", "api/ok.js").await;
    let pid = instance.stats().pid.unwrap();
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    assert!(proc.exists());
    drop(instance);
    assert!(crate::harness::eventually(Duration::from_secs(5), || !proc.exists()).await);
}
