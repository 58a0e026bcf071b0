//! The six RabbitMQ tutorials, publisher confirms and a few error behaviours,
//! driven through the `amqprs` client.
//!
//! Runs against a freshly started `warren` by default, or against the broker in
//! `WARREN_TEST_AMQP_URL` (see `common/mod.rs`).
//!
//! amqprs reports asynchronous broker methods (channel.close, basic.ack/nack
//! in confirm mode, basic.return) only through a `ChannelCallback`, so every
//! channel here gets an [`Events`] callback that forwards them to a queue the
//! test can await.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use amqprs::callbacks::{ChannelCallback, DefaultConnectionCallback};
use amqprs::channel::{
    BasicAckArguments, BasicCancelArguments, BasicConsumeArguments, BasicGetArguments, BasicNackArguments, BasicPublishArguments,
    BasicQosArguments, Channel, ConfirmSelectArguments, ConsumerMessage, ExchangeDeclareArguments, QueueBindArguments,
    QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use async_trait::async_trait;
use common::{fib, unique, within, Broker};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[derive(Debug)]
enum Event {
    Closed { code: u16, text: String },
    Ack { tag: u64, multiple: bool },
    Nack { tag: u64, multiple: bool },
    Returned { code: u16, text: String, exchange: String, routing_key: String, body: Vec<u8>, props: Box<BasicProperties> },
    Cancelled,
}

struct Events(UnboundedSender<Event>);

#[async_trait]
impl ChannelCallback for Events {
    async fn close(&mut self, _: &Channel, close: CloseChannel) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(Event::Closed { code: close.reply_code(), text: close.reply_text().clone() });
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<(), amqprs::error::Error> {
        let _ = self.0.send(Event::Cancelled);
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        let _ = self.0.send(Event::Ack { tag: ack.delivery_tag(), multiple: ack.mutiple() });
    }
    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        let _ = self.0.send(Event::Nack { tag: nack.delivery_tag(), multiple: nack.multiple() });
    }
    async fn publish_return(&mut self, _: &Channel, ret: Return, props: BasicProperties, body: Vec<u8>) {
        let _ = self.0.send(Event::Returned {
            code: ret.reply_code(),
            text: ret.reply_text().clone(),
            exchange: ret.exchange().clone(),
            routing_key: ret.routing_key().clone(),
            body,
            props: Box::new(props),
        });
    }
}

struct Chan {
    ch: Channel,
    events: UnboundedReceiver<Event>,
}

impl Chan {
    async fn next_event(&mut self, what: &str) -> Event {
        within(what, self.events.recv()).await.expect("channel callback dropped")
    }
}

async fn connect(broker: &Broker) -> Connection {
    let args = OpenConnectionArguments::new(&broker.host, broker.port, &broker.user, &broker.password).virtual_host(&broker.vhost).finish();
    let conn = within("amqprs connect", Connection::open(&args)).await.unwrap_or_else(|e| panic!("connect to {}: {e}", broker.url));
    conn.register_callback(DefaultConnectionCallback).await.expect("register connection callback");
    conn
}

async fn channel(conn: &Connection) -> Chan {
    let ch = within("channel.open", conn.open_channel(None)).await.expect("channel.open");
    let (tx, events) = unbounded_channel();
    ch.register_callback(Events(tx)).await.expect("register channel callback");
    Chan { ch, events }
}

async fn declare(ch: &Channel, args: QueueDeclareArguments) -> (String, u32, u32) {
    within("queue.declare", ch.queue_declare(args)).await.expect("queue.declare").expect("declare-ok")
}

async fn declare_named(ch: &Channel, name: &str) -> String {
    declare(ch, QueueDeclareArguments::new(name)).await.0
}

async fn declare_exclusive(ch: &Channel) -> String {
    let (name, ..) = declare(ch, QueueDeclareArguments::exclusive_server_named()).await;
    assert!(!name.is_empty(), "server must generate a queue name");
    name
}

async fn message_count(ch: &Channel, name: &str) -> u32 {
    declare(ch, QueueDeclareArguments::new(name).passive(true).finish()).await.1
}

async fn declare_exchange(ch: &Channel, name: &str, kind: &str) {
    within("exchange.declare", ch.exchange_declare(ExchangeDeclareArguments::new(name, kind).auto_delete(true).finish()))
        .await
        .unwrap_or_else(|e| panic!("exchange.declare {name:?}: {e}"));
}

async fn bind(ch: &Channel, queue: &str, exchange: &str, key: &str) {
    within("queue.bind", ch.queue_bind(QueueBindArguments::new(queue, exchange, key)))
        .await
        .unwrap_or_else(|e| panic!("queue.bind {queue:?} -> {exchange:?} ({key:?}): {e}"));
}

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    within("basic.publish", ch.basic_publish(props, body.to_vec(), BasicPublishArguments::new(exchange, key)))
        .await
        .unwrap_or_else(|e| panic!("basic.publish to {exchange:?}/{key:?}: {e}"));
}

async fn consume(ch: &Channel, queue: &str, auto_ack: bool) -> (String, UnboundedReceiver<ConsumerMessage>) {
    within("basic.consume", ch.basic_consume_rx(BasicConsumeArguments::new(queue, "").auto_ack(auto_ack).finish()))
        .await
        .unwrap_or_else(|e| panic!("basic.consume {queue:?}: {e}"))
}

struct Msg {
    tag: u64,
    redelivered: bool,
    exchange: String,
    routing_key: String,
    props: BasicProperties,
    body: Vec<u8>,
}

impl Msg {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

fn to_msg(mut m: ConsumerMessage) -> Msg {
    let deliver = m.deliver.take().expect("deliver");
    Msg {
        tag: deliver.delivery_tag(),
        redelivered: deliver.redelivered(),
        exchange: deliver.exchange().clone(),
        routing_key: deliver.routing_key().clone(),
        props: m.basic_properties.take().expect("properties"),
        body: m.content.take().expect("content"),
    }
}

async fn next(rx: &mut UnboundedReceiver<ConsumerMessage>) -> Msg {
    to_msg(within("a delivery", rx.recv()).await.expect("consumer ended"))
}

/// basic.get (auto-ack) until get-empty; returns the bodies in order.
async fn drain(ch: &Channel, queue: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let got = within("basic.get", ch.basic_get(BasicGetArguments::new(queue).no_ack(true).finish())).await.expect("basic.get");
        match got {
            Some((_, _, body)) => out.push(String::from_utf8(body).unwrap()),
            None => return out,
        }
    }
}

async fn delete_queue(ch: &Channel, name: &str) {
    within("queue.delete", ch.queue_delete(QueueDeleteArguments::new(name))).await.unwrap_or_else(|e| panic!("queue.delete {name:?}: {e}"));
}

async fn confirm_select(ch: &Channel) {
    within("confirm.select", ch.confirm_select(ConfirmSelectArguments::default())).await.expect("confirm.select");
}

/// Waits until publish sequence numbers 1..=n are all acked; fails on a nack.
async fn wait_for_acks(chan: &mut Chan, n: u64) {
    let mut acked = BTreeSet::new();
    while (acked.len() as u64) < n {
        match chan.next_event("publisher confirms").await {
            Event::Ack { tag, multiple } => {
                if multiple {
                    acked.extend(1..=tag);
                } else {
                    assert!(acked.insert(tag), "delivery tag {tag} acked twice");
                }
            }
            Event::Nack { tag, multiple } => panic!("broker nacked {tag} (multiple={multiple})"),
            other => panic!("unexpected channel event while waiting for confirms: {other:?}"),
        }
    }
    assert_eq!(acked, (1..=n).collect::<BTreeSet<_>>());
}

/// Closes the channel, then the connection, checking both handshakes succeed.
///
/// (Calling `Connection::close` right after deleting a queue that still had a
/// consumer on an open channel fails now and then inside amqprs with
/// `InternalChannelError("channel closed")`, against RabbitMQ too: a client
/// race around the server's basic.cancel. Closing the channel first avoids it.)
async fn close(conn: Connection, chan: Chan) {
    within("channel.close", chan.ch.close()).await.expect("channel.close");
    within("connection.close", conn.close()).await.expect("connection.close");
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2).finish()
}

// ---------------------------------------------------------------------------
// Tutorial 1: "Hello World!"
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t1_hello_world() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let chan = channel(&conn).await;
    let queue = unique("hello");
    let (name, messages, consumers) = declare(&chan.ch, QueueDeclareArguments::new(&queue)).await;
    assert_eq!((name.as_str(), messages, consumers), (queue.as_str(), 0, 0));

    publish(&chan.ch, "", &queue, b"Hello World!", BasicProperties::default()).await;
    let (_, mut rx) = consume(&chan.ch, &queue, true).await;
    let m = next(&mut rx).await;
    assert_eq!(m.text(), "Hello World!");
    assert_eq!(m.exchange, "");
    assert_eq!(m.routing_key, queue);
    assert!(!m.redelivered);

    delete_queue(&chan.ch, &queue).await;
    close(conn, chan).await;
}

// ---------------------------------------------------------------------------
// Tutorial 2: work queues (fair dispatch with prefetch 1, manual acks)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t2_work_queues_fair_dispatch() {
    const N: usize = 10;
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let chan = channel(&conn).await;
    let queue = unique("task_queue");
    declare(&chan.ch, QueueDeclareArguments::durable_client_named(&queue)).await;

    let (tx, mut rx) = unbounded_channel::<(&'static str, String, bool)>();
    let mut workers = Vec::new();
    let mut worker_chans = Vec::new();
    for (name, work) in [("slow", Duration::from_millis(400)), ("fast", Duration::ZERO)] {
        let wchan = channel(&conn).await;
        within("basic.qos", wchan.ch.basic_qos(BasicQosArguments::new(0, 1, false))).await.expect("basic.qos");
        let (tag, mut deliveries) = consume(&wchan.ch, &queue, false).await;
        let ch = wchan.ch.clone();
        let tx = tx.clone();
        workers.push(tokio::spawn(async move {
            // Ends when the consumer is cancelled (amqprs drops the sender).
            while let Some(m) = deliveries.recv().await {
                let m = to_msg(m);
                // Simulated work, as in the tutorial (time.sleep per dot).
                tokio::time::sleep(work).await;
                ch.basic_ack(BasicAckArguments::new(m.tag, false)).await.expect("basic.ack");
                let _ = tx.send((name, m.text().to_string(), m.redelivered));
            }
        }));
        worker_chans.push((wchan, tag));
    }
    drop(tx);

    for i in 0..N {
        publish(&chan.ch, "", &queue, format!("task {i}").as_bytes(), persistent()).await;
    }
    let mut got = Vec::new();
    while got.len() < N {
        got.push(within("a processed task", rx.recv()).await.expect("workers stopped early"));
    }
    // After cancel-ok nothing more can be delivered to these consumers.
    for (wchan, tag) in &worker_chans {
        within("basic.cancel", wchan.ch.basic_cancel(BasicCancelArguments::new(tag))).await.expect("basic.cancel");
    }
    for w in workers {
        within("worker task end", w).await.expect("worker panicked");
    }
    assert!(rx.recv().await.is_none(), "a task was delivered more than once");

    let bodies: BTreeSet<String> = got.iter().map(|(_, b, _)| b.clone()).collect();
    let expected: BTreeSet<String> = (0..N).map(|i| format!("task {i}")).collect();
    assert_eq!(got.len(), N, "{got:?}");
    assert_eq!(bodies, expected, "every task delivered exactly once: {got:?}");
    assert!(got.iter().all(|(_, _, r)| !r), "no redeliveries: {got:?}");
    let slow = got.iter().filter(|(w, ..)| *w == "slow").count();
    let fast = got.iter().filter(|(w, ..)| *w == "fast").count();
    assert!(slow >= 1, "prefetch 1 round-robin gives the slow worker a task: {got:?}");
    assert!(slow < fast, "slow worker must get fewer tasks (slow={slow}, fast={fast})");

    assert_eq!(message_count(&chan.ch, &queue).await, 0);
    delete_queue(&chan.ch, &queue).await;
}

// ---------------------------------------------------------------------------
// Tutorial 3: publish/subscribe (fanout, exclusive server-named queues)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t3_publish_subscribe_fanout() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let chan = channel(&conn).await;
    let exchange = unique("logs");
    declare_exchange(&chan.ch, &exchange, "fanout").await;

    let q1 = declare_exclusive(&chan.ch).await;
    let q2 = declare_exclusive(&chan.ch).await;
    assert_ne!(q1, q2, "server-named queues must differ");
    bind(&chan.ch, &q1, &exchange, "").await;
    bind(&chan.ch, &q2, &exchange, "").await;
    let (_, mut rx1) = consume(&chan.ch, &q1, true).await;
    let (_, mut rx2) = consume(&chan.ch, &q2, true).await;

    let messages: Vec<String> = (0..5).map(|i| format!("log line {i}")).collect();
    for (i, m) in messages.iter().enumerate() {
        publish(&chan.ch, &exchange, &format!("ignored.{i}"), m.as_bytes(), BasicProperties::default()).await;
    }
    for rx in [&mut rx1, &mut rx2] {
        for m in &messages {
            let d = next(rx).await;
            assert_eq!(d.text(), m);
            assert_eq!(d.exchange, exchange);
        }
    }
    conn.close().await.expect("connection.close");
}

// ---------------------------------------------------------------------------
// Tutorial 4: routing (direct exchange)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t4_routing_direct() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let mut chan = channel(&conn).await;
    let exchange = unique("direct_logs");
    declare_exchange(&chan.ch, &exchange, "direct").await;
    let errors_only = declare_exclusive(&chan.ch).await;
    let everything = declare_exclusive(&chan.ch).await;
    bind(&chan.ch, &errors_only, &exchange, "error").await;
    for sev in ["info", "warning", "error"] {
        bind(&chan.ch, &everything, &exchange, sev).await;
    }

    // Confirms guarantee every message is routed and enqueued before we look.
    confirm_select(&chan.ch).await;
    let sent = [
        ("info", "info: 1"),
        ("error", "error: 1"),
        ("warning", "warning: 1"),
        ("debug", "debug: nobody listens"),
        ("info", "info: 2"),
        ("error", "error: 2"),
    ];
    for (sev, text) in sent {
        publish(&chan.ch, &exchange, sev, text.as_bytes(), BasicProperties::default()).await;
    }
    wait_for_acks(&mut chan, sent.len() as u64).await;

    assert_eq!(drain(&chan.ch, &errors_only).await, ["error: 1", "error: 2"]);
    assert_eq!(drain(&chan.ch, &everything).await, ["info: 1", "error: 1", "warning: 1", "info: 2", "error: 2"]);
    conn.close().await.expect("connection.close");
}

// ---------------------------------------------------------------------------
// Tutorial 5: topics
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t5_topics() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let mut chan = channel(&conn).await;
    let exchange = unique("topic_logs");
    declare_exchange(&chan.ch, &exchange, "topic").await;
    let q1 = declare_exclusive(&chan.ch).await;
    let q2 = declare_exclusive(&chan.ch).await;
    bind(&chan.ch, &q1, &exchange, "*.orange.*").await;
    bind(&chan.ch, &q2, &exchange, "*.*.rabbit").await;
    bind(&chan.ch, &q2, &exchange, "lazy.#").await;

    confirm_select(&chan.ch).await;
    let keys = [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "quick.orange.fox",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "quick.brown.fox",
        "orange",
        "quick.orange.male.rabbit",
        "lazy.orange.male.rabbit",
        "lazy",
    ];
    for key in keys {
        publish(&chan.ch, &exchange, key, key.as_bytes(), BasicProperties::default()).await;
    }
    wait_for_acks(&mut chan, keys.len() as u64).await;

    assert_eq!(drain(&chan.ch, &q1).await, ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]);
    // lazy.pink.rabbit matches both of Q2's bindings but is delivered once.
    assert_eq!(
        drain(&chan.ch, &q2).await,
        ["quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox", "lazy.pink.rabbit", "lazy.orange.male.rabbit", "lazy",]
    );
    conn.close().await.expect("connection.close");
}

// ---------------------------------------------------------------------------
// Tutorial 6: RPC (reply_to + correlation_id)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn t6_rpc() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let rpc_queue = unique("rpc_queue");

    let server = channel(&conn).await;
    declare_named(&server.ch, &rpc_queue).await;
    within("basic.qos", server.ch.basic_qos(BasicQosArguments::new(0, 1, false))).await.expect("basic.qos");
    let (_, mut requests) = consume(&server.ch, &rpc_queue, false).await;
    let server_ch = server.ch.clone();
    let server_task = tokio::spawn(async move {
        while let Some(m) = requests.recv().await {
            let m = to_msg(m);
            let n: u64 = m.text().parse().unwrap();
            let reply_to = m.props.reply_to().expect("reply_to").clone();
            let corr = m.props.correlation_id().expect("correlation_id").clone();
            server_ch
                .basic_publish(
                    BasicProperties::default().with_correlation_id(&corr).finish(),
                    fib(n).to_string().into_bytes(),
                    BasicPublishArguments::new("", &reply_to),
                )
                .await
                .expect("reply publish");
            server_ch.basic_ack(BasicAckArguments::new(m.tag, false)).await.expect("ack");
        }
    });

    let client = channel(&conn).await;
    let callback = declare_exclusive(&client.ch).await;
    let (_, mut replies) = consume(&client.ch, &callback, true).await;
    for n in [0u64, 1, 2, 10, 20, 30] {
        let corr = unique("corr");
        publish(
            &client.ch,
            "",
            &rpc_queue,
            n.to_string().as_bytes(),
            BasicProperties::default().with_reply_to(&callback).with_correlation_id(&corr).finish(),
        )
        .await;
        let reply = next(&mut replies).await;
        assert_eq!(reply.props.correlation_id().map(String::as_str), Some(corr.as_str()));
        assert_eq!(reply.text(), fib(n).to_string(), "fib({n})");
    }
    server_task.abort();
    delete_queue(&client.ch, &rpc_queue).await;
}

// ---------------------------------------------------------------------------
// Publisher confirms
// ---------------------------------------------------------------------------

#[tokio::test]
async fn publisher_confirms_then_consume_in_order() {
    const N: usize = 200;
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let mut chan = channel(&conn).await;
    let queue = unique("confirms");
    declare(&chan.ch, QueueDeclareArguments::durable_client_named(&queue)).await;
    confirm_select(&chan.ch).await;
    for i in 0..N {
        publish(&chan.ch, "", &queue, format!("message {i}").as_bytes(), persistent()).await;
    }
    wait_for_acks(&mut chan, N as u64).await;
    assert_eq!(declare(&chan.ch, QueueDeclareArguments::durable_client_named(&queue).passive(true).finish()).await.1 as usize, N);

    let (_, mut rx) = consume(&chan.ch, &queue, false).await;
    for i in 0..N {
        let m = next(&mut rx).await;
        assert_eq!(m.text(), format!("message {i}"));
        assert_eq!(m.props.delivery_mode(), Some(2));
        assert!(!m.redelivered);
        chan.ch.basic_ack(BasicAckArguments::new(m.tag, false)).await.expect("ack");
    }
    delete_queue(&chan.ch, &queue).await;
}

// ---------------------------------------------------------------------------
// Error behaviour
// ---------------------------------------------------------------------------

#[tokio::test]
async fn publish_to_missing_exchange_closes_channel_with_404() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let mut chan = channel(&conn).await;
    publish(&chan.ch, &unique("no-such-exchange"), "key", b"x", BasicProperties::default()).await;
    match chan.next_event("channel.close from broker").await {
        Event::Closed { code, text } => {
            assert_eq!(code, 404, "{text}");
            assert!(text.starts_with("NOT_FOUND"), "reply text {text:?}");
        }
        other => panic!("expected channel.close, got {other:?}"),
    }
    // Only the channel is closed; the connection keeps working.
    let chan2 = channel(&conn).await;
    declare_exclusive(&chan2.ch).await;
    assert!(conn.is_open());
}

#[tokio::test]
async fn redeclare_queue_with_other_durability_gives_406() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let mut chan = channel(&conn).await;
    let queue = unique("durability");
    declare(&chan.ch, QueueDeclareArguments::durable_client_named(&queue)).await;

    let res = within("conflicting queue.declare", chan.ch.queue_declare(QueueDeclareArguments::new(&queue))).await;
    assert!(res.is_err(), "redeclare with durable=false must fail: {res:?}");
    match chan.next_event("channel.close from broker").await {
        Event::Closed { code, text } => {
            assert_eq!(code, 406, "{text}");
            assert!(text.starts_with("PRECONDITION_FAILED"), "reply text {text:?}");
        }
        other => panic!("expected channel.close, got {other:?}"),
    }
    let chan2 = channel(&conn).await;
    assert_eq!(declare(&chan2.ch, QueueDeclareArguments::durable_client_named(&queue).passive(true).finish()).await.1, 0);
    delete_queue(&chan2.ch, &queue).await;
}

#[tokio::test]
async fn mandatory_unroutable_publish_is_returned_with_312() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let mut chan = channel(&conn).await;
    let exchange = unique("no-bindings");
    declare_exchange(&chan.ch, &exchange, "direct").await;
    within(
        "basic.publish",
        chan.ch.basic_publish(
            BasicProperties::default().with_message_id("m-1").finish(),
            b"undeliverable".to_vec(),
            BasicPublishArguments::new(&exchange, "nowhere").mandatory(true).finish(),
        ),
    )
    .await
    .expect("basic.publish");
    match chan.next_event("basic.return").await {
        Event::Returned { code, text, exchange: ex, routing_key, body, props } => {
            assert_eq!(code, 312);
            assert_eq!(text, "NO_ROUTE");
            assert_eq!(ex, exchange);
            assert_eq!(routing_key, "nowhere");
            assert_eq!(body, b"undeliverable");
            assert_eq!(props.message_id().map(String::as_str), Some("m-1"));
        }
        other => panic!("expected basic.return, got {other:?}"),
    }
    // The channel is still usable.
    declare_exclusive(&chan.ch).await;
    assert!(chan.ch.is_open());
}

#[tokio::test]
async fn basic_get_on_empty_queue_then_message_then_empty() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let chan = channel(&conn).await;
    let queue = unique("get");
    declare_named(&chan.ch, &queue).await;

    let got = within("basic.get", chan.ch.basic_get(BasicGetArguments::new(&queue))).await.expect("basic.get");
    assert!(got.is_none(), "empty queue must answer get-empty");

    publish(&chan.ch, "", &queue, b"one", BasicProperties::default()).await;
    publish(&chan.ch, "", &queue, b"two", BasicProperties::default()).await;
    let (get_ok, _, body) =
        within("basic.get", chan.ch.basic_get(BasicGetArguments::new(&queue))).await.expect("basic.get").expect("a message");
    assert_eq!(body, b"one");
    assert_eq!(get_ok.message_count(), 1, "message_count counts the messages left");
    assert!(!get_ok.redelivered());
    chan.ch.basic_ack(BasicAckArguments::new(get_ok.delivery_tag(), false)).await.expect("ack");
    assert_eq!(drain(&chan.ch, &queue).await, ["two"]);
    let got = within("basic.get", chan.ch.basic_get(BasicGetArguments::new(&queue))).await.expect("basic.get");
    assert!(got.is_none());
    delete_queue(&chan.ch, &queue).await;
}

#[tokio::test]
async fn nack_with_requeue_redelivers_with_redelivered_flag() {
    let broker = Broker::start();
    let conn = connect(&broker).await;
    let chan = channel(&conn).await;
    let queue = unique("nack");
    declare_named(&chan.ch, &queue).await;
    publish(&chan.ch, "", &queue, b"try again", BasicProperties::default()).await;

    let (_, mut rx) = consume(&chan.ch, &queue, false).await;
    let first = next(&mut rx).await;
    assert_eq!(first.text(), "try again");
    assert!(!first.redelivered);
    chan.ch.basic_nack(BasicNackArguments::new(first.tag, false, true)).await.expect("basic.nack");
    let second = next(&mut rx).await;
    assert_eq!(second.text(), "try again");
    assert!(second.redelivered, "requeued message must be flagged redelivered");
    assert_ne!(second.tag, first.tag, "a new delivery tag");
    chan.ch.basic_ack(BasicAckArguments::new(second.tag, false)).await.expect("ack");
    assert_eq!(message_count(&chan.ch, &queue).await, 0);
    delete_queue(&chan.ch, &queue).await;
}
