//! The core's side of durability: which messages it asks the driver to
//! store, confirms held until the driver reports them on disk, recovery,
//! bodies moved to disk under a memory budget, and resource alarms.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, Method};
use broker_core::{Alarm, BodyLoader, Config, Event, RestoredMessage, StoreOp};
use bytes::Bytes;
use support::{body_of, Harness};

fn persistent() -> BasicProperties {
    BasicProperties { delivery_mode: Some(2), ..Default::default() }
}

fn durable_harness(budget: Option<usize>) -> Harness {
    Harness::with_config(Config { persistence: true, memory_budget: budget, ..Config::default() })
}

fn ops(h: &mut Harness) -> Vec<StoreOp> {
    std::iter::from_fn(|| h.broker.poll_store_op()).collect()
}

fn declare_durable(h: &mut Harness, c: broker_core::ConnectionId, name: &str) {
    h.send(c, 1, QueueDeclare { queue: name.into(), durable: true, ..Default::default() });
    assert!(matches!(h.expect_method(c).1, Method::QueueDeclareOk(_)));
}

#[test]
fn persistent_messages_in_durable_queues_are_stored_and_confirmed_after_the_write() {
    let mut h = durable_harness(None);
    let c = h.connect();
    declare_durable(&mut h, c, "d1");
    declare_durable(&mut h, c, "d2");
    h.declare_queue(c, 1, "transient_q");
    for q in ["d1", "d2", "transient_q"] {
        h.bind(c, 1, q, "amq.fanout", "", Default::default());
    }
    assert_eq!(
        ops(&mut h),
        [
            StoreOp::QueueDeclared { queue: 1, vhost: "/".into(), name: "d1".into() },
            StoreOp::QueueDeclared { queue: 2, vhost: "/".into(), name: "d2".into() },
        ]
    );
    h.send(c, 1, ConfirmSelect::default());
    h.expect_method(c);
    h.publish_with(c, 1, "amq.fanout", "k", &persistent(), b"keep", false);
    // Written once, for both durable queues; the transient queue is not stored.
    let written = ops(&mut h);
    let [StoreOp::Append { ticket, queues, body, .. }] = &written[..] else { panic!("{written:?}") };
    assert_eq!((queues.as_slice(), &body[..]), (&[1u32, 2][..], &b"keep"[..]));
    assert!(h.nothing_pending(c), "no confirm before the write is durable");
    // A transient message after it waits too: confirms go out in order.
    h.publish(c, 1, "amq.fanout", "k", b"fleeting");
    assert!(ops(&mut h).is_empty());
    assert!(h.nothing_pending(c));
    h.broker.handle_persisted(*ticket);
    h.pump();
    assert_eq!(h.expect_method(c), (1, BasicAck { delivery_tag: 2, multiple: true }.into()));
}

#[test]
fn deliveries_acks_purges_and_deletes_are_recorded() {
    let mut h = durable_harness(None);
    let c = h.connect();
    declare_durable(&mut h, c, "d");
    for i in 0..3 {
        h.publish_with(c, 1, "", "d", &persistent(), format!("m{i}").as_bytes(), false);
    }
    let keys: Vec<u64> = ops(&mut h)
        .into_iter()
        .filter_map(|o| match o {
            StoreOp::Append { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 3);
    h.send(c, 1, BasicGet { queue: "d".into(), ..Default::default() });
    let d = h.expect_delivery(c);
    let Method::BasicGetOk(ok) = d.method else { panic!() };
    assert_eq!(ops(&mut h), [StoreOp::Delivered { key: keys[0], queue: 1 }]);
    // Requeued and delivered again: no second Delivered record.
    h.send(c, 1, BasicNack { delivery_tag: ok.delivery_tag, multiple: false, requeue: true });
    h.send(c, 1, BasicGet { queue: "d".into(), ..Default::default() });
    let Method::BasicGetOk(ok) = h.expect_delivery(c).method else { panic!() };
    assert!(ops(&mut h).is_empty());
    h.send(c, 1, BasicAck { delivery_tag: ok.delivery_tag, multiple: false });
    assert_eq!(ops(&mut h), [StoreOp::Ack { key: keys[0], queue: 1 }, StoreOp::Forget { key: keys[0] }]);
    h.send(c, 1, QueuePurge { queue: "d".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, QueuePurgeOk { message_count: 2 }.into()));
    assert_eq!(ops(&mut h), [StoreOp::Purged { queue: 1 }, StoreOp::Forget { key: keys[1] }, StoreOp::Forget { key: keys[2] }]);
    h.send(c, 1, QueueDelete { queue: "d".into(), ..Default::default() });
    h.expect_method(c);
    assert_eq!(ops(&mut h), [StoreOp::QueueDeleted { queue: 1 }]);
}

#[test]
fn quorum_queues_store_every_message() {
    let mut h = durable_harness(None);
    let c = h.connect();
    let args = broker_core::amqp::FieldTable::from([("x-queue-type", broker_core::amqp::FieldValue::str("quorum"))]);
    h.send(c, 1, QueueDeclare { queue: "qq".into(), durable: true, arguments: args, ..Default::default() });
    h.expect_method(c);
    ops(&mut h);
    h.publish(c, 1, "", "qq", b"transient but quorum");
    assert!(matches!(&ops(&mut h)[..], [StoreOp::Append { .. }]));
}

#[test]
fn restored_messages_come_back_in_order_flagged_and_shared() {
    let mut h = durable_harness(None);
    let c = h.connect();
    declare_durable(&mut h, c, "a");
    declare_durable(&mut h, c, "b");
    let m = |key: u64, body: &'static [u8], redelivered| RestoredMessage {
        key,
        exchange: "".into(),
        routing_key: "a".into(),
        properties: persistent().to_bytes(),
        body: Some(Bytes::from_static(body)),
        body_len: body.len(),
        redelivered,
    };
    h.broker.restore_message("/", "a", m(10, b"first", true)).unwrap();
    h.broker.restore_message("/", "a", m(11, b"second", false)).unwrap();
    h.broker.restore_message("/", "b", m(10, b"first", true)).unwrap();
    h.broker.finish_restore();
    assert_eq!(h.broker.stored_messages(), 2, "key 10 is stored once for both queues");
    h.send(c, 1, BasicGet { queue: "a".into(), no_ack: true, ..Default::default() });
    let d = h.expect_delivery(c);
    assert!(matches!(d.method, Method::BasicGetOk(ref ok) if ok.redelivered));
    assert_eq!(body_of(&d), "first");
    assert_eq!(h.get_body(c, 1, "a").as_deref(), Some(&b"second"[..]));
    assert_eq!(h.get_body(c, 1, "b").as_deref(), Some(&b"first"[..]));
    // New keys continue after the recovered ones.
    ops(&mut h);
    h.publish_with(c, 1, "", "a", &persistent(), b"new", false);
    assert!(matches!(&ops(&mut h)[..], [StoreOp::Append { key: 12, .. }]));
    assert!(h.broker.restore_message("/", "missing", m(1, b"x", false)).is_err());
}

/// A loader reading from what the test "wrote" for Append and Page ops.
struct MapLoader(Arc<Mutex<HashMap<u64, Bytes>>>);
impl BodyLoader for MapLoader {
    fn load(&mut self, key: u64) -> Option<Bytes> {
        self.0.lock().unwrap().get(&key).cloned()
    }
}

#[test]
fn over_the_memory_budget_bodies_move_to_disk_and_are_read_back() {
    let mut h = durable_harness(Some(1000));
    let disk = Arc::new(Mutex::new(HashMap::new()));
    h.broker.set_body_loader(Box::new(MapLoader(disk.clone())));
    let c = h.connect();
    declare_durable(&mut h, c, "big");
    let body = |i: u8| vec![i; 400];
    for i in 0..5u8 {
        let props = if i % 2 == 0 { persistent() } else { BasicProperties::default() };
        h.publish_with(c, 1, "", "big", &props, &body(i), false);
    }
    let mut last_ticket = 0;
    let mut paged = 0;
    for op in ops(&mut h) {
        match op {
            StoreOp::Append { ticket, key, body, .. } => {
                last_ticket = last_ticket.max(ticket);
                disk.lock().unwrap().insert(key, body);
            }
            StoreOp::Page { ticket, key, body } => {
                paged += 1;
                last_ticket = last_ticket.max(ticket);
                disk.lock().unwrap().insert(key, body);
            }
            StoreOp::Unpage { .. } => panic!("nothing freed yet"),
            _ => {}
        }
    }
    // 2000 octets against a 1000 budget: the newest bodies went to disk,
    // transient ones paged (persistent ones were already written).
    assert!(paged >= 1);
    h.broker.handle_persisted(last_ticket);
    assert!(h.broker.resident_bytes() <= 1000, "resident {}", h.broker.resident_bytes());
    let o = h.broker.overview();
    assert_eq!(o.messages_ready, 5);
    // Every body still comes back intact and in order.
    for i in 0..5u8 {
        assert_eq!(h.get_body(c, 1, "big").as_deref(), Some(&body(i)[..]));
    }
    // Paged transient messages are dropped from disk once consumed.
    let unpaged = ops(&mut h).into_iter().filter(|o| matches!(o, StoreOp::Unpage { .. })).count();
    assert!(unpaged >= 1, "at least one transient body was paged out and freed");
}

#[test]
fn alarms_block_publishers_but_not_consumers() {
    let mut h = durable_harness(None);
    let publisher = h.connect_with(&["connection.blocked"], 0);
    let quiet_publisher = h.connect_with(&[], 0);
    let consumer = h.connect_with(&["connection.blocked"], 0);
    h.declare_queue(consumer, 1, "q");
    h.publish(publisher, 1, "", "q", b"before");
    h.publish(quiet_publisher, 1, "", "q", b"before");
    h.broker.set_alarm(Alarm::Memory, true);
    h.pump();
    assert_eq!(h.expect_method(publisher), (0, ConnectionBlocked { reason: "low on memory".into() }.into()));
    assert!(h.nothing_pending(quiet_publisher), "blocked without being told: it did not ask");
    assert!(h.nothing_pending(consumer));
    let paused: Vec<_> = h.events.drain(..).collect();
    assert_eq!(paused, [Event::PauseReading { connection: publisher }, Event::PauseReading { connection: quiet_publisher }]);
    // Consumers keep draining.
    assert_eq!(h.get_body(consumer, 1, "q").as_deref(), Some(&b"before"[..]));
    // A connection that starts publishing during the alarm is blocked too.
    h.publish(consumer, 1, "", "q", b"during");
    assert_eq!(h.expect_method(consumer), (0, ConnectionBlocked { reason: "low on memory".into() }.into()));
    h.broker.set_alarm(Alarm::Memory, false);
    h.pump();
    assert_eq!(h.expect_method(publisher), (0, ConnectionUnblocked {}.into()));
    assert_eq!(h.expect_method(consumer), (0, ConnectionUnblocked {}.into()));
    assert_eq!(h.events.iter().filter(|e| matches!(e, Event::ResumeReading { .. })).count(), 3);
}

#[test]
fn tx_commit_ok_waits_until_the_transactions_persistent_messages_are_on_disk() {
    let mut h = durable_harness(None);
    let c = h.connect();
    declare_durable(&mut h, c, "txq");
    h.declare_queue(c, 1, "plain");
    ops(&mut h);
    h.send(c, 1, TxSelect::default());
    assert_eq!(h.expect_method(c), (1, TxSelectOk {}.into()));

    // Transient only: nothing to wait for.
    h.publish(c, 1, "", "plain", b"fleeting");
    h.send(c, 1, TxCommit::default());
    assert_eq!(h.expect_method(c), (1, TxCommitOk {}.into()));

    // Persistent to a durable queue: held until the append is durable, and
    // a second commit behind it (even with nothing persistent) is held too.
    h.publish_with(c, 1, "", "txq", &persistent(), b"kept", false);
    h.send(c, 1, TxCommit::default());
    let written = ops(&mut h);
    let [StoreOp::Append { ticket, body, .. }] = &written[..] else { panic!("{written:?}") };
    assert_eq!(&body[..], b"kept");
    assert!(h.nothing_pending(c), "no commit-ok before the write is durable");
    h.publish(c, 1, "", "plain", b"second");
    h.send(c, 1, TxCommit::default());
    assert!(h.nothing_pending(c), "a later commit-ok stays behind the held one");
    h.broker.handle_persisted(*ticket);
    h.pump();
    assert_eq!(h.expect_method(c), (1, TxCommitOk {}.into()));
    assert_eq!(h.expect_method(c), (1, TxCommitOk {}.into()));
    assert!(h.nothing_pending(c));
    assert_eq!(h.broker.queue_counts("/", "txq").map(|c| c.0), Some(1));
    assert_eq!(h.broker.queue_counts("/", "plain").map(|c| c.0), Some(2));
}
