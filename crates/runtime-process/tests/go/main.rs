//! Integration tests of the Go runtime: real Go functions built by eddy's build step (the
//! generated bridge main), run through `Runtime::spawn` and `Instance::invoke`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error, helpers included"
)]

#[path = "../support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_runtime::{Health, Instance};
use eddy_runtime_process::{GoConfig, ProcessRuntime};
use http_body_util::BodyExt as _;
use tempfile::TempDir;

use harness::{
    call, call_as, fails_then_drains, get, invocation, log_containing, must_spawn, project_with,
    request, spec, tool_runs, wait_health,
};

fn go_available() -> bool {
    tool_runs(
        "go",
        &["version"],
        "`go` is not installed; skipping this test",
    )
}

/// A Go function project under the target dir, built by eddy's build step; returns the
/// project and the handler (the built binary) of `function`.
fn build(files: &[(&str, &str)], function: &str) -> (TempDir, String) {
    let dir = project_with("eddy-go-test-", files);
    let options = eddy_build::PlanOptions::new(dir.path());
    let plan = eddy_build::plan(dir.path(), &options).unwrap();
    assert!(plan.errors.is_empty(), "build failed: {:?}", plan.errors);
    let handler = plan.deployment.functions[function].handler.clone();
    (dir, handler)
}

async fn spawn(dir: &TempDir, function: &str, handler: &str) -> Arc<dyn Instance> {
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let runtime = ProcessRuntime::go(GoConfig::default());
    must_spawn(&runtime, spec(&root, "go1.x", function, handler)).await
}

const ECHO: &str = r#"package handler

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
)

var calls atomic.Int64

func Echo(w http.ResponseWriter, r *http.Request) {
	n := calls.Add(1)
	fmt.Println("echo log line", n)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"calls":   n,
		"host":    r.Host,
		"headers": r.Header,
		"uri":     r.RequestURI,
	})
}
"#;

#[tokio::test]
async fn the_handler_sees_no_internal_headers_and_the_public_host() {
    if !go_available() {
        return;
    }
    let (dir, handler) = build(&[("api/echo.go", ECHO)], "api/echo");
    let instance = spawn(&dir, "go-echo", &handler).await;
    let reply = call(
        &instance,
        request("GET", "/api/echo?a=1")
            .header("x-vercel-internal-sneaky", "from a client")
            .header("x-custom", "kept")
            .body(eddy_runtime::empty_body())
            .unwrap(),
    )
    .await;
    let json = reply.json();
    let headers = json["headers"].as_object().unwrap();
    assert!(
        headers
            .keys()
            .all(|k| !k.to_ascii_lowercase().starts_with("x-vercel-internal-")),
        "{headers:?}"
    );
    assert_eq!(json["headers"]["X-Custom"][0], "kept");
    assert_eq!(json["host"], "app.example");
    assert_eq!(json["uri"], "/api/echo?a=1");
    let log = log_containing("go-echo", "echo log line 1").await;
    assert_eq!(log.field("stream"), Some("stdout"));
}

#[tokio::test]
async fn the_health_check_is_answered_without_calling_the_handler() {
    if !go_available() {
        return;
    }
    let (dir, handler) = build(&[("api/echo.go", ECHO)], "api/echo");
    let instance = spawn(&dir, "go-ping", &handler).await;
    let ping = call(&instance, get("/_vercel/ping")).await;
    assert_eq!(ping.status, 200);
    assert_eq!(ping.text(), "OK");
    let reply = call(&instance, get("/api/echo")).await;
    assert_eq!(reply.json()["calls"], 1, "the ping reached the handler");
}

const SLOW: &str = r#"package handler

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

func Slow(w http.ResponseWriter, r *http.Request) {
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	time.Sleep(time.Duration(ms) * time.Millisecond)
	switch r.URL.Query().Get("mode") {
	case "panic":
		w.Header().Set("X-Leak", "set before the panic")
		panic(fmt.Sprintf("boom after %d ms", ms))
	case "late":
		fmt.Fprint(w, "half a response")
		w.(http.Flusher).Flush()
		panic("boom after the head")
	}
	fmt.Fprint(w, "slow done")
}
"#;

#[tokio::test]
async fn goroutines_serve_concurrent_requests_in_one_instance() {
    if !go_available() {
        return;
    }
    let (dir, handler) = build(&[("api/slow.go", SLOW)], "api/slow");
    let instance = spawn(&dir, "go-concurrent", &handler).await;
    let started = Instant::now();
    let running: Vec<_> = (0..30)
        .map(|i| {
            let instance = instance.clone();
            tokio::spawn(async move {
                call_as(&instance, get("/api/slow?ms=400"), &format!("req-{i}")).await
            })
        })
        .collect();
    for reply in running {
        assert_eq!(reply.await.unwrap().unwrap().text(), "slow done");
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "30 requests of 400 ms took {:?}: not concurrent",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_panic_fails_its_invocation_and_drains_while_others_finish() {
    if !go_available() {
        return;
    }
    let (dir, handler) = build(&[("api/slow.go", SLOW)], "api/slow");
    let instance = spawn(&dir, "go-panic", &handler).await;
    let slow = {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, get("/api/slow?ms=800")).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health = fails_then_drains(
        &instance,
        get("/api/slow?ms=1&mode=panic"),
        "req-panic",
        "boom after 1 ms",
    )
    .await;
    assert!(
        format!("{health:?}").contains("boom after 1 ms"),
        "{health:?}"
    );
    let slow = slow.await.unwrap();
    assert_eq!(slow.text(), "slow done", "the request in flight finishes");
    let log = log_containing("go-panic", "panic: boom after 1 ms").await;
    assert_eq!(log.field("request_id"), Some("req-panic"));
    assert!(
        log.message().contains("api/slow.go:16"),
        "{}",
        log.message()
    );
}

#[tokio::test]
async fn a_panic_after_the_head_was_sent_breaks_the_response() {
    if !go_available() {
        return;
    }
    let (dir, handler) = build(&[("api/slow.go", SLOW)], "api/slow");
    let instance = spawn(&dir, "go-late-panic", &handler).await;
    let response = instance
        .invoke(invocation(get("/api/slow?mode=late"), "req-late"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await;
    assert!(body.is_err(), "a broken response must not look complete");
    wait_health(&instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Draining { .. })
    })
    .await;
}

#[tokio::test]
async fn a_drain_lets_the_request_in_flight_finish_then_the_process_exits() {
    if !go_available() {
        return;
    }
    let (dir, handler) = build(&[("api/slow.go", SLOW)], "api/slow");
    let instance = spawn(&dir, "go-drain", &handler).await;
    let slow = {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, get("/api/slow?ms=600")).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    instance.drain(Duration::from_secs(10)).await;
    assert_eq!(slow.await.unwrap().text(), "slow done");
    let health = instance.health().borrow().clone();
    match health {
        Health::Exited { reason } => assert!(reason.contains("code 0"), "{reason}"),
        other => panic!("expected Exited, got {other:?}"),
    }
}
