//! Bun end to end (`fixtures/bun-basic`, `"bunVersion": "1.x"`): one instance serves many
//! concurrent requests, an error fails only its own request, responses stream, binary bodies
//! pass through untouched.

use std::time::Duration;

use super::support::{
    Eddy, assert_binary_body_comes_back_reversed, assert_concurrent_requests_share_few_instances,
    assert_one_failure_among_many, assert_streams_chunks,
};

fn eddy() -> Eddy {
    Eddy::dev_fixture("bun-basic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_requests_share_one_bun_instance() {
    let eddy = eddy();
    let replies =
        assert_concurrent_requests_share_few_instances(&eddy, "/api/slow?ms=500", "api/slow", 50)
            .await;
    assert!(
        replies
            .iter()
            .all(|r| r.json()["bun"].as_str().is_some_and(|v| !v.is_empty())),
        "every request ran on bun"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_in_one_bun_request_fails_only_that_request() {
    let eddy = eddy();
    assert_one_failure_among_many(&eddy, 20, "/api/slow?ms=200&throw=1", "/api/slow?ms=500").await;
    assert_eq!(eddy.get("/api/slow?ms=1").await.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        eddy.logs().contains("thrown by one request of many"),
        "{}",
        eddy.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bun_streams_chunks_as_they_are_written() {
    let eddy = eddy();
    assert_streams_chunks(
        &eddy,
        "/api/stream",
        "chunk 0\nchunk 1\nchunk 2\nchunk 3\n",
        Duration::from_millis(400),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_request_and_response_bodies_pass_through_bun() {
    let eddy = eddy();
    assert_binary_body_comes_back_reversed(&eddy, "/api/echo").await;
}
