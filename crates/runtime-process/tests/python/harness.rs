//! What every test needs: a temporary project, a runtime with the real `python3`, requests,
//! and a tracing layer that captures function logs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_runtime::{
    Body, Health, Instance, InstanceId, InstanceSpec, Invocation, InvocationId, InvokeError,
    Runtime, SpawnError, empty_body,
};
use eddy_runtime_process::{ProcessRuntime, PythonConfig};
use http_body_util::BodyExt as _;
use tempfile::TempDir;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt as _;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Whether `python3` runs here; tests that need it return early (with a note) when it does not.
pub fn python_available() -> bool {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        eprintln!("note: `python3` is not installed; skipping this test");
    }
    found
}

/// A function project in a temporary directory under the target dir.
pub struct Project {
    pub dir: TempDir,
}

impl Project {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("eddy-python-test-")
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

    /// The spec of function `function` served by `handler`; `function` also names the
    /// function in captured logs, so tests pick unique names.
    pub fn spec(&self, function: &str, handler: &str) -> InstanceSpec {
        InstanceSpec {
            function: function.to_string(),
            runtime: "python3.11".to_string(),
            root: self.dir.path().to_path_buf(),
            handler: handler.to_string(),
            source: self.dir.path().join(handler),
            env: BTreeMap::from([("EDDY_TEST_VAR".to_string(), "from spec".to_string())]),
            memory_mb: 1024,
            max_duration: Duration::from_secs(60),
            options: serde_json::Value::Null,
        }
    }
}

pub fn runtime() -> ProcessRuntime {
    capture_logs();
    ProcessRuntime::python(PythonConfig {
        spawn_timeout: Duration::from_secs(20),
        ..PythonConfig::default()
    })
}

pub async fn spawn_spec(spec: InstanceSpec) -> Result<Arc<dyn Instance>, SpawnError> {
    let id = InstanceId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    runtime().spawn(Arc::new(spec), id).await
}

/// Spawns `handler` of `project` as function `function`; panics if it does not start.
pub async fn spawn(project: &Project, function: &str, handler: &str) -> Arc<dyn Instance> {
    match spawn_spec(project.spec(function, handler)).await {
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
            fields: fields.0,
        };
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(captured);
    }
}

fn capture_logs() {
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

/// Waits up to 5 s for a log line of `function` containing `text`.
pub async fn log_containing(function: &str, text: &str) -> Captured {
    let find = || {
        logs_of(function)
            .into_iter()
            .find(|c| c.message().contains(text))
    };
    eventually(Duration::from_secs(5), || find().is_some()).await;
    find().unwrap_or_else(|| {
        panic!(
            "no log of {function} contains {text:?}; got {:#?}",
            logs_of(function)
        )
    })
}

/// Reads a response body frame by frame, noting when each non-empty frame arrived.
pub async fn arrivals(instance: &Arc<dyn Instance>, path: &str) -> Vec<(Duration, String)> {
    let started = Instant::now();
    let response = instance
        .invoke(invocation(get(path), "req-stream"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut seen = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data()
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

/// Sends every request at once (each on its own task) and returns the results in order.
pub async fn call_all(
    instance: &Arc<dyn Instance>,
    requests: Vec<(http::Request<Body>, &str)>,
) -> Vec<Result<Reply, InvokeError>> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(request, request_id)| {
            let instance = instance.clone();
            let request_id = request_id.to_string();
            tokio::spawn(async move { call_as(&instance, request, &request_id).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("request task"));
    }
    replies
}
