//! The native side of an isolate: the state of its event loop and the functions the prelude
//! calls (`globalThis.__eddy_native`, taken and hidden by the prelude before user code runs).
//! Everything here runs on the isolate's own thread.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use eddy_runtime::{Body, InvocationId, InvokeError, full_body};
use rquickjs::function::Opt;
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, TypedArray, Value};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::EdgeOptions;
use crate::body::{self, BodySender};
use crate::fetch::{self, FetchEvent, FetchRequest};
use crate::webapi;

/// Something that happened outside JavaScript and must be handed to it.
pub(crate) enum Event {
    Timer {
        id: u32,
        invocation: Option<u32>,
    },
    Fetch {
        op: u32,
        invocation: Option<u32>,
        event: FetchEvent,
    },
    /// The client read enough of a streamed response for its producer to go on.
    Drained {
        invocation: u32,
    },
}

/// Where the response head of an invocation goes.
pub(crate) type HeadReply = oneshot::Sender<Result<http::Response<Body>, InvokeError>>;

/// One invocation in flight inside the isolate.
pub(crate) struct Invocation {
    pub id: InvocationId,
    pub head: Option<HeadReply>,
    pub body: Option<BodySender>,
    pub started: Instant,
    /// The response head must be sent by then (Edge: 25 s, at most `maxDuration`).
    pub first_byte_by: Instant,
    /// A running invocation is cut off at this point, streaming or not.
    pub ends_by: Instant,
    pub cpu: Duration,
    pub fetches: u32,
    pub connections: Arc<Semaphore>,
}

/// The loop's state, shared by the loop and the native functions.
pub(crate) struct LoopState {
    pub instance: eddy_runtime::InstanceId,
    pub function: String,
    pub env: BTreeMap<String, String>,
    pub options: Arc<EdgeOptions>,
    pub events: mpsc::UnboundedSender<Event>,
    pub invocations: HashMap<u32, Invocation>,
    /// The invocation whose event this turn of the loop handles (timers and fetches remember
    /// the invocation that started them).
    pub current: Option<u32>,
    /// `Date.now()`: advanced only when I/O completes.
    pub now_ms: f64,
    pub timers: HashMap<u32, AbortHandle>,
    pub ops: HashMap<u32, AbortHandle>,
    pub next_op: u32,
    /// `waitUntil` promises not settled yet.
    pub wait_until: i64,
    /// Set when QuickJS ran out of memory: the isolate must be replaced.
    pub out_of_memory: bool,
    pub client: fetch::Client,
    /// Invocations that ended during the running turn, accounted for when it ends.
    pub ended: Vec<Invocation>,
    /// Execution units (50 ms of CPU, rounded up, per invocation) so far.
    pub execution_units: u64,
    /// Maps stack frames in errors and logs to the user's source files.
    pub stack: crate::stack::StackMapper,
}

pub(crate) type Shared = Rc<RefCell<LoopState>>;

/// The tracing target of function output, as the process runtimes use it.
pub(crate) const FUNCTION_TARGET: &str = "eddy::function";

/// The wall clock in ms, as `Date.now()` reports it once I/O advanced it.
pub(crate) fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

/// Whether an error message is QuickJS running out of memory.
pub(crate) fn is_out_of_memory(message: &str) -> bool {
    message.contains("out of memory")
}

/// Whether an error message is QuickJS's interrupt (deadline reached or isolate killed).
fn is_interrupted(message: &str) -> bool {
    message.starts_with("interrupted") || message.starts_with("InternalError: interrupted")
}

impl LoopState {
    /// The error for an invocation whose code threw `reason`: running out of memory crashes
    /// the isolate, an interrupt is the deadline, anything else is the function's failure.
    pub(crate) fn error_for(&mut self, invocation: u32, reason: String) -> InvokeError {
        if is_out_of_memory(&reason) {
            self.out_of_memory = true;
            InvokeError::Crashed {
                instance: self.instance,
                reason: format!("edge function {} ran out of memory", self.function),
            }
        } else if is_interrupted(&reason) {
            // The interrupt handler stopped the code at the invocation's deadline.
            let waited = self
                .invocations
                .get(&invocation)
                .map(|i| i.started.elapsed())
                .unwrap_or_default();
            InvokeError::TimedOut { waited }
        } else {
            InvokeError::Failed {
                reason: self.stack.map(&reason),
            }
        }
    }

    /// Sends the head of `invocation`; a second call is ignored.
    fn respond(&mut self, invocation: u32, response: http::Response<Body>) {
        if let Some(inv) = self.invocations.get_mut(&invocation)
            && let Some(head) = inv.head.take()
        {
            let _ = head.send(Ok(response));
        }
    }

    /// Ends `invocation`: fails it if no head was sent, ends its body otherwise.
    pub(crate) fn finish(&mut self, invocation: u32, error: Option<InvokeError>) {
        let Some(mut inv) = self.invocations.remove(&invocation) else {
            return;
        };
        if let Some(head) = inv.head.take() {
            let error = error.unwrap_or_else(|| InvokeError::NoResponse {
                reason: format!("edge function {} ended without a response", self.function),
            });
            let _ = head.send(Err(error));
        } else if let (Some(body), Some(error)) = (inv.body.take(), error) {
            body.fail(error.to_string());
        }
        self.ended.push(inv);
    }

    /// Logs and counts the invocations that ended; `extra` is CPU of the turn that ended them.
    pub(crate) fn settle(&mut self, current: Option<u32>, extra: Duration) {
        for mut inv in std::mem::take(&mut self.ended) {
            if current.is_some() {
                inv.cpu += extra;
            }
            let units = u64::try_from(inv.cpu.as_millis().div_ceil(50))
                .unwrap_or(u64::MAX)
                .max(1);
            self.execution_units += units;
            tracing::debug!(
                name: "invoke",
                function = %self.function,
                invocation = %inv.id,
                cpu_ms = inv.cpu.as_secs_f64() * 1000.0,
                execution_units = units,
                duration_ms = inv.started.elapsed().as_secs_f64() * 1000.0,
                "edge invocation done"
            );
        }
    }
}

fn bytes_of(value: &Value<'_>) -> Option<Bytes> {
    if let Ok(array) = TypedArray::<u8>::from_value(value.clone()) {
        return Some(Bytes::copy_from_slice(typed_slice(&array)?));
    }
    let buffer = ArrayBuffer::from_value(value.clone())?;
    Some(Bytes::copy_from_slice(buffer_slice(&buffer)?))
}

#[expect(
    unsafe_code,
    reason = "rquickjs exposes typed array memory only through unsafe accessors"
)]
fn typed_slice<'a>(array: &'a TypedArray<'_, u8>) -> Option<&'a [u8]> {
    // SAFETY: the slice is copied at once by the caller; no JavaScript runs (and so nothing can
    // detach or resize the buffer) while it is borrowed.
    unsafe { array.as_bytes() }
}

#[expect(
    unsafe_code,
    reason = "rquickjs exposes array buffer memory only through unsafe accessors"
)]
fn buffer_slice<'a>(buffer: &'a ArrayBuffer<'_>) -> Option<&'a [u8]> {
    // SAFETY: as in `typed_slice`: copied at once, no JavaScript runs meanwhile.
    unsafe { buffer.as_bytes() }
}

fn type_error(ctx: &Ctx<'_>, message: impl std::fmt::Display) -> rquickjs::Error {
    Exception::throw_type(ctx, &message.to_string())
}

fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

fn build_head(status: u16, headers: Vec<(String, String)>, body: Body) -> http::Response<Body> {
    let mut response = http::Response::new(body);
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

macro_rules! native {
    ($obj:expr, $ctx:expr, $name:literal, $f:expr) => {
        $obj.set($name, Function::new($ctx.clone(), $f)?.with_name($name)?)?
    };
}

/// Puts `__eddy_native` on the global object.
pub(crate) fn install(ctx: &Ctx<'_>, state: &Shared) -> rquickjs::Result<()> {
    let n = Object::new(ctx.clone())?;
    install_loop(ctx, &n, state)?;
    install_invocation(ctx, &n, state)?;
    install_fetch(ctx, &n, state)?;
    install_webapi(ctx, &n)?;
    ctx.globals().set("__eddy_native", n)?;
    Ok(())
}

fn install_loop<'js>(ctx: &Ctx<'js>, n: &Object<'js>, state: &Shared) -> rquickjs::Result<()> {
    let s = state.clone();
    native!(n, ctx, "now", move || s.borrow().now_ms);
    let s = state.clone();
    native!(n, ctx, "current", move || s.borrow().current);
    let s = state.clone();
    native!(n, ctx, "functionName", move || s.borrow().function.clone());
    let s = state.clone();
    native!(n, ctx, "env", move || s.borrow().env.clone());
    let s = state.clone();
    native!(n, ctx, "log", move |level: String, message: String| {
        let st = s.borrow();
        let (function, instance) = (&st.function, st.instance);
        let message = st.stack.map(&message);
        match level.as_str() {
            "error" => {
                tracing::error!(target: FUNCTION_TARGET, %function, %instance, "{message}")
            }
            "warn" => tracing::warn!(target: FUNCTION_TARGET, %function, %instance, "{message}"),
            "debug" => {
                tracing::debug!(target: FUNCTION_TARGET, %function, %instance, "{message}")
            }
            _ => tracing::info!(target: FUNCTION_TARGET, %function, %instance, "{message}"),
        }
    });
    let s = state.clone();
    native!(n, ctx, "timer", move |id: u32, ms: f64| {
        let mut st = s.borrow_mut();
        let events = st.events.clone();
        let invocation = st.current;
        let delay = Duration::from_secs_f64((ms.max(0.0)) / 1000.0);
        let task = tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(Event::Timer { id, invocation });
        });
        st.timers.insert(id, task.abort_handle());
    });
    let s = state.clone();
    native!(n, ctx, "clearTimer", move |id: u32| {
        if let Some(task) = s.borrow_mut().timers.remove(&id) {
            task.abort();
        }
    });
    let s = state.clone();
    native!(n, ctx, "waitUntil", move |delta: i32| {
        s.borrow_mut().wait_until += i64::from(delta);
    });
    Ok(())
}

fn install_invocation<'js>(
    ctx: &Ctx<'js>,
    n: &Object<'js>,
    state: &Shared,
) -> rquickjs::Result<()> {
    let s = state.clone();
    native!(
        n,
        ctx,
        "respond",
        move |inv: u32, status: u16, headers: Vec<String>, body: Value<'_>, streaming: bool| {
            let mut st = s.borrow_mut();
            let body = if streaming {
                let events = st.events.clone();
                let (tx, body) = body::channel(move || {
                    let _ = events.send(Event::Drained { invocation: inv });
                });
                if let Some(i) = st.invocations.get_mut(&inv) {
                    i.body = Some(tx);
                }
                body
            } else {
                full_body(bytes_of(&body).unwrap_or_default())
            };
            st.respond(inv, build_head(status, pairs(headers), body));
            if !streaming {
                st.finish(inv, None);
            }
        }
    );
    let s = state.clone();
    // Returns -1 once nobody reads the body any more (the client went away): the prelude then
    // cancels the stream instead of producing into the void. Otherwise the unread bytes: past
    // `HIGH_WATER` the prelude waits for `drained` (see `body`).
    native!(n, ctx, "chunk", move |inv: u32, chunk: Value<'_>| {
        let st = s.borrow();
        let Some(body) = st.invocations.get(&inv).and_then(|i| i.body.as_ref()) else {
            return -1.0;
        };
        match bytes_of(&chunk) {
            Some(bytes) => body.send(bytes).map_or(-1.0, |unread| unread as f64),
            None if body.is_closed() => -1.0,
            None => 0.0,
        }
    });
    let s = state.clone();
    // Returns true when the producer may go on at once; else `drained(inv)` comes later.
    native!(n, ctx, "waitDrain", move |inv: u32| {
        let st = s.borrow();
        st.invocations
            .get(&inv)
            .and_then(|i| i.body.as_ref())
            .is_none_or(BodySender::wait_for_drain)
    });
    native!(n, ctx, "highWater", || body::HIGH_WATER as f64);
    let s = state.clone();
    native!(n, ctx, "end", move |inv: u32| s
        .borrow_mut()
        .finish(inv, None));
    let s = state.clone();
    native!(n, ctx, "fail", move |inv: u32, reason: String| {
        let mut st = s.borrow_mut();
        let error = st.error_for(inv, reason);
        st.finish(inv, Some(error));
    });
    Ok(())
}

fn install_fetch<'js>(ctx: &Ctx<'js>, n: &Object<'js>, state: &Shared) -> rquickjs::Result<()> {
    let s = state.clone();
    native!(n, ctx, "fetch", move |ctx: Ctx<'js>,
                                   method: String,
                                   url: String,
                                   headers: Vec<String>,
                                   body: Value<'js>,
                                   redirect: String|
          -> rquickjs::Result<u32> {
        let mut st = s.borrow_mut();
        let invocation = st.current;
        let max = st.options.max_fetches;
        let connections = match invocation.and_then(|i| st.invocations.get_mut(&i)) {
            Some(inv) => {
                inv.fetches += 1;
                if inv.fetches > max {
                    return Err(type_error(
                        &ctx,
                        format!("fetch refused: an edge invocation may make at most {max} fetches"),
                    ));
                }
                inv.connections.clone()
            }
            None => Arc::new(Semaphore::new(st.options.max_connections)),
        };
        st.next_op += 1;
        let op = st.next_op;
        let request = FetchRequest {
            method,
            url,
            headers: pairs(headers),
            body: bytes_of(&body),
            redirect,
        };
        let events = st.events.clone();
        let client = st.client.clone();
        let restrict = st.options.restrict_fetch_ports;
        let report = move |event| {
            // A closed channel means the isolate is gone; nobody waits for the result.
            let _ = events.send(Event::Fetch {
                op,
                invocation,
                event,
            });
        };
        let task =
            tokio::task::spawn_local(fetch::run(client, connections, request, restrict, report));
        st.ops.insert(op, task.abort_handle());
        Ok(op)
    });
    let s = state.clone();
    native!(n, ctx, "cancelOp", move |op: u32| {
        if let Some(task) = s.borrow_mut().ops.remove(&op) {
            task.abort();
        }
    });
    Ok(())
}

fn install_webapi<'js>(ctx: &Ctx<'js>, n: &Object<'js>) -> rquickjs::Result<()> {
    native!(n, ctx, "utf8Encode", |ctx: Ctx<'js>, s: String| {
        TypedArray::<u8>::new(ctx, s.into_bytes())
    });
    native!(
        n,
        ctx,
        "utf8Decode",
        |ctx: Ctx<'js>, bytes: Value<'js>, fatal: Opt<bool>, ignore_bom: Opt<bool>| {
            let bytes = bytes_of(&bytes).unwrap_or_default();
            webapi::utf8_decode(
                &bytes,
                fatal.0.unwrap_or(false),
                ignore_bom.0.unwrap_or(false),
            )
            .map_err(|e| type_error(&ctx, e))
        }
    );
    native!(n, ctx, "btoa", |ctx: Ctx<'js>, s: String| {
        webapi::btoa(&s)
            .map_err(|e| Exception::throw_dom(&ctx, "InvalidCharacterError", &e.to_string()))
    });
    native!(n, ctx, "atob", |ctx: Ctx<'js>, s: String| {
        webapi::atob(&s)
            .map_err(|e| Exception::throw_dom(&ctx, "InvalidCharacterError", &e.to_string()))
    });
    native!(n, ctx, "randomBytes", |ctx: Ctx<'js>, len: usize| {
        let mut bytes = vec![0u8; len.min(65536)];
        rand::fill(&mut bytes[..]);
        TypedArray::<u8>::new(ctx, bytes)
    });
    native!(n, ctx, "uuid", || uuid::Uuid::new_v4().to_string());
    native!(
        n,
        ctx,
        "digest",
        |ctx: Ctx<'js>, alg: String, data: Value<'js>| {
            let data = bytes_of(&data).unwrap_or_default();
            let out = webapi::digest(&alg, &data).map_err(|e| type_error(&ctx, e))?;
            ArrayBuffer::new(ctx, out)
        }
    );
    native!(
        n,
        ctx,
        "hmac",
        |ctx: Ctx<'js>, alg: String, key: Value<'js>, data: Value<'js>| {
            let key = bytes_of(&key).unwrap_or_default();
            let data = bytes_of(&data).unwrap_or_default();
            let out = webapi::hmac(&alg, &key, &data).map_err(|e| type_error(&ctx, e))?;
            ArrayBuffer::new(ctx, out)
        }
    );
    native!(n, ctx, "urlParse", |input: String, base: Opt<String>| {
        webapi::url_parse(&input, base.0.as_deref())
    });
    native!(
        n,
        ctx,
        "urlSet",
        |href: String, part: String, value: String| { webapi::url_set(&href, &part, &value) }
    );
    native!(n, ctx, "formDecode", |s: String| webapi::form_decode(&s));
    native!(n, ctx, "formEncode", |pairs: Vec<String>| {
        webapi::form_encode(&pairs)
    });
    Ok(())
}

/// Turns a fetch event into the arguments of the prelude's `opDone(op, kind, value)`: kind 0
/// is the head (`[status, statusText, flatHeaders, url, redirected]`), 1 a body chunk, 2 the
/// end of the body, 3 an error message.
pub(crate) fn fetch_event<'js>(
    ctx: &Ctx<'js>,
    event: FetchEvent,
) -> rquickjs::Result<(u8, Value<'js>)> {
    Ok(match event {
        FetchEvent::Head(head) => {
            let out = rquickjs::Array::new(ctx.clone())?;
            out.set(0, head.status)?;
            out.set(1, head.status_text)?;
            let flat: Vec<String> = head.headers.into_iter().flat_map(|(k, v)| [k, v]).collect();
            out.set(2, flat)?;
            out.set(3, head.url)?;
            out.set(4, head.redirected)?;
            (0, out.into_value())
        }
        FetchEvent::Chunk(bytes) => (
            1,
            TypedArray::<u8>::new(ctx.clone(), bytes.to_vec())?.into_value(),
        ),
        FetchEvent::End => (2, Value::new_undefined(ctx.clone())),
        FetchEvent::Error(message) => (
            3,
            rquickjs::String::from_str(ctx.clone(), &message)?.into_value(),
        ),
    })
}
