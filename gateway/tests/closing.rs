//! Closing, at the socket: after a client's connection.close the broker
//! answers close-ok and then keeps reading (and dropping) whatever still
//! arrives until the client closes its side, so the client's last frames
//! never meet a closed socket and a TCP reset; after the broker's own
//! connection.close it discards everything but close and close-ok. Checked
//! on a raw socket, and against RabbitMQ 3.10 (which behaves the same):
//!
//! ```text
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway --test closing
//! ```

mod common;
mod raw;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use broker_core::amqp::frame::{write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::Method;
use bytes::BytesMut;
use common::{unique, Broker};
use raw::{Raw, Stage};

const HEARTBEAT: [u8; 8] = [8, 0, 0, 0, 0, 0, 0, 0xCE];

/// Publishes of `body` to `queue` on channel 1, `count` of them, as octets.
fn publishes(queue: &str, body: &[u8], count: usize, frame_max: u32) -> BytesMut {
    let mut b = BytesMut::new();
    for _ in 0..count {
        write_method(&mut b, 1, &BasicPublish { routing_key: queue.into(), ..Default::default() }.into());
        write_content_header(&mut b, 1, 60, body.len() as u64, &[0, 0]);
        write_body(&mut b, 1, body, frame_max);
    }
    b
}

/// What a read gives within `wait`: `Ok(Some(octets))`, `Ok(None)` for
/// nothing yet, `Err` for EOF ("eof") or an error such as a reset.
fn read_within(c: &mut Raw, wait: Duration) -> Result<Option<Vec<u8>>, String> {
    c.sock.set_read_timeout(Some(wait)).unwrap();
    let mut chunk = [0u8; 4096];
    match c.sock.read(&mut chunk) {
        Ok(0) => Err("eof".into()),
        Ok(n) => Ok(Some(chunk[..n].to_vec())),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Reads until the broker closes; panics on data other than heartbeats
/// (RabbitMQ keeps sending those until it closes) or on a reset. Warren
/// closes with a FIN; RabbitMQ closes every socket with SO_LINGER 0, a
/// reset, so against it a reset is taken as its close (it still comes only
/// after the client closed or the timeout, which is what matters here).
fn expect_close(broker: &Broker, c: &mut Raw, within: Duration, what: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        match read_within(c, within.saturating_sub(t0.elapsed()).max(Duration::from_millis(1))) {
            Err(e) if e == "eof" => return t0.elapsed(),
            Err(e) if broker.is_external() && e.contains("reset") => return t0.elapsed(),
            Err(e) => panic!("{what}: the connection ended with '{e}' instead of a clean close"),
            Ok(Some(octets)) if octets.chunks(8).all(|f| f == HEARTBEAT) => continue,
            Ok(Some(octets)) => panic!("{what}: unexpected octets {octets:?}"),
            Ok(None) => panic!("{what}: not closed within {within:?}"),
        }
    }
}

/// Messages in `queue`, seen from a fresh connection.
fn message_count(broker: &Broker, queue: &str) -> u32 {
    let mut c = Raw::open(broker, Stage::Channel);
    c.send_method(1, QueueDeclare { queue: queue.into(), passive: true, ..Default::default() });
    let (1, Method::QueueDeclareOk(ok)) = c.method() else { panic!("passive declare of {queue}") };
    c.send_method(0, ConnectionClose { reply_code: 200, ..Default::default() });
    ok.message_count
}

#[test]
fn after_close_ok_the_broker_reads_on_until_the_client_closes() {
    let broker = Broker::start();
    let queue = unique("closing");
    let mut c = Raw::open(&broker, Stage::Channel);
    c.send_method(1, QueueDeclare { queue: queue.as_str().into(), ..Default::default() });
    assert!(matches!(c.method(), (1, Method::QueueDeclareOk(_))));
    // connection.close, and right behind it the rest of what a client had
    // buffered (amqplib sends its close ahead of queued publishes).
    let mut out = BytesMut::new();
    write_method(&mut out, 0, &ConnectionClose { reply_code: 200, reply_text: "bye".into(), ..Default::default() }.into());
    out.extend_from_slice(&publishes(&queue, &[7; 1024], 200, c.frame_max));
    c.sock.write_all(&out).expect("write close and publishes");
    assert_eq!(c.method(), (0, ConnectionCloseOk {}.into()));
    // More arrives after close-ok: the broker reads it without a word and
    // does not close first.
    let late = publishes(&queue, &[8; 1024], 1000, c.frame_max);
    for round in 0..3 {
        c.sock.write_all(&late).unwrap_or_else(|e| panic!("write {round} after close-ok failed: {e}"));
        assert_eq!(read_within(&mut c, Duration::from_millis(300)), Ok(None), "round {round} after close-ok");
    }
    // The client closes its side; then the broker closes, cleanly.
    c.sock.shutdown(Shutdown::Write).unwrap();
    expect_close(&broker, &mut c, Duration::from_secs(5), "after the client's FIN");
    assert_eq!(message_count(&broker, &queue), 0, "nothing after connection.close was published");
}

#[test]
fn after_close_ok_a_client_that_never_closes_is_closed_after_the_heartbeat_timeout() {
    let broker = Broker::start();
    let mut c = Raw::open(&broker, Stage::Tuned);
    c.send_method(0, ConnectionTuneOk { channel_max: c.channel_max, frame_max: c.frame_max, heartbeat: 2 });
    c.send_method(0, ConnectionOpen { virtual_host: broker.vhost.as_str().into(), ..Default::default() });
    assert!(matches!(c.method(), (0, Method::ConnectionOpenOk(_))));
    c.send_method(0, ConnectionClose { reply_code: 200, reply_text: "bye".into(), ..Default::default() });
    assert_eq!(c.method(), (0, ConnectionCloseOk {}.into()));
    // RabbitMQ waits the heartbeat timeout (2 s here, 30 s at most).
    let waited = expect_close(&broker, &mut c, Duration::from_secs(6), "a client that never closes");
    assert!(waited >= Duration::from_millis(1500), "closed after {waited:?}, before the client could");
}

#[test]
fn after_the_brokers_close_only_close_ok_counts() {
    let broker = Broker::start();
    let queue = unique("closing-hard");
    let mut c = Raw::open(&broker, Stage::Channel);
    c.send_method(1, QueueDeclare { queue: queue.as_str().into(), ..Default::default() });
    assert!(matches!(c.method(), (1, Method::QueueDeclareOk(_))));
    // A hard error: a second channel.open on channel 1.
    c.send_method(1, ChannelOpen::default());
    let (0, Method::ConnectionClose(close)) = c.method() else { panic!("expected connection.close") };
    assert_eq!(close.reply_code, 504, "{}", close.reply_text);
    // Until close-ok, everything else is read and dropped without a reply.
    c.send_method(1, QueueDeclare { queue: unique("ignored").as_str().into(), ..Default::default() });
    c.send(&publishes(&queue, b"dropped", 100, c.frame_max));
    c.send_method(2, ChannelOpen::default());
    assert_eq!(read_within(&mut c, Duration::from_millis(500)), Ok(None), "a reply to a frame after connection.close");
    c.send_method(0, ConnectionCloseOk {});
    expect_close(&broker, &mut c, Duration::from_secs(5), "after close-ok");
    assert_eq!(message_count(&broker, &queue), 0);
}
