//! Property tests ("fuzzing" that runs in CI) for the IPC decoder: however an instance's bytes
//! are chunked by the socket, [`FrameReader`] yields the same frames; overlong frames are cut,
//! never fatal; and [`parse`] turns any bytes into a message or an error with a message,
//! without panicking. Case counts are bounded (`PROPTEST_CASES` overrides them).

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, ReadBuf};

use super::*;

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// A socket that hands over `data` in the given chunk sizes (cycled), and answers `Pending`
/// before every other chunk, as a real socket does between packets.
struct Chunked {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
    pending: bool,
}

impl Chunked {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> Chunked {
        Chunked {
            data,
            at: 0,
            sizes,
            turn: 0,
            pending: false,
        }
    }
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pending {
            this.pending = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pending = this.turn % 2 == 1;
        let size = this.sizes.get(this.turn % this.sizes.len().max(1)).copied();
        this.turn += 1;
        let want = size.unwrap_or(usize::MAX).max(1);
        let end = this
            .data
            .len()
            .min(this.at.saturating_add(want))
            .min(this.at + buf.remaining());
        buf.put_slice(&this.data[this.at..end]);
        this.at = end;
        Poll::Ready(Ok(()))
    }
}

/// Every frame of `reader`, read to the end on a fresh current-thread runtime.
fn read_all<R: AsyncRead + Unpin>(reader: R, delimiter: u8, max: usize) -> Vec<Frame> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async {
        let mut frames = FrameReader::new(reader, delimiter, max);
        let mut out = Vec::new();
        while let Some(frame) = frames.next().await.expect("in-memory reads do not fail") {
            out.push(frame);
        }
        out
    })
}

/// The frames a stream of `payloads` joined by `delimiter` must give with maximum `max`.
fn expected(payloads: &[Vec<u8>], max: usize) -> Vec<Frame> {
    payloads
        .iter()
        .map(|p| Frame {
            bytes: p[..p.len().min(max)].to_vec(),
            truncated: p.len() > max,
        })
        .collect()
}

fn stream(payloads: &[Vec<u8>], delimiter: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for payload in payloads {
        out.extend_from_slice(payload);
        out.push(delimiter);
    }
    out
}

/// Frame payloads without the NUL delimiter: JSON messages and arbitrary bytes.
fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let payload = prop_oneof![
        message_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(1u8..=255, 0..64),
        prop::collection::vec(1u8..=255, 9000..20000),
    ];
    prop::collection::vec(payload, 0..8)
}

/// A JSON value of the protocol's shape with random contents.
fn message_json() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![
        Just("server-started"),
        Just("unrecoverable-error"),
        Just("end"),
        Just("log"),
        Just("metric"),
        Just("handler-started"),
    ];
    (kind, json_value()).prop_map(|(kind, payload)| json!({"type": kind, "payload": payload}))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[A-Za-z0-9+/=]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("httpPort".to_owned()),
            Just("initDuration".to_owned()),
            Just("exitCode".to_owned()),
            Just("message".to_owned()),
            Just("stack".to_owned()),
            Just("context".to_owned()),
            Just("invocationId".to_owned()),
            Just("requestId".to_owned()),
            Just("error".to_owned()),
            Just("level".to_owned()),
            Just("stream".to_owned()),
            any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A message eddy understands, and the JSON an instance would send for it.
fn known_message() -> impl Strategy<Value = (Message, Value)> {
    let context = proptest::option::of((
        proptest::option::of("[a-z0-9_-]{0,12}"),
        any::<Option<u64>>(),
    ));
    let context_json = |c: &Option<(Option<String>, Option<u64>)>| {
        c.as_ref()
            .map(|(id, request)| json!({"invocationId": id, "requestId": request}))
    };
    let context_of = |c: Option<(Option<String>, Option<u64>)>| {
        c.map(|(invocation_id, request_id)| Context {
            invocation_id,
            request_id,
        })
    };
    prop_oneof![
        (any::<u16>(), 0u32..100_000).prop_map(|(port, init)| (
            Message::ServerStarted {
                http_port: port,
                init_duration_ms: f64::from(init),
            },
            json!({"type": "server-started", "payload": {"httpPort": port, "initDuration": init}})
        )),
        (any::<Option<i64>>(), any::<String>()).prop_map(|(code, text)| (
            Message::UnrecoverableError {
                exit_code: code,
                message: text.clone(),
            },
            json!({"type": "unrecoverable-error", "payload": {"exitCode": code, "message": text}})
        )),
        (context.clone(), proptest::option::of(any::<String>())).prop_map(move |(c, error)| (
            Message::End {
                context: context_of(c.clone()),
                error: error.clone(),
            },
            json!({"type": "end", "payload": {"context": context_json(&c), "error": error}})
        )),
        (
            context,
            prop::collection::vec(any::<u8>(), 0..64),
            prop_oneof![Just("info"), Just("warn"), Just("error"), Just("fatal"), Just("debug")]
        )
            .prop_map(move |(c, bytes, level)| {
                let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
                (
                    Message::Log {
                        context: context_of(c.clone()),
                        level: LogLevel::parse(level).expect("a known level"),
                        message: bytes,
                    },
                    json!({"type": "log", "payload": {"context": context_json(&c), "message": encoded, "level": level}}),
                )
            }),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_chunking_of_a_stream_yields_the_same_frames(
        payloads in payloads(),
        sizes in prop::collection::vec(1usize..300, 1..8),
        max in prop_oneof![Just(MAX_FRAME), 1usize..100, 8000usize..12000],
    ) {
        let data = stream(&payloads, 0);
        let got = read_all(Chunked::new(data, sizes), 0, max);
        prop_assert_eq!(got, expected(&payloads, max));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_reader_or_the_parser(
        data in prop::collection::vec(any::<u8>(), 0..2048),
        sizes in prop::collection::vec(1usize..64, 1..4),
        delimiter in prop_oneof![Just(0u8), Just(b'\n'), any::<u8>()],
        max in 0usize..200,
    ) {
        let frames = read_all(Chunked::new(data.clone(), sizes), delimiter, max);
        let total: usize = frames.iter().map(|f| f.bytes.len()).sum();
        prop_assert!(total <= data.len());
        for frame in &frames {
            prop_assert!(frame.bytes.len() <= max);
            prop_assert!(!frame.bytes.contains(&delimiter));
            if let Err(error) = parse(&frame.bytes) {
                prop_assert!(!error.to_string().is_empty());
            }
        }
        if let Err(error) = parse(&data) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn random_protocol_shaped_json_parses_or_fails_with_a_message(message in message_json()) {
        if let Err(error) = parse(message.to_string().as_bytes()) {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn known_messages_parse_back_to_what_was_sent((message, sent) in known_message()) {
        let parsed = parse(sent.to_string().as_bytes());
        prop_assert!(parsed.is_ok(), "{sent}: {:?}", parsed.err());
        prop_assert_eq!(parsed.ok(), Some(message));
    }
}

#[test]
fn a_stream_split_at_every_position_yields_the_same_frames() {
    let payloads: Vec<Vec<u8>> = vec![
        br#"{"type":"server-started","payload":{"initDuration":0,"httpPort":4312}}"#.to_vec(),
        Vec::new(),
        br#"{"type":"end","payload":{"context":{"invocationId":"a","requestId":7},"error":null}}"#
            .to_vec(),
        br#"{"type":"log","payload":{"message":"aGVsbG8K","level":"info"}}"#.to_vec(),
        b"0123456789abcdef".to_vec(),
    ];
    let data = stream(&payloads, 0);
    for max in [MAX_FRAME, 10] {
        let want = expected(&payloads, max);
        for at in 0..=data.len() {
            let sizes = vec![at.max(1), data.len().max(1)];
            let got = read_all(Chunked::new(data.clone(), sizes), 0, max);
            assert_eq!(got, want, "split at {at}, max {max}");
        }
    }
    let messages: Vec<_> = expected(&payloads, MAX_FRAME)
        .iter()
        .map(|f| parse(&f.bytes).ok())
        .collect();
    assert!(matches!(
        messages[0],
        Some(Message::ServerStarted {
            http_port: 4312,
            ..
        })
    ));
    assert!(messages[1].is_none() && messages[4].is_none());
}

#[test]
fn a_frame_larger_than_the_maximum_is_cut_and_the_next_one_still_reads() {
    let huge = vec![b'x'; MAX_FRAME + 4096];
    let ok = br#"{"type":"end","payload":{}}"#.to_vec();
    let data = stream(&[huge, ok.clone()], 0);
    let frames = read_all(Chunked::new(data, vec![65536]), 0, MAX_FRAME);
    assert_eq!(frames.len(), 2);
    assert!(frames[0].truncated && frames[0].bytes.len() == MAX_FRAME);
    assert_eq!(
        frames[1],
        Frame {
            bytes: ok,
            truncated: false
        }
    );
    assert!(matches!(
        parse(&frames[1].bytes),
        Ok(Message::End {
            context: None,
            error: None
        })
    ));
}
