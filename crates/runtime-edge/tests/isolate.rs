//! Isolates end to end through the `Runtime` trait: handler shapes, errors, streaming,
//! waitUntil, isolation, concurrency.

mod support;

use std::time::Duration;

use support::*;

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
