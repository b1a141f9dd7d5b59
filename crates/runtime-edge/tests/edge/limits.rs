//! The Edge limits: memory per isolate, busy loops interrupted at the first-byte deadline,
//! frozen time, fetch counts and connections.

use std::time::{Duration, Instant};

use crate::harness::*;
use eddy_runtime::{Health, InvokeError};
use eddy_runtime_edge::EdgeOptions;

#[tokio::test]
async fn exceeding_the_memory_limit_fails_the_invocation_and_retires_the_isolate() {
    let f = function(
        "api/hog",
        "exports.default = (req) => {
           if (new URL(req.url).searchParams.has('small')) return new Response('fine');
           const hoard = [];
           for (;;) hoard.push(new Array(100000).fill(hoard.length));
         };",
    );
    let options = EdgeOptions {
        memory_limit: 16 << 20,
        ..options()
    };
    let instance = spawn_with(&f, options).await.expect("starts");
    assert_eq!(
        call(&instance, "GET", "/api/hog?small", None).await.body,
        "fine"
    );
    let err = send(&instance, request("GET", "/api/hog", None))
        .await
        .expect_err("out of memory");
    assert!(matches!(err, InvokeError::Crashed { .. }), "{err:?}");
    assert!(err.to_string().contains("memory"), "{err}");
    let mut health = instance.health();
    tokio::time::timeout(
        Duration::from_secs(5),
        health.wait_for(|h| matches!(h, Health::Exited { .. })),
    )
    .await
    .expect("the isolate exits")
    .expect("watch open");
}

#[tokio::test]
async fn a_busy_loop_is_interrupted_at_the_first_byte_deadline_and_the_isolate_serves_on() {
    let f = function(
        "api/spin",
        "exports.default = (req) => {
           if (new URL(req.url).searchParams.has('ok')) return new Response('alive');
           for (;;) {}
         };",
    );
    let options = EdgeOptions {
        first_byte_timeout: Duration::from_millis(300),
        ..options()
    };
    let instance = spawn_with(&f, options).await.expect("starts");
    let started = Instant::now();
    let err = send(&instance, request("GET", "/api/spin", None))
        .await
        .expect_err("times out");
    assert!(matches!(err, InvokeError::TimedOut { .. }), "{err:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        call(&instance, "GET", "/api/spin?ok", None).await.body,
        "alive"
    );
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn a_busy_loop_in_one_isolate_does_not_stall_another() {
    let spin = function("api/spin", "exports.default = () => { for (;;) {} };");
    let other = function(
        "api/other",
        "exports.default = () => new Response('other');",
    );
    let options = EdgeOptions {
        first_byte_timeout: Duration::from_secs(2),
        ..options()
    };
    let spinning = spawn_with(&spin, options.clone()).await.expect("starts");
    let fine = spawn_with(&other, options).await.expect("starts");
    let stuck = tokio::spawn(async move { send(&spinning, request("GET", "/", None)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert_eq!(call(&fine, "GET", "/", None).await.body, "other");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(stuck.await.expect("task").is_err());
}

#[tokio::test]
async fn time_stands_still_during_cpu_work_and_moves_after_io() {
    let out = eval(
        "const a = Date.now(); const d = new Date().getTime();
         let x = 0; const until = performance.now() + 50; while (performance.now() < until) x++;
         const b = Date.now();
         await new Promise((r) => setTimeout(r, 20));
         const c = Date.now();
         return JSON.stringify({ same: a === b && a === d, moved: c - b >= 15 });",
    )
    .await;
    assert_eq!(out, r#"{"same":true,"moved":true}"#);
}

#[tokio::test]
async fn an_invocation_may_fetch_at_most_the_configured_number_of_times() {
    let server = server::start().await;
    let f = function(
        "api/many",
        &format!(
            "exports.default = async () => {{
               const results = [];
               for (let i = 0; i < 4; i++) {{
                 try {{ await fetch('{server}/ping'); results.push('ok'); }}
                 catch (e) {{ results.push(e.message); }}
               }}
               return new Response(results.join('|'));
             }};"
        ),
    );
    let options = EdgeOptions {
        max_fetches: 3,
        ..options()
    };
    let instance = spawn_with(&f, options).await.expect("starts");
    let body = call(&instance, "GET", "/", None).await.body;
    let parts: Vec<&str> = body.split('|').collect();
    assert_eq!(parts[..3], ["ok", "ok", "ok"]);
    assert!(parts[3].contains("at most 3 fetches"), "{body}");
}

#[tokio::test]
async fn at_most_six_fetches_of_one_invocation_are_open_at_once() {
    let server = server::start().await;
    let f = function(
        "api/fan",
        &format!(
            "exports.default = async () => {{
               const all = await Promise.all(Array.from({{ length: 12 }}, () => fetch('{server}/slow').then((r) => r.text())));
               return new Response(all.join(','));
             }};"
        ),
    );
    let instance = spawn(&f).await;
    call(&instance, "GET", "/", None).await;
    assert_eq!(server.max_open(), 6, "12 fetches, at most 6 at a time");
}

#[tokio::test]
async fn fetch_ports_are_rewritten_when_restricted() {
    let server = server::start().await;
    let f = function(
        "api/port",
        &format!(
            "exports.default = async () => {{
               try {{ await fetch('{server}/ping'); return new Response('reached'); }}
               catch (e) {{ return new Response('refused: ' + e.message); }}
             }};"
        ),
    );
    let restricted = EdgeOptions {
        restrict_fetch_ports: true,
        ..options()
    };
    let instance = spawn_with(&f, restricted).await.expect("starts");
    let body = call(&instance, "GET", "/", None).await.body;
    assert!(
        body.starts_with("refused"),
        "port {} went to port 80: {body}",
        server.port
    );
    let open = spawn(&f).await;
    assert_eq!(call(&open, "GET", "/", None).await.body, "reached");
}
