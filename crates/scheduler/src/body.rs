//! Body wrappers on both sides of an instance: the response body keeps the invocation's slot (and
//! its `maxDuration` deadline) until it ends or is dropped; the request body can be handed to a
//! second instance when the first refused it without reading it.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eddy_runtime::{Body, BoxError, empty_body};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::admit::Slot;

/// The error a response body ends with when it is still streaming at the invocation's
/// `maxDuration`. The gateway can find it with `downcast_ref` to log `FUNCTION_INVOCATION_TIMEOUT`
/// (the status line has already been sent by then).
#[derive(Debug, thiserror::Error)]
#[error(
    "function {function}: response still streaming at maxDuration of {max_duration:?}; the rest \
     of the body was cut off (raise maxDuration or end the response sooner)"
)]
pub struct MaxDurationExceeded {
    pub function: String,
    pub max_duration: Duration,
}

/// A response body that holds its invocation's slot until the body ends, fails or is dropped,
/// and ends with [`MaxDurationExceeded`] if it is still streaming at the deadline.
///
/// The deadline is kept by a watchdog task, not by polling: a client that stops reading stops
/// hyper from polling the body, and the instance's slot must still come back at `maxDuration`.
pub(crate) struct SlotBody {
    state: Arc<Mutex<SlotState>>,
    watchdog: tokio::task::JoinHandle<()>,
    function: Arc<str>,
    max_duration: Duration,
}

struct SlotState {
    inner: Body,
    /// `None` once the body is over: the slot has been given back.
    slot: Option<Slot>,
    /// Set by the watchdog; the next poll reports [`MaxDurationExceeded`] once.
    timed_out: bool,
    /// The task polling the body, woken when the watchdog ends it.
    waker: Option<std::task::Waker>,
}

impl SlotBody {
    pub(crate) fn wrap(
        inner: Body,
        slot: Slot,
        deadline: Instant,
        function: Arc<str>,
        max_duration: Duration,
    ) -> Body {
        let state = Arc::new(Mutex::new(SlotState {
            inner,
            slot: Some(slot),
            timed_out: false,
            waker: None,
        }));
        let watchdog = tokio::spawn({
            let state = Arc::downgrade(&state);
            let function = function.clone();
            async move {
                tokio::time::sleep_until(deadline).await;
                let Some(state) = state.upgrade() else {
                    return;
                };
                let mut state = lock_slot(&state);
                let Some(slot) = state.slot.take() else {
                    return;
                };
                tracing::warn!(
                    name: "invoke",
                    function = %function,
                    instance = %slot.id,
                    max_duration_ms = max_duration.as_millis() as u64,
                    "response body cut off at maxDuration"
                );
                // Dropping the instance's body cancels the invocation on the instance; dropping
                // the slot gives it back, whether or not the client is still reading.
                state.inner = empty_body();
                drop(slot);
                state.timed_out = true;
                if let Some(waker) = state.waker.take() {
                    waker.wake();
                }
            }
        });
        SlotBody {
            state,
            watchdog,
            function,
            max_duration,
        }
        .boxed_unsync()
    }
}

impl Drop for SlotBody {
    fn drop(&mut self) {
        self.watchdog.abort();
    }
}

fn lock_slot(state: &Mutex<SlotState>) -> std::sync::MutexGuard<'_, SlotState> {
    // Polled only under this lock; a panic inside a poll leaves it as usable as any body
    // whose poll panicked.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl http_body::Body for SlotBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut state = lock_slot(&this.state);
        if state.timed_out {
            state.timed_out = false;
            return Poll::Ready(Some(Err(Box::new(MaxDurationExceeded {
                function: this.function.to_string(),
                max_duration: this.max_duration,
            }))));
        }
        if state.slot.is_none() {
            return Poll::Ready(None);
        }
        let state = &mut *state;
        let frame = match Pin::new(&mut state.inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                state.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        };
        if !matches!(frame, Some(Ok(_))) {
            state.slot = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        let state = lock_slot(&self.state);
        !state.timed_out && (state.slot.is_none() || state.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        let state = lock_slot(&self.state);
        if state.slot.is_none() {
            SizeHint::with_exact(0)
        } else {
            state.inner.size_hint()
        }
    }
}

/// A request body that may be sent twice: each [`ReplayBody::share`] reads the same underlying
/// body, and [`ReplayBody::rewind`] tells whether nobody has read from it yet, so that a retry
/// sends the complete body.
pub(crate) struct ReplayBody {
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    body: Body,
    touched: bool,
}

impl ReplayBody {
    pub(crate) fn new(body: Body) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                body,
                touched: false,
            })),
        }
    }

    /// A body reading from the shared one.
    pub(crate) fn share(&self) -> Body {
        SharedBody {
            shared: Arc::clone(&self.shared),
        }
        .boxed_unsync()
    }

    /// Whether no frame has been read yet, so the body can be sent again from the start.
    pub(crate) fn rewind(&self) -> bool {
        !lock(&self.shared).touched
    }
}

struct SharedBody {
    shared: Arc<Mutex<Shared>>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // The body is only polled under this lock; a panic inside a poll leaves it as usable as
    // any body whose poll panicked.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl http_body::Body for SharedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut shared = lock(&self.shared);
        let frame = Pin::new(&mut shared.body).poll_frame(cx);
        // Only bytes taken make a replay incomplete: a reader that saw just the end (an empty
        // body) leaves it as whole for the next one.
        if let Poll::Ready(Some(result)) = &frame
            && !result
                .as_ref()
                .is_ok_and(|frame| frame.data_ref().is_some_and(|data| data.is_empty()))
        {
            shared.touched = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.shared).body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.shared).body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_runtime::full_body;
    use http_body::Body as _;

    #[tokio::test]
    async fn replayed_body_is_sent_whole_when_the_first_reader_never_read() {
        let replay = ReplayBody::new(full_body("hello"));
        let first = replay.share();
        assert_eq!(first.size_hint().exact(), Some(5));
        drop(first);
        assert!(replay.rewind());
        let second = replay
            .share()
            .collect()
            .await
            .expect("full body")
            .to_bytes();
        assert_eq!(second, Bytes::from_static(b"hello"));
    }

    #[tokio::test]
    async fn an_empty_body_read_to_its_end_can_still_be_replayed() {
        let replay = ReplayBody::new(empty_body());
        let first = replay.share().collect().await.expect("empty").to_bytes();
        assert!(first.is_empty());
        assert!(replay.rewind());
        let second = replay.share().collect().await.expect("empty").to_bytes();
        assert!(second.is_empty());
    }

    #[tokio::test]
    async fn replayed_body_refuses_to_rewind_once_read() {
        let replay = ReplayBody::new(full_body("hello"));
        let _ = replay.share().collect().await;
        assert!(!replay.rewind());
    }
}
