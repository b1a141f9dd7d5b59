//! One isolate: a QuickJS runtime and context owned by a dedicated OS thread, with a
//! current-thread tokio runtime driving its timers and fetches. Invocations arrive over a
//! channel; each turn of the loop hands one event to JavaScript and then runs the promise jobs
//! it caused, so concurrent invocations interleave through promises.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eddy_runtime::{Health, InstanceId, InstanceSpec, InvokeError};
use rquickjs::context::intrinsic;
use rquickjs::{Context, Ctx, Function, Object, Runtime, Value};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use crate::EdgeOptions;
use crate::bytecode::{self, Bytecode};
use crate::fetch::FetchEvent;
use crate::host::{self, Event, HeadReply, LoopState, Shared};
use crate::instance::Figures;

/// Every intrinsic except `Eval`: `eval` and `new Function(string)` throw.
type Intrinsics = (
    (
        intrinsic::Date,
        intrinsic::RegExpCompiler,
        intrinsic::RegExp,
        intrinsic::Json,
        intrinsic::Proxy,
        intrinsic::MapSet,
    ),
    (
        intrinsic::TypedArrays,
        intrinsic::Promise,
        intrinsic::Performance,
        intrinsic::WeakRef,
        intrinsic::DOMException,
    ),
);

/// What the instance handle asks of its isolate thread.
pub(crate) enum Command {
    Invoke {
        request: Request,
        reply: HeadReply,
    },
    Drain {
        grace: Duration,
        done: oneshot::Sender<()>,
    },
    /// The caller stopped waiting for this invocation's response.
    Cancel {
        id: eddy_runtime::InvocationId,
    },
    Kill,
}

/// The request as the isolate takes it: head fields as plain strings, body read whole.
pub(crate) struct Request {
    pub(crate) id: eddy_runtime::InvocationId,
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<String>,
    pub(crate) body: Option<Bytes>,
}

#[expect(
    clippy::too_many_arguments,
    reason = "the pieces one thread owns, moved in once"
)]
pub(crate) fn run_thread(
    spec: Arc<InstanceSpec>,
    id: InstanceId,
    options: Arc<EdgeOptions>,
    code: Bytecode,
    commands: mpsc::UnboundedReceiver<Command>,
    ready: oneshot::Sender<Result<(), String>>,
    health: watch::Sender<Health>,
    figures: Arc<Figures>,
) {
    let tokio_rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot start the isolate's event loop: {e}")));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    let guard = ExitGuard(health);
    let health_ref = &guard.0;
    let reason = local.block_on(&tokio_rt, async move {
        let isolate = match Isolate::start(&spec, id, options, code, figures) {
            Ok(isolate) => isolate,
            Err(message) => {
                let _ = ready.send(Err(message.clone()));
                return message;
            }
        };
        let _ = ready.send(Ok(()));
        isolate.run(commands, health_ref).await
    });
    guard.0.send_replace(Health::Exited { reason });
}

/// Reports the isolate gone if its thread unwinds (a bug in eddy): the scheduler must not keep
/// sending work to a thread that is no more.
struct ExitGuard(watch::Sender<Health>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.send_if_modified(|health| {
            if matches!(health, Health::Exited { .. }) {
                return false;
            }
            *health = Health::Exited {
                reason: "the isolate thread ended unexpectedly".into(),
            };
            true
        });
    }
}

struct Isolate {
    // Field order is drop order: the context goes before its runtime, and the bytecode (which
    // QuickJS reads without copying) after both.
    ctx: Context,
    rt: Runtime,
    _code: Vec<Bytecode>,
    state: Shared,
    events: mpsc::UnboundedReceiver<Event>,
    /// When the running turn must be interrupted (the earliest deadline in flight).
    turn_deadline: Rc<Cell<Option<Instant>>>,
    interrupted: Rc<Cell<bool>>,
    figures: Arc<Figures>,
    next_invocation: u32,
    first_byte_timeout: Duration,
    max_duration: Duration,
    /// When a drain's grace ends: running code is interrupted then.
    drain_until: Option<Instant>,
}

impl Isolate {
    fn start(
        spec: &InstanceSpec,
        id: InstanceId,
        options: Arc<EdgeOptions>,
        code: Bytecode,
        figures: Arc<Figures>,
    ) -> Result<Self, String> {
        let rt = Runtime::new().map_err(|e| format!("cannot create a quickjs runtime: {e}"))?;
        rt.set_memory_limit(options.memory_limit);
        rt.set_max_stack_size(1 << 20);
        let turn_deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let interrupted = Rc::new(Cell::new(false));
        {
            let deadline = turn_deadline.clone();
            let interrupted = interrupted.clone();
            let figures = figures.clone();
            rt.set_interrupt_handler(Some(Box::new(move || {
                if figures.killed.load(Ordering::Relaxed) || figures.drain_due() {
                    return true;
                }
                // Interrupt once per turn: the busy code ends, later jobs of the turn run.
                match deadline.get() {
                    Some(at) if !interrupted.get() && Instant::now() >= at => {
                        interrupted.set(true);
                        true
                    }
                    _ => false,
                }
            })));
        }
        let ctx = Context::custom::<Intrinsics>(&rt)
            .map_err(|e| format!("cannot create a quickjs context: {e}"))?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let state: Shared = Rc::new(RefCell::new(LoopState {
            instance: id,
            function: spec.function.clone(),
            env: spec.env.clone(),
            options: options.clone(),
            events: events_tx,
            invocations: HashMap::new(),
            current: None,
            now_ms: host::wall_ms(),
            timers: HashMap::new(),
            ops: HashMap::new(),
            next_op: 0,
            wait_until: 0,
            out_of_memory: false,
            client: crate::fetch::client(),
            ended: Vec::new(),
            execution_units: 0,
            stack: crate::stack::StackMapper::new(&spec.root.join(&spec.handler), &spec.root),
        }));
        {
            let state = state.clone();
            rt.set_host_promise_rejection_tracker(Some(Box::new(
                move |_ctx, _promise, reason, is_handled| {
                    if is_handled {
                        return;
                    }
                    if let Ok(st) = state.try_borrow() {
                        let reason = st.stack.map(&bytecode::describe_value(&reason));
                        tracing::warn!(target: host::FUNCTION_TARGET, function = %st.function, instance = %st.instance, "unhandled promise rejection: {reason}");
                    }
                },
            )));
        }
        let prelude = bytecode::prelude();
        ctx.with(|ctx| -> Result<(), String> {
            host::install(&ctx, &state).map_err(|e| bytecode::describe(&ctx, e))?;
            for (name, bytes) in [("prelude", &prelude), ("bundle", &code)] {
                let module = bytecode::load(&ctx, bytes)
                    .map_err(|e| format!("loading the {name}: {}", bytecode::describe(&ctx, e)))?;
                let (module, promise) = module.eval().map_err(|e| bytecode::describe(&ctx, e))?;
                while ctx.execute_pending_job() {}
                promise
                    .finish::<Value>()
                    .map_err(|e| bytecode::describe(&ctx, e))?;
                // A plain ES module (a Build Output edge entrypoint) publishes no global: its
                // namespace holds the exports.
                if name == "bundle" {
                    publish_namespace(&ctx, &module).map_err(|e| bytecode::describe(&ctx, e))?;
                }
            }
            let check: Option<String> = host_fn(&ctx, "check")
                .and_then(|f| f.call(()))
                .map_err(|e| bytecode::describe(&ctx, e))?;
            match check {
                Some(problem) => Err(problem),
                None => Ok(()),
            }
        })?;
        let max_duration = spec.max_duration;
        Ok(Self {
            ctx,
            rt,
            _code: vec![prelude, code],
            state,
            events,
            turn_deadline,
            interrupted,
            figures,
            next_invocation: 0,
            first_byte_timeout: options.first_byte_timeout.min(max_duration),
            max_duration,
            drain_until: None,
        })
    }

    /// Serves until killed, drained or broken; returns why the isolate ended. The isolate is
    /// reported gone before the queue is emptied: invocations that were queued behind the end
    /// never reached user code, so they are refused as `Unavailable` and the scheduler sends
    /// them to another isolate.
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        health: &watch::Sender<Health>,
    ) -> String {
        let reason = self.serve(&mut commands, health).await;
        health.send_replace(Health::Exited {
            reason: reason.clone(),
        });
        commands.close();
        let instance = self.state.borrow().instance;
        while let Ok(command) = commands.try_recv() {
            if let Command::Invoke { reply, .. } = command {
                let _ = reply.send(Err(InvokeError::Unavailable {
                    instance,
                    reason: format!("the isolate has exited: {reason}"),
                }));
            }
        }
        reason
    }

    async fn serve(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        health: &watch::Sender<Health>,
    ) -> String {
        let mut drain: Option<(Instant, oneshot::Sender<()>)> = None;
        loop {
            let wake = self.next_deadline();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Invoke { reply, .. }) if drain.is_some() => {
                        let _ = reply.send(Err(InvokeError::Unavailable {
                            instance: self.state.borrow().instance,
                            reason: "the isolate is draining".into(),
                        }));
                    }
                    Some(Command::Invoke { request, reply }) => self.dispatch(request, reply),
                    Some(Command::Cancel { id }) => self.cancel(&id),
                    Some(Command::Drain { .. }) if drain.is_some() => {}
                    Some(Command::Drain { grace, done }) => {
                        health.send_replace(Health::Draining { reason: "draining".into() });
                        self.drain_until = Some(Instant::now() + grace);
                        drain = Some((Instant::now() + grace, done));
                    }
                    Some(Command::Kill) | None => return "killed".into(),
                },
                Some(event) = self.events.recv() => self.handle(event),
                () = sleep_until(wake) => {}
            }
            self.expire();
            if self.state.borrow().out_of_memory {
                self.fail_all("the isolate ran out of memory (128 MB limit)");
                return "out of memory: the isolate exceeded its memory limit".into();
            }
            if self.figures.killed.load(Ordering::Relaxed) {
                self.fail_all("the isolate was killed");
                return "killed".into();
            }
            if let Some((until, _)) = &drain {
                let idle = {
                    let st = self.state.borrow();
                    st.invocations.is_empty() && st.wait_until <= 0
                };
                if idle || Instant::now() >= *until {
                    self.fail_all("the isolate drained before the invocation ended");
                    if let Some((_, done)) = drain.take() {
                        let _ = done.send(());
                    }
                    return "drained".into();
                }
            }
        }
    }

    fn dispatch(&mut self, request: Request, reply: HeadReply) {
        self.next_invocation = self.next_invocation.wrapping_add(1);
        let inv = self.next_invocation;
        let now = Instant::now();
        {
            let mut st = self.state.borrow_mut();
            let connections = Arc::new(Semaphore::new(st.options.max_connections));
            st.invocations.insert(
                inv,
                host::Invocation {
                    id: request.id,
                    head: Some(reply),
                    body: None,
                    started: now,
                    first_byte_by: now + self.first_byte_timeout,
                    ends_by: now + self.max_duration,
                    cpu: Duration::ZERO,
                    fetches: 0,
                    connections,
                },
            );
        }
        let Request {
            method,
            url,
            headers,
            body,
            ..
        } = request;
        self.turn(Some(inv), move |ctx| {
            let body = match body {
                Some(bytes) => {
                    rquickjs::TypedArray::<u8>::new(ctx.clone(), bytes.to_vec())?.into_value()
                }
                None => Value::new_undefined(ctx.clone()),
            };
            host_fn(ctx, "dispatch")?.call::<_, ()>((inv, method, url, headers, body))
        });
    }

    /// Aborts `request.signal` of the invocation whose caller went away.
    fn cancel(&mut self, id: &eddy_runtime::InvocationId) {
        let inv = self
            .state
            .borrow()
            .invocations
            .iter()
            .find(|(_, i)| i.id == *id)
            .map(|(k, _)| *k);
        if let Some(inv) = inv {
            self.turn(Some(inv), move |ctx| {
                host_fn(ctx, "abort")?.call::<_, ()>((inv,))
            });
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Drained { invocation } => {
                self.turn(Some(invocation), move |ctx| {
                    host_fn(ctx, "drained")?.call::<_, ()>((invocation,))
                });
            }
            Event::Timer { id, invocation } => {
                self.state.borrow_mut().timers.remove(&id);
                self.turn(invocation, move |ctx| {
                    host_fn(ctx, "timerFired")?.call::<_, ()>((id,))
                });
            }
            Event::Fetch {
                op,
                invocation,
                event,
            } => {
                if matches!(event, FetchEvent::End | FetchEvent::Error(_)) {
                    self.state.borrow_mut().ops.remove(&op);
                }
                self.turn(invocation, move |ctx| {
                    let (kind, value) = host::fetch_event(ctx, event)?;
                    host_fn(ctx, "opDone")?.call::<_, ()>((op, kind, value))
                });
            }
        }
    }

    /// One turn: hand something to JavaScript, then run the jobs it queued. Time advances
    /// (`Date.now()`) at the start of the turn: the turn begins because I/O completed.
    fn turn(
        &mut self,
        invocation: Option<u32>,
        f: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<()>,
    ) {
        {
            let mut st = self.state.borrow_mut();
            st.current = invocation;
            st.now_ms = host::wall_ms();
        }
        // No turn runs forever: a deadline of an invocation, the drain's end, or at worst
        // maxDuration (say a busy loop in `waitUntil` work, after every response was sent).
        let fallback = Instant::now() + self.max_duration;
        let deadline = self.earliest_deadline().unwrap_or(fallback);
        self.turn_deadline
            .set(Some(self.drain_until.map_or(deadline, |d| d.min(deadline))));
        self.interrupted.set(false);
        let cpu_before = thread_cpu();
        let state = self.state.clone();
        self.ctx.with(|ctx| {
            if let Err(e) = f(&ctx) {
                let message = bytecode::describe(&ctx, e);
                let mut st = state.borrow_mut();
                match invocation {
                    Some(inv) => {
                        let error = st.error_for(inv, message);
                        st.finish(inv, Some(error));
                    }
                    None if host::is_out_of_memory(&message) => st.out_of_memory = true,
                    None => {
                        tracing::warn!(function = %st.function, "edge function error: {message}")
                    }
                }
            }
            while ctx.execute_pending_job() {}
        });
        let cpu = thread_cpu().saturating_sub(cpu_before);
        self.figures
            .cpu_nanos
            .fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
        let mut st = self.state.borrow_mut();
        if let Some(inv) = invocation.and_then(|i| st.invocations.get_mut(&i)) {
            inv.cpu += cpu;
        }
        st.current = None;
        let before = st.execution_units;
        st.settle(invocation, cpu);
        self.figures
            .execution_units
            .store(st.execution_units, Ordering::Relaxed);
        self.figures
            .runtime_units
            .fetch_add(st.execution_units - before, Ordering::Relaxed);
        drop(st);
        let usage = self.rt.memory_usage();
        self.figures.memory_bytes.store(
            u64::try_from(usage.malloc_size).unwrap_or(0),
            Ordering::Relaxed,
        );
    }

    fn earliest_deadline(&self) -> Option<Instant> {
        self.state
            .borrow()
            .invocations
            .values()
            .map(|i| {
                if i.head.is_some() {
                    i.first_byte_by
                } else {
                    i.ends_by
                }
            })
            .min()
    }

    /// When the loop must wake up even without events: a deadline, or the drain's end.
    fn next_deadline(&self) -> Option<Instant> {
        match (self.earliest_deadline(), self.drain_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fails invocations whose deadline passed (the interrupt handler stopped their code).
    fn expire(&mut self) {
        let now = Instant::now();
        let mut st = self.state.borrow_mut();
        let expired: Vec<(u32, bool)> = st
            .invocations
            .iter()
            .filter_map(|(k, i)| {
                let first = i.head.is_some();
                let due = if first { i.first_byte_by } else { i.ends_by };
                (now >= due).then_some((*k, first))
            })
            .collect();
        let function = st.function.clone();
        for (inv, before_first_byte) in expired {
            let error = if before_first_byte {
                InvokeError::TimedOut {
                    waited: self.first_byte_timeout,
                }
            } else {
                InvokeError::Failed {
                    reason: format!(
                        "edge function {function} was still running at maxDuration {:?}",
                        self.max_duration
                    ),
                }
            };
            st.finish(inv, Some(error));
        }
        st.settle(None, Duration::ZERO);
    }

    fn fail_all(&mut self, reason: &str) {
        let mut st = self.state.borrow_mut();
        let instance = st.instance;
        let all: Vec<u32> = st.invocations.keys().copied().collect();
        for inv in all {
            st.finish(
                inv,
                Some(InvokeError::Crashed {
                    instance,
                    reason: reason.to_string(),
                }),
            );
        }
        st.settle(None, Duration::ZERO);
    }
}

/// A plain ES module (a Build Output edge entrypoint) publishes no `__eddy_edge` global: its
/// namespace holds the exports.
fn publish_namespace<'js>(
    ctx: &Ctx<'js>,
    module: &rquickjs::Module<'js, rquickjs::module::Evaluated>,
) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    if globals.get::<_, Value>("__eddy_edge")?.is_undefined() {
        globals.set("__eddy_edge", module.namespace()?)?;
    }
    Ok(())
}

fn host_fn<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Function<'js>> {
    let host: Object = ctx.globals().get("__eddy_host")?;
    host.get(name)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_unwinds_reports_the_isolate_exited() {
        let (tx, rx) = watch::channel(Health::Ready);
        let unwound = std::thread::spawn(move || {
            let _guard = ExitGuard(tx);
            panic!("a bug in the loop");
        })
        .join();
        assert!(unwound.is_err());
        assert!(
            matches!(&*rx.borrow(), Health::Exited { reason } if reason.contains("unexpectedly"))
        );
    }

    #[test]
    fn a_clean_exit_keeps_its_reason() {
        let (tx, rx) = watch::channel(Health::Ready);
        let guard = ExitGuard(tx);
        guard.0.send_replace(Health::Exited {
            reason: "drained".into(),
        });
        drop(guard);
        assert_eq!(
            *rx.borrow(),
            Health::Exited {
                reason: "drained".into()
            }
        );
    }
}
