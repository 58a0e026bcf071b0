//! Connection handshake, authentication, tuning, heartbeats and closing,
//! driven purely by bytes and a virtual clock.

mod support;

use broker_core::amqp::method::*;
use broker_core::amqp::{FieldValue, Frame, Method, PROTOCOL_HEADER};
use bytes::Bytes;
use support::Harness;

#[test]
fn start_offers_capabilities_and_mechanisms() {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    // The header may arrive in pieces.
    h.send_bytes(c, Bytes::from_static(b"AMQP"));
    assert!(h.nothing_pending(c));
    h.send_bytes(c, Bytes::from_static(b"\x00\x00\x09\x01"));
    let (ch, Method::ConnectionStart(start)) = h.expect_method(c) else { panic!() };
    assert_eq!((ch, start.version_major, start.version_minor), (0, 0, 9));
    assert_eq!(&start.mechanisms[..], b"PLAIN AMQPLAIN");
    let Some(FieldValue::Table(caps)) = start.server_properties.get("capabilities") else { panic!() };
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        assert_eq!(caps.get(cap), Some(&FieldValue::Bool(true)), "{cap}");
    }
}

#[test]
fn wrong_protocol_header_gets_ours_back_then_close() {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    h.send_bytes(c, Bytes::from_static(b"AMQP\x01\x01\x00\x0a"));
    // The harness marks a raw protocol header reply as a pseudo-frame.
    assert_eq!(h.next_frame(c), Some(Frame::Heartbeat { channel: u16::MAX }));
    assert_eq!(h.closed, vec![c]);
    assert_eq!(h.broker.connection_count(), 0);
}

fn start_ok(h: &mut Harness, c: broker_core::ConnectionId, response: &'static [u8], caps: bool) {
    h.send_bytes(c, Bytes::from_static(&PROTOCOL_HEADER));
    h.expect_method(c);
    let mut props = broker_core::amqp::FieldTable::new();
    if caps {
        let t = broker_core::amqp::FieldTable::from([("authentication_failure_close", FieldValue::Bool(true))]);
        props.insert("capabilities", FieldValue::Table(t));
    }
    h.send(
        c,
        0,
        ConnectionStartOk {
            client_properties: props,
            mechanism: "PLAIN".into(),
            response: Bytes::from_static(response),
            locale: "en_US".into(),
        },
    );
}

#[test]
fn bad_password_is_refused_with_403_when_the_client_asked_for_it() {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    start_ok(&mut h, c, b"\0guest\0wrong", true);
    // At once, as RabbitMQ 3.10 does for clients with the capability.
    let close = h.expect_connection_close(c, 403);
    assert_eq!((close.class_id, close.method_id), (10, 11));
    assert_eq!(
        &*close.reply_text,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile."
    );
    h.send(c, 0, ConnectionCloseOk {});
    assert_eq!(h.closed, vec![c]);
}

#[test]
fn bad_password_without_the_capability_just_disconnects() {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    start_ok(&mut h, c, b"\0guest\0wrong", false);
    // Dropped silently after about three seconds, as RabbitMQ 3.10 does.
    h.advance(2999);
    assert!(h.closed.is_empty());
    h.advance(1);
    assert!(h.nothing_pending(c));
    assert_eq!(h.closed, vec![c]);
}

#[test]
fn guest_is_refused_from_a_remote_peer() {
    let mut h = Harness::new();
    let c = h.raw_connect(false);
    start_ok(&mut h, c, b"\0guest\0guest", true);
    h.expect_connection_close(c, 403);
}

#[test]
fn amqplain_login_works() {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    h.send_bytes(c, Bytes::from_static(&PROTOCOL_HEADER));
    h.expect_method(c);
    let t = broker_core::amqp::FieldTable::from([("LOGIN", FieldValue::str("guest")), ("PASSWORD", FieldValue::str("guest"))]);
    let mut buf = bytes::BytesMut::new();
    t.encode(&mut buf);
    h.send(c, 0, ConnectionStartOk { mechanism: "AMQPLAIN".into(), response: buf.freeze().slice(4..), ..Default::default() });
    assert!(
        matches!(h.expect_method(c).1, Method::ConnectionTune(t) if t.channel_max == 2047 && t.frame_max == 131072 && t.heartbeat == 60)
    );
}

/// Takes a fresh connection to tune and sends `tune_ok`; the broker must
/// hang up without a word, for the reason given.
fn assert_tune_ok_dropped(tune_ok: ConnectionTuneOk, reason: &str) {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    start_ok(&mut h, c, b"\0guest\0guest", true);
    h.expect_method(c);
    h.send(c, 0, tune_ok);
    h.send(c, 0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() });
    assert!(h.nothing_pending(c), "{reason}: no connection.close");
    assert_eq!((h.closed.clone(), h.close_reasons.clone()), (vec![c], vec![reason.to_string()]));
}

/// Spec (tune-ok): a value above the server's means "close the connection
/// without attempting a negotiated close"; RabbitMQ 3.10 does so, and
/// refuses frame_max 0 and one below 4096 the same way (with these texts
/// in its log).
#[test]
fn tune_ok_outside_the_server_limits_drops_the_connection() {
    let ok = ConnectionTuneOk { channel_max: 2047, frame_max: 131_072, heartbeat: 0 };
    assert_tune_ok_dropped(
        ConnectionTuneOk { frame_max: 1 << 20, ..ok },
        "NOT_ALLOWED - negotiated frame_max = 1048576 is higher than the maximum allowed value (131072)",
    );
    assert_tune_ok_dropped(
        ConnectionTuneOk { channel_max: 2048, ..ok },
        "NOT_ALLOWED - negotiated channel_max = 2048 is higher than the maximum allowed value (2047)",
    );
    assert_tune_ok_dropped(
        ConnectionTuneOk { frame_max: 0, ..ok },
        "NOT_ALLOWED - negotiated frame_max = 0 is higher than the maximum allowed value (131072)",
    );
    assert_tune_ok_dropped(
        ConnectionTuneOk { frame_max: 4095, ..ok },
        "NOT_ALLOWED - negotiated frame_max = 4095 is lower than the minimum allowed value (4096)",
    );
}

/// Spec (start-ok): a mechanism the server did not offer means "close the
/// socket"; so does EXTERNAL, which is only offered with a client
/// certificate.
#[test]
fn start_ok_with_an_unknown_mechanism_drops_the_connection() {
    for mechanism in ["FOO", "EXTERNAL"] {
        let mut h = Harness::new();
        let c = h.raw_connect(true);
        h.send_bytes(c, Bytes::from_static(&PROTOCOL_HEADER));
        h.expect_method(c);
        let response = Bytes::from_static(b"\0guest\0guest");
        h.send(c, 0, ConnectionStartOk { mechanism: mechanism.into(), response, ..Default::default() });
        assert!(h.nothing_pending(c), "{mechanism}: no connection.close");
        assert_eq!(h.closed, vec![c]);
        assert_eq!(h.close_reasons, [format!("COMMAND_INVALID - unknown authentication mechanism '{mechanism}'")]);
    }
}

#[test]
fn opening_a_missing_vhost_is_530() {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    start_ok(&mut h, c, b"\0guest\0guest", true);
    h.expect_method(c);
    h.send(c, 0, ConnectionTuneOk { channel_max: 2047, frame_max: 131_072, heartbeat: 0 });
    h.send(c, 0, ConnectionOpen { virtual_host: "nope".into(), ..Default::default() });
    let close = h.expect_connection_close(c, 530);
    assert_eq!(&*close.reply_text, "NOT_ALLOWED - vhost nope not found");
}

#[test]
fn heartbeats_are_sent_and_a_silent_peer_is_dropped() {
    let mut h = Harness::new();
    let c = h.connect_with(&[], 10);
    h.drain(c);
    h.advance(5_000);
    assert_eq!(h.next_frame(c), Some(Frame::Heartbeat { channel: 0 }));
    // The peer keeps talking for a while: it stays connected.
    for _ in 0..3 {
        h.send_bytes(c, heartbeat());
        h.advance(6_000);
    }
    assert!(h.closed.is_empty());
    // Then goes silent for two intervals.
    h.advance(21_000);
    assert_eq!(h.closed, vec![c]);
}

#[test]
fn a_connection_that_is_not_read_is_not_dropped_for_silence() {
    // While an alarm blocks it, the driver does not read the publisher, so
    // its heartbeats cannot arrive: that must not count against it. Ours
    // keep going out.
    let mut h = Harness::new();
    let c = h.connect_with(&["connection.blocked"], 4);
    h.declare_queue(c, 1, "q");
    h.publish(c, 1, "", "q", b"x");
    h.drain(c);
    h.broker.set_alarm(broker_core::Alarm::Memory, true);
    h.pump();
    assert_eq!(h.events, [broker_core::Event::PauseReading { connection: c }]);
    assert!(matches!(h.expect_method(c).1, Method::ConnectionBlocked(_)));
    assert_eq!(h.broker.connections()[0].state, "blocked");
    let mut ours = 0;
    for _ in 0..30 {
        h.advance(1_000);
        ours += h.drain(c).iter().filter(|f| **f == Frame::Heartbeat { channel: 0 }).count();
    }
    assert!(h.closed.is_empty(), "dropped while not read");
    assert!(ours >= 14, "our heartbeats kept going out: {ours} in 30 s at 4 s");
    h.broker.set_alarm(broker_core::Alarm::Memory, false);
    h.pump();
    assert_eq!(h.events.last(), Some(&broker_core::Event::ResumeReading { connection: c }));
    assert_eq!(h.broker.connections()[0].state, "running");
    // Read again, it gets the full two intervals, and then no more.
    h.advance(7_000);
    assert!(h.closed.is_empty());
    h.advance(2_000);
    assert_eq!(h.closed, vec![c]);
}

fn heartbeat() -> Bytes {
    let mut b = bytes::BytesMut::new();
    broker_core::amqp::frame::write_heartbeat(&mut b);
    b.freeze()
}

#[test]
fn handshake_must_finish_within_the_timeout() {
    let mut h = Harness::new();
    let c = h.raw_connect(true);
    h.send_bytes(c, Bytes::from_static(&PROTOCOL_HEADER));
    h.advance(9_999);
    assert!(h.closed.is_empty());
    h.advance(2);
    assert_eq!(h.closed, vec![c]);
}

#[test]
fn client_close_gets_close_ok_and_frees_exclusive_queues() {
    let mut h = Harness::new();
    let c = h.connect();
    h.send(c, 1, QueueDeclare { queue: "mine".into(), exclusive: true, ..Default::default() });
    h.expect_method(c);
    h.send(c, 0, ConnectionClose { reply_code: 200, reply_text: "bye".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (0, ConnectionCloseOk {}.into()));
    assert_eq!(h.closed, vec![c]);
    assert!(h.broker.queue_counts("/", "mine").is_none());
    // The driver waits for the client to close its side (it may still be
    // writing), at most 30 s without heartbeats, as RabbitMQ does.
    assert_eq!(h.close_lingers, [30_000]);
}

#[test]
fn after_close_ok_the_driver_lingers_for_the_heartbeat_timeout() {
    let mut h = Harness::new();
    let c = h.connect_with(&[], 5);
    h.send(c, 0, ConnectionClose { reply_code: 200, reply_text: "bye".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (0, ConnectionCloseOk {}.into()));
    assert_eq!((h.closed.clone(), h.close_lingers.clone()), (vec![c], vec![5_000]));
}

#[test]
fn after_the_brokers_close_only_close_and_close_ok_count() {
    // A hard error: Warren sends connection.close, discards everything but
    // close-ok, then closes at once (no linger: the peer is done).
    let mut h = Harness::new();
    let c = h.connect();
    h.send(c, 0, ConnectionTune::default());
    let _ = h.expect_connection_close(c, 503);
    h.send(c, 1, QueueDeclare { queue: "ignored".into(), ..Default::default() });
    h.publish(c, 1, "", "ignored", b"x");
    h.send(c, 5, ChannelOpen::default());
    assert!(h.nothing_pending(c), "frames after our close are discarded");
    assert!(h.closed.is_empty());
    h.send(c, 0, ConnectionCloseOk {});
    assert_eq!((h.closed.clone(), h.close_lingers.clone()), (vec![c], vec![0]));
    assert!(h.broker.queue_counts("/", "ignored").is_none());
}

#[test]
fn shutdown_sends_320_to_everyone() {
    let mut h = Harness::new();
    let a = h.connect();
    let b = h.connect();
    h.broker.handle_shutdown(h.now);
    h.pump();
    for c in [a, b] {
        let close = h.expect_connection_close(c, 320);
        assert_eq!(&*close.reply_text, "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'");
    }
    assert_eq!(h.closed.len(), 2);
}

#[test]
fn external_login_uses_the_certificate_identity() {
    let mut config = broker_core::Config::default();
    config.users.push(broker_core::User::new("client-a", "unused", [0; 4]));
    config.permissions.push(broker_core::Permission::all("client-a", "/"));
    let mut h = Harness::with_config(config);
    let c = h.raw_connect(false);
    h.broker.set_certificate_user(c, "client-a".into());
    h.send_bytes(c, Bytes::from_static(&PROTOCOL_HEADER));
    let Method::ConnectionStart(start) = h.expect_method(c).1 else { panic!() };
    assert_eq!(&start.mechanisms[..], b"EXTERNAL PLAIN AMQPLAIN");
    h.send(c, 0, ConnectionStartOk { mechanism: "EXTERNAL".into(), response: Bytes::new(), ..Default::default() });
    assert!(matches!(h.expect_method(c).1, Method::ConnectionTune(_)));
    // Without a certificate, EXTERNAL is refused.
    let d = h.raw_connect(false);
    h.send_bytes(d, Bytes::from_static(&PROTOCOL_HEADER));
    h.expect_method(d);
    h.send(d, 0, ConnectionStartOk { mechanism: "EXTERNAL".into(), response: Bytes::new(), ..Default::default() });
    h.advance(3000);
    assert!(h.closed.contains(&d));
}
