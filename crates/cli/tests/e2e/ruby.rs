//! Ruby end to end (`fixtures/ruby-rack`, `fixtures/ruby-gems`): one instance serves many
//! concurrent requests (WEBrick threads), an error in one request fails only that request,
//! streamed Rack bodies arrive chunk by chunk, and a saved file serves new code.

use std::time::Duration;

use futures_util::future::join_all;

use super::support::{Eddy, copy_fixture, repo_root};

fn eddy() -> Eddy {
    Eddy::dev(&repo_root().join("fixtures/ruby-rack"), &["--no-watch"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_requests_share_one_ruby_instance() {
    let eddy = eddy();
    let replies = join_all((0..50).map(|_| eddy.get("/api/slow?ms=500"))).await;
    let failed: Vec<_> = replies
        .iter()
        .filter(|r| r.status != 200)
        .map(|r| (r.status, r.text()))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    let pool = eddy.pool("api/slow").await;
    let started = pool["instances_started_total"].as_u64().unwrap();
    assert!(
        started <= 2,
        "50 sleeping requests needed {started} instances: {pool}"
    );
    assert_eq!(pool["invocations_total"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_in_one_ruby_request_fails_only_that_request() {
    let eddy = eddy();
    let pid = eddy.get("/api/slow?ms=1").await.json()["pid"]
        .as_u64()
        .unwrap();
    let replies = join_all((0..20).map(|i| {
        let path = if i == 10 {
            "/api/slow?ms=200&throw=1"
        } else {
            "/api/slow?ms=500"
        };
        eddy.get(path)
    }))
    .await;
    for (i, reply) in replies.iter().enumerate() {
        if i == 10 {
            assert_eq!(reply.status, 500);
            assert_eq!(
                reply.header("x-vercel-error"),
                Some("FUNCTION_INVOCATION_FAILED")
            );
        } else {
            assert_eq!(
                reply.status,
                200,
                "request {i} must not be affected: {}",
                reply.text()
            );
        }
    }
    // The instance that raised is drained and replaced.
    let next = eddy.get("/api/slow?ms=1").await;
    assert_eq!(next.status, 200);
    assert_ne!(next.json()["pid"].as_u64().unwrap(), pid);
    assert!(eddy.logs().contains("boom from slow.ru"), "{}", eddy.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_rack_chunks_reach_the_client_as_they_are_yielded() {
    let eddy = eddy();
    let (status, chunks) = eddy.stream("/api/stream").await;
    assert_eq!(status, 200);
    let text: String = chunks
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(text, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
    assert!(
        chunks.len() >= 3,
        "chunks were buffered into {}",
        chunks.len()
    );
    // Four chunks 250 ms apart: the first must arrive well before the last was yielded.
    let first = chunks.first().unwrap().0;
    let last = chunks.last().unwrap().0;
    assert!(
        last - first >= Duration::from_millis(400),
        "first {first:?}, last {last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_ruby_file_serves_new_code_on_the_next_request() {
    let project = copy_fixture("ruby-handler");
    let eddy = Eddy::dev(project.path(), &[]);
    assert_eq!(eddy.get("/api/items/1").await.text(), "item 1");
    std::fs::write(
        project.path().join("api/items/[id].rb"),
        "Handler = proc { |req, res| res.body = \"changed #{req.query['id']}\" }\n",
    )
    .unwrap();
    let mut body = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        body = eddy.get("/api/items/1").await.text();
        if body == "changed 1" {
            break;
        }
    }
    assert_eq!(body, "changed 1", "logs:\n{}", eddy.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gemfile_that_cannot_be_installed_fails_only_its_function() {
    let project = copy_fixture("ruby-gems");
    std::fs::create_dir_all(project.path().join("api/broken")).unwrap();
    std::fs::write(
        project.path().join("api/broken/Gemfile"),
        "gem 'eddy-no-such-gem', path: 'nowhere'\n",
    )
    .unwrap();
    std::fs::write(
        project.path().join("api/broken/index.rb"),
        "Handler = proc { |req, res| res.body = 'unreachable' }\n",
    )
    .unwrap();
    let eddy = Eddy::dev(project.path(), &["--no-watch"]);
    let broken = eddy.get("/api/broken").await;
    assert_eq!(broken.status, 500, "{}", broken.text());
    assert_eq!(
        eddy.get("/api/hello?name=still").await.text(),
        "hello still from a gem"
    );
    let logs = eddy.logs();
    assert!(logs.contains("bundle install"), "{logs}");
    assert!(logs.contains("nowhere"), "{logs}");
}
