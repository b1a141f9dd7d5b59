//! Python end to end: Fluid concurrency inside one instance (threads for WSGI, the event loop
//! for ASGI), error isolation, streamed bodies, binary bodies and hot reload through the real
//! binary and the real interpreter.

use std::time::Duration;

use futures_util::future::join_all;

use super::support::{Eddy, copy_fixture, repo_root};

fn fixture(name: &str) -> std::path::PathBuf {
    repo_root().join("fixtures").join(name)
}

async fn concurrent_requests_share_few_instances(fixture_name: &str, path: &str, function: &str) {
    let eddy = Eddy::dev(&fixture(fixture_name), &["--no-watch"]);
    let replies = join_all((0..60).map(|_| eddy.get(path))).await;
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.status != 200)
        .map(|r| (r.status, r.text()))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    let pool = eddy.pool(function).await;
    let started = pool["instances_started_total"].as_u64().unwrap();
    assert!(
        started <= 2,
        "60 waiting requests needed {started} instances: {pool}"
    );
    assert_eq!(pool["invocations_total"], 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_wsgi_requests_share_one_instance() {
    concurrent_requests_share_few_instances("python-wsgi", "/api/slow?ms=500", "api/slow").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_asgi_requests_share_one_instance() {
    concurrent_requests_share_few_instances("python-asgi", "/api?ms=500", "api/index").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_fails_only_its_own_request() {
    let eddy = Eddy::dev(&fixture("python-wsgi"), &["--no-watch"]);
    assert_eq!(eddy.get("/api/slow?ms=1").await.status, 200);
    let requests = (0..20).map(|i| {
        let path = if i == 10 {
            "/api/slow?throw=1"
        } else {
            "/api/slow?ms=600"
        };
        eddy.get(path)
    });
    let replies = join_all(requests).await;
    for (i, reply) in replies.iter().enumerate() {
        if i == 10 {
            assert_eq!(reply.status, 500, "the raising request fails");
            assert_eq!(
                reply.header("x-vercel-error"),
                Some("FUNCTION_INVOCATION_FAILED")
            );
        } else {
            assert_eq!(reply.status, 200, "request {i}: {}", reply.text());
        }
    }
    let pid_before = replies[0].json()["pid"].as_u64().unwrap();
    let next = eddy.get("/api/slow?ms=1").await;
    assert_eq!(next.status, 200);
    assert_ne!(
        next.json()["pid"].as_u64().unwrap(),
        pid_before,
        "the instance that raised takes no new work"
    );
    assert!(eddy.logs().contains("boom from slow.py"));
}

async fn assert_streams(fixture_name: &str) {
    let eddy = Eddy::dev(&fixture(fixture_name), &["--no-watch"]);
    let (status, chunks) = eddy.stream("/api/stream").await;
    assert_eq!(status, 200);
    let text: String = chunks
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(text, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
    assert!(chunks.len() >= 3, "chunks were buffered: {chunks:?}");
    // Four chunks 250 ms apart: the first must arrive well before the last was produced.
    let first = chunks.first().unwrap().0;
    let last = chunks.last().unwrap().0;
    assert!(
        last - first >= Duration::from_millis(400),
        "first {first:?}, last {last:?}"
    );
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
    let eddy = Eddy::dev(&fixture("python-handler"), &["--no-watch"]);
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
    let project = copy_fixture("python-handler");
    let eddy = Eddy::dev(project.path(), &[]);
    assert_eq!(eddy.get("/api/items/1").await.text(), "item 1");
    std::fs::write(
        project.path().join("api/items/[id].py"),
        "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'version 2']\n",
    )
    .unwrap();
    let mut body = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        body = eddy.get("/api/items/1").await.text();
        if body == "version 2" {
            break;
        }
    }
    assert_eq!(body, "version 2", "logs:\n{}", eddy.logs());
}
