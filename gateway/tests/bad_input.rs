//! Bad input over a real socket: each case opens a raw TCP connection,
//! takes the handshake as far as it needs with hand-encoded frames, sends
//! something a broker must refuse, and checks the exact reply (the
//! connection.close code and RabbitMQ's text where it is fixed, or the
//! protocol header for a wrong header) and that the socket is closed after.
//! A witness connection opened before the first case declares, publishes
//! and gets after every case: one peer's garbage never hurts another.
//!
//! Every expectation was checked against RabbitMQ 3.10:
//!
//! ```text
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway --test bad_input
//! ```
//!
//! (RabbitMQ's handshake timeout is 10 s; warren is started here with
//! `--handshake-timeout-ms 1500` to keep the test fast.)

mod common;
mod raw;

use std::io::{ErrorKind, Read};
use std::time::{Duration, Instant};

use broker_core::amqp::frame::{write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};
use common::{unique, Broker};
use raw::{Raw, Stage, READ_TIMEOUT};

/// The witness: a connection that must keep working whatever the others do.
struct Witness {
    raw: Raw,
    queue: String,
    round: u32,
}

impl Witness {
    fn new(broker: &Broker) -> Witness {
        let raw = Raw::open(broker, Stage::Channel);
        Witness { raw, queue: unique("bad-input-witness"), round: 0 }
    }

    /// queue.declare, basic.publish, basic.get of what was published.
    fn still_works(&mut self, after: &str) {
        self.round += 1;
        let c = &mut self.raw;
        c.send_method(1, QueueDeclare { queue: self.queue.as_str().into(), auto_delete: false, ..Default::default() });
        match c.method() {
            (1, Method::QueueDeclareOk(ok)) => assert_eq!(ok.message_count, 0, "after {after}"),
            other => panic!("witness: expected declare-ok after {after}, got {other:?}"),
        }
        let body = format!("round {}", self.round);
        let mut b = BytesMut::new();
        write_method(&mut b, 1, &BasicPublish { routing_key: self.queue.as_str().into(), ..Default::default() }.into());
        write_content_header(&mut b, 1, 60, body.len() as u64, &[0, 0]);
        write_body(&mut b, 1, body.as_bytes(), c.frame_max);
        c.send(&b);
        c.send_method(1, BasicGet { queue: self.queue.as_str().into(), no_ack: true, ..Default::default() });
        // The publish may still be on its way to the queue: get until it is there.
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            match c.method() {
                (1, Method::BasicGetOk(_)) => break,
                (1, Method::BasicGetEmpty(_)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                    c.send_method(1, BasicGet { queue: self.queue.as_str().into(), no_ack: true, ..Default::default() });
                }
                other => panic!("witness: expected get-ok after {after}, got {other:?}"),
            }
        }
        assert!(matches!(c.frame(), Some(Frame::Header { .. })));
        match c.frame() {
            Some(Frame::Body { payload, .. }) => assert_eq!(payload, Bytes::from(body), "after {after}"),
            other => panic!("witness: expected the body after {after}, got {other:?}"),
        }
    }
}

/// What a case expects back.
enum Expect {
    /// connection.close with this code, and this text when given; then EOF.
    Close(u16, Option<&'static str>),
    /// The protocol header, then EOF.
    Header,
    /// The socket is closed with nothing sent.
    Eof,
    /// Nothing comes back for a second and the connection stays open.
    Silent,
    /// channel.close on channel 1 with this code and text; the connection
    /// stays usable.
    ChannelClose(u16, &'static str),
}

struct Case {
    name: &'static str,
    stage: Stage,
    /// The bad input, given the frame_max the broker offered.
    input: fn(&mut Raw),
    expect: Expect,
    /// What RabbitMQ 3.10 does instead, where Warren deliberately differs
    /// (each difference is explained at the case).
    rabbit: Option<Expect>,
}

fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 8);
    b.push(kind);
    b.extend_from_slice(&channel.to_be_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b.push(0xCE);
    b
}

fn method_bytes(channel: u16, m: impl Into<Method>) -> BytesMut {
    let mut b = BytesMut::new();
    write_method(&mut b, channel, &m.into());
    b
}

fn publish_bytes(immediate: bool, routing_key: &str) -> BytesMut {
    method_bytes(1, BasicPublish { routing_key: routing_key.into(), immediate, ..Default::default() })
}

const CASES: &[Case] = &[
    Case {
        name: "wrong protocol header",
        stage: Stage::Connected,
        input: |c| c.send(b"GET / HTTP/1.1\r\n\r\n"),
        expect: Expect::Header,
        rabbit: None,
    },
    Case {
        name: "frame end octet is not 0xCE",
        stage: Stage::Channel,
        input: |c| {
            let mut b = method_bytes(1, QueueDeclare { queue: "x".into(), ..Default::default() });
            let last = b.len() - 1;
            b[last] = 0;
            c.send(&b);
        },
        expect: Expect::Close(501, None),
        rabbit: None,
    },
    Case {
        name: "payload over frame_max",
        stage: Stage::Channel,
        input: |c| {
            let size = c.frame_max + 1;
            let mut b = vec![1u8, 0, 1];
            b.extend_from_slice(&size.to_be_bytes());
            b.extend_from_slice(&[0; 64]);
            c.send(&b);
        },
        expect: Expect::Close(501, None),
        rabbit: None,
    },
    Case {
        name: "a frame over 8192 octets before tune-ok",
        stage: Stage::Tuned,
        input: |c| {
            let mut b = vec![1u8, 0, 0];
            b.extend_from_slice(&9000u32.to_be_bytes());
            b.extend_from_slice(&[0; 9001]);
            c.send(&b);
        },
        expect: Expect::Close(501, None),
        // RabbitMQ drops a peer that errs before connection.open without
        // a connection.close; Warren tells it why.
        rabbit: Some(Expect::Eof),
    },
    Case {
        name: "unknown frame type",
        stage: Stage::Channel,
        input: |c| c.send(&frame(9, 1, &[])),
        expect: Expect::Close(501, None),
        rabbit: None,
    },
    Case {
        name: "undecodable method fields",
        stage: Stage::Channel,
        // queue.declare cut after its ticket.
        input: |c| c.send(&frame(1, 1, &[0, 50, 0, 10, 0])),
        expect: Expect::Close(501, None),
        rabbit: None,
    },
    Case {
        name: "invalid UTF-8 in a shortstr",
        stage: Stage::Channel,
        // exchange.declare of a name that is not UTF-8.
        input: |c| {
            let mut p = vec![0, 40, 0, 10, 0, 0, 2, 0xFF, 0xFE, 6];
            p.extend_from_slice(b"direct");
            p.extend_from_slice(&[0, 0, 0, 0, 0]);
            c.send(&frame(1, 1, &p));
        },
        expect: Expect::Close(501, None),
        rabbit: None,
    },
    Case {
        name: "unknown field type in a table",
        stage: Stage::Channel,
        // queue.declare with arguments {"k": type 'Z'}.
        input: |c| c.send(&frame(1, 1, &[0, 50, 0, 10, 0, 0, 1, b'x', 0, 0, 0, 0, 3, 1, b'k', b'Z'])),
        expect: Expect::Close(501, None),
        // RabbitMQ's parser has no clause for it: its reader exits.
        rabbit: Some(Expect::Eof),
    },
    Case {
        name: "content header without a method",
        stage: Stage::Channel,
        input: |c| {
            let mut b = BytesMut::new();
            write_content_header(&mut b, 1, 60, 3, &[0, 0]);
            c.send(&b);
        },
        expect: Expect::Close(505, None),
        rabbit: None,
    },
    Case {
        name: "content body without a method",
        stage: Stage::Channel,
        input: |c| c.send(&frame(3, 1, b"abc")),
        expect: Expect::Close(505, None),
        rabbit: None,
    },
    Case {
        name: "a method in the middle of a content",
        stage: Stage::Channel,
        input: |c| {
            let mut b = publish_bytes(false, "nowhere");
            b.extend_from_slice(&method_bytes(1, QueueDeclare { queue: "x".into(), ..Default::default() }));
            c.send(&b);
        },
        expect: Expect::Close(505, Some("UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead")),
        rabbit: None,
    },
    Case {
        name: "a heartbeat on a non-zero channel",
        stage: Stage::Channel,
        input: |c| c.send(&frame(8, 1, &[])),
        expect: Expect::Close(505, None),
        rabbit: None,
    },
    Case {
        name: "a frame on a channel never opened",
        stage: Stage::Channel,
        input: |c| c.send(&method_bytes(7, QueueDeclare { queue: "x".into(), ..Default::default() })),
        expect: Expect::Close(504, None),
        rabbit: None,
    },
    Case {
        name: "a second channel.open on an open channel",
        stage: Stage::Channel,
        input: |c| c.send(&method_bytes(1, ChannelOpen::default())),
        expect: Expect::Close(504, Some("CHANNEL_ERROR - second 'channel.open' seen")),
        rabbit: None,
    },
    Case {
        name: "unknown class",
        stage: Stage::Channel,
        input: |c| c.send(&frame(1, 1, &[0, 99, 0, 1])),
        expect: Expect::Close(540, None),
        // RabbitMQ's reader exits on an unknown method: the socket just closes.
        rabbit: Some(Expect::Eof),
    },
    Case {
        name: "unknown method of a known class",
        stage: Stage::Channel,
        input: |c| c.send(&frame(1, 1, &[0, 50, 0, 99])),
        expect: Expect::Close(540, None),
        rabbit: Some(Expect::Eof),
    },
    Case {
        name: "body frames beyond the declared size",
        stage: Stage::Channel,
        input: |c| {
            let mut b = publish_bytes(false, "nowhere");
            write_content_header(&mut b, 1, 60, 2, &[0, 0]);
            b.extend_from_slice(&frame(3, 1, b"abc"));
            c.send(&b);
        },
        expect: Expect::Close(501, None),
        // RabbitMQ ignores the extra octets.
        rabbit: Some(Expect::Silent),
    },
    Case {
        name: "immediate=true",
        stage: Stage::Channel,
        input: |c| {
            let mut b = publish_bytes(true, "nowhere");
            write_content_header(&mut b, 1, 60, 1, &[0, 0]);
            b.extend_from_slice(&frame(3, 1, b"x"));
            c.send(&b);
        },
        expect: Expect::Close(540, Some("NOT_IMPLEMENTED - immediate=true")),
        rabbit: None,
    },
    // The spec: tune-ok above the server's limits means "close the
    // connection without attempting a negotiated close"; RabbitMQ 3.10 does
    // so (after a 3 s pause) for these and for frame_max 0 or below 4096.
    Case {
        name: "tune-ok with frame_max above the server's",
        stage: Stage::Tuned,
        input: |c| {
            let frame_max = c.frame_max + 1;
            let channel_max = c.channel_max;
            c.send_method(0, ConnectionTuneOk { channel_max, frame_max, heartbeat: 0 });
            c.send_method(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        },
        expect: Expect::Eof,
        rabbit: None,
    },
    Case {
        name: "tune-ok with channel_max above the server's",
        stage: Stage::Tuned,
        input: |c| {
            let (channel_max, frame_max) = (c.channel_max + 1, c.frame_max);
            c.send_method(0, ConnectionTuneOk { channel_max, frame_max, heartbeat: 0 });
            c.send_method(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        },
        expect: Expect::Eof,
        rabbit: None,
    },
    Case {
        name: "tune-ok with frame_max 0",
        stage: Stage::Tuned,
        input: |c| {
            let channel_max = c.channel_max;
            c.send_method(0, ConnectionTuneOk { channel_max, frame_max: 0, heartbeat: 0 });
            c.send_method(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        },
        expect: Expect::Eof,
        rabbit: None,
    },
    Case {
        name: "tune-ok with frame_max below 4096",
        stage: Stage::Tuned,
        input: |c| {
            let channel_max = c.channel_max;
            c.send_method(0, ConnectionTuneOk { channel_max, frame_max: 4095, heartbeat: 0 });
            c.send_method(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
        },
        expect: Expect::Eof,
        rabbit: None,
    },
    // The spec: an unknown mechanism means "close the socket"; RabbitMQ
    // does (after its 3 s pause), even for a client that announced
    // authentication_failure_close.
    Case {
        name: "start-ok with an unsupported mechanism",
        stage: Stage::Started,
        input: |c| {
            let caps = FieldTable::from([("authentication_failure_close", FieldValue::Bool(true))]);
            c.send_method(
                0,
                ConnectionStartOk {
                    client_properties: FieldTable::from([("capabilities", FieldValue::Table(caps))]),
                    mechanism: "NOT-A-MECHANISM".into(),
                    response: Bytes::from_static(b"\0guest\0guest"),
                    locale: "en_US".into(),
                },
            );
        },
        expect: Expect::Eof,
        rabbit: None,
    },
    Case {
        name: "channel.open once channel_max channels are open",
        stage: Stage::Tuned,
        input: |c| {
            c.open_with_channel_max(2);
            for ch in [1, 2] {
                c.send_method(ch, ChannelOpen::default());
                assert!(matches!(c.method(), (n, Method::ChannelOpenOk(_)) if n == ch));
            }
            c.send_method(3, ChannelOpen::default());
        },
        expect: Expect::Close(530, Some("NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)")),
        rabbit: None,
    },
    Case {
        name: "a frame on a channel above channel_max",
        stage: Stage::Tuned,
        input: |c| {
            c.open_with_channel_max(10);
            c.send(&method_bytes(11, QueueDeclare { queue: "x".into(), ..Default::default() }));
        },
        expect: Expect::Close(530, Some("NOT_ALLOWED - channel number 11 is above the negotiated channel_max (10)")),
        // RabbitMQ limits how many channels are open, not their numbers:
        // channel 11 is just one never opened. Warren keeps the spec's
        // range (1..=channel_max).
        rabbit: Some(Expect::Close(504, Some("CHANNEL_ERROR - expected 'channel.open'"))),
    },
    Case {
        name: "body-size above the max message size",
        stage: Stage::Channel,
        input: |c| {
            let mut b = publish_bytes(false, "nowhere");
            write_content_header(&mut b, 1, 60, 1_000_000_000, &[0, 0]);
            c.send(&b);
        },
        expect: Expect::ChannelClose(406, "PRECONDITION_FAILED - message size 1000000000 is larger than configured max size 134217728"),
        // RabbitMQ checks the size only once the whole body has arrived.
        rabbit: Some(Expect::Silent),
    },
];

/// What came back, as text, for the failure report.
fn observe(c: &mut Raw) -> String {
    let mut seen = Vec::new();
    loop {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.frame())) {
            Ok(Some(f)) => seen.push(format!("{f:?}")),
            Ok(None) => {
                seen.push("EOF".into());
                break;
            }
            Err(_) => {
                seen.push(format!("no EOF (raw {:?})", c.buf));
                break;
            }
        }
        if seen.len() > 4 {
            break;
        }
    }
    seen.join(", ")
}

/// Runs one case on a fresh connection; `Err` says what came instead.
fn run_case(broker: &Broker, case: &Case) -> Result<(), String> {
    let mut c = Raw::open(broker, case.stage);
    (case.input)(&mut c);
    let expect = match &case.rabbit {
        Some(rabbit) if broker.is_external() => rabbit,
        _ => &case.expect,
    };
    match *expect {
        Expect::Close(code, text) => match c.frame() {
            Some(Frame::Method { channel: 0, method: Method::ConnectionClose(close) }) => {
                eprintln!("{}: {} {}", case.name, close.reply_code, &*close.reply_text);
                if close.reply_code != code || text.is_some_and(|t| t != &*close.reply_text) {
                    return Err(format!("expected {code} {text:?}, got {close:?}"));
                }
                c.send_method(0, ConnectionCloseOk {});
                match c.frame() {
                    None => Ok(()),
                    Some(f) => Err(format!("not closed after close-ok: {f:?}")),
                }
            }
            other => Err(format!("expected connection.close {code}, got {other:?}, {}", observe(&mut c))),
        },
        Expect::Header => {
            while c.fill() {}
            eprintln!("{}: {:?}, closed", case.name, c.buf);
            if c.buf[..] != PROTOCOL_HEADER {
                return Err(format!("expected the protocol header, got {:?}", c.buf));
            }
            Ok(())
        }
        Expect::Eof => match observe(&mut c).as_str() {
            "EOF" => Ok(()),
            other => Err(format!("expected EOF, got {other}")),
        },
        Expect::Silent => {
            c.sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut chunk = [0u8; 64];
            match c.sock.read(&mut chunk) {
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
                Ok(n) => Err(format!("expected silence, got {:?}", &chunk[..n])),
                Err(e) => Err(format!("expected silence, got {e}")),
            }
        }
        Expect::ChannelClose(code, text) => {
            match c.method() {
                (1, Method::ChannelClose(close)) => {
                    eprintln!("{}: channel {} {}", case.name, close.reply_code, &*close.reply_text);
                    if (close.reply_code, &*close.reply_text) != (code, text) {
                        return Err(format!("expected channel.close {code} {text:?}, got {close:?}"));
                    }
                }
                other => return Err(format!("expected channel.close, got {other:?}, {}", observe(&mut c))),
            }
            // The connection still works: close-ok, reopen.
            c.send_method(1, ChannelCloseOk {});
            c.send_method(1, ChannelOpen::default());
            match c.method() {
                (1, Method::ChannelOpenOk(_)) => Ok(()),
                other => Err(format!("channel not reopened: {other:?}")),
            }
        }
    }
}

fn start() -> Broker {
    Broker::start_with_args(&["--handshake-timeout-ms", "1500"])
}

#[test]
fn bad_input_closes_only_the_offending_connection() {
    let broker = start();
    let mut witness = Witness::new(&broker);
    witness.still_works("start");
    let mut failures = Vec::new();
    for case in CASES {
        match std::panic::catch_unwind(|| run_case(&broker, case)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", case.name)),
            Err(_) => failures.push(format!("{}: panicked (see above)", case.name)),
        }
        witness.still_works(case.name);
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

/// After the broker sends channel.close, frames other than close/close-ok
/// on that channel are discarded; the later close-ok works and the channel
/// can be opened again.
#[test]
fn frames_after_channel_close_are_discarded() {
    let broker = start();
    let mut witness = Witness::new(&broker);
    let mut c = Raw::open(&broker, Stage::Channel);
    let missing = unique("missing-exchange");
    let mut b = BytesMut::new();
    write_method(&mut b, 1, &BasicPublish { exchange: missing.as_str().into(), ..Default::default() }.into());
    write_content_header(&mut b, 1, 60, 1, &[0, 0]);
    b.extend_from_slice(&frame(3, 1, b"x"));
    c.send(&b);
    match c.method() {
        (1, Method::ChannelClose(close)) => {
            assert_eq!(close.reply_code, 404);
            assert_eq!(&*close.reply_text, format!("NOT_FOUND - no exchange '{missing}' in vhost '/'"));
        }
        other => panic!("expected channel.close, got {other:?}"),
    }
    // Not yet seen the close: another content and a method. (A content
    // header without its method is still 505 on RabbitMQ, closing or not.)
    c.send(&b);
    c.send(&method_bytes(1, QueueDeclare { queue: unique("ignored").as_str().into(), ..Default::default() }));
    c.send_method(1, ChannelCloseOk {});
    c.send_method(1, ChannelOpen::default());
    // The first reply is the open-ok: nothing answered the discarded frames.
    match c.method() {
        (1, Method::ChannelOpenOk(_)) => {}
        other => panic!("expected channel.open-ok, got {other:?}, {}", observe(&mut c)),
    }
    c.send_method(1, QueueDeclare { queue: "".into(), exclusive: true, ..Default::default() });
    assert!(matches!(c.method(), (1, Method::QueueDeclareOk(_))));
    witness.still_works("discarded frames");
}

/// A peer that connects and sends nothing is dropped after the handshake
/// timeout, and so is one that stops halfway through the handshake.
#[test]
fn handshake_timeout_closes_silent_connections() {
    let broker = start();
    let mut witness = Witness::new(&broker);
    let limit = if broker.is_external() { Duration::from_secs(10) } else { Duration::from_millis(1500) };
    let silent_for = |stage: Stage| {
        let mut c = Raw::open(&broker, stage);
        c.sock.set_read_timeout(Some(limit * 3)).unwrap();
        let started = Instant::now();
        while c.frame().is_some() {}
        let waited = started.elapsed();
        assert!(waited >= limit - Duration::from_millis(200), "{stage:?}: closed after {waited:?}, before the timeout");
        assert!(waited < limit * 2 + Duration::from_secs(1), "{stage:?}: closed only after {waited:?}");
    };
    let silent = std::thread::scope(|s| {
        let a = s.spawn(|| silent_for(Stage::Connected));
        let b = s.spawn(|| silent_for(Stage::Tuned));
        // The witness works while the silent ones wait.
        witness.still_works("silent peers connected");
        (a.join(), b.join())
    });
    silent.0.expect("a silent connection");
    silent.1.expect("a connection silent after tune");
    witness.still_works("handshake timeouts");
}
