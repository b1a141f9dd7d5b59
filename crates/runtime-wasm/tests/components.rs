//! The Wasm runtime through the `Runtime`/`Instance` traits, with real guest components (built
//! from `guests/`, committed in `guests/built/`) and real requests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_runtime::{
    Body, Health, Instance, InstanceId, InstanceSpec, Invocation, InvocationId, InvokeError,
    Runtime, SpawnError, full_body,
};
use eddy_runtime_wasm::{Loaded, WasmConfig, WasmInstance, WasmRuntime};
use http_body_util::BodyExt;

fn built(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("guests/built")
        .join(format!("{name}.wasm"))
}

/// A project directory with every guest at `api/<name>.wasm` and a data file beside them.
fn project() -> &'static Path {
    static PROJECT: OnceLock<tempfile::TempDir> = OnceLock::new();
    PROJECT
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let api = dir.path().join("api");
            std::fs::create_dir_all(&api).expect("api dir");
            for name in [
                "hello", "echo", "stream", "trap", "loop", "hog", "fetch", "env",
            ] {
                std::fs::copy(built(name), api.join(format!("{name}.wasm"))).expect("copy guest");
            }
            std::fs::write(api.join("message.txt"), "from a file").expect("data file");
            std::fs::write(api.join("core.wasm"), [0, b'a', b's', b'm', 1, 0, 0, 0])
                .expect("core module");
            dir
        })
        .path()
}

/// One runtime (engine, pool, compile cache) for the whole test binary, as in eddy.
fn runtime() -> &'static WasmRuntime {
    static RUNTIME: OnceLock<(WasmRuntime, tempfile::TempDir)> = OnceLock::new();
    &RUNTIME
        .get_or_init(|| {
            let cache = tempfile::tempdir().expect("cache dir");
            let mut config = WasmConfig::new(cache.path());
            config.slots = 100;
            (WasmRuntime::new(config).expect("wasm runtime"), cache)
        })
        .0
}

fn spec(name: &str) -> InstanceSpec {
    InstanceSpec {
        function: format!("api/{name}"),
        runtime: "wasm".to_owned(),
        root: project().to_owned(),
        handler: format!("api/{name}.wasm"),
        source: project().join(format!("api/{name}.wasm")),
        env: BTreeMap::new(),
        memory_mb: 128,
        max_duration: Duration::from_secs(30),
        options: serde_json::Value::Null,
    }
}

async fn spawn(spec: InstanceSpec) -> Arc<WasmInstance> {
    let (instance, _) = runtime()
        .spawn_instance(Arc::new(spec), InstanceId(1))
        .await
        .expect("spawned");
    instance
}

fn request(method: &str, uri: &str, body: &'static str) -> Invocation {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "example.localhost")
        .body(full_body(Bytes::from_static(body.as_bytes())))
        .expect("request");
    Invocation {
        id: InvocationId::random(),
        request_id: "req-test".to_owned(),
        request,
    }
}

async fn text(response: http::Response<Body>) -> String {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8 body")
}

async fn wait_until_idle(instance: &WasmInstance, within: Duration) {
    let started = Instant::now();
    while instance.running() > 0 {
        assert!(
            started.elapsed() < within,
            "{} guests still running after {within:?}",
            instance.running()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn hello_answers_through_the_runtime_trait() {
    let instance: Arc<dyn Instance> = runtime()
        .spawn(Arc::new(spec("hello")), InstanceId(7))
        .await
        .expect("spawned");
    assert_eq!(instance.id(), InstanceId(7));
    for _ in 0..3 {
        let response = instance
            .invoke(request("GET", "/api/hello", ""))
            .await
            .expect("response");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(text(response).await, "hello from wasm\n");
    }
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn echo_sends_the_request_body_back_and_sees_method_path_and_query() {
    let instance = spawn(spec("echo")).await;
    let response = instance
        .invoke(request("POST", "/api/echo?x=1", "ping pong"))
        .await
        .expect("response");
    assert_eq!(response.headers()["x-echo-request"], "POST /api/echo?x=1");
    assert_eq!(response.headers()["x-echo-length"], "9");
    assert_eq!(text(response).await, "ping pong");
}

#[tokio::test]
async fn streamed_chunks_arrive_apart_in_time() {
    let instance = spawn(spec("stream")).await;
    let response = instance
        .invoke(request("GET", "/api/stream", ""))
        .await
        .expect("response");
    let head = Instant::now();
    let mut body = response.into_body();
    let mut arrivals = Vec::new();
    let mut all = String::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            arrivals.push(head.elapsed());
            all.push_str(std::str::from_utf8(&data).expect("utf-8"));
        }
    }
    assert_eq!(all, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
    assert!(arrivals.len() >= 4, "chunks merged: {arrivals:?}");
    assert!(
        arrivals[0] < Duration::from_millis(150),
        "first chunk late: {arrivals:?}"
    );
    let spread = arrivals[arrivals.len() - 1] - arrivals[0];
    assert!(
        spread >= Duration::from_millis(700),
        "chunks were not streamed: {arrivals:?}"
    );
}

#[tokio::test]
async fn a_trap_fails_only_its_own_request_and_the_instance_keeps_serving() {
    let instance = spawn(spec("trap")).await;
    let error = instance
        .invoke(request("GET", "/api/trap", ""))
        .await
        .expect_err("the guest panics");
    let InvokeError::Failed { reason } = error else {
        panic!("expected Failed, got {error:?}");
    };
    assert!(
        reason.starts_with("the component trapped") && reason.contains("unreachable"),
        "{reason}"
    );
    assert_eq!(*instance.health().borrow(), Health::Ready);
    let response = instance
        .invoke(request("GET", "/api/trap?ok", ""))
        .await
        .expect("the next request on the same instance succeeds");
    assert_eq!(text(response).await, "ok\n");
}

#[tokio::test]
async fn dropping_an_invocation_stops_a_guest_spinning_in_a_loop() {
    let instance = spawn(spec("loop")).await;
    let waited = tokio::time::timeout(
        Duration::from_millis(300),
        instance.invoke(request("GET", "/api/loop", "")),
    )
    .await;
    assert!(waited.is_err(), "the loop guest answered");
    wait_until_idle(&instance, Duration::from_secs(1)).await;
    let response = instance
        .invoke(request("GET", "/api/loop?ok", ""))
        .await
        .expect("the instance still serves");
    assert_eq!(text(response).await, "ok\n");
}

#[tokio::test]
async fn a_guest_that_never_answers_is_stopped_at_its_deadline() {
    let mut spec = spec("loop");
    spec.max_duration = Duration::from_millis(500);
    let instance = spawn(spec).await;
    let started = Instant::now();
    let error = instance
        .invoke(request("GET", "/api/loop", ""))
        .await
        .expect_err("stopped");
    let InvokeError::Failed { reason } = error else {
        panic!("expected Failed, got {error:?}");
    };
    assert!(reason.contains("deadline"), "{reason}");
    // maxDuration plus the one-second backstop grace, plus a few ticks.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(instance.running(), 0);
}

#[tokio::test]
async fn a_memory_hog_fails_at_its_limit_without_harming_other_requests() {
    let mut spec = spec("hog");
    spec.memory_mb = 64;
    let instance = spawn(spec).await;
    let hog = instance.invoke(request("GET", "/api/hog", ""));
    let others: Vec<_> = (0..5)
        .map(|_| instance.invoke(request("GET", "/api/hog?ok", "")))
        .collect();
    let error = hog.await.expect_err("the hog is stopped");
    let InvokeError::Failed { reason } = error else {
        panic!("expected Failed, got {error:?}");
    };
    assert!(reason.contains("memory limit of 64 MB"), "{reason}");
    for other in others {
        assert_eq!(text(other.await.expect("unharmed")).await, "ok\n");
    }
    assert_eq!(*instance.health().borrow(), Health::Ready);
}

#[tokio::test]
async fn outgoing_http_reaches_a_local_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: http::Request<_>| async move {
                    let reply = format!("upstream saw {}", req.uri().path());
                    Ok::<_, std::convert::Infallible>(
                        http::Response::builder()
                            .status(201)
                            .body(http_body_util::Full::new(Bytes::from(reply)))
                            .expect("response"),
                    )
                });
                let io = hyper_util::rt::TokioIo::new(socket);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    let instance = spawn(spec("fetch")).await;
    let uri = format!("/api/fetch?url=http://{addr}/from-wasm");
    let response = instance
        .invoke(request("GET", &uri, ""))
        .await
        .expect("response");
    assert_eq!(response.headers()["x-upstream-status"], "201");
    assert_eq!(text(response).await, "upstream saw /from-wasm");
}

/// Function log lines captured from tracing: (request id, stream, message).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<(String, String, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logs {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() != "eddy::function" {
            return;
        }
        #[derive(Default)]
        struct Fields(String, String, String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                let value = format!("{value:?}").trim_matches('"').to_owned();
                match field.name() {
                    "request_id" => self.0 = value,
                    "level" => self.1 = value,
                    "message" => self.2 = value,
                    _ => {}
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.record_debug(field, &value);
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.0
            .lock()
            .expect("logs")
            .push((fields.0, fields.1, fields.2));
    }
}

#[tokio::test]
async fn env_vars_files_and_request_tagged_logs_reach_the_guest() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let logs = Logs::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(logs.clone()));
    let mut spec = spec("env");
    spec.env.insert("GREETING".to_owned(), "hola".to_owned());
    let instance = spawn(spec).await;
    let mut invocation = request("GET", "/api/env", "");
    invocation.request_id = "req-env".to_owned();
    let response = instance.invoke(invocation).await.expect("response");
    assert_eq!(
        response.headers()["x-write"],
        "refused",
        "files are read-only"
    );
    assert_eq!(text(response).await, "greeting=hola\nfile=from a file");
    let response = instance
        .invoke(request("GET", "/api/env?file=/api/message.txt", ""))
        .await
        .expect("response");
    assert!(text(response).await.ends_with("file=from a file"));
    wait_until_idle(&instance, Duration::from_secs(1)).await;
    let logs = logs.0.lock().expect("logs").clone();
    let tagged = |stream: &str, message: &str| {
        logs.iter()
            .any(|(id, s, m)| id == "req-env" && s == stream && m == message)
    };
    assert!(
        tagged("stdout", "env guest: greeting is hola"),
        "stdout line missing: {logs:?}"
    );
    assert!(
        tagged("stderr", "env guest: reading api/message.txt"),
        "stderr line missing: {logs:?}"
    );
}

#[tokio::test]
async fn a_second_runtime_maps_the_compiled_component_instead_of_compiling() {
    let cache = tempfile::tempdir().expect("cache dir");
    let config = || {
        let mut config = WasmConfig::new(cache.path());
        config.slots = 10;
        config
    };
    let spec = Arc::new(spec("hello"));
    let first = WasmRuntime::new(config()).expect("runtime");
    let (_, loaded) = first
        .spawn_instance(spec.clone(), InstanceId(1))
        .await
        .expect("spawned");
    assert_eq!(loaded, Loaded::Compiled);
    let file = first.cache_file(&std::fs::read(built("hello")).expect("guest"));
    let written = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .expect("the compiled component is on disk");
    let (_, again) = first
        .spawn_instance(spec.clone(), InstanceId(2))
        .await
        .expect("spawned");
    assert_eq!(again, Loaded::Memory);
    drop(first);

    let second = WasmRuntime::new(config()).expect("runtime");
    let (instance, loaded) = second
        .spawn_instance(spec, InstanceId(3))
        .await
        .expect("spawned");
    assert_eq!(loaded, Loaded::Disk);
    let modified = std::fs::metadata(&file)
        .and_then(|m| m.modified())
        .expect("still there");
    assert_eq!(modified, written, "the cache file was rewritten");
    let response = instance
        .invoke(request("GET", "/api/hello", ""))
        .await
        .expect("served from the cached code");
    assert_eq!(text(response).await, "hello from wasm\n");
}

#[tokio::test]
async fn a_core_module_is_refused_at_spawn_with_a_fix() {
    let error = runtime()
        .spawn(Arc::new(spec("core")), InstanceId(1))
        .await
        .err()
        .expect("refused");
    let SpawnError::Init { function, message } = error else {
        panic!("expected Init, got {error:?}");
    };
    assert_eq!(function, "api/core");
    assert!(
        message
            .starts_with("api/core.wasm is a core WebAssembly module, not a wasi:http component"),
        "{message}"
    );
}

#[tokio::test]
async fn kill_stops_running_guests_and_refuses_new_invocations() {
    let instance = spawn(spec("loop")).await;
    let pending = tokio::spawn(instance.invoke(request("GET", "/api/loop", "")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(instance.running(), 1);
    instance.kill();
    wait_until_idle(&instance, Duration::from_secs(1)).await;
    let result = tokio::time::timeout(Duration::from_secs(2), pending)
        .await
        .expect("the invocation ended")
        .expect("task");
    assert!(result.is_err(), "a killed guest cannot answer");
    assert!(matches!(
        instance.invoke(request("GET", "/api/loop?ok", "")).await,
        Err(InvokeError::Unavailable { .. })
    ));
    assert!(matches!(*instance.health().borrow(), Health::Exited { .. }));
}

#[tokio::test]
async fn drain_refuses_new_work_and_lets_a_streaming_response_finish() {
    let instance = spawn(spec("stream")).await;
    let response = instance
        .invoke(request("GET", "/api/stream", ""))
        .await
        .expect("response");
    let drained = tokio::spawn(instance.drain(Duration::from_secs(10)));
    assert!(matches!(
        instance.invoke(request("GET", "/api/stream", "")).await,
        Err(InvokeError::Unavailable { .. })
    ));
    assert!(matches!(
        *instance.health().borrow(),
        Health::Draining { .. }
    ));
    assert_eq!(
        text(response).await,
        "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n"
    );
    tokio::time::timeout(Duration::from_secs(2), drained)
        .await
        .expect("drained once the stream ended")
        .expect("task");
    assert!(matches!(*instance.health().borrow(), Health::Exited { .. }));
}

#[tokio::test]
async fn drain_stops_a_guest_that_outlives_the_grace() {
    let instance = spawn(spec("loop")).await;
    let pending = tokio::spawn(instance.invoke(request("GET", "/api/loop", "")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    instance.drain(Duration::from_millis(300)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    wait_until_idle(&instance, Duration::from_secs(1)).await;
    let result = pending.await.expect("task");
    assert!(
        matches!(result, Err(InvokeError::Crashed { .. })),
        "{result:?}"
    );
}
