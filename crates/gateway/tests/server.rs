//! The listener under hostile or ending conditions, with a fake runtime behind it (the
//! runtimes have their own tests): a slow-loris client is cut off at the head timeout while
//! others are served, a client that disconnects cancels its invocation, and a shutdown refuses
//! new connections while the request in flight finishes.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use eddy_config::{Deployment, FunctionSpec, VercelJson};
use eddy_gateway::limits::Limits;
use eddy_gateway::{App, Gateway, GatewayOptions, PoolDefaults, Runtimes, Site, Sites};
use eddy_runtime::{
    Body, BoxFuture, Health, Instance, InstanceId, InstanceSpec, InstanceStats, Invocation,
    InvokeError, Runtime, SpawnError, full_body,
};
use eddy_scheduler::InstanceIds;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// Counts invocations that were cancelled before they finished.
#[derive(Default)]
struct Counters {
    cancelled: AtomicU32,
    finished: AtomicU32,
}

struct FakeRuntime(Arc<Counters>);

struct FakeInstance {
    id: InstanceId,
    counters: Arc<Counters>,
    health: watch::Sender<Health>,
}

impl Runtime for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn spawn(
        &self,
        _spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> BoxFuture<'static, Result<Arc<dyn Instance>, SpawnError>> {
        let counters = self.0.clone();
        Box::pin(async move {
            Ok(Arc::new(FakeInstance {
                id,
                counters,
                health: watch::Sender::new(Health::Ready),
            }) as Arc<dyn Instance>)
        })
    }
}

/// Counts a cancellation when dropped before `finish`.
struct Guard(Arc<Counters>, bool);

impl Drop for Guard {
    fn drop(&mut self) {
        let counter = if self.1 {
            &self.0.finished
        } else {
            &self.0.cancelled
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

impl Instance for FakeInstance {
    fn id(&self) -> InstanceId {
        self.id
    }

    /// Waits `?ms=N` milliseconds, then answers `done`.
    fn invoke(
        &self,
        invocation: Invocation,
    ) -> BoxFuture<'static, Result<http::Response<Body>, InvokeError>> {
        let ms: u64 = invocation
            .request
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("ms="))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
        let guard = Guard(self.counters.clone(), false);
        Box::pin(async move {
            // Moved in whole (a closure would capture only the field it assigns).
            let mut guard = guard;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            guard.1 = true;
            Ok(http::Response::new(full_body("done")))
        })
    }

    fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    fn stats(&self) -> InstanceStats {
        InstanceStats::default()
    }

    fn drain(&self, _grace: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    fn kill(&self) {}
}

struct Server {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
}

/// An app with one function, `api/slow`, on the fake runtime.
fn fake_app(counters: &Arc<Counters>, id: &str) -> App {
    let spec = FunctionSpec {
        path: "api/slow".into(),
        runtime: "fake".into(),
        root: ".".into(),
        handler: "api/slow.js".into(),
        source: "api/slow.js".into(),
        memory_mb: 1024,
        max_duration: Duration::from_secs(60),
        max_concurrency: None,
        fluid: true,
        env: BTreeMap::new(),
        regions: Vec::new(),
        should_add_helpers: true,
        use_web_api: false,
        aws_lambda_handler: None,
    };
    let deployment = Deployment {
        id: id.into(),
        routes: eddy_router::project_routes(&VercelJson::default(), &["api/slow"]).unwrap(),
        functions: BTreeMap::from([("api/slow".to_string(), spec)]),
        ..Deployment::default()
    };
    let runtimes = Runtimes::default().with("fake", Arc::new(FakeRuntime(counters.clone())));
    App::new(
        &deployment,
        BTreeMap::new(),
        &runtimes,
        &PoolDefaults::default(),
        &Arc::new(InstanceIds::new()),
    )
    .unwrap()
}

async fn start(header_read_timeout: Duration) -> Server {
    start_with(header_read_timeout, None).await
}

async fn start_with(header_read_timeout: Duration, sites: Option<Arc<dyn Sites>>) -> Server {
    let counters = Arc::new(Counters::default());
    let app = fake_app(&counters, "dpl_test");
    let options = GatewayOptions {
        limits: Limits {
            header_read_timeout,
            ..Limits::default()
        },
        ..GatewayOptions::default()
    };
    let gateway = Gateway::new(app, options);
    if let Some(sites) = sites {
        gateway.serve_sites(sites);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(eddy_gateway::server::serve(
        gateway,
        listener,
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(10),
    ));
    Server {
        addr,
        counters,
        stop: Some(stop),
        done,
    }
}

/// Sends one request on a fresh connection and returns the raw response.
async fn get(addr: SocketAddr, path: &str) -> String {
    get_host(addr, "test", path).await
}

async fn get_host(addr: SocketAddr, host: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn a_slow_loris_client_is_cut_off_while_others_are_served() {
    let server = start(Duration::from_secs(1)).await;
    let mut loris = TcpStream::connect(server.addr).await.unwrap();
    loris
        .write_all(b"GET /api/slow HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        // One header byte every 200 ms: the head would take minutes to arrive.
        for byte in b"x-slow: ".iter().cycle().take(100) {
            if loris.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut rest = Vec::new();
        let _ = loris.read_to_end(&mut rest).await;
        (started.elapsed(), rest)
    });
    // Meanwhile an ordinary client is served.
    assert!(
        get(server.addr, "/api/slow")
            .await
            .starts_with("HTTP/1.1 200")
    );
    let (cut_after, _) = trickle.await.unwrap();
    assert!(
        cut_after < Duration::from_secs(5),
        "the trickling client was cut off after {cut_after:?}"
    );
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_its_invocation() {
    let server = start(Duration::from_secs(30)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /api/slow?ms=5000 HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.counters.cancelled.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.counters.cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(server.counters.finished.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn shutdown_refuses_new_connections_and_lets_the_request_in_flight_finish() {
    let mut server = start(Duration::from_secs(30)).await;
    let addr = server.addr;
    let in_flight = tokio::spawn(async move { get(addr, "/api/slow?ms=800").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = server.stop.take().unwrap().send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a stopping server accepts no new connection"
    );
    let response = in_flight.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    tokio::time::timeout(Duration::from_secs(5), server.done)
        .await
        .expect("the server stops once its connections are done")
        .unwrap();
    assert_eq!(
        (
            server.counters.finished.load(Ordering::SeqCst),
            server.counters.cancelled.load(Ordering::SeqCst)
        ),
        (1, 0)
    );
}

/// Hosts → sites, as the binary's control-plane lookup would answer.
struct Hosts {
    shop: Arc<App>,
}

impl Sites for Hosts {
    fn site(&self, host: &str) -> BoxFuture<'_, Site> {
        let site = match host {
            "shop.localhost" | "dpl_shop.localhost" => Site::Serve(self.shop.clone()),
            "paused.localhost" => Site::Paused,
            _ => Site::NotFound,
        };
        Box::pin(async move { site })
    }
}

#[tokio::test]
async fn hosts_reach_their_deployment_and_unknown_or_paused_ones_get_vercel_errors() {
    let shop = Arc::new(fake_app(&Arc::new(Counters::default()), "dpl_shop"));
    let server = start_with(Duration::from_secs(30), Some(Arc::new(Hosts { shop }))).await;
    for host in ["shop.localhost:3000", "DPL_SHOP.localhost"] {
        let reply = get_host(server.addr, host, "/api/slow").await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{host}: {reply}");
    }
    let unknown = get_host(server.addr, "nope.localhost:3000", "/api/slow").await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    assert!(unknown.contains("DEPLOYMENT_NOT_FOUND"), "{unknown}");
    let paused = get_host(server.addr, "paused.localhost", "/api/slow").await;
    assert!(paused.starts_with("HTTP/1.1 503"), "{paused}");
    assert!(paused.contains("DEPLOYMENT_PAUSED"), "{paused}");
    // The single app given at start is not served once sites are.
    assert_eq!(server.counters.finished.load(Ordering::SeqCst), 0);
}
