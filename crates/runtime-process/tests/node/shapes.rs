//! Every handler shape of vercel-compat 1.2 is detected and served.

use crate::harness::{Project, call, get, node_available, request, spawn, with_body};
use eddy_runtime::{InvokeError, empty_body};

#[tokio::test]
async fn serves_a_commonjs_function_export() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/cjs.js",
        "module.exports = (req, res) => { res.end(`cjs ${req.method} ${req.url}`); };",
    );
    let instance = spawn(&project, "shapes-cjs", "api/cjs.js").await;
    let reply = call(&instance, get("/api/cjs?x=1")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "cjs GET /api/cjs?x=1");
    let post = call(&instance, with_body("POST", "/api/cjs", "text/plain", "hi")).await;
    assert_eq!(post.text(), "cjs POST /api/cjs");
}

#[tokio::test]
async fn serves_an_esm_default_export() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/esm.mjs",
        "export default function handler(req, res) { res.end('esm default'); }",
    );
    let instance = spawn(&project, "shapes-esm", "api/esm.mjs").await;
    assert_eq!(call(&instance, get("/api/esm")).await.text(), "esm default");
}

#[tokio::test]
async fn serves_an_esm_js_file_without_type_module() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file("package.json", r#"{"name": "no-type-module"}"#);
    project.file(
        "api/esm-in-js.js",
        "import { hostname } from 'node:os';\nexport default (req, res) => { res.end(typeof hostname === 'function' ? 'esm in .js' : 'no'); };",
    );
    let instance = spawn(&project, "shapes-esm-js", "api/esm-in-js.js").await;
    assert_eq!(
        call(&instance, get("/api/esm-in-js")).await.text(),
        "esm in .js"
    );
}

#[tokio::test]
async fn routes_web_method_exports_and_answers_405_for_others() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/web.mjs",
        r#"
export function GET(request, ctx) {
  return new Response(`web GET ${request.url} keys=${Object.keys(ctx).join(',')}`, {
    headers: { 'x-custom': 'yes' },
  });
}
export async function POST(request) {
  return Response.json({ got: await request.text(), type: request.headers.get('content-type') });
}
"#,
    );
    let instance = spawn(&project, "shapes-web", "api/web.mjs").await;
    let reply = call(&instance, get("/api/web?q=1")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        "web GET https://app.example/api/web?q=1 keys=waitUntil"
    );
    assert_eq!(reply.header("x-custom"), Some("yes"));

    let post = call(
        &instance,
        with_body("POST", "/api/web", "text/plain", "hello body"),
    )
    .await;
    assert_eq!(
        post.json(),
        serde_json::json!({ "got": "hello body", "type": "text/plain" })
    );

    let delete = request("DELETE", "/api/web").body(empty_body()).unwrap();
    let reply = call(&instance, delete).await;
    assert_eq!(reply.status, 405);
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn serves_a_default_fetch_object_for_every_method() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/fetch.mjs",
        r#"
export default {
  prefix: 'fetch',
  fetch(request, ctx) {
    const headers = new Headers();
    headers.append('set-cookie', 'a=1; Path=/');
    headers.append('set-cookie', 'b=2; Path=/');
    return new Response(`${this.prefix} ${request.method} ctx=${Object.keys(ctx).join(',')}`, { headers });
  },
};
"#,
    );
    let instance = spawn(&project, "shapes-fetch", "api/fetch.mjs").await;
    let put = request("PUT", "/api/fetch").body(empty_body()).unwrap();
    let reply = call(&instance, put).await;
    assert_eq!(reply.text(), "fetch PUT ctx=waitUntil");
    let cookies: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/"]);
}

#[tokio::test]
async fn serves_an_exported_http_server_without_helpers() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/server.js",
        "const http = require('http');\nmodule.exports = http.createServer((req, res) => { res.end(`http.Server helpers=${typeof res.send}`); });",
    );
    let instance = spawn(&project, "shapes-server", "api/server.js").await;
    assert_eq!(
        call(&instance, get("/api/server")).await.text(),
        "http.Server helpers=undefined"
    );
}

#[tokio::test]
async fn serves_a_server_the_module_started_itself() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/listen.js",
        "require('http').createServer((req, res) => res.end('captured ' + req.url)).listen(3000);",
    );
    let instance = spawn(&project, "shapes-listen", "api/listen.js").await;
    assert_eq!(
        call(&instance, get("/api/listen")).await.text(),
        "captured /api/listen"
    );
}

#[tokio::test]
async fn a_web_handler_that_returns_no_response_fails_the_invocation() {
    if !node_available() {
        return;
    }
    let project = Project::new();
    project.file(
        "api/bad-web.mjs",
        "export function GET() { return 'not a response'; }",
    );
    let instance = spawn(&project, "shapes-bad-web", "api/bad-web.mjs").await;
    let invocation = crate::harness::invocation(get("/api/bad-web"), "req-bad-web");
    match instance.invoke(invocation).await {
        Err(InvokeError::Failed { reason }) => {
            assert!(reason.contains("instead of a Response"), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}
