//! Users, passwords, virtual hosts, permissions, login refusal, guest's
//! loopback restriction, connection.update-secret and the consumer timeout,
//! as lapin (and, for what lapin cannot do, a raw socket) sees them.
//!
//! Warren is started with the matching flags (see [`ACCESS_ARGS`]). To run
//! the same tests against RabbitMQ, create the same user, vhost and
//! permissions first (the node's usual `rabbitmqctl` environment assumed):
//!
//! ```text
//! rabbitmqctl add_vhost sem-dev
//! rabbitmqctl add_user sem-bob bob-secret
//! rabbitmqctl set_user_tags sem-bob monitoring
//! rabbitmqctl set_permissions -p sem-dev sem-bob '^bob\.' '^(bob\..*|amq\.default)$' '^bob\.'
//! WARREN_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:5673/%2f cargo test -p gateway --test semantics_access -- --include-ignored
//! ```
//!
//! Two tests need broker configuration that RabbitMQ only has globally, so
//! against an external broker they run only when told how it is set up, and
//! skip (passing) otherwise:
//!
//! * `consumer_timeout_closes_the_channel` needs
//!   `WARREN_TEST_CONSUMER_TIMEOUT_MS` = the broker's `consumer_timeout`
//!   (RabbitMQ 3.10 checks it on the channel tick, so also lower
//!   `channel_tick_interval`, e.g. advanced.config
//!   `[{rabbit, [{consumer_timeout, 1000}, {channel_tick_interval, 100}]}].`).
//! * `guest_may_only_connect_from_loopback` needs `WARREN_TEST_REMOTE_HOST`,
//!   an address of this machine that is not loopback and on which the broker
//!   listens (e.g. `RABBITMQ_NODE_IP_ADDRESS=0.0.0.0` and `192.0.2.2`).
//!
//! `no_guest_flag_removes_the_guest_user` is Warren-only (a `warren` flag).
//! Tests marked `#[ignore = "warren bug: ..."]` pass on RabbitMQ and fail on
//! Warren; run them with `-- --include-ignored`.
//! User tags (`:monitoring`) only matter to the management API and are not
//! observable over AMQP 0-9-1.

mod common;
mod sem;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::{unique, within, Broker};
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use sem::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const VHOST: &str = "sem-dev";
const BOB: &str = "sem-bob";
const BOB_PASS: &str = "bob-secret";
const CONSUMER_TIMEOUT_MS: u64 = 1000;

/// The warren flags equivalent to the rabbitmqctl setup above.
const ACCESS_ARGS: &[&str] = &[
    "--user",
    "sem-bob:bob-secret:monitoring",
    "--vhost",
    "sem-dev",
    "--permission",
    r"sem-bob:sem-dev:^bob\.:^(bob\..*|amq\.default)$:^bob\.",
];

const LOGIN_REFUSED: &str = "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.";

fn start() -> Broker {
    Broker::start_with_args(ACCESS_ARGS)
}

fn bob_url(broker: &Broker) -> String {
    broker.url_for(BOB, BOB_PASS, VHOST)
}

/// Connects and expects the broker to refuse with a connection.close.
async fn refused(url: &str) -> (u16, String) {
    match within("refused connect", Connection::connect(url, ConnectionProperties::default())).await {
        Ok(_) => panic!("connecting to {url} should have been refused"),
        Err(e) => amqp_error(&e),
    }
}

#[tokio::test]
async fn vhost_access_needs_permissions_and_an_existing_vhost() {
    let broker = start();
    let bob = connect_url(&bob_url(&broker)).await;
    assert_eq!(bob.status().vhost().as_str(), VHOST);
    bob.close(200, s("bye")).await.ok();
    // sem-bob has no permissions on "/".
    assert_eq!(
        refused(&broker.url_for(BOB, BOB_PASS, "/")).await,
        (530, format!("NOT_ALLOWED - access to vhost '/' refused for user '{BOB}'"))
    );
    // guest has none on sem-dev.
    assert_eq!(
        refused(&broker.url_for("guest", "guest", VHOST)).await,
        (530, format!("NOT_ALLOWED - access to vhost '{VHOST}' refused for user 'guest'"))
    );
    assert_eq!(
        refused(&broker.url_for("guest", "guest", "no-such-vhost")).await,
        (530, "NOT_ALLOWED - vhost no-such-vhost not found".to_string())
    );
}

#[tokio::test]
async fn vhosts_keep_separate_namespaces() {
    let broker = start();
    let bob = connect_url(&bob_url(&broker)).await;
    let guest = connect(&broker).await;
    let name = format!("bob.{}", unique("iso"));
    let bch = confirm_channel(&bob).await;
    declare_q(&bch, &name, FieldTable::default()).await;
    publish_acked(&bch, "", &name, b"in sem-dev", BasicProperties::default()).await;
    // The same name in "/" is another queue.
    let gch = channel(&guest).await;
    let close = expect_close(
        "passive declare in /",
        gch.queue_declare(s(&name), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()),
    )
    .await;
    assert_eq!(close, (404, format!("NOT_FOUND - no queue '{name}' in vhost '/'")));
    let gch = channel(&guest).await;
    declare_q(&gch, &name, FieldTable::default()).await;
    assert!(get(&gch, &name, true).await.is_none());
    within("queue.delete", gch.queue_delete(s(&name), QueueDeleteOptions::default())).await.expect("delete");
    assert_eq!(drain(&bch, &name).await, ["in sem-dev"]);
    // Exchanges too: amq.* exist in every vhost, user ones only where declared.
    let bx = format!("bob.{}", unique("x"));
    declare_exchange(
        &bch,
        &bx,
        ExchangeKind::Fanout,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
    let gch = channel(&guest).await;
    let close = expect_close(
        "passive exchange.declare in /",
        gch.exchange_declare(
            s(&bx),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions { passive: true, ..Default::default() },
            FieldTable::default(),
        ),
    )
    .await;
    assert_eq!(close, (404, format!("NOT_FOUND - no exchange '{bx}' in vhost '/'")));
    bob.close(200, s("bye")).await.ok();
    guest.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn permissions_are_checked_per_operation() {
    let broker = start();
    let bob = connect_url(&bob_url(&broker)).await;
    let q = format!("bob.{}", unique("q"));
    let x = format!("bob.{}", unique("x"));
    let alice_q = unique("alice.q");
    let alice_x = unique("alice.x");
    let refused_q = |n: &str| (403, format!("ACCESS_REFUSED - access to queue '{n}' in vhost '{VHOST}' refused for user '{BOB}'"));
    let refused_x = |n: &str| (403, format!("ACCESS_REFUSED - access to exchange '{n}' in vhost '{VHOST}' refused for user '{BOB}'"));

    // configure: ^bob\.
    let ch = confirm_channel(&bob).await;
    declare_q(&ch, &q, FieldTable::default()).await;
    declare_exchange(
        &ch,
        &x,
        ExchangeKind::Direct,
        ExchangeDeclareOptions { auto_delete: true, ..Default::default() },
        FieldTable::default(),
    )
    .await;
    let close = expect_close("declare alice.q", ch.queue_declare(s(&alice_q), QueueDeclareOptions::default(), FieldTable::default())).await;
    assert_eq!(close, refused_q(&alice_q));
    let ch = channel(&bob).await;
    let close = expect_close(
        "declare alice.x",
        ch.exchange_declare(s(&alice_x), ExchangeKind::Direct, ExchangeDeclareOptions::default(), FieldTable::default()),
    )
    .await;
    assert_eq!(close, refused_x(&alice_x));
    let ch = channel(&bob).await;
    let close = expect_close("delete alice.q", ch.queue_delete(s(&alice_q), QueueDeleteOptions::default())).await;
    assert_eq!(close, refused_q(&alice_q));

    // write: the default exchange is checked as amq.default.
    let ch = confirm_channel(&bob).await;
    publish_acked(&ch, "", &q, b"via default", BasicProperties::default()).await;
    let close = publish_expect_close(&ch, "amq.fanout", "", b"no", BasicProperties::default()).await;
    assert_eq!(close, refused_x("amq.fanout"));

    // queue.bind needs write on the queue and read on the exchange.
    let ch = confirm_channel(&bob).await;
    bind(&ch, &q, &x, "k", FieldTable::default()).await;
    publish_acked(&ch, &x, "k", b"via bob.x", BasicProperties::default()).await;
    let close = expect_close(
        "bind to amq.direct",
        ch.queue_bind(s(&q), s("amq.direct"), s("k"), QueueBindOptions::default(), FieldTable::default()),
    )
    .await;
    assert_eq!(close, refused_x("amq.direct"));

    // read: get, consume and purge need read on the queue.
    let ch = channel(&bob).await;
    let close = expect_close("basic.get alice.q", ch.basic_get(s(&alice_q), BasicGetOptions { no_ack: true })).await;
    assert_eq!(close, refused_q(&alice_q));
    let ch = channel(&bob).await;
    let close =
        expect_close("basic.consume alice.q", ch.basic_consume(s(&alice_q), s(""), BasicConsumeOptions::default(), FieldTable::default()))
            .await;
    assert_eq!(close, refused_q(&alice_q));
    let ch = channel(&bob).await;
    assert_eq!(drain(&ch, &q).await, ["via default", "via bob.x"]);
    let mut c = consume(&ch, &q, "bob-reader", true, FieldTable::default()).await;
    publish(&ch, "", &q, b"consumed", BasicProperties::default()).await;
    assert_eq!(body(&next(&mut c).await), "consumed");
    within("queue.purge", ch.queue_purge(s(&q), QueuePurgeOptions::default())).await.expect("purge");
    within("queue.delete", ch.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("delete");
    bob.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_are_refused_with_403() {
    let broker = start();
    for (user, pass) in [(BOB, "wrong"), ("no-such-user", "x"), ("guest", "not-guest")] {
        let close = refused(&broker.url_for(user, pass, VHOST)).await;
        assert_eq!(close, (403, LOGIN_REFUSED.to_string()), "{user}");
    }
    // The right password still works, on the same broker.
    connect_url(&bob_url(&broker)).await.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn login_refusal_is_immediate_for_clients_with_authentication_failure_close() {
    // lapin announces authentication_failure_close; RabbitMQ 3.10 then sends
    // the connection.close at once (only the silent close is delayed, see
    // the next test).
    let broker = start();
    for (user, pass) in [(BOB, "wrong"), ("no-such-user", "x")] {
        let t = Instant::now();
        let close = refused(&broker.url_for(user, pass, VHOST)).await;
        let took = t.elapsed();
        assert_eq!(close.0, 403);
        assert!(took < Duration::from_millis(500), "refusal of {user} took {took:?}");
    }
}

/// Reads one frame `(type, channel, payload)`, or None at EOF/reset.
async fn read_frame(sock: &mut tokio::net::TcpStream) -> Option<(u8, u16, Vec<u8>)> {
    let mut head = [0u8; 7];
    match sock.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => return None,
        Err(e) => panic!("read: {e}"),
    }
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    let mut payload = vec![0u8; size + 1];
    sock.read_exact(&mut payload).await.expect("frame payload");
    assert_eq!(payload.pop(), Some(0xCE));
    Some((head[0], u16::from_be_bytes([head[1], head[2]]), payload))
}

#[tokio::test]
async fn failed_login_without_authentication_failure_close_is_a_delayed_silent_close() {
    // A client that does not announce the authentication_failure_close
    // capability gets no connection.close: RabbitMQ 3.10 waits about three
    // seconds and then drops the TCP connection.
    let broker = start();
    let mut sock = within("tcp connect", tokio::net::TcpStream::connect((broker.host.as_str(), broker.port))).await.expect("tcp connect");
    sock.write_all(b"AMQP\x00\x00\x09\x01").await.unwrap();
    let (kind, ch, start) = within("connection.start", read_frame(&mut sock)).await.expect("connection.start");
    assert_eq!((kind, ch, &start[..4]), (1, 0, &[0, 10, 0, 10][..]));
    // connection.start-ok: no client properties, PLAIN, a wrong password.
    let mut args = Vec::new();
    args.extend_from_slice(&0u32.to_be_bytes());
    args.push(5);
    args.extend_from_slice(b"PLAIN");
    let response = format!("\0{BOB}\0wrong");
    args.extend_from_slice(&(response.len() as u32).to_be_bytes());
    args.extend_from_slice(response.as_bytes());
    args.push(5);
    args.extend_from_slice(b"en_US");
    let mut frame = vec![1, 0, 0];
    frame.extend_from_slice(&((args.len() + 4) as u32).to_be_bytes());
    frame.extend_from_slice(&[0, 10, 0, 11]);
    frame.extend_from_slice(&args);
    frame.push(0xCE);
    let sent = Instant::now();
    sock.write_all(&frame).await.unwrap();
    let got = within("the broker to drop the connection", read_frame(&mut sock)).await;
    let took = sent.elapsed();
    assert!(got.is_none(), "expected a silent close, got frame {got:?}");
    assert!(took >= Duration::from_millis(2500) && took < Duration::from_millis(6000), "silent close after {took:?} (RabbitMQ: about 3 s)");
}

/// A local address that is not loopback, for connecting to a broker that
/// listens on all interfaces (the peer address is then not loopback).
fn non_loopback_local_ip() -> Option<std::net::IpAddr> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connect only picks the route and source address.
    sock.connect("192.0.2.1:9").or_else(|_| sock.connect("8.8.8.8:53")).ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn guest_may_only_connect_from_loopback() {
    let (broker, remote_host) = match std::env::var("WARREN_TEST_AMQP_URL") {
        Ok(u) if !u.is_empty() => match std::env::var("WARREN_TEST_REMOTE_HOST") {
            Ok(h) if !h.is_empty() => (Broker::start(), h),
            _ => {
                eprintln!("skipped: set WARREN_TEST_REMOTE_HOST to run this against an external broker");
                return;
            }
        },
        _ => {
            let Some(ip) = non_loopback_local_ip() else {
                eprintln!("skipped: this machine has no non-loopback address");
                return;
            };
            let mut args = vec!["--amqp-bind", "0.0.0.0:0"];
            args.extend_from_slice(ACCESS_ARGS);
            (Broker::start_with_args(&args), ip.to_string())
        }
    };
    let remote = |user: &str, pass: &str, vhost: &str| {
        broker.url_for(user, pass, vhost).replacen(&format!("@{}:", broker.host), &format!("@{remote_host}:"), 1)
    };
    // guest over loopback: fine.
    connect(&broker).await.close(200, s("bye")).await.ok();
    // guest from a non-loopback peer: refused like a bad password.
    assert_eq!(refused(&remote("guest", "guest", "/")).await, (403, LOGIN_REFUSED.to_string()));
    // Other users may connect from anywhere.
    let bob = connect_url(&remote(BOB, BOB_PASS, VHOST)).await;
    declare_q(&channel(&bob).await, &format!("bob.{}", unique("remote")), FieldTable::default()).await;
    bob.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn no_guest_flag_removes_the_guest_user() {
    let broker = Broker::start_with_args(&["--no-guest", "--user", "admin:admin-pass", "--permission", "admin:/:.*:.*:.*"]);
    if broker.is_external() {
        eprintln!("skipped: --no-guest is a warren flag (RabbitMQ: rabbitmqctl delete_user guest)");
        return;
    }
    assert_eq!(refused(&broker.url).await, (403, LOGIN_REFUSED.to_string()));
    let admin = connect_url(&broker.url_for("admin", "admin-pass", "/")).await;
    declare_q(&channel(&admin).await, &unique("admin-q"), FieldTable::default()).await;
    admin.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn update_secret_keeps_the_connection_working() {
    let broker = start();
    let bob = connect_url(&bob_url(&broker)).await;
    let ch = confirm_channel(&bob).await;
    let q = format!("bob.{}", unique("secret"));
    declare_q(&ch, &q, FieldTable::default()).await;
    within("connection.update-secret", bob.update_secret(BOB_PASS.into(), s("rotation"))).await.expect("update-secret-ok");
    publish_acked(&ch, "", &q, b"after update", BasicProperties::default()).await;
    // Surprising: RabbitMQ 3.10's internal user database does not check the
    // new secret at all (its update_state accepts anything), so even a wrong
    // one gets update-secret-ok and the connection carries on.
    within("connection.update-secret", bob.update_secret("not-the-password".into(), s("rotation"))).await.expect("update-secret-ok");
    publish_acked(&ch, "", &q, b"after bogus update", BasicProperties::default()).await;
    assert_eq!(drain(&ch, &q).await, ["after update", "after bogus update"]);
    let ch2 = channel(&bob).await;
    within("queue.delete", ch2.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("delete");
    bob.close(200, s("bye")).await.ok();
}

#[tokio::test]
async fn consumer_timeout_closes_the_channel() {
    let timeout_arg = CONSUMER_TIMEOUT_MS.to_string();
    let broker = Broker::start_with_args(&["--consumer-timeout-ms", &timeout_arg]);
    let timeout_ms = if broker.is_external() {
        match std::env::var("WARREN_TEST_CONSUMER_TIMEOUT_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(ms) => ms,
            None => {
                // RabbitMQ 3.10 only has a node-wide consumer_timeout (30 min
                // by default): nothing to test without special configuration.
                eprintln!("skipped: set WARREN_TEST_CONSUMER_TIMEOUT_MS to the external broker's consumer_timeout");
                return;
            }
        }
    } else {
        CONSUMER_TIMEOUT_MS
    };
    let conn = connect(&broker).await;
    let pub_ch = confirm_channel(&conn).await;
    let q = unique("slow-consumer");
    declare_q(&pub_ch, &q, FieldTable::default()).await;

    // Acked within the timeout: nothing happens.
    let ch = channel(&conn).await;
    let mut c = consume(&ch, &q, "prompt", false, FieldTable::default()).await;
    publish_acked(&pub_ch, "", &q, b"quick", BasicProperties::default()).await;
    let d = next(&mut c).await;
    tokio::time::sleep(Duration::from_millis(timeout_ms / 2)).await;
    d.ack(BasicAckOptions::default()).await.expect("ack");
    tokio::time::sleep(Duration::from_millis(timeout_ms + 500)).await;
    declare_q(&ch, &q, FieldTable::default()).await;
    within("basic.cancel", ch.basic_cancel(s("prompt"), BasicCancelOptions::default())).await.expect("cancel");

    // Left unacknowledged: the channel is closed with 406.
    let slow = channel(&conn).await;
    let mut c = consume(&slow, &q, "sluggish", false, FieldTable::default()).await;
    publish_acked(&pub_ch, "", &q, b"slow", BasicProperties::default()).await;
    let d = next(&mut c).await;
    let delivered = Instant::now();
    assert_eq!(body(&d), "slow");
    let err = match within("the consumer timeout", c.next()).await {
        Some(Err(e)) => e,
        other => panic!("expected the channel to be closed, got {other:?}"),
    };
    let took = delivered.elapsed();
    assert_eq!(
        amqp_error(&err),
        (
            406,
            format!(
                "PRECONDITION_FAILED - delivery acknowledgement on channel {} timed out. Timeout value used: {timeout_ms} ms. \
                 This timeout value can be configured, see consumers doc guide to learn more",
                slow.id()
            )
        )
    );
    assert!(took + Duration::from_millis(50) >= Duration::from_millis(timeout_ms), "closed after only {took:?}");
    // The message went back to the queue, marked redelivered.
    let m = get(&pub_ch, &q, true).await.expect("requeued message");
    assert_eq!((body(&m.delivery), m.delivery.redelivered), ("slow".to_string(), true));
    // Other channels of the connection are unaffected.
    assert!(conn.status().connected());
    within("queue.delete", pub_ch.queue_delete(s(&q), QueueDeleteOptions::default())).await.expect("delete");
    conn.close(200, s("bye")).await.ok();
}
