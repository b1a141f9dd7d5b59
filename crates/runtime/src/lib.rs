//! eddy-runtime: the contract between the Fluid scheduler and the runtimes that run user code.
//!
//! It owns the [`Runtime`] and [`Instance`] traits, the [`Invocation`] handed to an instance, the
//! body type that streams through eddy, the [`Health`] an instance reports and its
//! [`InstanceStats`]. It contains no implementation: process runtimes (node, python, ...) live in
//! `eddy-runtime-process`, later the Edge and Wasm runtimes in their own crates.
//!
//! Neighbours: `eddy-scheduler` spawns instances through [`Runtime::spawn`] and sends
//! [`Invocation`]s through [`Instance::invoke`]; the gateway builds invocations from HTTP requests.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::watch;

/// Boxed error carried by body streams.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type streamed through eddy, for requests and responses alike.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A boxed `Send` future, so the traits stay object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A body holding `bytes` in full.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty_body() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Identifies one instance (one process, isolate or component pool) for its whole life.
/// Unique within one eddy process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct InstanceId(pub u64);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i{}", self.0)
    }
}

/// Identifies one invocation (one request to one function); sent to the instance as
/// `x-vercel-internal-invocation-id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct InvocationId(String);

impl InvocationId {
    /// A fresh random id (16 lowercase hex digits).
    pub fn random() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InvocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One request to one function, ready to be sent to an instance.
///
/// `request` carries the URL the function must see (the original client path with the merged
/// query, see vercel-compat 0.2) and the platform headers the gateway added. The instance adds
/// the `x-vercel-internal-*` headers of the instance protocol itself.
#[derive(Debug)]
pub struct Invocation {
    pub id: InvocationId,
    /// The request id the platform logs and tags function output with (`x-vercel-id` suffix).
    pub request_id: String,
    pub request: http::Request<Body>,
}

/// Everything a runtime needs to start an instance of one function. Built by the gateway from
/// the resolved deployment; shared by every instance of the function.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// The function's name as users see it in logs and metrics: its URL path without a leading
    /// slash, e.g. `api/users/[id]`.
    pub function: String,
    /// The runtime identifier, e.g. `nodejs20.x` (vc-config `runtime`).
    pub runtime: String,
    /// The function's filesystem root: the working directory of the instance.
    pub root: PathBuf,
    /// The entry file (or handler) relative to `root`, e.g. `api/users/[id].js`.
    pub handler: String,
    /// The user's source file, for error messages (may equal `root/handler`).
    pub source: PathBuf,
    /// Environment of the instance: project variables plus system variables.
    pub env: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub max_duration: Duration,
    /// Runtime-specific launcher options (e.g. node's `shouldAddHelpers`, `useWebApi`,
    /// `awsLambdaHandler`), passed through as JSON.
    pub options: serde_json::Value,
}

/// What an instance reports about itself. The scheduler watches it: only `Ready` instances take
/// new invocations; `Draining` ones finish what they have and are then retired; `Exited` ones are
/// gone (their in-flight invocations fail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// The instance must take no new invocations, e.g. after an uncaught exception.
    Draining {
        reason: String,
    },
    /// The instance is gone (process exited, crashed or was killed).
    Exited {
        reason: String,
    },
}

/// Point-in-time figures of one instance, for logs, metrics and the admin view.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct InstanceStats {
    /// OS process id, for process runtimes.
    pub pid: Option<u32>,
    /// From spawn to ready to serve (`server-started`).
    #[serde(serialize_with = "ser_ms")]
    pub cold_start: Duration,
    /// Active CPU time used so far, where the runtime can measure it.
    #[serde(serialize_with = "ser_opt_ms")]
    pub cpu_time: Option<Duration>,
    /// Resident memory in bytes, where the runtime can measure it.
    pub memory_bytes: Option<u64>,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

/// Starts instances of functions. One per runtime family, shared by all pools.
pub trait Runtime: Send + Sync + 'static {
    /// Short name for logs, e.g. `node`.
    fn name(&self) -> &'static str;

    /// Starts one instance and resolves once it is ready to take invocations (for process
    /// runtimes: after `server-started`). Called by the scheduler on a cold start, possibly
    /// concurrently for the same spec.
    fn spawn(
        &self,
        spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> BoxFuture<'static, Result<Arc<dyn Instance>, SpawnError>>;
}

/// One running instance of a function. Takes many concurrent invocations (Fluid); the scheduler
/// decides how many.
pub trait Instance: Send + Sync + 'static {
    fn id(&self) -> InstanceId;

    /// Sends one invocation and resolves with the response head once the function has started
    /// responding; the body streams as the function writes it. Dropping the future or the body
    /// cancels the invocation (the connection to the instance is closed), nothing else.
    fn invoke(
        &self,
        invocation: Invocation,
    ) -> BoxFuture<'static, Result<http::Response<Body>, InvokeError>>;

    /// Watch of the instance's health; changes as it drains or exits.
    fn health(&self) -> watch::Receiver<Health>;

    fn stats(&self) -> InstanceStats;

    /// Graceful stop: no new invocations, let in-flight ones and `waitUntil` work finish (within
    /// `grace`), then end the instance. Resolves once it is gone.
    fn drain(&self, grace: Duration) -> BoxFuture<'static, ()>;

    /// Immediate stop (SIGKILL for processes).
    fn kill(&self);
}

/// Why an instance could not be started. Every message names the function and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// The runtime's toolchain (node, python3, ...) is not installed or not runnable.
    #[error("function {function}: runtime {runtime} is not available: {detail}")]
    ToolchainMissing {
        function: String,
        runtime: String,
        detail: String,
    },
    /// The user's code failed while loading (syntax error, missing export, import failure...).
    #[error("function {function}: failed to start: {message}")]
    Init { function: String, message: String },
    /// The instance did not become ready in time.
    #[error("function {function}: instance did not start within {waited:?}")]
    Timeout { function: String, waited: Duration },
    #[error("function {function}: could not start instance: {source}")]
    Io {
        function: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why one invocation failed inside the runtime. The gateway maps these to Vercel error codes.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The instance went away (crash, kill, OOM) while the invocation was in flight:
    /// `FUNCTION_INVOCATION_FAILED`.
    #[error("instance {instance} failed during the invocation: {reason}")]
    Crashed {
        instance: InstanceId,
        reason: String,
    },
    /// The instance was not in a state to accept the invocation (it had already exited or was
    /// draining before the request was sent). Nothing reached user code, so the scheduler may
    /// retry elsewhere.
    #[error("instance {instance} is not accepting invocations: {reason}")]
    Unavailable {
        instance: InstanceId,
        reason: String,
    },
    /// User code threw (or rejected) before it sent the response head; the instance keeps
    /// running but reports `Draining`: `FUNCTION_INVOCATION_FAILED`, rendered as Vercel's error
    /// page. `reason` is the error's first line, for logs (never shown to the client).
    #[error("function failed during the invocation: {reason}")]
    Failed { reason: String },
    /// The function ended the invocation without a response: `NO_RESPONSE_FROM_FUNCTION`.
    #[error("function sent no response: {reason}")]
    NoResponse { reason: String },
    /// The function did not start responding within the runtime's own first-byte deadline
    /// (Edge: 25 s) and the runtime stopped it: a 504 (`EDGE_FUNCTION_INVOCATION_TIMEOUT` for
    /// Edge functions, `FUNCTION_INVOCATION_TIMEOUT` otherwise).
    #[error("function did not start responding within {waited:?}")]
    TimedOut { waited: Duration },
}
