//! Shared harness: writes a bundle, spawns isolates through the `Runtime` trait, sends real
//! `http::Request`s.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eddy_runtime::{
    Body, Instance, InstanceId, InstanceSpec, Invocation, InvocationId, InvokeError, Runtime,
    empty_body, full_body,
};
use eddy_runtime_edge::{EdgeOptions, EdgeRuntime};
use http_body_util::BodyExt;

/// Options for tests: any fetch port (local servers), no disk cache.
pub fn options() -> EdgeOptions {
    EdgeOptions {
        restrict_fetch_ports: false,
        bytecode_on_disk: false,
        ..EdgeOptions::default()
    }
}

pub struct Function {
    pub dir: tempfile::TempDir,
    pub spec: Arc<InstanceSpec>,
}

/// A function whose bundle runs `code`, which assigns handlers to `exports`.
pub fn function(name: &str, code: &str) -> Function {
    function_with(name, code, BTreeMap::new(), Duration::from_secs(60))
}

pub fn function_with(
    name: &str,
    code: &str,
    env: BTreeMap<String, String>,
    max_duration: Duration,
) -> Function {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = format!(
        "var __eddy_edge = (() => {{ const exports = {{}};\n{code}\nreturn exports; }})();\n"
    );
    std::fs::write(dir.path().join("bundle.js"), bundle).expect("write bundle");
    let spec = Arc::new(InstanceSpec {
        function: name.to_string(),
        runtime: "edge".into(),
        root: dir.path().to_path_buf(),
        handler: "bundle.js".into(),
        source: dir.path().join("bundle.js"),
        env,
        memory_mb: 128,
        max_duration,
        options: serde_json::Value::Null,
    });
    Function { dir, spec }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

pub async fn spawn_with(
    f: &Function,
    options: EdgeOptions,
) -> Result<Arc<dyn Instance>, eddy_runtime::SpawnError> {
    let runtime = EdgeRuntime::new(options);
    runtime
        .spawn(
            f.spec.clone(),
            InstanceId(NEXT.fetch_add(1, Ordering::Relaxed)),
        )
        .await
}

pub async fn spawn(f: &Function) -> Arc<dyn Instance> {
    spawn_with(f, options()).await.expect("isolate starts")
}

pub fn request(method: &str, path: &str, body: Option<&str>) -> http::Request<Body> {
    let body = match body {
        Some(b) => full_body(b.to_string()),
        None => empty_body(),
    };
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "example.test")
        .header("x-forwarded-proto", "https")
        .header("x-vercel-internal-request-id", "7")
        .body(body)
        .expect("valid request")
}

pub async fn send(
    instance: &Arc<dyn Instance>,
    request: http::Request<Body>,
) -> Result<http::Response<Body>, InvokeError> {
    instance
        .invoke(Invocation {
            id: InvocationId::random(),
            request_id: "req".into(),
            request,
        })
        .await
}

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

pub async fn call(
    instance: &Arc<dyn Instance>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Reply {
    let response = send(instance, request(method, path, body))
        .await
        .expect("invocation succeeds");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body completes").to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Runs `code` as a GET handler body and returns the text it responds with.
pub async fn eval(code: &str) -> String {
    let f = function(
        "api/eval",
        &format!(
            "exports.default = async (request) => {{ const out = await (async () => {{ {code} }})(); return new Response(typeof out === 'string' ? out : JSON.stringify(out)); }};"
        ),
    );
    let instance = spawn(&f).await;
    let reply = call(&instance, "GET", "/api/eval", None).await;
    instance.kill();
    reply.body
}
