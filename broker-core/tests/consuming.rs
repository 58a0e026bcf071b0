//! Consumers and acknowledgements: round robin, prefetch, ack/nack/reject
//! with requeue to the original position, get, recover, cancel, auto-delete,
//! consumer cancel notification, tx, and output backpressure.

mod support;

use broker_core::amqp::method::*;
use broker_core::amqp::{Frame, Method};
use support::{body_of, Delivery, Harness};

fn tag_of(d: &Delivery) -> u64 {
    match &d.method {
        Method::BasicDeliver(m) => m.delivery_tag,
        Method::BasicGetOk(m) => m.delivery_tag,
        other => panic!("{other:?}"),
    }
}

fn redelivered(d: &Delivery) -> bool {
    match &d.method {
        Method::BasicDeliver(m) => m.redelivered,
        Method::BasicGetOk(m) => m.redelivered,
        other => panic!("{other:?}"),
    }
}

fn consumer_of(d: &Delivery) -> String {
    match &d.method {
        Method::BasicDeliver(m) => m.consumer_tag.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn round_robin_across_consumers() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "work");
    h.consume(c, 1, "work", "a", true);
    h.consume(c, 1, "work", "b", true);
    for i in 0..6 {
        h.publish(c, 1, "", "work", format!("m{i}").as_bytes());
    }
    let got: Vec<(String, String)> = (0..6).map(|_| h.expect_delivery(c)).map(|d| (consumer_of(&d), body_of(&d).to_string())).collect();
    let want: Vec<(String, String)> = (0..6).map(|i| ((if i % 2 == 0 { "a" } else { "b" }).to_string(), format!("m{i}"))).collect();
    assert_eq!(got, want);
}

#[test]
fn prefetch_one_gives_fair_dispatch() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "tasks");
    h.send(c, 1, BasicQos { prefetch_count: 1, ..Default::default() });
    assert_eq!(h.expect_method(c), (1, BasicQosOk {}.into()));
    h.consume(c, 1, "tasks", "w", false);
    for i in 0..3 {
        h.publish(c, 1, "", "tasks", format!("t{i}").as_bytes());
    }
    let d = h.expect_delivery(c);
    assert_eq!(body_of(&d), "t0");
    assert!(h.nothing_pending(c), "prefetch 1 holds back the rest");
    assert_eq!(h.broker.queue_counts("/", "tasks"), Some((2, 1, 1)));
    h.send(c, 1, BasicAck { delivery_tag: tag_of(&d), multiple: false });
    assert_eq!(body_of(&h.expect_delivery(c)), "t1");
    assert!(h.nothing_pending(c));
}

#[test]
fn global_qos_limits_the_whole_channel() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q1");
    h.declare_queue(c, 1, "q2");
    h.send(c, 1, BasicQos { prefetch_count: 2, global: true, ..Default::default() });
    h.expect_method(c);
    h.consume(c, 1, "q1", "c1", false);
    h.consume(c, 1, "q2", "c2", false);
    for q in ["q1", "q2"] {
        for i in 0..2 {
            h.publish(c, 1, "", q, format!("{q}-{i}").as_bytes());
        }
    }
    let first: Vec<String> = (0..2).map(|_| body_of(&h.expect_delivery(c)).to_string()).collect();
    assert_eq!(first, ["q1-0", "q1-1"]);
    assert!(h.nothing_pending(c));
    h.send(c, 1, BasicAck { delivery_tag: 2, multiple: true });
    let next: Vec<String> = (0..2).map(|_| body_of(&h.expect_delivery(c)).to_string()).collect();
    assert_eq!(next, ["q2-0", "q2-1"]);
}

#[test]
fn nack_requeues_to_the_original_position_marked_redelivered() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    for i in 0..4 {
        h.publish(c, 1, "", "q", format!("m{i}").as_bytes());
    }
    let mut tags = Vec::new();
    for _ in 0..3 {
        h.send(c, 1, BasicGet { queue: "q".into(), ..Default::default() });
        tags.push(tag_of(&h.expect_delivery(c)));
    }
    // Requeue m1 and m0 (in that order): they return ahead of m3, in publish order.
    h.send(c, 1, BasicNack { delivery_tag: tags[1], multiple: false, requeue: true });
    h.send(c, 1, BasicReject { delivery_tag: tags[0], requeue: true });
    h.send(c, 1, BasicReject { delivery_tag: tags[2], requeue: false });
    let mut seen = Vec::new();
    for _ in 0..3 {
        h.send(c, 1, BasicGet { queue: "q".into(), no_ack: true, ..Default::default() });
        let d = h.expect_delivery(c);
        seen.push((body_of(&d).to_string(), redelivered(&d)));
    }
    assert_eq!(seen, [("m0".into(), true), ("m1".into(), true), ("m3".into(), false)]);
    assert_eq!(h.broker.stored_messages(), 0);
}

#[test]
fn get_reports_the_remaining_count_and_get_empty() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.publish(c, 1, "", "q", b"a");
    h.publish(c, 1, "", "q", b"b");
    h.send(c, 1, BasicGet { queue: "q".into(), no_ack: true, ..Default::default() });
    let d = h.expect_delivery(c);
    assert_eq!(
        d.method,
        BasicGetOk { delivery_tag: 1, redelivered: false, exchange: "".into(), routing_key: "q".into(), message_count: 1 }.into()
    );
    h.get_body(c, 1, "q");
    h.send(c, 1, BasicGet { queue: "q".into(), ..Default::default() });
    assert_eq!(h.expect_method(c), (1, BasicGetEmpty { cluster_id: "".into() }.into()));
}

#[test]
fn closing_a_channel_requeues_its_unacked_messages() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.open_channel(c, 2);
    h.consume(c, 2, "q", "c", false);
    h.publish(c, 1, "", "q", b"x");
    h.expect_delivery(c);
    assert_eq!(h.broker.queue_counts("/", "q"), Some((0, 1, 1)));
    h.send(c, 2, ChannelClose::default());
    assert_eq!(h.expect_method(c), (2, ChannelCloseOk {}.into()));
    assert_eq!(h.broker.queue_counts("/", "q"), Some((1, 0, 0)));
    h.send(c, 1, BasicGet { queue: "q".into(), no_ack: true, ..Default::default() });
    assert!(redelivered(&h.expect_delivery(c)));
}

#[test]
fn recover_requeues_and_refuses_requeue_false() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.publish(c, 1, "", "q", b"x");
    h.send(c, 1, BasicGet { queue: "q".into(), ..Default::default() });
    h.expect_delivery(c);
    h.send(c, 1, BasicRecover { requeue: true });
    assert_eq!(h.expect_method(c), (1, BasicRecoverOk {}.into()));
    assert_eq!(h.broker.queue_counts("/", "q"), Some((1, 0, 0)));
    h.send(c, 1, BasicRecover { requeue: false });
    h.expect_connection_close(c, 540);
}

#[test]
fn acks_are_checked_and_multiple_works() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    for _ in 0..3 {
        h.publish(c, 1, "", "q", b"x");
        h.send(c, 1, BasicGet { queue: "q".into(), ..Default::default() });
        h.expect_delivery(c);
    }
    h.send(c, 1, BasicAck { delivery_tag: 2, multiple: true });
    assert_eq!(h.broker.queue_counts("/", "q"), Some((0, 1, 0)));
    h.send(c, 1, BasicAck { delivery_tag: 2, multiple: false });
    let close = h.expect_channel_close(c, 1, 406);
    assert_eq!(&*close.reply_text, "PRECONDITION_FAILED - unknown delivery tag 2");
    assert_eq!((close.class_id, close.method_id), (60, 80));
    // The channel's last delivery went back to the queue when it closed.
    assert_eq!(h.broker.queue_counts("/", "q"), Some((1, 0, 0)));
}

#[test]
fn cancel_and_auto_delete() {
    let mut h = Harness::new();
    let c = h.connect();
    h.send(c, 1, QueueDeclare { queue: "ad".into(), auto_delete: true, ..Default::default() });
    h.expect_method(c);
    h.consume(c, 1, "ad", "c1", true);
    h.consume(c, 1, "ad", "c2", true);
    h.send(c, 1, BasicCancel { consumer_tag: "c1".into(), nowait: false });
    assert_eq!(h.expect_method(c), (1, BasicCancelOk { consumer_tag: "c1".into() }.into()));
    assert!(h.broker.queue_counts("/", "ad").is_some());
    h.send(c, 1, BasicCancel { consumer_tag: "c2".into(), nowait: false });
    h.expect_method(c);
    assert!(h.broker.queue_counts("/", "ad").is_none(), "deleted with its last consumer");
}

#[test]
fn deleting_a_queue_cancels_consumers_that_asked_to_be_told() {
    let mut h = Harness::new();
    let owner = h.connect();
    let told = h.connect();
    let untold = h.connect_with(&[], 0);
    h.declare_queue(owner, 1, "doomed");
    h.consume(told, 1, "doomed", "t", true);
    h.consume(untold, 1, "doomed", "u", true);
    h.publish(owner, 1, "", "doomed", b"x");
    h.publish(owner, 1, "", "doomed", b"y");
    h.drain(told);
    h.drain(untold);
    h.send(owner, 1, QueueDelete { queue: "doomed".into(), ..Default::default() });
    assert_eq!(h.expect_method(owner), (1, QueueDeleteOk { message_count: 0 }.into()));
    assert_eq!(h.expect_method(told), (1, BasicCancel { consumer_tag: "t".into(), nowait: true }.into()));
    assert!(h.nothing_pending(untold));
    // The tag is free again on both channels.
    h.declare_queue(owner, 1, "again");
    h.consume(told, 1, "again", "t", true);
    h.consume(untold, 1, "again", "u", true);
}

#[test]
fn server_generated_consumer_tags_and_duplicate_tags() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.send(c, 1, BasicConsume { queue: "q".into(), ..Default::default() });
    let (_, Method::BasicConsumeOk(ok)) = h.expect_method(c) else { panic!() };
    assert!(ok.consumer_tag.starts_with("amq.ctag-") && ok.consumer_tag.len() == 9 + 22, "{}", ok.consumer_tag);
    h.send(c, 1, BasicConsume { queue: "q".into(), consumer_tag: ok.consumer_tag.clone(), ..Default::default() });
    let close = h.expect_connection_close(c, 530);
    assert_eq!(&*close.reply_text, format!("NOT_ALLOWED - attempt to reuse consumer tag '{}'", ok.consumer_tag));
}

#[test]
fn exclusive_consumer_blocks_others() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.send(c, 1, BasicConsume { queue: "q".into(), consumer_tag: "x".into(), exclusive: true, ..Default::default() });
    h.expect_method(c);
    h.open_channel(c, 2);
    h.send(c, 2, BasicConsume { queue: "q".into(), consumer_tag: "y".into(), ..Default::default() });
    let close = h.expect_channel_close(c, 2, 403);
    assert_eq!(&*close.reply_text, "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use");
}

#[test]
fn tx_commit_and_rollback() {
    let mut h = Harness::new();
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.send(c, 1, TxSelect {});
    assert_eq!(h.expect_method(c), (1, TxSelectOk {}.into()));
    h.publish(c, 1, "", "q", b"a");
    assert_eq!(h.broker.queue_counts("/", "q"), Some((0, 0, 0)), "held until commit");
    h.send(c, 1, TxCommit {});
    assert_eq!(h.expect_method(c), (1, TxCommitOk {}.into()));
    assert_eq!(h.broker.queue_counts("/", "q"), Some((1, 0, 0)));
    h.publish(c, 1, "", "q", b"b");
    h.send(c, 1, TxRollback {});
    assert_eq!(h.expect_method(c), (1, TxRollbackOk {}.into()));
    assert_eq!(h.broker.queue_counts("/", "q"), Some((1, 0, 0)));
    // An ack inside a rolled-back transaction leaves the delivery outstanding.
    h.send(c, 1, BasicGet { queue: "q".into(), ..Default::default() });
    let tag = tag_of(&h.expect_delivery(c));
    h.send(c, 1, BasicAck { delivery_tag: tag, multiple: false });
    h.send(c, 1, TxRollback {});
    h.expect_method(c);
    assert_eq!(h.broker.queue_counts("/", "q"), Some((0, 1, 0)));
    h.send(c, 1, BasicAck { delivery_tag: tag, multiple: false });
    h.send(c, 1, TxCommit {});
    h.expect_method(c);
    assert_eq!(h.broker.queue_counts("/", "q"), Some((0, 0, 0)));
    h.send(c, 1, ConfirmSelect::default());
    h.expect_channel_close(c, 1, 406);
}

#[test]
fn a_slow_reader_stops_receiving_until_it_drains() {
    let config = broker_core::Config { output_high_watermark: 10_000, ..Default::default() };
    let mut h = Harness::with_config(config);
    let c = h.connect();
    h.declare_queue(c, 1, "q");
    h.consume(c, 1, "q", "slow", true);
    h.auto_written = false;
    let body = vec![7u8; 1000];
    for _ in 0..100 {
        h.publish(c, 1, "", "q", &body);
    }
    let (ready, _, _) = h.broker.queue_counts("/", "q").unwrap();
    assert!(ready >= 85, "deliveries paused at the watermark; ready = {ready}");
    let delivered = 100 - ready;
    assert_eq!((0..delivered).map(|_| h.expect_delivery(c)).count(), delivered);
    // Report everything written: deliveries resume.
    h.auto_written = true;
    h.broker.handle_written(c, usize::MAX);
    h.pump();
    let (ready, _, _) = h.broker.queue_counts("/", "q").unwrap();
    assert!(ready < 100 - delivered, "more were delivered after draining");
}

#[test]
fn a_stuck_consumer_never_stops_publishers() {
    // RabbitMQ keeps accepting into a queue whose consumer does not ack:
    // the queue grows until the memory alarm, not until a backlog limit.
    let mut h = Harness::new();
    let publisher = h.connect();
    let consumer = h.connect();
    h.declare_queue(consumer, 1, "q");
    h.send(consumer, 1, BasicQos { prefetch_count: 1, ..Default::default() });
    h.expect_method(consumer);
    h.consume(consumer, 1, "q", "stuck", false);
    h.declare_queue(publisher, 1, "other");
    let mut batch = bytes::BytesMut::new();
    for i in 0..40_000u32 {
        batch.extend_from_slice(&Harness::publish_bytes(1, "", "q", &Default::default(), &i.to_be_bytes(), false));
    }
    h.send_bytes(publisher, batch.freeze());
    assert_eq!(h.events, [], "the publisher was never paused");
    assert_eq!(h.broker.queue_counts("/", "q"), Some((39_999, 1, 1)));
    // It still publishes elsewhere.
    h.publish(publisher, 1, "", "other", b"x");
    assert_eq!(h.broker.queue_counts("/", "other"), Some((1, 0, 0)));
    // Once the consumer acks, everything arrives in order.
    for i in 0..40_000u32 {
        let d = h.expect_delivery(consumer);
        assert_eq!(&d.body[..], &i.to_be_bytes());
        h.send(consumer, 1, BasicAck { delivery_tag: tag_of(&d), multiple: false });
    }
    assert_eq!(h.broker.queue_counts("/", "q"), Some((0, 0, 1)));
}

/// Takes what the consumer has been sent and acks it all; returns how many.
fn ack_all(h: &mut Harness, consumer: broker_core::ConnectionId) -> usize {
    let tags: Vec<u64> = h
        .drain(consumer)
        .into_iter()
        .filter_map(|f| match f {
            Frame::Method { method: Method::BasicDeliver(d), .. } => Some(d.delivery_tag),
            _ => None,
        })
        .collect();
    if let Some(&last) = tags.last() {
        h.send(consumer, 1, BasicAck { delivery_tag: last, multiple: true });
    }
    tags.len()
}

#[test]
fn credit_flow_pauses_a_publisher_briefly_and_only_while_the_queue_drains_fast() {
    use broker_core::Event::{PauseReading, ResumeReading};
    let config = broker_core::Config { flow_backlog: 100, ..broker_core::Config::default() };
    let mut h = Harness::with_config(config);
    let publisher = h.connect();
    let consumer = h.connect();
    h.declare_queue(consumer, 1, "q");
    h.send(consumer, 1, BasicQos { prefetch_count: 10, ..Default::default() });
    h.expect_method(consumer);
    h.consume(consumer, 1, "q", "fast", false);
    let burst = |h: &mut Harness, n: usize| {
        let mut b = bytes::BytesMut::new();
        for _ in 0..n {
            b.extend_from_slice(&Harness::publish_bytes(1, "", "q", &Default::default(), b"x", false));
        }
        h.send_bytes(publisher, b.freeze());
    };
    // A backlog in a queue that has not been seen draining holds no one back.
    burst(&mut h, 300);
    assert_eq!(h.events, []);
    // The consumer takes 10 a millisecond (10,000/s): the queue drains fast.
    for _ in 0..150 {
        h.advance(1);
        ack_all(&mut h, consumer);
    }
    assert!(h.broker.queue_counts("/", "q").unwrap().0 < 100);
    assert_eq!(h.events, []);
    // Now a burst beyond the backlog pauses the publisher...
    burst(&mut h, 400);
    assert_eq!(h.events, [PauseReading { connection: publisher }]);
    // ...until the queue is down to half the backlog, well within a pause.
    let mut waited = 0;
    while h.events.len() == 1 {
        h.advance(1);
        waited += 1;
        ack_all(&mut h, consumer);
    }
    assert_eq!(h.events[1], ResumeReading { connection: publisher });
    assert!(h.broker.queue_counts("/", "q").unwrap().0 <= 50);
    assert!(waited < 100, "paused {waited} ms");
    // The consumer gets stuck: after two quiet windows the queue no longer
    // counts as draining, and a burst is simply queued.
    h.events.clear();
    h.advance(300);
    burst(&mut h, 400);
    assert_eq!(h.events, []);
    assert!(h.broker.queue_counts("/", "q").unwrap().0 > 400);
    // It drains fast again, a burst pauses the publisher, and the consumer
    // stops right then: the pause ends by itself after 500 ms.
    for _ in 0..60 {
        h.advance(1);
        ack_all(&mut h, consumer);
    }
    burst(&mut h, 400);
    assert_eq!(h.events, [PauseReading { connection: publisher }]);
    h.advance(499);
    assert_eq!(h.events.len(), 1);
    h.advance(1);
    assert_eq!(h.events, [PauseReading { connection: publisher }, ResumeReading { connection: publisher }]);
}
