//! `invoke`: one [`WasmInstance`] is one pre-instantiated component; each invocation gets a fresh
//! store and component instance, runs on its own tokio task, and is stopped when its caller
//! stops waiting.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eddy_runtime::{
    Body, BoxError, BoxFuture, Health, Instance, InstanceId, InstanceSpec, InstanceStats,
    Invocation, InvokeError,
};
use http_body::Frame;
use http_body_util::BodyExt as _;
use tokio::sync::{oneshot, watch};
use tokio::task::AbortHandle;
use wasmtime_wasi_http::Error as HttpError;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::{HyperIncomingBody, HyperOutgoingBody};

use crate::engine::Ticker;
use crate::host::{self, Host, Stopped};
use crate::logs::Tags;

/// How long a guest may run beyond `maxDuration`. The scheduler answers 504 at `maxDuration`
/// itself and drops the invocation (which stops the guest at once); this backstop only stops
/// guests that keep running after their response was sent, so it must not fire first.
const DEADLINE_GRACE: Duration = Duration::from_secs(1);

/// One pre-instantiated component serving one function. Cheap per invocation (a store and an
/// instance from the pool, copy-on-write memory), so one instance takes as many concurrent
/// invocations as the scheduler admits; a trap or a runaway guest affects only its own
/// invocation, so the instance stays `Ready` until drained or killed.
pub struct WasmInstance {
    id: InstanceId,
    spec: Arc<InstanceSpec>,
    function: Arc<str>,
    pre: ProxyPre<Host>,
    health: watch::Sender<Health>,
    cold_start: Duration,
    running: Running,
    next_task: AtomicU64,
    closed: AtomicBool,
    _ticker: Arc<Ticker>,
}

impl WasmInstance {
    pub(crate) fn new(
        id: InstanceId,
        spec: Arc<InstanceSpec>,
        pre: ProxyPre<Host>,
        cold_start: Duration,
        ticker: Arc<Ticker>,
    ) -> Self {
        let (health, _) = watch::channel(Health::Ready);
        Self {
            id,
            function: Arc::from(spec.function.as_str()),
            spec,
            pre,
            health,
            cold_start,
            running: Running::default(),
            next_task: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            _ticker: ticker,
        }
    }

    /// Guests still running on this instance (invocations in flight, including any that sent
    /// their response and keep working).
    pub fn running(&self) -> usize {
        self.running.lock().len()
    }

    fn start(&self, invocation: Invocation) -> Result<Started, InvokeError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(InvokeError::Unavailable {
                instance: self.id,
                reason: "the instance is shutting down".to_owned(),
            });
        }
        let failed = |error: wasmtime::Error| InvokeError::Failed {
            reason: format!("could not set up the invocation: {error:?}"),
        };
        let tags = Tags {
            function: self.function.clone(),
            instance: self.id,
            request_id: Arc::from(invocation.request_id.as_str()),
        };
        let budget = self.spec.max_duration + DEADLINE_GRACE;
        let mut store = host::store(self.pre.engine(), &self.spec, tags, budget).map_err(failed)?;
        let request = incoming(invocation.request);
        let scheme = scheme_of(&request);
        let (sender, response) = oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(scheme, request)
            .map_err(failed)?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(failed)?;
        let pre = self.pre.clone();
        let key = self.next_task.fetch_add(1, Ordering::Relaxed);
        // Holding the registry while spawning keeps a fast task from unregistering before it is
        // registered.
        let mut running = self.running.lock();
        let task = tokio::spawn({
            let finished = Finished {
                running: self.running.clone(),
                key,
            };
            async move {
                let _finished = finished;
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, request, outparam)
                    .await
            }
        });
        running.insert(key, task.abort_handle());
        drop(running);
        Ok(Started {
            response,
            cancel: Cancel(Some(task.abort_handle())),
            task,
        })
    }
}

impl Instance for WasmInstance {
    fn id(&self) -> InstanceId {
        self.id
    }

    fn invoke(
        &self,
        invocation: Invocation,
    ) -> BoxFuture<'static, Result<http::Response<Body>, InvokeError>> {
        let started = self.start(invocation);
        let instance = self.id;
        Box::pin(async move {
            let Started {
                response,
                cancel,
                task,
            } = started?;
            match response.await {
                Ok(Ok(response)) => Ok(response.map(|body| GuardedBody::wrap(body, cancel))),
                Ok(Err(code)) => Err(InvokeError::Failed {
                    reason: format!("the component answered with error {code:?}"),
                }),
                // The guest dropped its response-outparam: it returned or trapped without
                // answering.
                Err(_) => Err(match task.await {
                    Ok(Ok(())) => InvokeError::NoResponse {
                        reason: "the component returned without setting a response (call \
                                 response-outparam.set in the incoming-handler)"
                            .to_owned(),
                    },
                    Ok(Err(error)) => InvokeError::Failed {
                        reason: describe(&error),
                    },
                    // Only `kill`/`drain` abort a task whose invocation is still awaited.
                    Err(join) if join.is_cancelled() => InvokeError::Crashed {
                        instance,
                        reason: "the instance was stopped".to_owned(),
                    },
                    Err(join) => InvokeError::Failed {
                        reason: format!("the invocation task ended abnormally: {join}"),
                    },
                }),
            }
        })
    }

    fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    fn stats(&self) -> InstanceStats {
        InstanceStats {
            pid: None,
            cold_start: self.cold_start,
            cpu_time: None,
            memory_bytes: None,
        }
    }

    fn drain(&self, grace: Duration) -> BoxFuture<'static, ()> {
        self.closed.store(true, Ordering::Release);
        self.health.send_replace(Health::Draining {
            reason: "draining".to_owned(),
        });
        let running = self.running.clone();
        let health = self.health.clone();
        Box::pin(async move {
            let until = tokio::time::Instant::now() + grace;
            while !running.is_empty() && tokio::time::Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            running.abort_all();
            health.send_replace(Health::Exited {
                reason: "drained".to_owned(),
            });
        })
    }

    fn kill(&self) {
        self.closed.store(true, Ordering::Release);
        self.running.abort_all();
        self.health.send_replace(Health::Exited {
            reason: "killed".to_owned(),
        });
    }
}

/// The guests running on one instance, by task key; each removes itself when its task ends or is
/// aborted.
#[derive(Default, Clone)]
struct Running(Arc<Mutex<HashMap<u64, AbortHandle>>>);

impl Running {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, AbortHandle>> {
        // Every critical section is a single insert, remove or drain.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn abort_all(&self) {
        for (_, task) in self.lock().drain() {
            task.abort();
        }
    }
}

/// Unregisters a guest task when its future is dropped (finished or aborted).
struct Finished {
    running: Running,
    key: u64,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.running.lock().remove(&self.key);
    }
}

/// An invocation whose guest task is running.
struct Started {
    response: oneshot::Receiver<Result<hyper::Response<HyperOutgoingBody>, ErrorCode>>,
    cancel: Cancel,
    task: tokio::task::JoinHandle<wasmtime::Result<()>>,
}

/// Aborts the guest task when dropped, unless disarmed: held by the invocation future until the
/// head arrives, then by the response body until its end. Aborting drops the guest's store at its
/// next yield; guests yield on every epoch tick, so even a spinning guest stops within one.
struct Cancel(Option<AbortHandle>);

impl Cancel {
    /// The response ended: let the guest finish whatever it does after responding (still under
    /// its deadline).
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// The guest's response body, converted to eddy's body type, cancelling the guest if dropped
/// before its end.
struct GuardedBody {
    inner: HyperOutgoingBody,
    cancel: Cancel,
}

impl GuardedBody {
    fn wrap(inner: HyperOutgoingBody, cancel: Cancel) -> Body {
        Self { inner, cancel }.boxed_unsync()
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match polled {
            Poll::Ready(None) => {
                this.cancel.disarm();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(Box::new(error)))),
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// eddy's request as the `wasi:http` incoming request: an authority is required there, so a
/// request without one gets `localhost`.
fn incoming(request: http::Request<Body>) -> http::Request<HyperIncomingBody> {
    let (mut parts, body) = request.into_parts();
    if parts.uri.authority().is_none() && !parts.headers.contains_key(http::header::HOST) {
        parts.headers.insert(
            http::header::HOST,
            http::HeaderValue::from_static("localhost"),
        );
    }
    let body = body
        .map_err(|error| HttpError::InternalError(Some(format!("request body: {error}"))))
        .boxed_unsync();
    http::Request::from_parts(parts, body)
}

/// The scheme the client used, as the gateway forwarded it.
fn scheme_of<B>(request: &http::Request<B>) -> Scheme {
    let forwarded = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok());
    match forwarded {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    }
}

/// A guest failure for logs: the host's own reason when it stopped the guest, else the trap.
fn describe(error: &wasmtime::Error) -> String {
    if let Some(stopped) = error.downcast_ref::<Stopped>() {
        return stopped.to_string();
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        return format!("the component trapped: {trap}");
    }
    let text = format!("{error:?}");
    let first = text.lines().next().unwrap_or("unknown error");
    format!("the component failed: {first}")
}
