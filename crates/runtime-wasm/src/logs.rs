//! Function output: a guest's stdout and stderr become one tracing event per line, tagged with
//! the function, the instance and the request id, like the output of process runtimes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use eddy_runtime::InstanceId;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// The tracing target of function output, shared with the process runtimes.
pub(crate) const FUNCTION_TARGET: &str = "eddy::function";

/// Longest line kept whole; longer output is split so one write cannot grow the buffer unbounded.
const MAX_LINE: usize = 16 * 1024;

/// Which output stream a [`LogStream`] captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Who wrote a line: the tags every event carries.
#[derive(Debug, Clone)]
pub(crate) struct Tags {
    pub(crate) function: Arc<str>,
    pub(crate) instance: InstanceId,
    pub(crate) request_id: Arc<str>,
}

/// A guest's stdout or stderr for one invocation (WASI `StdoutStream`).
#[derive(Debug, Clone)]
pub(crate) struct LogStream {
    tags: Tags,
    stream: Stream,
}

impl LogStream {
    pub(crate) fn new(tags: Tags, stream: Stream) -> Self {
        Self { tags, stream }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }

    /// Writes straight into the line buffer: the default adapter hands bytes to a background
    /// task, which loses what a guest writes just before its store is dropped.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }
}

impl LogStream {
    fn writer(&self) -> LineWriter {
        LineWriter {
            stream: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// Buffers bytes until a newline and emits each complete line; the rest on drop.
struct LineWriter {
    stream: LogStream,
    pending: Vec<u8>,
}

impl LineWriter {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line[..end]);
        }
        while self.pending.len() >= MAX_LINE {
            let line: Vec<u8> = self.pending.drain(..MAX_LINE).collect();
            self.emit(&line);
        }
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if text.trim().is_empty() {
            return;
        }
        let Tags {
            function,
            instance,
            request_id,
        } = &self.stream.tags;
        let stream = self.stream.stream.as_str();
        match self.stream.stream {
            Stream::Stdout => {
                tracing::info!(target: FUNCTION_TARGET, function = %function, instance = %instance, request_id = %request_id, level = stream, "{text}");
            }
            Stream::Stderr => {
                tracing::error!(target: FUNCTION_TARGET, function = %function, instance = %instance, request_id = %request_id, level = stream, "{text}");
            }
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    /// Always ready: writes never block.
    async fn ready(&mut self) {}
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing::subscriber::with_default;
    use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

    use super::*;

    #[derive(Default, Clone)]
    struct Lines(Arc<Mutex<Vec<(String, String)>>>);

    struct Fields {
        message: String,
        request_id: String,
    }

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "message" => self.message = format!("{value:?}"),
                "request_id" => self.request_id = format!("{value:?}"),
                _ => {}
            }
        }
    }

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: LayerContext<'_, S>) {
            let mut fields = Fields {
                message: String::new(),
                request_id: String::new(),
            };
            event.record(&mut fields);
            self.0
                .lock()
                .expect("test lock")
                .push((fields.request_id, fields.message));
        }
    }

    fn writer(stream: Stream) -> LineWriter {
        let tags = Tags {
            function: Arc::from("api/x"),
            instance: InstanceId(1),
            request_id: Arc::from("req-1"),
        };
        LineWriter {
            stream: LogStream::new(tags, stream),
            pending: Vec::new(),
        }
    }

    #[test]
    fn output_becomes_one_request_tagged_event_per_line_and_the_rest_on_drop() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(lines.clone());
        with_default(subscriber, || {
            let mut out = writer(Stream::Stdout);
            out.push(b"first\nsec");
            out.push(b"ond\r\nunfinished");
            drop(out);
        });
        let got = lines.0.lock().expect("test lock").clone();
        let want: Vec<(String, String)> = ["first", "second", "unfinished"]
            .iter()
            .map(|m| ("req-1".to_owned(), (*m).to_owned()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_split_instead_of_buffered_forever() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(lines.clone());
        with_default(subscriber, || {
            let mut out = writer(Stream::Stderr);
            out.push(&vec![b'a'; MAX_LINE + 10]);
            assert_eq!(out.pending.len(), 10);
            assert_eq!(lines.0.lock().expect("test lock").len(), 1);
        });
        assert_eq!(lines.0.lock().expect("test lock").len(), 2);
    }
}
