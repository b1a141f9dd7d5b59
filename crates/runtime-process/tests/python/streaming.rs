//! WSGI and ASGI bodies stream chunk by chunk; one instance serves many requests at once
//! (threads for handler/WSGI, the event loop for ASGI).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::harness::{Project, arrivals, call_all, get, python_available, spawn};

fn assert_streamed(seen: &[(Duration, String)]) {
    let text: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "one\ntwo\n", "{seen:?}");
    let at = |needle: &str| {
        seen.iter()
            .find(|(_, t)| t.contains(needle))
            .map(|(at, _)| *at)
    };
    let (Some(first), Some(second)) = (at("one"), at("two")) else {
        panic!("chunks missing: {seen:?}");
    };
    // The app waits 600 ms between its chunks; buffering would deliver both at once.
    assert!(second - first >= Duration::from_millis(300), "{seen:?}");
}

#[tokio::test]
async fn a_wsgi_generator_streams_each_chunk_as_it_is_produced() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/stream.py",
        r#"
import time

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    def body():
        yield b"one\n"
        time.sleep(0.6)
        yield b"two\n"
    return body()
"#,
    );
    let instance = spawn(&project, "stream-wsgi", "api/stream.py").await;
    assert_streamed(&arrivals(&instance, "/api/stream").await);
}

#[tokio::test]
async fn an_asgi_body_with_more_body_streams_each_message() {
    if !python_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/stream.py",
        r#"
import asyncio

async def app(scope, receive, send):
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"one\n", "more_body": True})
    await asyncio.sleep(0.6)
    await send({"type": "http.response.body", "body": b"two\n", "more_body": True})
    await send({"type": "http.response.body", "body": b""})
"#,
    );
    let instance = spawn(&project, "stream-asgi", "api/stream.py").await;
    assert_streamed(&arrivals(&instance, "/api/stream").await);
}

async fn concurrent_requests_share_one_process(function: &str, file: &str, source: &str) {
    let project = Project::new();
    project.file(file, source);
    let instance = spawn(&project, function, file).await;
    let started = Instant::now();
    let requests = (0..20).map(|_| (get("/api/slow"), "req-slow")).collect();
    let replies = call_all(&instance, requests).await;
    let elapsed = started.elapsed();
    let pids: HashSet<String> = replies.into_iter().map(|r| r.unwrap().text()).collect();
    assert_eq!(pids.len(), 1, "{pids:?}");
    // Twenty 500 ms requests one after another would take 10 s.
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
}

#[tokio::test]
async fn handler_requests_run_concurrently_on_threads() {
    if !python_available() {
        return;
    }
    concurrent_requests_share_one_process(
        "concurrent-handler",
        "api/slow.py",
        r#"
from http.server import BaseHTTPRequestHandler
import os, time

class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.5)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(str(os.getpid()).encode())
"#,
    )
    .await;
}

#[tokio::test]
async fn wsgi_requests_run_concurrently_on_threads() {
    if !python_available() {
        return;
    }
    concurrent_requests_share_one_process(
        "concurrent-wsgi",
        "api/slow.py",
        r#"
import os, time

def app(environ, start_response):
    time.sleep(0.5)
    start_response("200 OK", [])
    return [str(os.getpid()).encode()]
"#,
    )
    .await;
}

#[tokio::test]
async fn asgi_requests_run_concurrently_on_the_event_loop() {
    if !python_available() {
        return;
    }
    concurrent_requests_share_one_process(
        "concurrent-asgi",
        "api/slow.py",
        r#"
import asyncio, os

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await asyncio.sleep(0.5)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
"#,
    )
    .await;
}
