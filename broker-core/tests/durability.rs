//! The core's side of durability: which messages it asks the driver to
//! store, confirms held until the driver reports them on disk, recovery,
//! bodies moved to disk under a memory budget, and resource alarms.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, Method};
use broker_core::{Alarm, BodyLoader, Config, Event, LoadedMessage, RestoredMessage, StoreOp};
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
    assert_eq!(ops(&mut h), [StoreOp::Ack { key: keys[0], queue: 1 }]);
    h.send(c, 1, QueuePurge { queue: "d".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, QueuePurgeOk { message_count: 2 }.into()));
    assert_eq!(ops(&mut h), [StoreOp::Purged { queue: 1 }]);
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
struct MapLoader(Arc<Mutex<HashMap<u64, LoadedMessage>>>);
impl BodyLoader for MapLoader {
    fn load(&mut self, key: u64) -> Option<LoadedMessage> {
        self.0.lock().unwrap().get(&key).cloned()
    }
}

type Disk = Arc<Mutex<HashMap<u64, LoadedMessage>>>;

/// A map standing in for the store, attached as the broker's loader.
fn attach_disk(h: &mut Harness) -> Disk {
    let disk = Disk::default();
    h.broker.set_body_loader(Box::new(MapLoader(disk.clone())));
    disk
}

/// Carries out Append and Page ops into `disk`; returns the last ticket.
fn write_ops(h: &mut Harness, disk: &Mutex<HashMap<u64, LoadedMessage>>) -> u64 {
    let mut last_ticket = 0;
    for op in ops(h) {
        let (ticket, key, m) = match op {
            StoreOp::Append { ticket, key, exchange, routing_key, properties, body, .. } => {
                (ticket, key, LoadedMessage { exchange, routing_key, properties, body })
            }
            StoreOp::Page { ticket, key, body } => {
                (ticket, key, LoadedMessage { exchange: "".into(), routing_key: "".into(), properties: Bytes::new(), body })
            }
            _ => continue,
        };
        last_ticket = last_ticket.max(ticket);
        disk.lock().unwrap().insert(key, m);
    }
    last_ticket
}

#[test]
fn a_deep_queue_keeps_only_keys_for_its_durable_backlog() {
    let mut h = Harness::with_config(Config { persistence: true, resident_queue_depth: 2, ..Config::default() });
    let disk = attach_disk(&mut h);
    let c = h.connect();
    declare_durable(&mut h, c, "deep");
    h.declare_queue(c, 1, "transient_q");
    h.bind(c, 1, "deep", "amq.fanout", "", Default::default());
    h.bind(c, 1, "transient_q", "amq.fanout", "", Default::default());
    ops(&mut h);
    let props = BasicProperties { delivery_mode: Some(2), message_id: Some("id".into()), ..Default::default() };
    for i in 0..6 {
        h.publish_with(c, 1, "amq.fanout", &format!("k{i}"), &props, format!("m{i}").as_bytes(), false);
    }
    // Deep enough to offload from the third message on, but only once the
    // write is durable: until then every message is in memory.
    let last = write_ops(&mut h, &disk);
    assert_eq!(h.broker.stored_messages(), 6);
    h.broker.handle_persisted(last);
    // The transient queue still holds all six: their memory stays.
    assert_eq!(h.broker.stored_messages(), 6);
    for i in 0..6 {
        assert_eq!(h.get_body(c, 1, "transient_q").as_deref(), Some(format!("m{i}").as_bytes()));
    }
    // Four of the durable queue's entries now point at the store only.
    assert_eq!(h.broker.stored_messages(), 2);
    assert_eq!(h.broker.overview().messages_ready, 6);
    let mut keys = Vec::new();
    for i in 0..6 {
        h.send(c, 1, BasicGet { queue: "deep".into(), ..Default::default() });
        let d = h.expect_delivery(c);
        let Method::BasicGetOk(ok) = &d.method else { panic!("{:?}", d.method) };
        assert_eq!((&*ok.routing_key, &*ok.exchange, ok.redelivered), (&*format!("k{i}"), "amq.fanout", false));
        assert_eq!(body_of(&d), format!("m{i}"));
        assert_eq!(d.properties.message_id.as_deref(), Some("id"));
        h.send(c, 1, BasicAck { delivery_tag: ok.delivery_tag, multiple: false });
        for op in ops(&mut h) {
            if let StoreOp::Ack { key, queue: 1 } = op {
                keys.push(key);
            }
        }
    }
    // Each message acked once, in order, whether it was in memory or not.
    assert_eq!(keys, (1..=6).collect::<Vec<u64>>());
    assert_eq!(h.broker.stored_messages(), 0);
}

#[test]
fn a_lazy_queue_keeps_only_keys_from_the_first_message() {
    let mut h = durable_harness(None);
    let disk = attach_disk(&mut h);
    let c = h.connect();
    let lazy = broker_core::amqp::FieldTable::from([("x-queue-mode", broker_core::amqp::FieldValue::str("lazy"))]);
    h.send(c, 1, QueueDeclare { queue: "lazy".into(), durable: true, arguments: lazy, ..Default::default() });
    assert!(matches!(h.expect_method(c).1, Method::QueueDeclareOk(_)));
    declare_durable(&mut h, c, "default");
    for q in ["lazy", "default"] {
        h.publish_with(c, 1, "", q, &persistent(), q.as_bytes(), false);
    }
    let last = write_ops(&mut h, &disk);
    h.broker.handle_persisted(last);
    assert_eq!(h.broker.stored_messages(), 1, "only the default queue's message stays in memory");
    assert_eq!(h.get_body(c, 1, "lazy").as_deref(), Some(&b"lazy"[..]));
    assert_eq!(h.get_body(c, 1, "default").as_deref(), Some(&b"default"[..]));
}

#[test]
fn a_message_delivered_before_its_write_is_durable_stays_in_memory() {
    let mut h = Harness::with_config(Config { persistence: true, resident_queue_depth: 0, ..Config::default() });
    let disk = attach_disk(&mut h);
    let c = h.connect();
    declare_durable(&mut h, c, "d");
    for i in 0..2 {
        h.publish_with(c, 1, "", "d", &persistent(), format!("m{i}").as_bytes(), false);
    }
    let last = write_ops(&mut h, &disk);
    h.send(c, 1, BasicGet { queue: "d".into(), ..Default::default() });
    let Method::BasicGetOk(ok) = h.expect_delivery(c).method else { panic!() };
    h.broker.handle_persisted(last);
    assert_eq!(h.broker.stored_messages(), 1, "the unacked one stays; the ready one left memory");
    h.send(c, 1, BasicNack { delivery_tag: ok.delivery_tag, multiple: false, requeue: true });
    assert_eq!(h.get_body(c, 1, "d").as_deref(), Some(&b"m0"[..]));
    assert_eq!(h.get_body(c, 1, "d").as_deref(), Some(&b"m1"[..]));
    assert_eq!(h.get_body(c, 1, "d"), None);
}

#[test]
fn messages_restored_without_a_body_take_no_memory_and_are_read_back_whole() {
    let mut h = durable_harness(None);
    let disk = attach_disk(&mut h);
    let c = h.connect();
    declare_durable(&mut h, c, "a");
    ops(&mut h);
    let props = BasicProperties { delivery_mode: Some(2), priority: Some(3), ..Default::default() };
    for key in [5u64, 6] {
        let body = Bytes::from(format!("body{key}"));
        let stored = LoadedMessage { exchange: "x".into(), routing_key: "rk".into(), properties: props.to_bytes(), body: body.clone() };
        disk.lock().unwrap().insert(key, stored);
        let m = RestoredMessage {
            key,
            exchange: "x".into(),
            routing_key: "rk".into(),
            properties: props.to_bytes(),
            body: None,
            body_len: body.len(),
            redelivered: key == 6,
        };
        h.broker.restore_message("/", "a", m).unwrap();
    }
    h.broker.finish_restore();
    assert_eq!(h.broker.stored_messages(), 0);
    assert_eq!(h.broker.overview().messages_ready, 2);
    for key in [5u64, 6] {
        h.send(c, 1, BasicGet { queue: "a".into(), no_ack: true, ..Default::default() });
        let d = h.expect_delivery(c);
        let Method::BasicGetOk(ok) = &d.method else { panic!() };
        assert_eq!((&*ok.exchange, &*ok.routing_key, ok.redelivered), ("x", "rk", key == 6));
        assert_eq!(body_of(&d), format!("body{key}"));
        assert_eq!(d.properties.priority, Some(3));
    }
    assert_eq!(ops(&mut h), [StoreOp::Ack { key: 5, queue: 1 }, StoreOp::Ack { key: 6, queue: 1 }]);
}

#[test]
fn over_the_memory_budget_bodies_move_to_disk_and_are_read_back() {
    let mut h = durable_harness(Some(1000));
    let disk = attach_disk(&mut h);
    let c = h.connect();
    declare_durable(&mut h, c, "big");
    let body = |i: u8| vec![i; 400];
    for i in 0..5u8 {
        let props = if i % 2 == 0 { persistent() } else { BasicProperties::default() };
        h.publish_with(c, 1, "", "big", &props, &body(i), false);
    }
    let pending = ops(&mut h);
    let paged = pending.iter().filter(|o| matches!(o, StoreOp::Page { .. })).count();
    assert!(!pending.iter().any(|o| matches!(o, StoreOp::Unpage { .. })), "nothing freed yet");
    let mut last_ticket = 0;
    for op in pending {
        match op {
            StoreOp::Append { ticket, key, exchange, routing_key, properties, body, .. } => {
                last_ticket = last_ticket.max(ticket);
                disk.lock().unwrap().insert(key, LoadedMessage { exchange, routing_key, properties, body });
            }
            StoreOp::Page { ticket, key, body } => {
                last_ticket = last_ticket.max(ticket);
                let m = LoadedMessage { exchange: "".into(), routing_key: "".into(), properties: Bytes::new(), body };
                disk.lock().unwrap().insert(key, m);
            }
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
