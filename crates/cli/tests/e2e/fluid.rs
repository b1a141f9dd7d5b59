//! Fluid compute end to end: many concurrent invocations share few instances, classic mode
//! gives one per invocation, errors and crashes stay with their own requests, maxDuration ends
//! only the slow invocation, responses stream, and a saved file serves new code.

use std::time::Duration;

use super::support::{
    Eddy, SavedFile, assert_a_saved_file_serves_new_code,
    assert_concurrent_requests_share_few_instances, assert_one_failure_among_many,
    assert_streams_chunks,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_requests_share_few_instances() {
    let eddy = Eddy::dev_fixture("node-fluid");
    assert_concurrent_requests_share_few_instances(&eddy, "/api/slow?ms=500", "api/slow", 100)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_mode_gives_each_concurrent_request_its_own_instance() {
    let eddy = Eddy::dev_fixture("node-classic");
    let replies = eddy.get_many("/api/slow?ms=800", 5).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let pids: std::collections::BTreeSet<_> = replies.iter().map(|r| r.pid()).collect();
    assert_eq!(
        pids.len(),
        5,
        "each concurrent request must run in its own process"
    );
    let pool = eddy.pool("api/slow").await;
    assert_eq!(pool["max_concurrency"], 1);
    assert_eq!(pool["instances_started_total"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncaught_error_fails_only_its_own_request() {
    let eddy = Eddy::dev_fixture("node-fluid");
    let (_, replies) =
        assert_one_failure_among_many(&eddy, 40, "/api/slow?ms=300&throw=1", "/api/slow?ms=600")
            .await;
    // The instance that saw the error is replaced: the next request is served by a new one.
    let next = eddy.get("/api/slow?ms=1").await;
    assert_eq!(next.status, 200);
    assert_ne!(
        next.pid(),
        replies[0].pid(),
        "a draining instance takes no new work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_instance_fails_only_its_in_flight_requests() {
    let eddy = Eddy::dev_fixture("node-fluid");
    let pid = eddy.get("/api/slow?ms=1").await.pid();
    let slow = eddy.get("/api/slow?ms=3000");
    let killer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    };
    let (reply, ()) = tokio::join!(slow, killer);
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.header("x-vercel-error"),
        Some("FUNCTION_INVOCATION_FAILED")
    );
    let after = eddy.get("/api/slow?ms=1").await;
    assert_eq!(after.status, 200, "a new instance serves after the crash");
    assert_ne!(after.pid(), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_duration_ends_only_the_slow_invocation() {
    let eddy = Eddy::dev_fixture("node-fluid");
    let (slow, fast) = tokio::join!(eddy.get("/api/timeout?ms=5000"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        eddy.get("/api/timeout?ms=100").await
    });
    assert_eq!(slow.status, 504);
    assert_eq!(
        slow.header("x-vercel-error"),
        Some("FUNCTION_INVOCATION_TIMEOUT")
    );
    assert_eq!(fast.status, 200, "{}", fast.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_chunks_reach_the_client_as_they_are_written() {
    let eddy = Eddy::dev_fixture("node-fluid");
    // Four writes 250 ms apart: the first must arrive well before the last was written.
    assert_streams_chunks(
        &eddy,
        "/api/stream",
        "chunk 0\nchunk 1\nchunk 2\nchunk 3\n",
        Duration::from_millis(400),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_file_serves_new_code_on_the_next_request() {
    assert_a_saved_file_serves_new_code(SavedFile {
        fixture: "node-fluid",
        path: "/api/version",
        before: "version 1",
        file: "api/version.js",
        contents: "module.exports = (req, res) => res.send('version 2');",
        after: "version 2",
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_urls_get_vercel_errors_and_the_server_keeps_serving() {
    let eddy = Eddy::dev_fixture("node-fluid");
    // Only the head is sent: eddy must refuse the declared size without waiting for the body.
    let head = eddy
        .raw_head(
            "POST /api/slow?ms=1 HTTP/1.1\r\nhost: localhost\r\ncontent-length: 4600000\r\n\r\n",
        )
        .await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-vercel-error: function_payload_too_large"),
        "{head}"
    );
    let garbage = eddy.raw_head("NOT HTTP AT ALL\r\n\r\n").await;
    assert!(
        garbage.starts_with("HTTP/1.1 400"),
        "malformed request: {garbage:?}"
    );
    let long = format!("/api/slow?pad={}", "x".repeat(15 * 1024));
    let reply = eddy.get(&long).await;
    assert_eq!(reply.status, 414);
    assert_eq!(eddy.get("/api/slow?ms=1").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_cancels_nothing_else() {
    let eddy = Eddy::dev_fixture("node-fluid");
    let slow = tokio::spawn({
        let url = eddy.url("/api/slow?ms=1500");
        async move { reqwest_like_get(&url).await }
    });
    // Start a streamed response, read one chunk, then hang up.
    {
        let stream = eddy.stream_first_chunk("/api/stream").await;
        assert_eq!(stream, "chunk 0\n");
    }
    assert_eq!(
        slow.await.unwrap(),
        200,
        "a concurrent request on the same instance completes"
    );
    assert_eq!(eddy.get("/api/stream").await.status, 200);
    // The abandoned invocation gave its slot back.
    let mut in_flight = u64::MAX;
    for _ in 0..40 {
        let pool = eddy.pool("api/stream").await;
        in_flight = pool["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["in_flight"].as_u64().unwrap())
            .sum();
        if in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(in_flight, 0);
}

async fn reqwest_like_get(url: &str) -> u16 {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    client
        .get(url.parse().unwrap())
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_die_with_a_killed_eddy() {
    // Rust's `vercel_runtime` does not watch its IPC socket, so only the kernel's
    // parent-death signal can end it once eddy is gone.
    let mut eddy = Eddy::dev_fixture("rust-basic");
    let reply = eddy.get("/api/slow?ms=1").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let instance = format!("/proc/{}", reply.pid());
    assert!(std::path::Path::new(&instance).exists());
    eddy.kill_hard();
    // The kernel sends the instance SIGKILL as eddy dies (its parent-death signal).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&instance).exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = std::fs::read_to_string(format!("{instance}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "instance {} outlived eddy: {state}",
        reply.pid()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_and_wait_until_work_finish_then_exits() {
    let mut eddy = Eddy::dev_fixture("node-faults");
    assert_eq!(eddy.get("/api/work?id=warm").await.status, 200);
    let (reply, ()) = tokio::join!(eddy.get("/api/work?ms=1500&id=inflight"), async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        eddy.terminate();
    });
    assert_eq!(
        reply.status,
        200,
        "the request in flight finishes: {}",
        reply.text()
    );
    let status = eddy
        .wait_exit(Duration::from_secs(20))
        .expect("eddy exits once its work is done");
    assert!(status.success(), "{status}");
    let logs = eddy.logs();
    assert!(
        logs.contains("background work of inflight finished"),
        "waitUntil work of the last request ran before the exit: {logs}"
    );
}
