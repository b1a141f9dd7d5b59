//! Python end to end: Fluid concurrency inside one instance (threads for WSGI, the event loop
//! for ASGI), error isolation, streamed bodies, binary bodies and hot reload through the real
//! binary and the real interpreter.

use std::time::Duration;

use super::support::{
    Eddy, SavedFile, assert_a_saved_file_serves_new_code,
    assert_concurrent_requests_share_few_instances, assert_one_failure_among_many,
    assert_streams_chunks,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_wsgi_requests_share_one_instance() {
    let eddy = Eddy::dev_fixture("python-wsgi");
    assert_concurrent_requests_share_few_instances(&eddy, "/api/slow?ms=500", "api/slow", 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_asgi_requests_share_one_instance() {
    let eddy = Eddy::dev_fixture("python-asgi");
    assert_concurrent_requests_share_few_instances(&eddy, "/api?ms=500", "api/index", 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_fails_only_its_own_request() {
    let eddy = Eddy::dev_fixture("python-wsgi");
    let (_, replies) =
        assert_one_failure_among_many(&eddy, 20, "/api/slow?throw=1", "/api/slow?ms=600").await;
    let next = eddy.get("/api/slow?ms=1").await;
    assert_eq!(next.status, 200);
    assert_ne!(
        next.pid(),
        replies[0].pid(),
        "the instance that raised takes no new work"
    );
    assert!(eddy.logs().contains("boom from slow.py"));
}

async fn assert_streams(fixture_name: &str) {
    let eddy = Eddy::dev_fixture(fixture_name);
    // Four chunks 250 ms apart: the first must arrive well before the last was produced.
    assert_streams_chunks(
        &eddy,
        "/api/stream",
        "chunk 0\nchunk 1\nchunk 2\nchunk 3\n",
        Duration::from_millis(400),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsgi_generator_reaches_the_client_chunk_by_chunk() {
    assert_streams("python-wsgi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asgi_streaming_body_reaches_the_client_chunk_by_chunk() {
    assert_streams("python-asgi").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_bodies_and_a_syntax_error_next_to_working_functions() {
    let eddy = Eddy::dev_fixture("python-handler");
    let reply = eddy.get("/api/binary").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.to_vec(), (0..=255u8).collect::<Vec<_>>());
    let broken = eddy.get("/api/syntax").await;
    assert_eq!(broken.status, 500);
    assert_eq!(
        broken.header("x-vercel-error"),
        Some("FUNCTION_INVOCATION_FAILED")
    );
    assert_eq!(eddy.get("/api/items/5").await.text(), "item 5");
    let logs = eddy.logs();
    assert!(logs.contains("SyntaxError: expected ':'"), "{logs}");
    assert!(logs.contains("api/syntax.py"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_python_file_serves_new_code_on_the_next_request() {
    assert_a_saved_file_serves_new_code(SavedFile {
        fixture: "python-handler",
        path: "/api/items/1",
        before: "item 1",
        file: "api/items/[id].py",
        contents: "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'version 2']\n",
        after: "version 2",
    })
    .await;
}
