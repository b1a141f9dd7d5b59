//! Supervision of one running instance: the state its background tasks share (health, the
//! request ids that tag its output), the IPC reader that acts on the instance's messages, the
//! stdout/stderr line loggers, and the exit watcher that owns the child process.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, PoisonError};

use eddy_runtime::{Health, InstanceId};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::AsyncRead;
use tokio::net::UnixStream;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

use crate::cgroup::InstanceCgroup;
use crate::ipc::{self, Context, FrameReader, LogLevel, Message};

/// Where function output is logged; the cli and the control plane filter on it.
pub(crate) const FUNCTION_TARGET: &str = "eddy::function";

/// How many ended invocations keep their request id for tagging late output (`waitUntil` work
/// logs after its invocation's `end`).
const ENDED_KEPT: usize = 1024;

/// How many stderr lines are kept to explain a failed start.
const STDERR_KEPT: usize = 30;

/// Longest stdout/stderr line logged as one event; longer lines are cut.
const MAX_LINE: usize = 64 << 10;

/// State shared by an instance handle and its background tasks.
pub(crate) struct Shared {
    pub id: InstanceId,
    pub function: Arc<str>,
    health: watch::Sender<Health>,
    requests: Mutex<RequestTags>,
    stderr_tail: Mutex<VecDeque<String>>,
    /// Why eddy killed the instance, when it did (reported instead of the bare signal).
    kill_reason: Mutex<Option<String>>,
}

impl Shared {
    pub(crate) fn new(id: InstanceId, function: &str) -> Arc<Self> {
        Arc::new(Self {
            id,
            function: function.into(),
            health: watch::Sender::new(Health::Ready),
            requests: Mutex::new(RequestTags::default()),
            stderr_tail: Mutex::new(VecDeque::new()),
            kill_reason: Mutex::new(None),
        })
    }

    pub(crate) fn health(&self) -> watch::Receiver<Health> {
        self.health.subscribe()
    }

    pub(crate) fn current_health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// `Ready` → `Draining { reason }`; no change in any other state. Returns whether it changed.
    pub(crate) fn drain(&self, reason: String) -> bool {
        let changed = self.health.send_if_modified(|health| {
            if *health == Health::Ready {
                *health = Health::Draining { reason };
                true
            } else {
                false
            }
        });
        if changed {
            tracing::info!(name: "drain", function = %self.function, instance = %self.id, health = ?self.current_health(), "instance draining");
        }
        changed
    }

    /// Any state → `Exited { reason }`; final.
    pub(crate) fn exited(&self, reason: String) {
        self.health.send_if_modified(|health| {
            if matches!(health, Health::Exited { .. }) {
                false
            } else {
                *health = Health::Exited { reason };
                true
            }
        });
    }

    /// Records why eddy is about to kill the instance, for its exit reason.
    pub(crate) fn kill_because(&self, reason: String) {
        *lock(&self.kill_reason) = Some(reason);
    }

    /// Records the platform request id of invocation number `n`, to tag its output.
    pub(crate) fn begin_request(&self, n: u64, request_id: &str) {
        lock(&self.requests).begin(n, request_id);
    }

    pub(crate) fn stderr_tail(&self) -> Vec<String> {
        lock(&self.stderr_tail).iter().cloned().collect()
    }

    fn push_stderr(&self, line: &str) {
        let mut tail = lock(&self.stderr_tail);
        if tail.len() == STDERR_KEPT {
            tail.pop_front();
        }
        tail.push_back(line.to_string());
    }

    fn request_id(&self, context: Option<&Context>) -> Option<String> {
        let n = context?.request_id?;
        lock(&self.requests).get(n).map(str::to_string)
    }

    /// Acts on one frame read from the instance's socket. Malformed frames are logged and
    /// skipped.
    pub(crate) fn receive(&self, frame: &ipc::Frame) {
        match ipc::parse(&frame.bytes) {
            Ok(message) => self.handle(message),
            Err(error) => {
                tracing::debug!(target: FUNCTION_TARGET, function = %self.function, instance = %self.id, truncated = frame.truncated, "ignored an IPC frame: {error}");
            }
        }
    }

    /// Acts on one message (after `server-started`, or a log before it).
    pub(crate) fn handle(&self, message: Message) {
        match message {
            Message::End { context, error } => {
                let request_id = self.request_id(context.as_ref());
                if let Some(n) = context.as_ref().and_then(|c| c.request_id) {
                    lock(&self.requests).end(n);
                }
                if let Some(error) = error {
                    let request = request_id.as_deref().unwrap_or("?");
                    self.drain(format!(
                        "uncaught error in request {request}: {}",
                        first_line(&error)
                    ));
                }
            }
            Message::Log {
                context,
                level,
                message,
            } => {
                let request_id = self.request_id(context.as_ref());
                let text = String::from_utf8_lossy(&message);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                self.emit(level, request_id.as_deref(), text);
                if level == LogLevel::Fatal {
                    self.drain(format!(
                        "uncaught error outside any request: {}",
                        first_line(text)
                    ));
                }
            }
            Message::UnrecoverableError { message, .. } => {
                self.emit(LogLevel::Fatal, None, &message);
                self.drain(format!("unrecoverable error: {}", first_line(&message)));
            }
            Message::ServerStarted { .. } => {
                tracing::debug!(target: FUNCTION_TARGET, function = %self.function, instance = %self.id, "ignored a second server-started");
            }
            Message::Other { kind } => {
                tracing::debug!(target: FUNCTION_TARGET, function = %self.function, instance = %self.id, kind, "ignored an IPC message");
            }
        }
    }

    /// One function log line as a tracing event with the fields the rest of eddy filters on.
    fn emit(&self, level: LogLevel, request_id: Option<&str>, text: &str) {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(target: FUNCTION_TARGET, $level, function = %self.function, instance = %self.id, request_id, level = level.as_str(), "{text}")
            };
        }
        match level {
            LogLevel::Debug => event!(tracing::Level::DEBUG),
            LogLevel::Info | LogLevel::Stdout => event!(tracing::Level::INFO),
            LogLevel::Warn => event!(tracing::Level::WARN),
            LogLevel::Error | LogLevel::Fatal | LogLevel::Stderr => {
                event!(tracing::Level::ERROR)
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked: keep using them.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

/// Request numbers (`x-vercel-internal-request-id`) → the platform request id they stand for.
#[derive(Debug, Default)]
struct RequestTags {
    tags: HashMap<u64, Tag>,
    /// Ended invocations, oldest first; forgotten beyond [`ENDED_KEPT`].
    ended: VecDeque<u64>,
}

#[derive(Debug)]
struct Tag {
    request_id: String,
    ended: bool,
}

impl RequestTags {
    fn begin(&mut self, n: u64, request_id: &str) {
        let tag = Tag {
            request_id: request_id.to_string(),
            ended: false,
        };
        self.tags.insert(n, tag);
    }

    fn get(&self, n: u64) -> Option<&str> {
        self.tags.get(&n).map(|tag| tag.request_id.as_str())
    }

    fn end(&mut self, n: u64) {
        let Some(tag) = self.tags.get_mut(&n) else {
            return;
        };
        if tag.ended {
            return;
        }
        tag.ended = true;
        self.ended.push_back(n);
        if self.ended.len() > ENDED_KEPT
            && let Some(oldest) = self.ended.pop_front()
        {
            self.tags.remove(&oldest);
        }
    }
}

/// Reads the instance's IPC messages until the socket closes.
pub(crate) async fn read_ipc(mut frames: FrameReader<UnixStream>, shared: Arc<Shared>) {
    loop {
        match frames.next().await {
            Ok(Some(frame)) => shared.receive(&frame),
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(target: FUNCTION_TARGET, function = %shared.function, instance = %shared.id, "IPC socket failed: {error}");
                break;
            }
        }
    }
}

/// Which output stream of the process a line came from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// Logs the process's raw output line by line (what bypasses the launcher's IPC logging:
/// Node's own fatal errors and warnings printed before the launcher took over).
pub(crate) async fn log_output<R: AsyncRead + Unpin>(
    reader: R,
    stream: Stream,
    shared: Arc<Shared>,
) {
    let mut lines = FrameReader::new(reader, b'\n', MAX_LINE);
    while let Ok(Some(frame)) = lines.next().await {
        let line = String::from_utf8_lossy(&frame.bytes);
        let line = line.trim_end_matches('\r');
        let (function, instance) = (&shared.function, shared.id);
        match stream {
            Stream::Stdout => {
                tracing::info!(target: FUNCTION_TARGET, %function, %instance, stream = "stdout", "{line}");
            }
            Stream::Stderr => {
                tracing::warn!(target: FUNCTION_TARGET, %function, %instance, stream = "stderr", "{line}");
                shared.push_stderr(line);
                if is_rust_panic(line) {
                    // A panic in a handler task kills that task's connection but not the
                    // process: like an uncaught exception, the instance takes no new work.
                    shared.drain(format!("a thread panicked: {}", line.trim()));
                }
            }
        }
    }
}

/// Rust's default panic hook: `thread 'tokio-rt-worker' (4242) panicked at src/main.rs:9:5:`
/// (older toolchains print no thread id; unnamed threads are `'<unnamed>'`).
fn is_rust_panic(line: &str) -> bool {
    let Some((_, rest)) = line
        .strip_prefix("thread '")
        .and_then(|rest| rest.split_once("' "))
    else {
        return false;
    };
    let rest = match rest.strip_prefix('(').and_then(|r| r.split_once(") ")) {
        Some((id, rest)) if id.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => rest,
    };
    rest.starts_with("panicked at ")
}

/// Owns the child until it exits: delivers the signals sent on `signals` and reports the exit
/// as `Health::Exited`. When every sender is gone (the instance handle was dropped) the
/// process is killed.
pub(crate) async fn watch_exit(
    mut child: Child,
    cgroup: Option<Arc<InstanceCgroup>>,
    mut signals: mpsc::UnboundedReceiver<Signal>,
    shared: Arc<Shared>,
) {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.recv() => match signal {
                Some(signal) => deliver(&mut child, signal),
                None => {
                    deliver(&mut child, Signal::SIGKILL);
                    break child.wait().await;
                }
            },
        }
    };
    let mut reason = exit_reason(&status);
    if let Some(why) = lock(&shared.kill_reason).take() {
        reason = why;
    }
    if let Some(cgroup) = cgroup {
        if cgroup.oom_killed() {
            reason = format!(
                "ran out of memory (limit {} MB, the function's `memory`) and was killed ({reason})",
                cgroup.limit_mb()
            );
            tracing::error!(target: FUNCTION_TARGET, function = %shared.function, instance = %shared.id, "out of memory: the instance used its whole {} MB and was killed; raise `memory` in vercel.json or use less", cgroup.limit_mb());
        }
        // Removing it may wait for leftover processes to be reaped.
        let _ = tokio::task::spawn_blocking(move || cgroup.remove()).await;
    }
    tracing::info!(name: "exit", function = %shared.function, instance = %shared.id, "instance {reason}");
    shared.exited(reason);
}

fn deliver(child: &mut Child, signal: Signal) {
    // Only a child that has not been reaped yet is signalled, so its pid cannot have been
    // reused by another process.
    if let Ok(None) = child.try_wait()
        && let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok())
    {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }
}

/// `exited with code 1`, `killed by signal 9 (SIGKILL)`.
pub(crate) fn exit_reason(status: &io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => match Signal::try_from(signal) {
                Ok(name) => format!("killed by signal {signal} ({})", name.as_str()),
                Err(_) => format!("killed by signal {signal}"),
            },
            (None, None) => format!("ended ({status})"),
        },
        Err(error) => format!("could not be waited for: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    #[test]
    fn recognises_rust_panic_reports_only() {
        assert!(is_rust_panic(
            "thread 'tokio-runtime-worker' panicked at src/main.rs:9:5:"
        ));
        assert!(is_rust_panic(
            "thread '<unnamed>' panicked at api/x.rs:1:1:"
        ));
        assert!(!is_rust_panic("the thread panicked at noon"));
        assert!(!is_rust_panic("thread 'main' finished"));
    }

    #[test]
    fn describes_exit_codes_and_signals() {
        assert_eq!(
            exit_reason(&Ok(ExitStatus::from_raw(1 << 8))),
            "exited with code 1"
        );
        assert_eq!(
            exit_reason(&Ok(ExitStatus::from_raw(9))),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            exit_reason(&Ok(ExitStatus::from_raw(15))),
            "killed by signal 15 (SIGTERM)"
        );
    }

    #[test]
    fn ended_requests_keep_their_tag_for_a_while_then_are_forgotten() {
        let mut tags = RequestTags::default();
        tags.begin(1, "req-1");
        tags.end(1);
        tags.end(1);
        assert_eq!(tags.get(1), Some("req-1"));
        for n in 2..(ENDED_KEPT as u64 + 2) {
            tags.begin(n, "later");
            tags.end(n);
        }
        assert_eq!(tags.get(1), None);
        assert_eq!(tags.get(2), Some("later"));
        assert_eq!(tags.ended.len(), ENDED_KEPT);
    }

    #[test]
    fn an_end_with_error_drains_and_a_clean_end_does_not() {
        let shared = Shared::new(InstanceId(1), "api/x");
        shared.begin_request(1, "req-a");
        shared.handle(Message::End {
            context: Some(Context {
                invocation_id: Some("a".into()),
                request_id: Some(1),
            }),
            error: None,
        });
        assert_eq!(shared.current_health(), Health::Ready);
        shared.handle(Message::End {
            context: Some(Context {
                invocation_id: Some("b".into()),
                request_id: Some(2),
            }),
            error: Some("boom\n  at x".into()),
        });
        let Health::Draining { reason } = shared.current_health() else {
            panic!("not draining");
        };
        assert!(reason.contains("boom"), "{reason}");
    }

    #[test]
    fn a_fatal_log_drains_and_exit_is_final() {
        let shared = Shared::new(InstanceId(2), "api/y");
        shared.handle(Message::Log {
            context: None,
            level: LogLevel::Fatal,
            message: b"TypeError: x is not a function\n".to_vec(),
        });
        assert!(matches!(shared.current_health(), Health::Draining { .. }));
        shared.exited("exited with code 0".into());
        assert!(!shared.drain("again".into()));
        assert_eq!(
            shared.current_health(),
            Health::Exited {
                reason: "exited with code 0".into()
            }
        );
    }
}
