//! Rust end to end (`fixtures/rust-basic`, built with the real `vercel_runtime` crate): one
//! instance serves many concurrent requests, a panic fails only its own request, responses
//! stream, binary bodies pass through, and a function that does not compile fails alone with
//! cargo's message. The fixture is served in place so every test shares one build (the first
//! one compiles the dependencies, about two minutes on two cores).

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use http_body_util::Full;

use super::support::{Eddy, repo_root};

fn eddy() -> Eddy {
    Eddy::dev(&repo_root().join("fixtures/rust-basic"), &["--no-watch"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_slow_requests_share_one_rust_instance() {
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
        "50 awaiting requests needed {started} instances: {pool}"
    );
    assert_eq!(pool["invocations_total"], 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_one_rust_request_fails_only_that_request() {
    let eddy = eddy();
    let pid = eddy.get("/api/slow?ms=1").await.json()["pid"]
        .as_u64()
        .unwrap();
    let replies = join_all((0..20).map(|i| {
        let path = if i == 10 {
            "/api/slow?ms=200&panic=1"
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
            assert_eq!(reply.status, 200, "request {i}: {}", reply.text());
        }
    }
    // Tokio contains the panic to its task: the process serves on.
    let after = eddy.get("/api/slow?ms=1").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.json()["pid"].as_u64(), Some(pid));
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
    let (first, last) = (chunks[0].0, chunks[chunks.len() - 1].0);
    assert!(
        last - first >= Duration::from_millis(400),
        "first {first:?}, last {last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_bodies_pass_through_and_a_broken_function_fails_alone() {
    let eddy = eddy();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let request = eddy
        .request("POST", "/api/echo")
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(bytes.clone())))
        .unwrap();
    let reply = eddy.send(request).await;
    assert_eq!(reply.status, 200);
    let reversed: Vec<u8> = bytes.into_iter().rev().collect();
    assert!(reply.body.as_ref() == reversed.as_slice(), "body differs");

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
    let mut message = serde_json::Value::Null;
    for _ in 0..240 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        message = eddy.get("/api/hello?name=a").await.json()["message"].clone();
        if message == "Howdy, a!" {
            break;
        }
    }
    assert_eq!(message, "Howdy, a!", "logs:\n{}", eddy.logs());
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
        .arg(repo_root().join("fixtures").join(name).join("."))
        .arg(dst.path())
        .status()
        .unwrap();
    assert!(copied.success());
    dst
}
