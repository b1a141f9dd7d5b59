//! A scripted runtime for the pool's unit tests. The request path picks the behaviour:
//! `/sleep/{ms}` answers after `ms`; `/hold` answers at once with a body that never ends;
//! `/stream/{ms}/{n}` answers at once and streams `n` chunks, one every `ms`; `/echo` answers
//! with the request body. The response body (except for `/echo`) is the instance id.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eddy_runtime::{
    Body, BoxError, BoxFuture, Health, Instance, InstanceId, InstanceSpec, InstanceStats,
    Invocation, InvocationId, InvokeError, Runtime, SpawnError, full_body,
};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::{InstanceIds, InvokeFailure, Pool, PoolConfig};

/// How long a fake instance takes to drain.
pub(crate) const DRAIN_TIME: Duration = Duration::from_millis(100);

pub(crate) struct FakeRuntime {
    spawn_delay: Duration,
    failures_left: AtomicU32,
    refuse_all: AtomicBool,
    calls: AtomicU32,
    instances: Mutex<Vec<Arc<FakeInstance>>>,
}

impl FakeRuntime {
    pub(crate) fn new(spawn_delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            spawn_delay,
            failures_left: AtomicU32::new(0),
            refuse_all: AtomicBool::new(false),
            calls: AtomicU32::new(0),
            instances: Mutex::new(Vec::new()),
        })
    }

    /// The next `n` spawns fail with an init error.
    pub(crate) fn fail_next_spawns(&self, n: u32) {
        self.failures_left.store(n, Ordering::SeqCst);
    }

    /// Every instance started from now on refuses every invocation as `Unavailable`.
    pub(crate) fn refuse_everything(&self) {
        self.refuse_all.store(true, Ordering::SeqCst);
    }

    pub(crate) fn spawn_calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The `n`th instance that started successfully (0-based).
    pub(crate) fn instance(&self, n: usize) -> Arc<FakeInstance> {
        Arc::clone(&self.instances.lock().expect("fake lock")[n])
    }
}

impl Runtime for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn spawn(
        &self,
        spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> BoxFuture<'static, Result<Arc<dyn Instance>, SpawnError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let instance = Arc::new(FakeInstance::new(
            id,
            self.refuse_all.load(Ordering::SeqCst),
        ));
        let delay = self.spawn_delay;
        if !fail {
            self.instances
                .lock()
                .expect("fake lock")
                .push(Arc::clone(&instance));
        }
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            if fail {
                return Err(SpawnError::Init {
                    function: spec.function.clone(),
                    message: "SyntaxError: boom".into(),
                });
            }
            Ok(instance as Arc<dyn Instance>)
        })
    }
}

#[derive(Default)]
pub(crate) struct Counts {
    running: AtomicU32,
    peak: AtomicU32,
    received: AtomicU32,
    drains: AtomicU32,
    drained: AtomicU32,
}

pub(crate) struct FakeInstance {
    id: InstanceId,
    health: Arc<watch::Sender<Health>>,
    refuse_next: AtomicBool,
    refuse_all: bool,
    counts: Arc<Counts>,
}

impl FakeInstance {
    fn new(id: InstanceId, refuse_all: bool) -> Self {
        Self {
            id,
            health: Arc::new(watch::Sender::new(Health::Ready)),
            refuse_next: AtomicBool::new(false),
            refuse_all,
            counts: Arc::default(),
        }
    }

    pub(crate) fn set_health(&self, health: Health) {
        self.health.send_replace(health);
    }

    /// The next invocation is refused as `Unavailable` without reading its body.
    pub(crate) fn refuse_next(&self) {
        self.refuse_next.store(true, Ordering::SeqCst);
    }

    /// Invocations executing right now (until their response head, or their body for streams).
    pub(crate) fn running(&self) -> u32 {
        self.counts.running.load(Ordering::SeqCst)
    }

    pub(crate) fn peak(&self) -> u32 {
        self.counts.peak.load(Ordering::SeqCst)
    }

    /// Invocations accepted (not refused).
    pub(crate) fn received(&self) -> u32 {
        self.counts.received.load(Ordering::SeqCst)
    }

    /// Calls of `drain`.
    pub(crate) fn drains(&self) -> u32 {
        self.counts.drains.load(Ordering::SeqCst)
    }

    /// Drains completed; each takes [`DRAIN_TIME`].
    pub(crate) fn drained(&self) -> u32 {
        self.counts.drained.load(Ordering::SeqCst)
    }
}

/// Counts one executing invocation while alive.
struct Running(Arc<Counts>);

impl Running {
    fn start(counts: &Arc<Counts>) -> Self {
        counts.received.fetch_add(1, Ordering::SeqCst);
        let now = counts.running.fetch_add(1, Ordering::SeqCst) + 1;
        counts.peak.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(counts))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Instance for FakeInstance {
    fn id(&self) -> InstanceId {
        self.id
    }

    fn invoke(
        &self,
        invocation: Invocation,
    ) -> BoxFuture<'static, Result<http::Response<Body>, InvokeError>> {
        let id = self.id;
        if self.refuse_all || self.refuse_next.swap(false, Ordering::SeqCst) {
            return Box::pin(async move {
                Err(InvokeError::Unavailable {
                    instance: id,
                    reason: "refused by the fake".into(),
                })
            });
        }
        let running = Running::start(&self.counts);
        let path = invocation.request.uri().path().to_owned();
        let parts: Vec<String> = path.split('/').skip(1).map(str::to_owned).collect();
        let number = |i: usize| {
            parts
                .get(i)
                .and_then(|p| p.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (first, second) = (number(1), number(2));
        Box::pin(async move {
            let body = match parts.first().map(String::as_str) {
                Some("sleep") => {
                    tokio::time::sleep(Duration::from_millis(first)).await;
                    drop(running);
                    full_body(id.to_string())
                }
                Some("hold") => Held(running).boxed_unsync(),
                Some("stream") => Chunks {
                    left: second,
                    every: Duration::from_millis(first),
                    next: Box::pin(tokio::time::sleep(Duration::from_millis(first))),
                    _running: running,
                }
                .boxed_unsync(),
                Some("echo") => {
                    let bytes = invocation
                        .request
                        .into_body()
                        .collect()
                        .await
                        .map_err(|e| InvokeError::NoResponse {
                            reason: e.to_string(),
                        })?
                        .to_bytes();
                    full_body(bytes)
                }
                _ => full_body("unknown fake path"),
            };
            Ok(http::Response::new(body))
        })
    }

    fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    fn stats(&self) -> InstanceStats {
        InstanceStats {
            pid: Some(1000 + u32::try_from(self.id.0).unwrap_or(0)),
            cold_start: Duration::from_millis(42),
            cpu_time: Some(Duration::from_millis(7)),
            memory_bytes: None,
        }
    }

    fn drain(&self, _grace: Duration) -> BoxFuture<'static, ()> {
        self.counts.drains.fetch_add(1, Ordering::SeqCst);
        let (counts, health) = (Arc::clone(&self.counts), Arc::clone(&self.health));
        Box::pin(async move {
            tokio::time::sleep(DRAIN_TIME).await;
            counts.drained.fetch_add(1, Ordering::SeqCst);
            health.send_replace(Health::Exited {
                reason: "drained".into(),
            });
        })
    }

    fn kill(&self) {
        self.health.send_replace(Health::Exited {
            reason: "killed".into(),
        });
    }
}

/// A body that never ends.
struct Held(#[expect(dead_code, reason = "held for its Drop")] Running);

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Pending
    }
}

struct Chunks {
    left: u64,
    every: Duration,
    next: Pin<Box<Sleep>>,
    _running: Running,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        if this.next.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.left -= 1;
        this.next.as_mut().reset(Instant::now() + this.every);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
    }
}

/// A config for tests: generous timeouts, nothing warm.
pub(crate) fn config(max_concurrency: u32, max_instances: u32) -> PoolConfig {
    PoolConfig {
        max_concurrency,
        max_instances,
        idle_timeout: Duration::from_secs(600),
        min_instances: 0,
        queue_timeout: Duration::from_secs(600),
        drain_grace: Duration::from_secs(1),
        max_duration: Duration::from_secs(600),
    }
}

pub(crate) fn pool(runtime: &Arc<FakeRuntime>, config: PoolConfig) -> Arc<Pool> {
    let spec = InstanceSpec {
        function: "api/fake".into(),
        runtime: "fake".into(),
        root: ".".into(),
        handler: "api/fake.js".into(),
        source: "api/fake.js".into(),
        env: Default::default(),
        memory_mb: 1024,
        max_duration: config.max_duration,
        options: serde_json::Value::Null,
    };
    Pool::new(
        "api/fake".into(),
        Arc::new(spec),
        Arc::clone(runtime) as Arc<dyn Runtime>,
        config,
        Arc::new(InstanceIds::new()),
    )
}

pub(crate) fn invocation(path: &str, body: &'static str) -> Invocation {
    let request = http::Request::builder()
        .uri(path)
        .body(full_body(body))
        .expect("static test request");
    Invocation {
        id: InvocationId::random(),
        request_id: "test".into(),
        request,
    }
}

/// A finished invocation, body read to the end.
#[derive(Debug)]
pub(crate) struct Done {
    pub(crate) instance: InstanceId,
    pub(crate) cold: bool,
    pub(crate) queued: Duration,
    pub(crate) body: String,
}

/// Invokes `path` and reads the whole response body.
pub(crate) async fn call(pool: &Arc<Pool>, path: &str) -> Result<Done, InvokeFailure> {
    let invoked = pool.invoke(invocation(path, "")).await?;
    let body = invoked
        .response
        .into_body()
        .collect()
        .await
        .expect("fake bodies end cleanly")
        .to_bytes();
    Ok(Done {
        instance: invoked.instance,
        cold: invoked.cold,
        queued: invoked.queued,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Lets every spawned task run until it waits on time again.
pub(crate) async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}
