//! Response bodies that stream out of an isolate: the isolate thread pushes chunks into a
//! channel as the JavaScript stream yields them, the gateway polls them on its own threads.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use eddy_runtime::{Body, BoxError};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// One item of a streamed body: a chunk, or the error that ended the stream early.
pub(crate) type Chunk = Result<Bytes, String>;

/// The receiving half of a streamed response body.
pub(crate) struct ChannelBody {
    rx: mpsc::UnboundedReceiver<Chunk>,
}

/// Why a streamed body ended early.
#[derive(Debug, thiserror::Error)]
#[error("edge function response stream failed: {0}")]
pub(crate) struct StreamError(String);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(bytes))) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Poll::Ready(Some(Err(message))) => {
                Poll::Ready(Some(Err(Box::new(StreamError(message)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A body fed through the returned sender; dropping the sender ends it.
pub(crate) fn channel() -> (mpsc::UnboundedSender<Chunk>, Body) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, ChannelBody { rx }.boxed_unsync())
}
