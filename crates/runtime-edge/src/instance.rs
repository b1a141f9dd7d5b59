//! The handle the scheduler holds: [`EdgeInstance`] sends invocations to its isolate's thread
//! (see `isolate`) and reads the figures that thread keeps up to date.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eddy_runtime::{
    Body, BoxFuture, Health, Instance, InstanceId, InstanceSpec, InstanceStats, Invocation,
    InvokeError, SpawnError,
};
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::EdgeOptions;
use crate::bytecode::BytecodeCache;
use crate::isolate::{Command, Request, run_thread};

/// Figures the isolate thread updates and `stats()` reads.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    pub(crate) cpu_nanos: AtomicU64,
    pub(crate) execution_units: AtomicU64,
    pub(crate) memory_bytes: AtomicU64,
    pub(crate) killed: AtomicBool,
    /// When a drain's grace ends, in ms since `born` (`u64::MAX`: not draining). Set by the
    /// caller of `drain`, read by the interrupt handler, so even code stuck in a busy loop
    /// stops then.
    pub(crate) drain_at_ms: AtomicU64,
    pub(crate) born: Option<Instant>,
    /// The runtime-wide execution unit counter.
    pub(crate) runtime_units: Arc<AtomicU64>,
}

impl Figures {
    pub(crate) fn drain_due(&self) -> bool {
        let at = self.drain_at_ms.load(Ordering::Relaxed);
        at != u64::MAX
            && self
                .born
                .is_some_and(|born| born.elapsed().as_millis() >= u128::from(at))
    }
}

/// An Edge function instance: one isolate on its own thread.
pub struct EdgeInstance {
    id: InstanceId,
    function: String,
    commands: mpsc::UnboundedSender<Command>,
    health: watch::Receiver<Health>,
    figures: Arc<Figures>,
    cold_start: Duration,
    done: Mutex<Option<oneshot::Receiver<()>>>,
}

impl EdgeInstance {
    /// Execution units (50 ms of CPU each, rounded up per invocation) used so far.
    pub fn execution_units(&self) -> u64 {
        self.figures.execution_units.load(Ordering::Relaxed)
    }
}

/// Starts an isolate for `spec` and waits until the function's module has loaded.
pub(crate) async fn spawn(
    spec: Arc<InstanceSpec>,
    id: InstanceId,
    options: Arc<EdgeOptions>,
    cache: Arc<BytecodeCache>,
    runtime_units: Arc<AtomicU64>,
) -> Result<Arc<dyn Instance>, SpawnError> {
    let started = Instant::now();
    let bundle = spec.root.join(&spec.handler);
    let function = spec.function.clone();
    let code = tokio::task::spawn_blocking(move || cache.get(&bundle))
        .await
        .map_err(|e| SpawnError::Init {
            function: function.clone(),
            message: format!("compiling the bundle panicked: {e}"),
        })?
        .map_err(|e| SpawnError::Init {
            function: function.clone(),
            message: e.to_string(),
        })?;
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (health_tx, health_rx) = watch::channel(Health::Ready);
    let (ready_tx, ready_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let figures = Arc::new(Figures {
        runtime_units,
        drain_at_ms: AtomicU64::new(u64::MAX),
        born: Some(Instant::now()),
        ..Figures::default()
    });
    let thread_figures = figures.clone();
    let thread_spec = spec.clone();
    std::thread::Builder::new()
        .name(format!("edge-{id}"))
        .stack_size(8 << 20)
        .spawn(move || {
            run_thread(
                thread_spec,
                id,
                options,
                code,
                commands_rx,
                ready_tx,
                health_tx,
                thread_figures,
            );
            let _ = done_tx.send(());
        })
        .map_err(|source| SpawnError::Io {
            function: function.clone(),
            source,
        })?;
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return Err(SpawnError::Init { function, message }),
        Err(_) => {
            return Err(SpawnError::Init {
                function,
                message: "the isolate thread ended while loading".into(),
            });
        }
    }
    Ok(Arc::new(EdgeInstance {
        id,
        function,
        commands: commands_tx,
        health: health_rx,
        figures,
        cold_start: started.elapsed(),
        done: Mutex::new(Some(done_rx)),
    }))
}

/// Tells the isolate that an invocation's caller is gone, unless disarmed.
struct CancelOnDrop {
    commands: Option<mpsc::UnboundedSender<Command>>,
    id: eddy_runtime::InvocationId,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(commands) = self.commands.take() {
            let _ = commands.send(Command::Cancel {
                id: self.id.clone(),
            });
        }
    }
}

/// The URL the function sees: the public URL rebuilt from the forwarded headers.
fn public_url(parts: &http::request::Parts) -> String {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let proto = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or_else(|| "localhost".into());
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("{proto}://{host}{path}")
}

impl Instance for EdgeInstance {
    fn id(&self) -> InstanceId {
        self.id
    }

    fn invoke(
        &self,
        invocation: Invocation,
    ) -> BoxFuture<'static, Result<http::Response<Body>, InvokeError>> {
        let commands = self.commands.clone();
        let instance = self.id;
        let function = self.function.clone();
        Box::pin(async move {
            let (parts, body) = invocation.request.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| InvokeError::Failed {
                    reason: format!("reading the request body for {function} failed: {e}"),
                })?
                .to_bytes();
            let headers = parts
                .headers
                .iter()
                .filter(|(k, _)| !k.as_str().starts_with("x-vercel-internal-"))
                .flat_map(|(k, v)| {
                    [
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    ]
                })
                .collect();
            let has_body = !(body.is_empty()
                && matches!(parts.method, http::Method::GET | http::Method::HEAD));
            let request = Request {
                id: invocation.id,
                method: parts.method.to_string(),
                url: public_url(&parts),
                headers,
                body: has_body.then_some(body),
            };
            let (reply, head) = oneshot::channel();
            let id = request.id.clone();
            commands
                .send(Command::Invoke { request, reply })
                .map_err(|_| InvokeError::Unavailable {
                    instance,
                    reason: "the isolate has exited".into(),
                })?;
            // Dropped before the head arrives (the client went away): abort the request's
            // signal in the isolate.
            let mut cancel = CancelOnDrop {
                commands: Some(commands),
                id,
            };
            let head = head.await;
            cancel.commands = None;
            head.map_err(|_| InvokeError::Crashed {
                instance,
                reason: "the isolate ended during the invocation".into(),
            })?
        })
    }

    fn health(&self) -> watch::Receiver<Health> {
        self.health.clone()
    }

    fn stats(&self) -> InstanceStats {
        InstanceStats {
            pid: None,
            cold_start: self.cold_start,
            cpu_time: Some(Duration::from_nanos(
                self.figures.cpu_nanos.load(Ordering::Relaxed),
            )),
            memory_bytes: Some(self.figures.memory_bytes.load(Ordering::Relaxed)),
        }
    }

    fn drain(&self, grace: Duration) -> BoxFuture<'static, ()> {
        if let Some(born) = self.figures.born {
            let at = (born.elapsed() + grace).as_millis();
            self.figures
                .drain_at_ms
                .store(u64::try_from(at).unwrap_or(u64::MAX - 1), Ordering::Relaxed);
        }
        let (done, wait) = oneshot::channel();
        let sent = self.commands.send(Command::Drain { grace, done }).is_ok();
        let finished = self
            .done
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        Box::pin(async move {
            if sent {
                let _ = wait.await;
            }
            if let Some(finished) = finished {
                let _ = finished.await;
            }
        })
    }

    fn kill(&self) {
        self.figures.killed.store(true, Ordering::Relaxed);
        let _ = self.commands.send(Command::Kill);
    }
}
