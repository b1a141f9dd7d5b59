//! The request context (vercel-compat 1.5) as the real `@vercel/functions` package reads it.

use std::time::{Duration, Instant};

use crate::harness::{Project, call, eventually, get, node_available, request, spawn};
use eddy_runtime::{Health, empty_body};

#[tokio::test]
async fn vercel_functions_wait_until_runs_after_the_response() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/after.mjs",
        r#"
import { writeFileSync } from 'node:fs';
import { waitUntil, ipAddress, geolocation } from '@vercel/functions';

export default function handler(req, res) {
  const request = { headers: { get: (name) => req.headers[name] ?? null } };
  waitUntil(new Promise((resolve) => setTimeout(() => {
    writeFileSync('after.txt', 'finished');
    resolve();
  }, 1500)));
  res.json({ ip: ipAddress(request), geo: geolocation(request) });
}
"#,
    );
    let instance = spawn(&project, "context-after", "api/after.mjs").await;
    let started = Instant::now();
    let reply = call(
        &instance,
        request("GET", "/api/after")
            .header("x-real-ip", "203.0.113.9")
            .header("x-vercel-ip-country", "DE")
            .header("x-vercel-ip-city", "M%C3%BCnchen")
            .header("x-vercel-id", "fra1::abc")
            .body(empty_body())
            .unwrap(),
    )
    .await;
    let answered = started.elapsed();
    let json = reply.json();
    assert_eq!(json["ip"], "203.0.113.9");
    assert_eq!(json["geo"]["country"], "DE");
    assert_eq!(json["geo"]["city"], "München");
    assert_eq!(json["geo"]["region"], "fra1");

    // The response did not wait for the background work...
    assert!(
        answered < Duration::from_millis(1500),
        "answered after {answered:?}"
    );
    assert!(!project.path("after.txt").exists());
    // ...which still ran to completion on the live instance.
    let marker = project.path("after.txt");
    assert!(eventually(Duration::from_secs(5), || marker.exists()).await);
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn request_context_is_per_request_and_empty_outside_requests() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/ctx.js",
        r#"
const outside = globalThis[Symbol.for('@vercel/request-context')].get();
module.exports = async (req, res) => {
  const next = globalThis[Symbol.for('@next/request-context')];
  // Let concurrent requests interleave before reading the context.
  await new Promise((r) => setTimeout(r, Number(req.query.wait)));
  const ctx = globalThis[Symbol.for('@vercel/request-context')].get();
  res.json({
    outside: Object.keys(outside),
    mine: ctx.headers['x-which'],
    sameForNext: next.get() === ctx,
    waitUntil: typeof ctx.waitUntil,
  });
};
"#,
    );
    let instance = spawn(&project, "context-per-request", "api/ctx.js").await;
    let ask = |which: &'static str, wait: u32| {
        let instance = instance.clone();
        async move {
            let req = request("GET", &format!("/api/ctx?wait={wait}"))
                .header("x-which", which)
                .body(empty_body())
                .unwrap();
            call(&instance, req).await.json()
        }
    };
    let (a, b) = tokio::join!(ask("first", 300), ask("second", 10));
    assert_eq!(a["mine"], "first");
    assert_eq!(b["mine"], "second");
    assert_eq!(a["outside"], serde_json::json!([]));
    assert_eq!(a["sameForNext"], true);
    assert_eq!(a["waitUntil"], "function");
    let _ = call(&instance, get("/api/ctx?wait=0")).await;
}
