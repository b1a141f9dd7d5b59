//! A running process instance as the scheduler sees it: invocations are proxied as real HTTP
//! requests to the instance's server on `127.0.0.1:<httpPort>`, with the
//! `x-vercel-internal-*` headers of the instance protocol; responses stream back untouched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use eddy_runtime::{
    Body, BoxError, BoxFuture, Health, Instance, InstanceId, InstanceStats, Invocation,
    InvocationId, InvokeError,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::Signal;
use tokio::sync::{mpsc, watch};

use crate::cgroup::InstanceCgroup;
use crate::stats;
use crate::supervise::Shared;

/// Header the launcher sets on the 500 it sends when user code threw before responding.
const FAILURE_MARKER: &str = "x-eddy-error";
const INVOCATION_ID: &str = "x-vercel-internal-invocation-id";
const REQUEST_ID: &str = "x-vercel-internal-request-id";
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// How long a failed request waits for the exit watcher, so the error can name the exit.
const EXIT_GRACE: Duration = Duration::from_millis(300);

/// Idle pooled connections close after this; the launcher keeps them open far longer, so eddy
/// (never the instance) closes an idle connection and a request never races a closing socket.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// One instance process, ready to serve. Dropping the handle kills the process.
pub(crate) struct ProcessInstance {
    shared: Arc<Shared>,
    client: Client<HttpConnector, Body>,
    port: u16,
    pid: Option<u32>,
    /// Where the instance's CPU and memory are accounted, when it has cgroups.
    cgroup: Option<Arc<InstanceCgroup>>,
    cold_start: Duration,
    signals: mpsc::UnboundedSender<Signal>,
    next_request: AtomicU64,
    /// Set by `drain`: the drain future then owns the end of the process (it keeps the exit
    /// watcher's channel open and kills after the grace), so dropping this handle must not.
    draining: AtomicBool,
}

impl ProcessInstance {
    pub(crate) fn new(
        shared: Arc<Shared>,
        port: u16,
        pid: Option<u32>,
        cgroup: Option<Arc<InstanceCgroup>>,
        cold_start: Duration,
        signals: mpsc::UnboundedSender<Signal>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        // Without TCP_NODELAY every small response waits for the delayed-ACK timer.
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Self {
            shared,
            client,
            port,
            pid,
            cgroup,
            cold_start,
            signals,
            next_request: AtomicU64::new(1),
            draining: AtomicBool::new(false),
        }
    }

    fn signal(&self, signal: Signal) {
        // A closed channel means the process is already gone.
        let _ = self.signals.send(signal);
    }
}

impl Drop for ProcessInstance {
    fn drop(&mut self) {
        // A pool retiring an instance drops its handle right after starting the drain.
        if !self.draining.load(Ordering::Acquire) {
            self.signal(Signal::SIGKILL);
        }
    }
}

impl Instance for ProcessInstance {
    fn id(&self) -> InstanceId {
        self.shared.id
    }

    fn invoke(
        &self,
        invocation: Invocation,
    ) -> BoxFuture<'static, Result<http::Response<Body>, InvokeError>> {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        let proxy = Proxy {
            shared: self.shared.clone(),
            client: self.client.clone(),
            port: self.port,
        };
        Box::pin(proxy.invoke(n, invocation))
    }

    fn health(&self) -> watch::Receiver<Health> {
        self.shared.health()
    }

    fn stats(&self) -> InstanceStats {
        let alive = !matches!(self.shared.current_health(), Health::Exited { .. });
        let pid = self.pid.filter(|_| alive);
        InstanceStats {
            pid: self.pid,
            cold_start: self.cold_start,
            // The cgroup counts every process of the instance; /proc only the main one.
            cpu_time: self
                .cgroup
                .as_ref()
                .filter(|_| alive)
                .and_then(|c| c.cpu_time())
                .or_else(|| pid.and_then(stats::cpu_time)),
            memory_bytes: self
                .cgroup
                .as_ref()
                .filter(|_| alive)
                .and_then(|c| c.memory_bytes())
                .or_else(|| pid.and_then(stats::memory_bytes)),
        }
    }

    fn drain(&self, grace: Duration) -> BoxFuture<'static, ()> {
        self.shared.drain("drain requested".into());
        self.draining.store(true, Ordering::Release);
        self.signal(Signal::SIGTERM);
        let signals = self.signals.clone();
        let mut health = self.shared.health();
        Box::pin(async move {
            let exited = |h: &Health| matches!(h, Health::Exited { .. });
            if tokio::time::timeout(grace, health.wait_for(exited))
                .await
                .is_err()
            {
                let _ = signals.send(Signal::SIGKILL);
                // The sender lives in the shared state this receiver came from, so the wait
                // ends only with the exit.
                let _ = health.wait_for(exited).await;
            }
        })
    }

    fn kill(&self) {
        self.signal(Signal::SIGKILL);
    }
}

/// What one invocation needs from its instance, owned so the future is `'static`.
struct Proxy {
    shared: Arc<Shared>,
    client: Client<HttpConnector, Body>,
    port: u16,
}

impl Proxy {
    async fn invoke(
        self,
        n: u64,
        invocation: Invocation,
    ) -> Result<http::Response<Body>, InvokeError> {
        let instance = self.shared.id;
        if let Health::Draining { reason } | Health::Exited { reason } =
            self.shared.current_health()
        {
            return Err(InvokeError::Unavailable { instance, reason });
        }
        let Invocation {
            id,
            request_id,
            request,
        } = invocation;
        let request = self.prepare(n, &id, request)?;
        self.shared.begin_request(n, &request_id);
        match self.client.request(request).await {
            Ok(response) => self.respond(response, &request_id).await,
            Err(error) => Err(self.failure(&error).await),
        }
    }

    /// Points the request at the instance and adds the instance-protocol headers.
    fn prepare(
        &self,
        n: u64,
        id: &InvocationId,
        request: http::Request<Body>,
    ) -> Result<http::Request<Body>, InvokeError> {
        let instance = self.shared.id;
        let unavailable = |reason: String| InvokeError::Unavailable { instance, reason };
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("http://127.0.0.1:{}{path}", self.port)
            .parse()
            .map_err(|error| {
                unavailable(format!("request target {path:?} is not valid: {error}"))
            })?;
        // The instance speaks HTTP/1.1, whatever the client spoke to the gateway.
        parts.version = http::Version::HTTP_11;
        strip_headers(&mut parts.headers);
        let invocation_id = HeaderValue::from_str(id.as_str())
            .map_err(|_| unavailable(format!("invocation id {id} is not a valid header value")))?;
        parts.headers.insert(INVOCATION_ID, invocation_id);
        parts.headers.insert(REQUEST_ID, HeaderValue::from(n));
        Ok(http::Request::from_parts(parts, body))
    }

    async fn respond(
        &self,
        response: http::Response<hyper::body::Incoming>,
        request_id: &str,
    ) -> Result<http::Response<Body>, InvokeError> {
        let (mut parts, body) = response.into_parts();
        if parts.headers.remove(FAILURE_MARKER).is_some() {
            let reason = failure_reason(body).await;
            // The `end` message says the same a moment later; draining now keeps the next
            // request from racing it to this instance.
            self.shared
                .drain(format!("uncaught error in request {request_id}: {reason}"));
            return Err(InvokeError::Failed { reason });
        }
        let body = body
            .map_err(|error| Box::new(error) as BoxError)
            .boxed_unsync();
        // Framing and keep-alive of the hop to the instance are not the client's business.
        for name in [header::TRANSFER_ENCODING, header::CONNECTION, KEEP_ALIVE] {
            parts.headers.remove(name);
        }
        Ok(http::Response::from_parts(parts, body))
    }

    /// Classifies a request that got no response head.
    async fn failure(&self, error: &hyper_util::client::legacy::Error) -> InvokeError {
        let instance = self.shared.id;
        let detail = error_chain(error);
        // The connection usually breaks a moment before the process is reaped: give the exit
        // watcher a chance so the error names how the process ended.
        let mut health = self.shared.health();
        let _ = tokio::time::timeout(
            EXIT_GRACE,
            health.wait_for(|h| matches!(h, Health::Exited { .. })),
        )
        .await;
        let current = health.borrow().clone();
        if error.is_connect() {
            // Nothing reached user code, so the scheduler may retry elsewhere; an instance that
            // refuses connections is of no further use.
            self.shared
                .drain(format!("its server refused a connection: {detail}"));
            return InvokeError::Unavailable {
                instance,
                reason: format!("cannot connect to the instance: {detail}"),
            };
        }
        let reason = match current {
            Health::Exited { reason } => format!("the process {reason}"),
            _ if request_body_failed(error) => {
                // The client's upload broke off (or the gateway cut it); the instance is fine.
                return InvokeError::NoResponse {
                    reason: format!(
                        "the request body failed before the function answered: {detail}"
                    ),
                };
            }
            _ => format!("the connection to the instance failed: {detail}"),
        };
        InvokeError::Crashed { instance, reason }
    }
}

/// Whether hyper gave up because the request body (from the gateway) returned an error.
fn request_body_failed(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            return hyper.is_user();
        }
        source = cause.source();
    }
    false
}

/// The error chain as one line: `client error (SendRequest): connection closed before...`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The launcher puts the error's first line in the marker response's body.
async fn failure_reason(body: hyper::body::Incoming) -> String {
    const LIMIT: usize = 4 << 10;
    let read = async {
        let mut text = Vec::new();
        let mut body = body;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                text.extend_from_slice(&data);
                if text.len() >= LIMIT {
                    break;
                }
            }
        }
        text
    };
    let text = tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text[..text.len().min(LIMIT)]);
    match text.trim() {
        "" => "uncaught exception in user code".to_string(),
        text => text.to_string(),
    }
}

/// Removes hop-by-hop headers and any `x-vercel-internal-*` header a client sent: only the
/// platform may set those.
fn strip_headers(headers: &mut HeaderMap) {
    let internal: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-vercel-internal-"))
        .cloned()
        .collect();
    for name in internal {
        headers.remove(&name);
    }
    for name in [
        header::CONNECTION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        KEEP_ALIVE,
        HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
}
