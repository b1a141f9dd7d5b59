//! Shared harness: writes a bundle, spawns isolates through the `Runtime` trait, sends real
//! `http::Request`s.

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
    /// Kept so the bundle outlives the test.
    pub _dir: tempfile::TempDir,
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
    Function { _dir: dir, spec }
}

/// Everything logged by any test of this binary (a global subscriber: isolates log from their
/// own threads). Call before the code that logs; search the text for something unique.
pub fn logs() -> String {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    let buffer = LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Capture(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        buffer
    });
    let bytes = buffer.lock().expect("not poisoned").clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits up to a second for `needle` to show up in [`logs`].
pub async fn log_containing(needle: &str) -> String {
    for _ in 0..100 {
        let logs = logs();
        if logs.contains(needle) {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    logs()
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

pub mod server {
    //! A loopback HTTP server counting concurrently open requests.

    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, StreamBody};
    use hyper::body::Frame;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    pub struct Server {
        pub port: u16,
        max: Arc<AtomicUsize>,
    }

    impl Server {
        pub fn max_open(&self) -> usize {
            self.max.load(Ordering::SeqCst)
        }
    }

    impl std::fmt::Display for Server {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "http://127.0.0.1:{}", self.port)
        }
    }

    type ServerBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

    /// `/stream`: three chunks, 150 ms apart.
    fn streamed() -> ServerBody {
        let chunks = futures_util::stream::unfold(0u8, |n| async move {
            if n == 3 {
                return None;
            }
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            let frame = Frame::data(Bytes::from(format!("part{n};")));
            Some((Ok::<_, Infallible>(frame), n + 1))
        });
        StreamBody::new(chunks).boxed_unsync()
    }

    pub async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let (o, m) = (open.clone(), max.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (o, m) = (o.clone(), m.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let (o, m) = (o.clone(), m.clone());
                        async move {
                            let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                            m.fetch_max(now, Ordering::SeqCst);
                            if req.uri().path() == "/slow" {
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                            o.fetch_sub(1, Ordering::SeqCst);
                            if req.uri().path() == "/stream" {
                                return Ok::<_, Infallible>(
                                    hyper::Response::builder().body(streamed()).expect("valid"),
                                );
                            }
                            let body = format!("{} {}", req.method(), req.uri().path());
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .header("x-served", "yes")
                                    .body(Full::new(Bytes::from(body)).boxed_unsync())
                                    .expect("valid"),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server { port, max }
    }
}
