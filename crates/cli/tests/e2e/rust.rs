//! Rust end to end (`fixtures/rust-basic`, built with the real `vercel_runtime` crate): one
//! instance serves many concurrent requests, a panic fails only its own request, responses
//! stream, binary bodies pass through, and a function that does not compile fails alone with
//! cargo's message. The fixture is served in place so every test shares one build (the first
//! one compiles the dependencies, about two minutes on two cores).

use std::time::Duration;

use super::support::{
    Eddy, assert_binary_body_comes_back_reversed, assert_concurrent_requests_share_few_instances,
    assert_one_failure_among_many, assert_streams_chunks, fixture, repo_root,
};

fn eddy() -> Eddy {
    Eddy::dev_fixture("rust-basic")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_requests_share_one_rust_instance() {
    let eddy = eddy();
    assert_concurrent_requests_share_few_instances(&eddy, "/api/slow?ms=500", "api/slow", 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_rust_request_fails_only_that_request() {
    let eddy = eddy();
    let (warm, _) =
        assert_one_failure_among_many(&eddy, 20, "/api/slow?ms=200&panic=1", "/api/slow?ms=500")
            .await;
    // Tokio contains the panic to its task, but the process may hold poisoned state: like an
    // uncaught exception elsewhere, it drains and a fresh instance serves what comes next.
    let after = eddy.get("/api/slow?ms=1").await;
    assert_eq!(after.status, 200);
    assert_ne!(after.pid(), warm.pid());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        eddy.logs().contains("panicked in one request of many"),
        "{}",
        eddy.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_streams_chunks_as_they_are_produced() {
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
async fn binary_bodies_pass_through_and_a_broken_function_fails_alone() {
    let eddy = eddy();
    assert_binary_body_comes_back_reversed(&eddy, "/api/echo").await;

    let broken = eddy.get("/api/broken").await;
    assert_eq!(broken.status, 500);
    assert_eq!(
        broken.header("x-vercel-error"),
        Some("FUNCTION_INVOCATION_FAILED")
    );
    let logs = eddy.logs();
    assert!(logs.contains("error[E0308]"), "{logs}");
    assert!(logs.contains("api/broken.rs:10:22"), "{logs}");
    assert_eq!(eddy.get("/api/hello").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_rust_file_is_rebuilt_and_serves_new_code() {
    // Built in place first, so the copy starts with compiled dependencies in its target dir.
    drop(eddy());
    let project = copy_with_build("rust-basic");
    let eddy = Eddy::dev(project.path(), &[]);
    assert_eq!(
        eddy.get("/api/hello?name=a").await.json()["message"],
        "Hello, a!"
    );
    let file = project.path().join("api/hello.rs");
    let source = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, source.replace("Hello, {name}!", "Howdy, {name}!")).unwrap();
    let reply = eddy
        .poll("/api/hello?name=a", 240, Duration::from_millis(250), |r| {
            r.json()["message"] == "Howdy, a!"
        })
        .await;
    assert_eq!(
        reply.json()["message"],
        "Howdy, a!",
        "logs:\n{}",
        eddy.logs()
    );
    // The other functions were not rebuilt by cargo, only checked: still served.
    assert_eq!(eddy.get("/api/items/7").await.json()["id"], "7");
}

/// Copies a fixture with its build cache, keeping modification times: cargo judges freshness
/// by them, so the copy's dependencies stay compiled.
fn copy_with_build(name: &str) -> tempfile::TempDir {
    let parent = repo_root().join("target");
    std::fs::create_dir_all(&parent).unwrap();
    let dst = tempfile::Builder::new()
        .prefix("eddy-e2e-rust-")
        .tempdir_in(parent)
        .unwrap();
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture(name).join("."))
        .arg(dst.path())
        .status()
        .unwrap();
    assert!(copied.success());
    dst
}
