//! Integration tests of the Rust runtime: the binaries of `fixtures/rust-basic`, built with the
//! real `vercel_runtime` crate the way eddy's build step builds them (same command, same target
//! dir, so the builds are shared), run through `Runtime::spawn` and `Instance::invoke`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error, helpers included"
)]

#[path = "../support/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use eddy_runtime::{Health, Instance, InvokeError, SpawnError, full_body};
use eddy_runtime_process::{ProcessRuntime, RustConfig};

use harness::{
    arrivals, call, call_as, get, log_containing, must_spawn, request, spawn_with, spec,
    wait_health,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/rust-basic")
        .canonicalize()
        .unwrap()
}

/// Builds every bin of the fixture once per test run (the first build compiles tokio and hyper:
/// about two minutes on two cores) and returns the release dir. `broken` does not compile, so
/// cargo's status is not checked; each test finds its binary or fails.
fn release_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = fixture().join(".vercel/eddy/rust/target");
        let output = Command::new("cargo")
            .args(["build", "--release", "--bins", "--keep-going"])
            .args(["--message-format", "json"])
            .arg("--manifest-path")
            .arg(fixture().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .current_dir(fixture())
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .output()
            .expect("cargo runs");
        let release = target.join("release");
        assert!(
            release.join("hello").is_file(),
            "the fixture did not build: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        release
    })
}

fn runtime() -> ProcessRuntime {
    ProcessRuntime::rust(RustConfig::default())
}

/// Spawns fixture bin `bin` as function `function` (the handler is the binary's absolute path,
/// as the build step returns it).
async fn spawn(function: &str, bin: &str) -> Arc<dyn Instance> {
    let bin = bin.to_string();
    let binary = tokio::task::spawn_blocking(move || release_dir().join(bin))
        .await
        .unwrap();
    let spec = spec(&fixture(), "rust", function, &binary.display().to_string());
    must_spawn(&runtime(), spec).await
}

#[tokio::test]
async fn the_docs_handler_shape_serves_over_the_instance_protocol() {
    let instance = spawn("rust-hello", "hello").await;
    let reply = call(&instance, get("/api/hello?name=eddy")).await;
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert_eq!(json["message"], "Hello, eddy!");
    assert_eq!(
        json["greeting"], "from spec",
        "the function's env reaches it"
    );
    assert_eq!(json["cwdHasCargoToml"], true, "cwd is the function root");
    let ping = call(&instance, get("/_vercel/ping")).await;
    assert_eq!(ping.text(), "OK");
}

#[tokio::test]
async fn instances_of_one_function_run_side_by_side_on_their_own_ports() {
    let (first, second) = tokio::join!(spawn("rust-ports", "slow"), spawn("rust-ports", "slow"));
    let a = call(&first, get("/api/slow?ms=1")).await.json();
    let b = call(&second, get("/api/slow?ms=1")).await.json();
    assert_ne!(a["pid"], b["pid"]);
}

#[tokio::test]
async fn one_instance_serves_many_requests_at_once() {
    let instance = spawn("rust-concurrent", "slow").await;
    let started = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let instance = instance.clone();
            tokio::spawn(async move { call(&instance, get("/api/slow?ms=500")).await })
        })
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for task in calls {
        pids.insert(task.await.unwrap().json()["pid"].as_u64().unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(pids.len(), 1);
    assert!(
        elapsed < Duration::from_millis(2500),
        "20 requests of 500 ms took {elapsed:?}: they did not overlap"
    );
}

#[tokio::test]
async fn a_panic_fails_only_its_own_request_and_drains_the_instance() {
    let instance = spawn("rust-panic", "slow").await;
    let slow = {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, get("/api/slow?ms=800")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    match call_as(&instance, get("/api/slow?ms=1&panic=1"), "req-panic").await {
        Err(InvokeError::Crashed { .. }) => {}
        other => panic!("expected Crashed, got {other:?}"),
    }
    assert_eq!(
        slow.await.unwrap().status,
        200,
        "the other request finishes"
    );
    log_containing("rust-panic", "panicked in one request of many").await;
    // Like an uncaught exception elsewhere: the process may hold poisoned state, so it takes
    // no new work (the scheduler replaces it) while what was in flight finished above.
    let health = instance.health().borrow().clone();
    match health {
        Health::Draining { reason } => assert!(reason.contains("panicked at"), "{reason}"),
        other => panic!(
            "expected Draining, got {other:?}: {:#?}",
            harness::logs_of("rust-panic")
        ),
    }
}

#[tokio::test]
async fn a_streaming_body_arrives_chunk_by_chunk() {
    let instance = spawn("rust-stream", "stream").await;
    let seen = arrivals(&instance, "/api/stream").await;
    let text: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
    let first = seen.first().unwrap().0;
    let last = seen.last().unwrap().0;
    assert!(last - first >= Duration::from_millis(500), "{seen:?}");
}

#[tokio::test]
async fn wait_until_work_logs_with_its_request_after_the_response() {
    let instance = spawn("rust-wait", "wait").await;
    let started = Instant::now();
    let reply = call_as(&instance, get("/api/wait"), "req-wait")
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "the response waited for the background work"
    );
    assert_eq!(reply.json()["scheduled"], true);
    let started_log = log_containing("rust-wait", "wait handler started").await;
    assert_eq!(started_log.field("request_id"), Some("req-wait"));
    let later = log_containing("rust-wait", "background work after the response finished").await;
    assert_eq!(later.field("request_id"), Some("req-wait"));
}

#[tokio::test]
async fn sigterm_lets_wait_until_work_finish_before_the_exit() {
    let instance = spawn("rust-drain", "wait").await;
    call(&instance, get("/api/wait")).await;
    instance.drain(Duration::from_secs(10)).await;
    assert!(matches!(*instance.health().borrow(), Health::Exited { .. }));
    log_containing("rust-drain", "background work after the response finished").await;
}

#[tokio::test]
async fn binary_bodies_repeated_headers_and_cookies_pass_through() {
    let instance = spawn("rust-echo", "echo").await;
    let bytes: Vec<u8> = (0..=255).collect();
    let reply = call(
        &instance,
        request("POST", "/api/echo")
            .body(full_body(bytes.clone()))
            .unwrap(),
    )
    .await;
    let reversed: Vec<u8> = bytes.into_iter().rev().collect();
    assert_eq!(reply.body.as_ref(), reversed.as_slice());

    let reply = call(
        &instance,
        request("GET", "/api/echo")
            .header("x-dup", "one")
            .header("x-dup", "two")
            .body(eddy_runtime::empty_body())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.json()["dup"], serde_json::json!(["one", "two"]));
    assert_eq!(reply.json()["unicode"], "héllo wörld ✓ 日本");
    assert_eq!(reply.all("set-cookie"), ["a=1; Path=/", "b=2; Path=/"]);
}

#[tokio::test]
async fn a_missing_binary_fails_the_start_and_names_the_function() {
    let spec = spec(&fixture(), "rust", "rust-missing", "no/such/binary");
    match spawn_with(&runtime(), spec).await {
        Err(error @ (SpawnError::Io { .. } | SpawnError::Init { .. })) => {
            assert!(error.to_string().contains("rust-missing"), "{error}")
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a missing binary must not start"),
    }
}

#[tokio::test]
async fn a_health_watch_sees_the_exit_of_a_killed_instance() {
    let instance = spawn("rust-kill", "hello").await;
    instance.kill();
    wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Exited { .. })
    })
    .await;
}
