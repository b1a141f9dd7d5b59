//! The per-request log line and duration metric, emitted when the response body ends (or the
//! client goes away), so streamed responses are measured whole.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use eddy_runtime::{Body, BoxError};

/// What one request did, logged once at its end.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub started: Instant,
    pub function: Option<String>,
    pub instance: Option<String>,
    pub cold: bool,
}

type Finish = Box<dyn FnOnce(&RequestRecord, bool) + Send>;

/// Wraps a response body; calls `finish(record, completed)` exactly once.
pub struct ObservedBody {
    inner: Body,
    record: RequestRecord,
    finish: Option<Finish>,
}

impl ObservedBody {
    pub fn new(inner: Body, record: RequestRecord, finish: Finish) -> Self {
        Self {
            inner,
            record,
            finish: Some(finish),
        }
    }

    fn done(&mut self, completed: bool) {
        if let Some(finish) = self.finish.take() {
            finish(&self.record, completed);
        }
    }
}

impl HttpBody for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.as_mut().get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.done(true),
            Poll::Ready(Some(Err(_))) => this.done(false),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        // Dropped before the end: the client went away (or the stream was cut).
        let ended = self.inner.is_end_stream();
        self.done(ended);
    }
}
