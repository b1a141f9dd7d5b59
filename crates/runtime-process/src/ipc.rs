//! The messages of the instance protocol (design section 4), host side: NUL-terminated JSON
//! objects `{"type": ..., "payload": {...}}` read from the instance's Unix socket, and the
//! byte framing shared with the line-by-line reading of the process's stdout and stderr.

use std::io;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// Frames longer than this are cut (the rest up to the delimiter is skipped): a runaway log
/// line must not grow eddy's memory without bound.
pub(crate) const MAX_FRAME: usize = 16 << 20;

/// Reads delimiter-terminated frames (NUL for IPC messages, `\n` for output lines).
pub(crate) struct FrameReader<R> {
    inner: BufReader<R>,
    delimiter: u8,
    max: usize,
}

/// One frame without its delimiter.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub bytes: Vec<u8>,
    /// The frame was longer than the reader's maximum and has been cut.
    pub truncated: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(reader: R, delimiter: u8, max: usize) -> Self {
        Self {
            inner: BufReader::new(reader),
            delimiter,
            max,
        }
    }

    /// The next frame, or `None` at end of stream. Bytes after the last delimiter form a final
    /// frame (a last output line without a newline is still a line).
    pub(crate) async fn next(&mut self) -> io::Result<Option<Frame>> {
        let mut bytes = Vec::new();
        let mut truncated = false;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                let at_end = bytes.is_empty() && !truncated;
                return Ok((!at_end).then_some(Frame { bytes, truncated }));
            }
            let found = buf.iter().position(|b| *b == self.delimiter);
            let chunk = &buf[..found.unwrap_or(buf.len())];
            let room = self.max.saturating_sub(bytes.len());
            if chunk.len() > room {
                truncated = true;
                bytes.extend_from_slice(&chunk[..room]);
            } else {
                bytes.extend_from_slice(chunk);
            }
            let consumed = found.map_or(buf.len(), |at| at + 1);
            self.inner.consume(consumed);
            if found.is_some() {
                return Ok(Some(Frame { bytes, truncated }));
            }
        }
    }
}

/// A message from an instance. Types eddy does not act on are kept as [`Message::Other`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    /// The instance's HTTP server listens on `127.0.0.1:http_port`; sent once.
    ServerStarted {
        http_port: u16,
        init_duration_ms: f64,
    },
    /// The instance could not start (import failed, no handler...); it exits next.
    UnrecoverableError {
        exit_code: Option<i64>,
        message: String,
    },
    /// One invocation is over; `error` describes an uncaught error of user code.
    End {
        context: Option<Context>,
        error: Option<String>,
    },
    /// Output of user code, tagged with the invocation that wrote it (if any).
    Log {
        context: Option<Context>,
        level: LogLevel,
        message: Vec<u8>,
    },
    /// `handler-started`, `metric` and any type this version does not know.
    Other { kind: String },
}

/// The invocation a message belongs to, as the host announced it in the
/// `x-vercel-internal-*` headers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Context {
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub request_id: Option<u64>,
}

/// The `level` (or `stream`) of a `log` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    /// An error that no invocation owns; the instance must be drained.
    Fatal,
    Stdout,
    Stderr,
}

impl LogLevel {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "debug" | "trace" => Self::Debug,
            "info" | "log" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" => Self::Error,
            "fatal" => Self::Fatal,
            "stdout" => Self::Stdout,
            "stderr" => Self::Stderr,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
            Self::Fatal => "fatal",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Why a frame is not a message eddy understands.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ParseError {
    #[error("not a JSON message object: {0}")]
    Json(#[source] serde_json::Error),
    #[error("malformed `{kind}` payload: {source}")]
    Payload {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("`log` message has neither a known `level` nor a `stream`")]
    LogLevel,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerStarted {
    http_port: u16,
    #[serde(default)]
    init_duration: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Unrecoverable {
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    message: serde_json::Value,
}

#[derive(Deserialize)]
struct End {
    #[serde(default)]
    context: Option<Context>,
    #[serde(default)]
    error: serde_json::Value,
}

#[derive(Deserialize)]
struct Log {
    #[serde(default)]
    context: Option<Context>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    stream: Option<String>,
}

/// Parses one frame. Never panics, whatever the bytes.
pub(crate) fn parse(frame: &[u8]) -> Result<Message, ParseError> {
    let envelope: Envelope = serde_json::from_slice(frame).map_err(ParseError::Json)?;
    let payload = envelope.payload;
    let kind = envelope.kind;
    let typed = |kind: &str| {
        let kind = kind.to_string();
        move |source| ParseError::Payload { kind, source }
    };
    Ok(match kind.as_str() {
        "server-started" => {
            let p: ServerStarted = serde_json::from_value(payload).map_err(typed(&kind))?;
            Message::ServerStarted {
                http_port: p.http_port,
                init_duration_ms: p.init_duration,
            }
        }
        "unrecoverable-error" => {
            let p: Unrecoverable = serde_json::from_value(payload).map_err(typed(&kind))?;
            Message::UnrecoverableError {
                exit_code: p.exit_code,
                message: describe(&p.message).unwrap_or_default(),
            }
        }
        "end" => {
            let p: End = serde_json::from_value(payload).map_err(typed(&kind))?;
            Message::End {
                context: p.context,
                error: describe(&p.error),
            }
        }
        "log" => {
            let p: Log = serde_json::from_value(payload).map_err(typed(&kind))?;
            let level = p
                .level
                .as_deref()
                .or(p.stream.as_deref())
                .and_then(LogLevel::parse)
                .ok_or(ParseError::LogLevel)?;
            // A message that is not valid base64 is still worth showing as it came.
            let message = base64::engine::general_purpose::STANDARD
                .decode(p.message.as_bytes())
                .unwrap_or_else(|_| p.message.into_bytes());
            Message::Log {
                context: p.context,
                level,
                message,
            }
        }
        _ => Message::Other { kind },
    })
}

/// A readable description of an error value: `null` is no error; an object shows its
/// `message` (or `stack`); anything else its JSON text.
fn describe(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Object(fields) => {
            let text = ["message", "stack"]
                .iter()
                .find_map(|key| fields.get(*key).and_then(|v| v.as_str()))
                .map_or_else(|| value.to_string(), str::to_string);
            Some(text)
        }
        other => Some(other.to_string()),
    }
}

/// `requestId` is an integer in the protocol; accept a numeric string too.
fn lenient_u64<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(de)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], delimiter: u8, max: usize) -> Vec<Frame> {
        let mut reader = FrameReader::new(input, delimiter, max);
        let mut out = Vec::new();
        while let Some(frame) = reader.next().await.unwrap() {
            out.push(frame);
        }
        out
    }

    fn frame(bytes: &[u8], truncated: bool) -> Frame {
        Frame {
            bytes: bytes.to_vec(),
            truncated,
        }
    }

    #[tokio::test]
    async fn splits_frames_on_the_delimiter_and_keeps_a_final_partial_frame() {
        let got = frames(b"a\0bc\0\0tail", 0, 100).await;
        assert_eq!(
            got,
            vec![
                frame(b"a", false),
                frame(b"bc", false),
                frame(b"", false),
                frame(b"tail", false)
            ]
        );
    }

    #[tokio::test]
    async fn cuts_overlong_frames_and_resynchronises_at_the_next_delimiter() {
        let got = frames(b"0123456789\nok\n", b'\n', 4).await;
        assert_eq!(got, vec![frame(b"0123", true), frame(b"ok", false)]);
    }

    #[test]
    fn parses_server_started_like_the_vercel_runtime_crate_sends_it() {
        let msg =
            parse(br#"{"type":"server-started","payload":{"initDuration":0,"httpPort":4312}}"#);
        assert_eq!(
            msg.unwrap(),
            Message::ServerStarted {
                http_port: 4312,
                init_duration_ms: 0.0
            }
        );
    }

    #[test]
    fn parses_end_with_and_without_error() {
        let ok = parse(br#"{"type":"end","payload":{"context":{"invocationId":"ab","requestId":7},"error":null}}"#);
        assert_eq!(
            ok.unwrap(),
            Message::End {
                context: Some(Context {
                    invocation_id: Some("ab".into()),
                    request_id: Some(7)
                }),
                error: None
            }
        );
        let failed = parse(br#"{"type":"end","payload":{"context":{"invocationId":"ab","requestId":"8"},"error":{"message":"boom","stack":"Error: boom\n at x"}}}"#);
        let Message::End { context, error } = failed.unwrap() else {
            panic!("not an end message");
        };
        assert_eq!(context.unwrap().request_id, Some(8));
        assert_eq!(error.as_deref(), Some("boom"));
    }

    #[test]
    fn decodes_base64_log_messages_with_level_or_stream() {
        let info = parse(br#"{"type":"log","payload":{"message":"aGVsbG8K","level":"info"}}"#);
        assert_eq!(
            info.unwrap(),
            Message::Log {
                context: None,
                level: LogLevel::Info,
                message: b"hello\n".to_vec()
            }
        );
        let stderr = parse(br#"{"type":"log","payload":{"context":{"invocationId":"x","requestId":1},"message":"b29wcw==","stream":"stderr"}}"#);
        let Message::Log { level, message, .. } = stderr.unwrap() else {
            panic!("not a log message");
        };
        assert_eq!(
            (level, message.as_slice()),
            (LogLevel::Stderr, &b"oops"[..])
        );
    }

    #[test]
    fn keeps_unknown_types_and_rejects_garbage_without_panicking() {
        assert_eq!(
            parse(br#"{"type":"metric","payload":{"type":"fetch-metric"}}"#).unwrap(),
            Message::Other {
                kind: "metric".into()
            }
        );
        for garbage in [
            &b""[..],
            b"{",
            b"[1,2]",
            b"\xff\xfe",
            br#"{"payload":{}}"#,
            br#"{"type":"server-started","payload":{"httpPort":"x"}}"#,
            br#"{"type":"server-started","payload":{"httpPort":70000}}"#,
            br#"{"type":"log","payload":{"message":"aGk="}}"#,
        ] {
            assert!(parse(garbage).is_err(), "accepted {garbage:?}");
        }
    }

    #[test]
    fn unrecoverable_error_keeps_the_launcher_message() {
        let msg = parse(br#"{"type":"unrecoverable-error","payload":{"exitCode":1,"message":"function api/x.js: handler export not found"}}"#);
        assert_eq!(
            msg.unwrap(),
            Message::UnrecoverableError {
                exit_code: Some(1),
                message: "function api/x.js: handler export not found".into()
            }
        );
    }
}
