//! Ruby end to end (`fixtures/ruby-rack`, `fixtures/ruby-gems`): one instance serves many
//! concurrent requests (WEBrick threads), an error in one request fails only that request,
//! streamed Rack bodies arrive chunk by chunk, and a saved file serves new code.

use std::time::Duration;

use super::support::{
    Eddy, SavedFile, assert_a_saved_file_serves_new_code,
    assert_concurrent_requests_share_few_instances, assert_one_failure_among_many,
    assert_streams_chunks, copy_fixture,
};

fn eddy() -> Eddy {
    Eddy::dev_fixture("ruby-rack")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_requests_share_one_ruby_instance() {
    let eddy = eddy();
    assert_concurrent_requests_share_few_instances(&eddy, "/api/slow?ms=500", "api/slow", 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_in_one_ruby_request_fails_only_that_request() {
    let eddy = eddy();
    let (warm, _) =
        assert_one_failure_among_many(&eddy, 20, "/api/slow?ms=200&throw=1", "/api/slow?ms=500")
            .await;
    // The instance that raised is drained and replaced.
    let next = eddy.get("/api/slow?ms=1").await;
    assert_eq!(next.status, 200);
    assert_ne!(next.pid(), warm.pid());
    assert!(eddy.logs().contains("boom from slow.ru"), "{}", eddy.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_rack_chunks_reach_the_client_as_they_are_yielded() {
    let eddy = eddy();
    // Four chunks 250 ms apart: the first must arrive well before the last was yielded.
    assert_streams_chunks(
        &eddy,
        "/api/stream",
        "chunk 0\nchunk 1\nchunk 2\nchunk 3\n",
        Duration::from_millis(400),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_ruby_file_serves_new_code_on_the_next_request() {
    assert_a_saved_file_serves_new_code(SavedFile {
        fixture: "ruby-handler",
        path: "/api/items/1",
        before: "item 1",
        file: "api/items/[id].rb",
        contents: "Handler = proc { |req, res| res.body = \"changed #{req.query['id']}\" }\n",
        after: "changed 1",
    })
    .await;
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
