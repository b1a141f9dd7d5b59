//! Integration tests of the Bun runtime: real `bun` (the repository's `node_modules/.bin/bun`,
//! installed by `./x setup`) running eddy's Node launcher, through `Runtime::spawn` and
//! `Instance::invoke`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error, helpers included"
)]

#[path = "../support/harness.rs"]
mod harness;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_runtime::{Health, Instance, SpawnError, full_body};
use eddy_runtime_process::{BunConfig, ProcessRuntime};
use tempfile::TempDir;

use harness::{
    arrivals, call, call_as, fails_then_drains, get, log_containing, must_spawn, project_with,
    request, spawn_with, spec, tool_runs,
};

/// Whether a `bun` is where the runtime looks; tests return early (with a note) when not.
fn bun_available() -> bool {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/bun");
    repo.is_file()
        || tool_runs(
            "bun",
            &["--version"],
            "`bun` is not installed (run ./x setup); skipping this test",
        )
}

/// A function project under the target dir, so the repository's node_modules (bun,
/// @vercel/functions) is found by walking up.
fn project(files: &[(&str, &str)]) -> TempDir {
    project_with("eddy-bun-test-", files)
}

fn runtime() -> ProcessRuntime {
    ProcessRuntime::bun(BunConfig {
        spawn_timeout: Duration::from_secs(20),
        ..BunConfig::default()
    })
}

async fn spawn(dir: &TempDir, function: &str, handler: &str) -> Arc<dyn Instance> {
    must_spawn(&runtime(), spec(dir.path(), "bun1.x", function, handler)).await
}

const SLOW: &str = r#"
module.exports = async (req, res) => {
  await new Promise((r) => setTimeout(r, Number(req.query.ms ?? 0)));
  if (req.query.throw) throw new Error('boom on bun');
  res.json({ pid: process.pid });
};
"#;

#[tokio::test]
async fn functions_run_on_bun_with_helpers_and_without_platform_headers() {
    if !bun_available() {
        return;
    }
    let dir = project(&[(
        "api/hello.js",
        r#"
module.exports = (req, res) => res.json({
  bun: process.versions.bun,
  hasBunGlobal: typeof Bun !== 'undefined',
  name: req.query.name,
  host: req.headers.host,
  internal: Object.keys(req.headers).filter((h) => h.startsWith('x-vercel-internal-')),
  greeting: process.env.GREETING,
});
"#,
    )]);
    let instance = spawn(&dir, "bun-hello", "api/hello.js").await;
    let reply = call(&instance, get("/api/hello?name=eddy")).await;
    assert_eq!(reply.status, 200);
    let json = reply.json();
    assert!(
        json["bun"].as_str().is_some_and(|v| v.starts_with("1.")),
        "{json}"
    );
    assert_eq!(json["hasBunGlobal"], true);
    assert_eq!(json["name"], "eddy");
    assert_eq!(json["host"], "app.example");
    assert_eq!(json["internal"], serde_json::json!([]));
    assert_eq!(json["greeting"], "from spec");
}

#[tokio::test]
async fn web_handlers_see_the_request_context_and_wait_until_outlives_the_response() {
    if !bun_available() {
        return;
    }
    let dir = project(&[(
        "api/web.mjs",
        r#"
import { waitUntil } from '@vercel/functions';
export async function POST(request) {
  const ctx = globalThis[Symbol.for('@vercel/request-context')].get();
  waitUntil(new Promise((r) => setTimeout(r, 150)).then(() => console.log('bun background done')));
  return Response.json({ got: await request.text(), url: request.url, ctxHeaders: typeof ctx.headers });
}
"#,
    )]);
    let instance = spawn(&dir, "bun-web", "api/web.mjs").await;
    let reply = call_as(
        &instance,
        request("POST", "/api/web?x=1")
            .body(full_body("ünïcode body"))
            .unwrap(),
        "req-bun-web",
    )
    .await
    .unwrap();
    let json = reply.json();
    assert_eq!(json["got"], "ünïcode body");
    assert_eq!(json["url"], "https://app.example/api/web?x=1");
    assert_eq!(json["ctxHeaders"], "object");
    let background = log_containing("bun-web", "bun background done").await;
    assert_eq!(background.field("request_id"), Some("req-bun-web"));
}

#[tokio::test]
async fn one_bun_instance_serves_many_requests_at_once() {
    if !bun_available() {
        return;
    }
    let dir = project(&[("api/slow.js", SLOW)]);
    let instance = spawn(&dir, "bun-concurrent", "api/slow.js").await;
    let started = Instant::now();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let instance = instance.clone();
            tokio::spawn(async move { call(&instance, get("/api/slow?ms=500")).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in calls {
        replies.push(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    let pids: std::collections::BTreeSet<_> = replies
        .iter()
        .map(|r| r.json()["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 1);
    assert!(
        elapsed < Duration::from_millis(2500),
        "20 requests of 500 ms took {elapsed:?}: they did not overlap"
    );
}

#[tokio::test]
async fn written_chunks_stream_apart_in_time() {
    if !bun_available() {
        return;
    }
    let dir = project(&[(
        "api/stream.js",
        r#"
module.exports = async (req, res) => {
  res.write('one\n');
  await new Promise((r) => setTimeout(r, 600));
  res.end('two\n');
};
"#,
    )]);
    let instance = spawn(&dir, "bun-stream", "api/stream.js").await;
    let seen = arrivals(&instance, "/api/stream").await;
    let text: String = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(text, "one\ntwo\n", "{seen:?}");
    let first = seen.first().unwrap().0;
    let last = seen.last().unwrap().0;
    assert!(last - first >= Duration::from_millis(300), "{seen:?}");
}

#[tokio::test]
async fn a_throw_fails_only_its_request_and_drains_the_instance() {
    if !bun_available() {
        return;
    }
    let dir = project(&[("api/slow.js", SLOW)]);
    let instance = spawn(&dir, "bun-throw", "api/slow.js").await;
    let slow = {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, get("/api/slow?ms=800")).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    fails_then_drains(
        &instance,
        get("/api/slow?throw=1"),
        "req-throw",
        "boom on bun",
    )
    .await;
    assert_eq!(
        slow.await.unwrap().status,
        200,
        "the other request finishes"
    );
    log_containing("bun-throw", "boom on bun").await;
}

#[tokio::test]
async fn a_syntax_error_fails_the_start_naming_the_file_and_line() {
    if !bun_available() {
        return;
    }
    let dir = project(&[(
        "api/broken.js",
        "module.exports = (req, res) => {\n  res.send('never' +;\n};\n",
    )]);
    let spec = spec(dir.path(), "bun1.x", "bun-syntax", "api/broken.js");
    match spawn_with(&runtime(), spec).await {
        Err(SpawnError::Init { message, .. }) => {
            assert!(message.contains("api/broken.js:2:"), "{message}");
            assert!(message.contains("res.send('never' +;"), "{message}");
            assert!(!message.contains("launcher.mjs"), "{message}");
        }
        Err(other) => panic!("expected Init, got {other}"),
        Ok(_) => panic!("a syntax error must not start"),
    }
}

#[tokio::test]
async fn sigterm_finishes_wait_until_work_before_the_exit() {
    if !bun_available() {
        return;
    }
    let dir = project(&[(
        "api/later.mjs",
        r#"
import { waitUntil } from '@vercel/functions';
export default function handler(req, res) {
  waitUntil(new Promise((r) => setTimeout(r, 400)).then(() => console.log('finished before exit')));
  res.end('scheduled');
}
"#,
    )]);
    let instance = spawn(&dir, "bun-drain", "api/later.mjs").await;
    assert_eq!(call(&instance, get("/api/later")).await.text(), "scheduled");
    instance.drain(Duration::from_secs(10)).await;
    assert!(matches!(*instance.health().borrow(), Health::Exited { .. }));
    log_containing("bun-drain", "finished before exit").await;
}

#[tokio::test]
async fn the_health_check_is_answered_by_the_launcher() {
    if !bun_available() {
        return;
    }
    let dir = project(&[("api/slow.js", SLOW)]);
    let instance = spawn(&dir, "bun-ping", "api/slow.js").await;
    let reply = call(&instance, get("/_vercel/ping")).await;
    assert_eq!((reply.status.as_u16(), reply.text().as_str()), (200, "OK"));
}

#[tokio::test]
async fn binary_bodies_multiple_cookies_and_repeated_headers_pass_through() {
    if !bun_available() {
        return;
    }
    let dir = project(&[(
        "api/echo.js",
        r#"
module.exports = async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  res.setHeader('set-cookie', ['a=1', 'b=2']);
  res.setHeader('x-dup-seen', JSON.stringify(req.headersDistinct['x-dup'] ?? []));
  res.setHeader('content-type', 'application/octet-stream');
  res.end(Buffer.concat(chunks).reverse());
};
"#,
    )]);
    let instance = spawn(&dir, "bun-echo", "api/echo.js").await;
    let bytes: Vec<u8> = (0..=255).collect();
    let reply = call(
        &instance,
        request("POST", "/api/echo")
            .header("x-dup", "one")
            .header("x-dup", "two")
            .body(full_body(bytes.clone()))
            .unwrap(),
    )
    .await;
    let reversed: Vec<u8> = bytes.into_iter().rev().collect();
    assert_eq!(reply.body.as_ref(), reversed.as_slice());
    assert_eq!(reply.all("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(reply.all("x-dup-seen"), [r#"["one","two"]"#]);
}
