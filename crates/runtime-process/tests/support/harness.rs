//! What the integration tests of every language share (each `tests/<language>` target includes
//! it with `#[path]`): temporary projects, specs, spawning through any `ProcessRuntime`, requests
//! and replies, polling, and a tracing layer that captures function logs.

#![allow(
    dead_code,
    reason = "each test target uses its own part of the harness"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_runtime::{
    Body, Health, Instance, InstanceId, InstanceSpec, Invocation, InvocationId, InvokeError,
    Runtime, SpawnError, empty_body, full_body,
};
use eddy_runtime_process::ProcessRuntime;
use http_body_util::BodyExt as _;
use tempfile::TempDir;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt as _;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Whether `program args` runs and succeeds here; prints `note: {missing}` when not, for tests
/// that return early without their toolchain.
pub fn tool_runs(program: &str, args: &[&str], missing: &str) -> bool {
    let found = std::process::Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("note: {missing}");
    }
    found
}

/// A function project in a temporary directory under the target dir: packages resolve by
/// walking up from the handler, so the repository's node_modules is found.
pub struct Project {
    pub dir: TempDir,
}

impl Project {
    /// An empty project in a fresh directory named `{prefix}<random>`.
    pub fn in_target_dir(prefix: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("temp dir under the target dir");
        Self { dir }
    }

    pub fn file(&self, rel: &str, text: &str) -> &Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write test file");
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// A project (see [`Project`]) holding `files`, each a relative path and its text.
pub fn project_with(prefix: &str, files: &[(&str, &str)]) -> TempDir {
    let project = Project::in_target_dir(prefix);
    for (rel, text) in files {
        project.file(rel, text);
    }
    project.dir
}

/// The spec of function `function` (also its name in captured logs: tests pick unique names)
/// served by `handler` under `root`.
pub fn spec(root: &Path, runtime: &str, function: &str, handler: &str) -> InstanceSpec {
    InstanceSpec {
        function: function.to_string(),
        runtime: runtime.to_string(),
        root: root.to_path_buf(),
        handler: handler.to_string(),
        source: root.join(handler),
        env: BTreeMap::from([
            ("GREETING".to_string(), "from spec".to_string()),
            ("VERCEL".to_string(), "1".to_string()),
        ]),
        memory_mb: 1024,
        max_duration: Duration::from_secs(60),
        options: serde_json::json!({ "shouldAddHelpers": true, "useWebApi": false, "awsLambdaHandler": null }),
    }
}

pub async fn spawn_with(
    runtime: &ProcessRuntime,
    spec: InstanceSpec,
) -> Result<Arc<dyn Instance>, SpawnError> {
    capture_logs();
    let id = InstanceId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    runtime.spawn(Arc::new(spec), id).await
}

/// The message of a spawn that must fail with [`SpawnError::Init`]; panics on any other result.
pub fn init_message(result: Result<Arc<dyn Instance>, SpawnError>) -> String {
    match result {
        Err(SpawnError::Init { message, .. }) => message,
        Err(other) => panic!("expected SpawnError::Init, got {other}"),
        Ok(_) => panic!("expected SpawnError::Init, got a running instance"),
    }
}

/// Spawns `spec` with `runtime`; panics if the instance does not start.
pub async fn must_spawn(runtime: &ProcessRuntime, spec: InstanceSpec) -> Arc<dyn Instance> {
    match spawn_with(runtime, spec).await {
        Ok(instance) => instance,
        Err(error) => panic!("spawn failed: {error}"),
    }
}

pub fn request(method: &str, path: &str) -> http::request::Builder {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "eddy.test")
        .header("x-forwarded-host", "app.example")
        .header("x-forwarded-proto", "https")
}

pub fn get(path: &str) -> http::Request<Body> {
    request("GET", path)
        .body(empty_body())
        .expect("valid request")
}

pub fn with_body(method: &str, path: &str, content_type: &str, body: &str) -> http::Request<Body> {
    request(method, path)
        .header("content-type", content_type)
        .body(full_body(body.to_string()))
        .expect("valid request")
}

/// An invocation with a fresh id and the platform request id `request_id`.
pub fn invocation(request: http::Request<Body>, request_id: &str) -> Invocation {
    Invocation {
        id: InvocationId::random(),
        request_id: request_id.to_string(),
        request,
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every value of header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }
}

pub async fn call_as(
    instance: &Arc<dyn Instance>,
    request: http::Request<Body>,
    request_id: &str,
) -> Result<Reply, InvokeError> {
    let response = instance.invoke(invocation(request, request_id)).await?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .expect("response body streams to the end")
        .to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

pub async fn call(instance: &Arc<dyn Instance>, request: http::Request<Body>) -> Reply {
    match call_as(instance, request, "req-test").await {
        Ok(reply) => reply,
        Err(error) => panic!("invoke failed: {error}"),
    }
}

/// Reads the body frame by frame, noting when each non-empty frame arrived.
pub async fn arrivals(instance: &Arc<dyn Instance>, path: &str) -> Vec<(Duration, String)> {
    let started = Instant::now();
    let response = instance
        .invoke(invocation(get(path), "req-stream"))
        .await
        .expect("the stream starts");
    let mut body = response.into_body();
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("a frame").into_data()
            && !data.is_empty()
        {
            seen.push((
                started.elapsed(),
                String::from_utf8_lossy(&data).into_owned(),
            ));
        }
    }
    seen
}

/// Waits up to `within` for the instance's health to satisfy `done`.
pub async fn wait_health(
    instance: &Arc<dyn Instance>,
    within: Duration,
    done: impl Fn(&Health) -> bool,
) -> Health {
    let mut health = instance.health();
    let waited = tokio::time::timeout(within, health.wait_for(|h| done(h)))
        .await
        .map(|result| result.map(|h| h.clone()));
    match waited {
        Ok(Ok(h)) => h,
        _ => panic!(
            "health did not change as expected in {within:?}: {:?}",
            *instance.health().borrow()
        ),
    }
}

/// Sends `request` as `request_id`, which must fail with a reason containing `boom`; then
/// waits up to 5 s for the instance to drain and returns that health.
pub async fn fails_then_drains(
    instance: &Arc<dyn Instance>,
    request: http::Request<Body>,
    request_id: &str,
    boom: &str,
) -> Health {
    match call_as(instance, request, request_id).await {
        Err(InvokeError::Failed { reason }) => {
            assert!(reason.contains(boom), "{reason}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    wait_health(instance, Duration::from_secs(5), |h| {
        matches!(h, Health::Draining { .. })
    })
    .await
}

/// Polls `check` every 20 ms for up to `within`.
pub async fn eventually(within: Duration, check: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// One captured tracing event: its target, level and fields (`message` included).
#[derive(Debug, Clone)]
pub struct Captured {
    pub target: String,
    pub level: tracing::Level,
    pub fields: BTreeMap<String, String>,
}

impl Captured {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn message(&self) -> &str {
        self.field("message").unwrap_or("")
    }
}

static CAPTURED: Mutex<Vec<Captured>> = Mutex::new(Vec::new());

struct Capture;

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let captured = Captured {
            target: event.metadata().target().to_string(),
            level: *event.metadata().level(),
            fields: fields.0,
        };
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(captured);
    }
}

/// Installs the capturing layer as the global subscriber (once per test binary).
pub fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Capture);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
}

/// The function-output events of `function` captured so far.
pub fn logs_of(function: &str) -> Vec<Captured> {
    CAPTURED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|c| c.target == "eddy::function" && c.field("function") == Some(function))
        .cloned()
        .collect()
}

/// Waits up to `within` for a log line of `function` containing `text`.
pub async fn log_within(function: &str, text: &str, within: Duration) -> Option<Captured> {
    let find = || {
        logs_of(function)
            .into_iter()
            .find(|c| c.message().contains(text))
    };
    eventually(within, || find().is_some()).await;
    find()
}

/// Waits up to 5 s for a log line of `function` containing `text`; panics without one.
pub async fn log_containing(function: &str, text: &str) -> Captured {
    match log_within(function, text, Duration::from_secs(5)).await {
        Some(found) => found,
        None => panic!(
            "no log of {function} contains {text:?}; got {:#?}",
            logs_of(function)
        ),
    }
}
