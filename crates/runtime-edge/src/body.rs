//! Response bodies that stream out of an isolate: the isolate thread pushes chunks into a
//! channel as the JavaScript stream yields them, the gateway polls them on its own threads.
//!
//! Flow control: the sender counts the bytes not yet read. Past [`HIGH_WATER`] the prelude
//! stops pulling from the function's stream and waits; once the reader has brought the count
//! down to [`LOW_WATER`], the body calls back (`on_drain`) and the prelude pulls again. So a
//! fast producer and a slow client never pile up more than about a megabyte per response
//! outside the isolate's own memory limit.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use eddy_runtime::{Body, BoxError};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// Unread bytes above which the producer waits.
pub(crate) const HIGH_WATER: usize = 1 << 20;
/// Unread bytes at or below which a waiting producer goes on.
pub(crate) const LOW_WATER: usize = 256 << 10;

/// One item of a streamed body: a chunk, or the error that ended the stream early.
pub(crate) type Chunk = Result<Bytes, String>;

#[derive(Debug, Default)]
struct Flow {
    unread: AtomicUsize,
    waiting: AtomicBool,
}

/// The sending half, kept by the isolate.
pub(crate) struct BodySender {
    tx: mpsc::UnboundedSender<Chunk>,
    flow: Arc<Flow>,
}

impl BodySender {
    /// Queues `bytes`; the unread bytes after it, or `None` when nobody reads any more.
    pub(crate) fn send(&self, bytes: Bytes) -> Option<usize> {
        let len = bytes.len();
        let unread = self.flow.unread.fetch_add(len, Ordering::AcqRel) + len;
        self.tx.send(Ok(bytes)).ok().map(|()| unread)
    }

    /// Ends the stream with an error.
    pub(crate) fn fail(&self, message: String) {
        let _ = self.tx.send(Err(message));
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Asks for `on_drain` once the unread bytes are down to [`LOW_WATER`]; `true` when they
    /// already are (no call will come).
    pub(crate) fn wait_for_drain(&self) -> bool {
        self.flow.waiting.store(true, Ordering::Release);
        if self.flow.unread.load(Ordering::Acquire) <= LOW_WATER {
            return self.flow.waiting.swap(false, Ordering::AcqRel);
        }
        false
    }
}

/// The receiving half of a streamed response body.
struct ChannelBody {
    rx: mpsc::UnboundedReceiver<Chunk>,
    flow: Arc<Flow>,
    on_drain: Box<dyn Fn() + Send>,
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
            Poll::Ready(Some(Ok(bytes))) => {
                let len = bytes.len();
                let unread = self.flow.unread.fetch_sub(len, Ordering::AcqRel) - len;
                if unread <= LOW_WATER && self.flow.waiting.swap(false, Ordering::AcqRel) {
                    (self.on_drain)();
                }
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(Some(Err(message))) => {
                Poll::Ready(Some(Err(Box::new(StreamError(message)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A body fed through the returned sender; dropping the sender ends it. `on_drain` is called
/// (from the reader's thread) when a waiting producer may go on.
pub(crate) fn channel(on_drain: impl Fn() + Send + 'static) -> (BodySender, Body) {
    let (tx, rx) = mpsc::unbounded_channel();
    let flow = Arc::new(Flow::default());
    let body = ChannelBody {
        rx,
        flow: flow.clone(),
        on_drain: Box::new(on_drain),
    };
    (BodySender { tx, flow }, body.boxed_unsync())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[tokio::test]
    async fn a_waiting_producer_is_called_back_once_the_reader_catches_up() {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let (tx, mut body) = channel(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let chunk = Bytes::from(vec![0u8; 512 << 10]);
        assert_eq!(tx.send(chunk.clone()), Some(512 << 10));
        assert_eq!(tx.send(chunk.clone()), Some(1 << 20));
        assert_eq!(tx.send(chunk), Some(1536 << 10));
        assert!(!tx.wait_for_drain(), "1.5 MB unread: wait");
        body.frame().await.expect("frame").expect("ok");
        body.frame().await.expect("frame").expect("ok");
        assert_eq!(calls.load(Ordering::SeqCst), 0, "still 512 KB unread");
        body.frame().await.expect("frame").expect("ok");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(tx.wait_for_drain(), "nothing unread: go on at once");
        drop(body);
        assert_eq!(tx.send(Bytes::from_static(b"x")), None);
    }
}
