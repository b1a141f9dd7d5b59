//! Isolates end to end through the `Runtime` trait: handler shapes, errors, streaming,
//! waitUntil, isolation, concurrency.

use std::time::{Duration, Instant};

use eddy_runtime::{Health, InvokeError};
use http_body_util::BodyExt;

use crate::harness::*;

#[tokio::test]
async fn default_export_answers_a_request() {
    let f = function(
        "api/hello",
        "exports.default = (req) => new Response(`hello ${new URL(req.url).pathname} ${req.method}`, { headers: { 'x-a': '1' } });",
    );
    let instance = spawn(&f).await;
    let reply = call(&instance, "GET", "/api/hello?x=1", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "hello /api/hello GET");
    assert_eq!(reply.headers["x-a"], "1");
    assert!(instance.stats().cold_start > Duration::ZERO);
}

#[tokio::test]
async fn named_method_exports_answer_their_method_and_405_the_rest() {
    let f = function(
        "api/methods",
        "exports.GET = () => new Response('got'); exports.POST = async (req) => new Response('posted ' + await req.text());",
    );
    let instance = spawn(&f).await;
    assert_eq!(
        call(&instance, "GET", "/api/methods", None).await.body,
        "got"
    );
    let posted = call(&instance, "POST", "/api/methods", Some("data")).await;
    assert_eq!(posted.body, "posted data");
    let refused = call(&instance, "DELETE", "/api/methods", None).await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.headers["allow"], "GET, POST");
}

#[tokio::test]
async fn an_object_with_fetch_is_a_handler_and_gets_wait_until() {
    let f = function(
        "api/object",
        "exports.default = { fetch(req, env, ctx) { return new Response(typeof ctx.waitUntil); } };",
    );
    let instance = spawn(&f).await;
    assert_eq!(
        call(&instance, "GET", "/api/object", None).await.body,
        "function"
    );
}

#[tokio::test]
async fn a_bundle_without_handlers_fails_to_start_with_a_clear_message() {
    let f = function("api/empty", "exports.helper = 1;");
    let err = spawn_with(&f, options()).await.err().expect("refused");
    assert!(
        err.to_string().contains("No default or HTTP-named export"),
        "{err}"
    );
    assert!(err.to_string().contains("api/empty"), "{err}");
}

#[tokio::test]
async fn returning_no_response_fails_the_invocation_with_the_reason() {
    let f = function("api/x", "exports.default = () => undefined;");
    let instance = spawn(&f).await;
    let err = send(&instance, request("GET", "/api/x", None))
        .await
        .expect_err("fails");
    match err {
        InvokeError::Failed { reason } => assert_eq!(
            reason,
            "the edge function api/x returned undefined, expected a Response"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_thrown_error_fails_the_invocation_with_message_and_stack() {
    let f = function(
        "api/throw",
        "function deep() { throw new Error('boom here'); }\nexports.default = async () => deep();",
    );
    let instance = spawn(&f).await;
    let err = send(&instance, request("GET", "/api/throw", None))
        .await
        .expect_err("fails");
    let InvokeError::Failed { reason } = err else {
        panic!("expected Failed, got {err:?}");
    };
    assert!(reason.starts_with("Error: boom here"), "{reason}");
    assert!(
        reason.contains("deep"),
        "the stack names the function: {reason}"
    );
    // The isolate keeps serving.
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn eval_and_new_function_from_strings_throw() {
    let out = eval(
        "const r = []; try { eval('1+1'); r.push('eval ran'); } catch (e) { r.push('eval refused'); }
         try { new Function('return 1')(); r.push('Function ran'); } catch (e) { r.push('Function refused'); }
         return r.join(',');",
    )
    .await;
    assert_eq!(out, "eval refused,Function refused");
}

#[tokio::test]
async fn a_streamed_body_arrives_in_separate_chunks() {
    let f = function(
        "api/stream",
        "exports.default = () => new Response(new ReadableStream({ async start(c) {
            const enc = new TextEncoder();
            c.enqueue(enc.encode('one'));
            await new Promise((r) => setTimeout(r, 150));
            c.enqueue(enc.encode('two'));
            c.close();
        } }), { headers: { 'content-type': 'text/plain' } });",
    );
    let instance = spawn(&f).await;
    let response = send(&instance, request("GET", "/api/stream", None))
        .await
        .expect("responds");
    let started = Instant::now();
    let mut body = response.into_body();
    let first = body.frame().await.expect("a frame").expect("ok");
    let first_at = started.elapsed();
    assert_eq!(first.into_data().expect("data"), "one");
    let second = body.frame().await.expect("a frame").expect("ok");
    assert_eq!(second.into_data().expect("data"), "two");
    assert!(
        started.elapsed() >= Duration::from_millis(120),
        "the second chunk waited for the timer"
    );
    assert!(
        first_at < Duration::from_millis(100),
        "the first chunk came before the timer: {first_at:?}"
    );
    assert!(body.frame().await.is_none(), "the body ends");
}

#[tokio::test]
async fn wait_until_keeps_the_isolate_busy_and_drain_waits_for_it() {
    let f = function(
        "api/wait",
        "globalThis.done = 0;
         exports.default = (req, ctx) => {
           if (new URL(req.url).searchParams.has('check')) return new Response(String(globalThis.done));
           ctx.waitUntil(new Promise((r) => setTimeout(() => { globalThis.done++; r(); }, 200)));
           return new Response('sent');
         };",
    );
    let instance = spawn(&f).await;
    assert_eq!(call(&instance, "GET", "/api/wait", None).await.body, "sent");
    assert_eq!(
        call(&instance, "GET", "/api/wait?check", None).await.body,
        "0"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        call(&instance, "GET", "/api/wait?check", None).await.body,
        "1"
    );
    call(&instance, "GET", "/api/wait", None).await;
    let started = Instant::now();
    instance.drain(Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "drain waited for waitUntil"
    );
    assert!(matches!(*instance.health().borrow(), Health::Exited { .. }));
}

#[tokio::test]
async fn two_functions_do_not_share_globals() {
    let a = function(
        "api/a",
        "globalThis.secret = 'a-secret'; exports.default = () => new Response(String(globalThis.secret));",
    );
    let b = function(
        "api/b",
        "exports.default = () => new Response(String(globalThis.secret));",
    );
    let ia = spawn(&a).await;
    let ib = spawn(&b).await;
    assert_eq!(call(&ia, "GET", "/api/a", None).await.body, "a-secret");
    assert_eq!(call(&ib, "GET", "/api/b", None).await.body, "undefined");
}

#[tokio::test]
async fn one_isolate_serves_fifty_concurrent_awaiting_requests() {
    let f = function(
        "api/slow",
        "exports.default = async () => { await new Promise((r) => setTimeout(r, 100)); return new Response('ok'); };",
    );
    let instance = spawn(&f).await;
    let started = Instant::now();
    let calls = (0..50).map(|_| {
        let instance = instance.clone();
        tokio::spawn(async move { call(&instance, "GET", "/api/slow", None).await.body })
    });
    for joined in futures_util::future::join_all(calls).await {
        assert_eq!(joined.expect("task"), "ok");
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "50 x 100 ms interleaved took {took:?}"
    );
}

#[tokio::test]
async fn stats_report_cpu_time_and_kill_ends_the_isolate() {
    let f = function(
        "api/cpu",
        "exports.default = () => { let x = 0; for (let i = 0; i < 2e6; i++) x += i; return new Response(String(x)); };",
    );
    let instance = spawn(&f).await;
    call(&instance, "GET", "/api/cpu", None).await;
    // The figures are updated when the turn that sent the response ends.
    let mut cpu = Duration::ZERO;
    for _ in 0..50 {
        cpu = instance.stats().cpu_time.expect("measured");
        if cpu > Duration::from_millis(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(cpu > Duration::from_millis(1), "cpu {cpu:?}");

    instance.kill();
    let mut health = instance.health();
    tokio::time::timeout(
        Duration::from_secs(5),
        health.wait_for(|h| matches!(h, Health::Exited { .. })),
    )
    .await
    .expect("exits in time")
    .expect("watch open");
}

#[tokio::test]
async fn process_env_shows_only_the_function_env() {
    let env = [("GREETING".to_string(), "hi".to_string())]
        .into_iter()
        .collect();
    let f = function_with(
        "api/env",
        "exports.default = () => new Response(JSON.stringify(process.env));",
        env,
        Duration::from_secs(60),
    );
    let instance = spawn(&f).await;
    assert_eq!(
        call(&instance, "GET", "/api/env", None).await.body,
        r#"{"GREETING":"hi"}"#
    );
}

#[tokio::test]
async fn cpu_time_is_counted_in_fifty_millisecond_execution_units() {
    let f = function(
        "api/burn",
        "exports.default = (req) => {
           const ms = Number(new URL(req.url).searchParams.get('ms'));
           const until = performance.now() + ms;
           while (performance.now() < until) {}
           return new Response('done');
         };",
    );
    let runtime = eddy_runtime_edge::EdgeRuntime::new(options());
    let instance =
        eddy_runtime::Runtime::spawn(&runtime, f.spec.clone(), eddy_runtime::InstanceId(900))
            .await
            .expect("starts");
    let units_after = |at_least: u64| {
        let runtime = &runtime;
        async move {
            // The figure lands when the turn that sent the response ends.
            for _ in 0..50 {
                if runtime.execution_units() >= at_least {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            runtime.execution_units()
        }
    };
    call(&instance, "GET", "/?ms=1", None).await;
    assert_eq!(units_after(1).await, 1, "a short invocation costs one unit");
    call(&instance, "GET", "/?ms=300", None).await;
    // 300 ms of busy waiting is at least 100 ms of CPU even on a loaded machine: 2+ units.
    let units = units_after(3).await;
    assert!((3..=8).contains(&units), "units {units}");
}

#[tokio::test]
async fn a_stream_stops_producing_when_the_client_goes_away() {
    let f = function(
        "api/endless",
        "globalThis.produced = 0; globalThis.cancelled = false;
         exports.default = (req) => {
           if (new URL(req.url).searchParams.has('count')) return new Response(`${globalThis.produced} ${globalThis.cancelled}`);
           return new Response(new ReadableStream({
             async pull(c) { await new Promise((r) => setTimeout(r, 10)); globalThis.produced++; c.enqueue(new Uint8Array([1])); },
             cancel() { globalThis.cancelled = true; },
           }));
         };",
    );
    let instance = spawn(&f).await;
    let response = send(&instance, request("GET", "/", None))
        .await
        .expect("responds");
    let mut body = response.into_body();
    body.frame().await.expect("a frame").expect("ok");
    drop(body);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = call(&instance, "GET", "/?count", None).await.body;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = call(&instance, "GET", "/?count", None).await.body;
    assert_eq!(first, later, "production stopped");
    assert!(later.ends_with("true"), "the stream was cancelled: {later}");
}

#[tokio::test]
async fn a_plain_es_module_entrypoint_serves_its_default_export() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("index.js"),
        "const greeting = 'from an es module';\nexport default () => new Response(greeting);\n",
    )
    .expect("write");
    let mut f = function(
        "api/unused",
        "exports.default = () => new Response('unused');",
    );
    let spec = std::sync::Arc::make_mut(&mut f.spec);
    spec.root = dir.path().to_path_buf();
    spec.handler = "index.js".into();
    let instance = spawn(&f).await;
    assert_eq!(
        call(&instance, "GET", "/", None).await.body,
        "from an es module"
    );
}

#[tokio::test]
async fn a_busy_loop_in_wait_until_is_stopped_when_the_drain_grace_ends() {
    let f = function(
        "api/stuck",
        // The loop starts after the response, in a timer turn of no invocation.
        "exports.default = (req, ctx) => { ctx.waitUntil(new Promise((r) => setTimeout(r, 50)).then(() => { for (;;) {} })); return new Response('sent'); };",
    );
    let instance = spawn(&f).await;
    let started = Instant::now();
    assert_eq!(call(&instance, "GET", "/", None).await.body, "sent");
    assert!(started.elapsed() < Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    tokio::time::timeout(
        Duration::from_secs(10),
        instance.drain(Duration::from_millis(300)),
    )
    .await
    .expect("drain ends despite the busy loop");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn console_output_and_unhandled_rejections_reach_the_function_log() {
    logs();
    let f = function(
        "api/logs",
        "exports.default = () => {
           console.log('visible log line %d', 42, { a: 1 });
           Promise.reject(new Error('nobody handles this rejection'));
           return new Response('ok');
         };",
    );
    let instance = spawn(&f).await;
    call(&instance, "GET", "/", None).await;
    let logs = log_containing("nobody handles this rejection").await;
    let line = logs
        .lines()
        .find(|l| l.contains("visible log line 42 { a: 1 }"))
        .expect("the console line is logged");
    assert!(
        line.contains("eddy::function") && line.contains("api/logs"),
        "{line}"
    );
    let rejection = logs
        .lines()
        .find(|l| l.contains("unhandled promise rejection: Error: nobody handles this rejection"))
        .expect("the rejection is logged");
    assert!(rejection.contains("WARN"), "{rejection}");
}

#[tokio::test]
async fn a_caller_that_goes_away_aborts_the_request_signal() {
    let f = function(
        "api/abort",
        "globalThis.aborted = 'no';
         exports.default = async (req) => {
           if (new URL(req.url).searchParams.has('check')) return new Response(globalThis.aborted);
           req.signal.addEventListener('abort', () => { globalThis.aborted = req.signal.reason.name; });
           await new Promise((r) => setTimeout(r, 2000));
           return new Response('late');
         };",
    );
    let instance = spawn(&f).await;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        send(&instance, request("GET", "/", None)),
    )
    .await;
    assert!(gave_up.is_err(), "the call was still waiting");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        call(&instance, "GET", "/?check", None).await.body,
        "AbortError"
    );
}

#[tokio::test]
async fn async_local_storage_keeps_each_invocations_store_across_awaits() {
    let f = function(
        "api/als",
        "const als = new AsyncLocalStorage();
         exports.default = (req) => {
           const id = new URL(req.url).searchParams.get('id');
           return als.run(id, async () => {
             await new Promise((r) => setTimeout(r, 50 - Number(id) * 5));
             await Promise.resolve();
             return new Response(`${id}=${als.getStore()}`);
           });
         };",
    );
    let instance = spawn(&f).await;
    let calls = (0..8).map(|id| {
        let instance = instance.clone();
        tokio::spawn(async move {
            call(&instance, "GET", &format!("/?id={id}"), None)
                .await
                .body
        })
    });
    for (id, body) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(body.expect("task"), format!("{id}={id}"));
    }
}

#[tokio::test]
async fn a_fast_stream_waits_for_a_slow_client() {
    let f = function(
        "api/flood",
        "globalThis.produced = 0;
         exports.default = (req) => {
           if (new URL(req.url).searchParams.has('count')) return new Response(String(globalThis.produced));
           return new Response(new ReadableStream({
             pull(c) { globalThis.produced++; c.enqueue(new Uint8Array(64 * 1024)); },
           }));
         };",
    );
    let instance = spawn(&f).await;
    let response = send(&instance, request("GET", "/", None))
        .await
        .expect("responds");
    let mut body = response.into_body();
    body.frame().await.expect("a frame").expect("ok");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let produced: u32 = call(&instance, "GET", "/?count", None)
        .await
        .body
        .parse()
        .expect("a number");
    // 1 MB of 64 KB chunks unread, give or take the ones in flight.
    assert!((10..=24).contains(&produced), "produced {produced} chunks");
    for _ in 0..40 {
        body.frame().await.expect("a frame").expect("ok");
    }
    let more: u32 = call(&instance, "GET", "/?count", None)
        .await
        .body
        .parse()
        .expect("a number");
    assert!(
        more > produced,
        "reading let it go on: {more} after {produced}"
    );
}
