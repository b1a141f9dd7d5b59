//! Go functions end to end: one instance serves many concurrent requests on goroutines, a
//! panic fails only its own request, flushed writes stream, bodies keep every byte, and a
//! saved file is rebuilt and served.

use std::time::Duration;

use super::support::{
    Eddy, assert_all_ok, assert_one_failure_among_many, assert_streams_chunks, copy_fixture,
};

fn go_available() -> bool {
    let found = std::process::Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("note: `go` is not installed; skipping this test");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_requests_are_served_by_one_go_instance() {
    if !go_available() {
        return;
    }
    let eddy = Eddy::dev_fixture("go-basic");
    // One warm instance first, so the burst finds it ready.
    assert_eq!(eddy.get("/api/slow?ms=1").await.status, 200);
    let replies = eddy.get_many("/api/slow?ms=500", 50).await;
    assert_all_ok(&replies);
    let pids: std::collections::BTreeSet<u64> = replies.iter().map(|r| r.pid()).collect();
    let pool = eddy.pool("api/slow").await;
    assert_eq!(
        pids.len(),
        1,
        "50 sleeping requests needed {} processes: {pool}",
        pids.len()
    );
    assert_eq!(pool["instances_started_total"], 1, "{pool}");
    assert_eq!(pool["invocations_total"], 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_only_its_own_request_and_the_instance_is_replaced() {
    if !go_available() {
        return;
    }
    let eddy = Eddy::dev_fixture("go-basic");
    let (_, replies) =
        assert_one_failure_among_many(&eddy, 20, "/api/slow?ms=200&panic=1", "/api/slow?ms=600")
            .await;
    let next = eddy.get("/api/slow?ms=1").await;
    assert_eq!(next.status, 200);
    assert_ne!(
        next.pid(),
        replies[0].pid(),
        "the instance that panicked takes no new work"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = eddy.logs();
    assert!(logs.contains("boom from slow.go"), "logs:\n{logs}");
    assert!(
        logs.contains("api/slow.go:16"),
        "the panic's stack names the user's file and line; logs:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushed_writes_reach_the_client_as_they_are_written() {
    if !go_available() {
        return;
    }
    let eddy = Eddy::dev_fixture("go-basic");
    assert_streams_chunks(
        &eddy,
        "/api/stream",
        "chunk 1\nchunk 2\nchunk 3\n",
        Duration::from_millis(450),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_bodies_and_dynamic_segments_arrive_intact() {
    if !go_available() {
        return;
    }
    let eddy = Eddy::dev_fixture("go-basic");
    let binary = eddy.get("/api/binary").await;
    assert_eq!(binary.status, 200);
    let expected: Vec<u8> = (0..=255).collect();
    assert_eq!(binary.body.as_ref(), expected.as_slice());
    let dynamic = eddy.get("/api/caf%C3%A9?x=1").await;
    assert_eq!(dynamic.text(), "id=café path=/api/café");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_go_file_is_rebuilt_and_a_fixed_compile_error_serves() {
    if !go_available() {
        return;
    }
    let project = copy_fixture("go-errors");
    let eddy = Eddy::dev(project.path(), &[]);
    assert_eq!(eddy.get("/api/broken").await.status, 500);
    std::fs::write(
        project.path().join("api/broken.go"),
        "package handler\n\nimport \"net/http\"\n\nfunc Handler(w http.ResponseWriter, r *http.Request) {\n\tw.Write([]byte(\"fixed\"))\n}\n",
    )
    .unwrap();
    let reply = eddy
        .poll("/api/broken", 100, Duration::from_millis(100), |r| {
            r.status == 200
        })
        .await;
    assert_eq!(reply.status, 200, "logs:\n{}", eddy.logs());
    assert_eq!(reply.text(), "fixed");
    assert_eq!(eddy.get("/api/ok").await.text(), "still serving");
}
