//! What survives a clean restart (SIGTERM, then warren again on the same
//! data directory), checked exactly:
//!
//! * definitions: durable exchanges and queues (with their arguments),
//!   bindings whose both ends are durable (queue and exchange-to-exchange),
//!   vhosts, users (who log in with their passwords afterwards),
//!   permissions (still enforced) and policies (still applied); transient
//!   exchanges and queues are gone, and so is every binding with a
//!   transient end;
//! * messages: persistent messages in durable queues, in order, with their
//!   properties and headers intact; a message routed to several durable
//!   queues comes back in each; acked messages never come back; delivered
//!   but unacked ones come back flagged redelivered; transient messages
//!   and transient queues' messages are gone, except in quorum queues,
//!   which keep every message.
//!
//! Vhosts, users, permissions and policies are made through the HTTP API,
//! and warren restarts without access flags, so what the test sees after
//! the restart can only come from the data directory.

mod common;
mod durability_support;

use std::time::Duration;

use common::{within, Broker};
use durability_support::*;
use futures_lite::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use lapin::{BasicProperties, ExchangeKind};
use serde_json::{json, Value};

const STOP: Duration = Duration::from_secs(20);

/// A minimal management API client (guest, an administrator).
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn new(broker: &Broker) -> Api {
        Api { base: format!("{}/api", broker.http_url.as_ref().expect("HTTP port")), client: reqwest::Client::new() }
    }

    async fn put(&self, path: &str, body: Value) {
        let resp = within(
            &format!("PUT {path}"),
            self.client.put(format!("{}{path}", self.base)).basic_auth("guest", Some("guest")).json(&body).send(),
        )
        .await
        .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let status = resp.status();
        assert!(status.is_success(), "PUT {path}: {status} {}", resp.text().await.unwrap_or_default());
    }

    /// Status and JSON body.
    async fn get(&self, path: &str) -> (u16, Value) {
        let resp =
            within(&format!("GET {path}"), self.client.get(format!("{}{path}", self.base)).basic_auth("guest", Some("guest")).send())
                .await
                .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Properties with every field set and a header of each common type.
fn rich_properties(i: usize) -> BasicProperties {
    let mut headers = FieldTable::default();
    headers.insert("index".into(), AMQPValue::LongLongInt(i as i64));
    headers.insert("text".into(), AMQPValue::LongString(LongString::from(format!("héllo {i}"))));
    headers.insert("flag".into(), AMQPValue::Boolean(i.is_multiple_of(2)));
    headers.insert("ratio".into(), AMQPValue::Double(0.5 + i as f64));
    let mut nested = FieldTable::default();
    // Not AMQPValue::ShortString: lapin writes it as `s`, which RabbitMQ (and warren) read as a short int.
    nested.insert("deep".into(), AMQPValue::LongString("yes".into()));
    headers.insert("nested".into(), AMQPValue::FieldTable(nested));
    headers
        .insert("list".into(), AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongInt(1), AMQPValue::LongString("two".into())])));
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_content_encoding("identity".into())
        .with_headers(headers)
        .with_priority(3)
        .with_correlation_id(format!("corr-{i}").as_str().into())
        .with_reply_to("replies".into())
        .with_message_id(format!("msg-{i}").as_str().into())
        .with_timestamp(1_700_000_000 + i as u64)
        .with_type("order.created".into())
        .with_user_id("guest".into())
        .with_app_id("durability-test".into())
}

async fn publish(ch: &lapin::Channel, exchange: &str, key: &str, body: &str, props: BasicProperties) {
    let confirm = within("basic.publish", ch.basic_publish(s(exchange), s(key), BasicPublishOptions::default(), body.as_bytes(), props))
        .await
        .unwrap_or_else(|e| panic!("basic.publish {exchange:?}/{key:?}: {e}"));
    let c = within("confirm", confirm).await.expect("confirm");
    assert!(c.is_ack(), "publish of {body} nacked");
}

fn bodies(ds: &[lapin::message::Delivery]) -> Vec<String> {
    ds.iter().map(|d| String::from_utf8(d.data.clone()).unwrap()).collect()
}

fn strings(v: impl IntoIterator<Item = String>) -> Vec<String> {
    v.into_iter().collect()
}

#[tokio::test]
async fn a_clean_restart_keeps_exactly_what_is_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut broker = Broker::start_on(&data, &[]);
    let api = Api::new(&broker);

    // ---- Access control and policies, through the HTTP API -------------
    api.put("/vhosts/v1", json!({})).await;
    api.put("/users/alice", json!({"password": "s3cret pass", "tags": ""})).await;
    api.put("/permissions/v1/alice", json!({"configure": "^(alice\\..*|capped)$", "write": ".*", "read": ".*"})).await;
    api.put("/policies/v1/cap", json!({"pattern": "^capped$", "definition": {"max-length": 2}, "apply-to": "queues"})).await;

    // ---- Topology in / ---------------------------------------------------
    let conn = connect(&broker.url).await;
    let ch = confirm_channel(&conn).await;
    declare_exchange(&ch, "dx", ExchangeKind::Direct, true).await;
    declare_exchange(&ch, "dx.e2e", ExchangeKind::Fanout, true).await;
    declare_exchange(&ch, "tx", ExchangeKind::Fanout, false).await;
    for q in ["dq1", "dq2", "dq3", "dq-e2e"] {
        declare_queue(&ch, q, true, FieldTable::default()).await;
    }
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(1000));
    args.insert("x-message-ttl".into(), AMQPValue::LongInt(3_600_000));
    declare_queue(&ch, "dq-args", true, args).await;
    declare_queue(&ch, "tq", false, FieldTable::default()).await;
    let mut quorum = FieldTable::default();
    quorum.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    declare_queue(&ch, "qq", true, quorum).await;

    bind(&ch, "dq1", "dx", "a").await;
    bind(&ch, "dq2", "dx", "multi").await;
    bind(&ch, "dq3", "dx", "multi").await;
    bind(&ch, "tq", "dx", "multi").await; // durable -> transient: lost
    bind(&ch, "dq1", "tx", "").await; // transient -> durable: lost
    bind(&ch, "dq-e2e", "dx.e2e", "").await;
    within("exchange.bind", ch.exchange_bind(s("dx.e2e"), s("dx"), s("e2e"), ExchangeBindOptions::default(), FieldTable::default()))
        .await
        .expect("exchange.bind dx -> dx.e2e");
    within("exchange.bind", ch.exchange_bind(s("tx"), s("dx"), s("to-tx"), ExchangeBindOptions::default(), FieldTable::default()))
        .await
        .expect("exchange.bind dx -> tx (transient destination)");

    // ---- Messages ----------------------------------------------------------
    // dq1: persistent and transient interleaved, rich properties.
    for i in 0..10 {
        publish(&ch, "dx", "a", &format!("p-a-{i}"), rich_properties(i)).await;
        publish(&ch, "dx", "a", &format!("t-a-{i}"), BasicProperties::default().with_delivery_mode(1)).await;
    }
    // One message in dq2, dq3 (and transient tq) each.
    for i in 0..5 {
        publish(&ch, "dx", "multi", &format!("multi-{i}"), persistent()).await;
    }
    for i in 0..3 {
        publish(&ch, "dx", "e2e", &format!("e2e-{i}"), persistent()).await;
        publish(&ch, "", "dq-args", &format!("args-{i}"), persistent()).await;
        publish(&ch, "", "tq", &format!("tq-{i}"), persistent()).await;
        // Quorum queues keep every message, persistent or not.
        publish(&ch, "", "qq", &format!("qq-{i}"), BasicProperties::default()).await;
    }
    publish(&ch, "tx", "", "via-tx", persistent()).await; // reaches dq1 now, lost binding later

    // dq1 holds p-a-0, t-a-0, p-a-1, t-a-1, ... , via-tx. Take six: ack
    // three, leave three delivered but unacked across the restart.
    let consumer_ch = channel(&conn).await;
    let taken = take(&consumer_ch, "dq1", 6, false).await;
    assert_eq!(bodies(&taken), ["p-a-0", "t-a-0", "p-a-1", "t-a-1", "p-a-2", "t-a-2"]);
    for d in &taken[..3] {
        within("ack", d.ack(BasicAckOptions::default())).await.expect("ack");
    }
    // dq2: consume and ack the first copy of multi-0 (dq3 keeps its own).
    let got = take(&consumer_ch, "dq2", 1, true).await;
    assert_eq!(bodies(&got), ["multi-0"]);
    // A round trip on the channel: the acks before it were processed.
    within("basic.qos", consumer_ch.basic_qos(10, BasicQosOptions::default())).await.expect("qos");

    // ---- vhost v1 as alice ---------------------------------------------------
    let alice_url = broker.url_for("alice", "s3cret pass", "v1");
    let alice = connect(&alice_url).await;
    let ach = confirm_channel(&alice).await;
    declare_queue(&ach, "alice.q", true, FieldTable::default()).await;
    declare_queue(&ach, "capped", true, FieldTable::default()).await;
    for i in 0..4 {
        publish(&ach, "", "alice.q", &format!("alice-{i}"), persistent()).await;
    }
    for i in 0..5 {
        publish(&ach, "", "capped", &format!("c-{i}"), persistent()).await;
    }
    let _ = alice.close(200, s("bye")).await;

    // ---- Restart -------------------------------------------------------------
    // The consumer connection stays open with three unacked deliveries.
    let status = broker.terminate(STOP);
    assert!(status.success(), "clean stop: {status:?}; stderr:\n{}", broker.stderr());
    drop(conn);
    let broker = Broker::start_on(&data, &[]);
    let api = Api::new(&broker);

    // ---- Definitions ---------------------------------------------------------
    let (status, vhosts) = api.get("/vhosts").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = vhosts.as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    assert!(names.contains(&"v1") && names.contains(&"/"), "vhosts: {names:?}");
    let (status, user) = api.get("/users/alice").await;
    assert_eq!(status, 200, "alice survives");
    assert!(user["password_hash"].as_str().is_some_and(|h| !h.is_empty()), "{user}");
    let (status, perm) = api.get("/permissions/v1/alice").await;
    assert_eq!(status, 200);
    assert_eq!(
        (perm["configure"].as_str(), perm["write"].as_str(), perm["read"].as_str()),
        (Some("^(alice\\..*|capped)$"), Some(".*"), Some(".*"))
    );
    let (status, policy) = api.get("/policies/v1/cap").await;
    assert_eq!(status, 200, "the policy survives");
    assert_eq!(policy["definition"], json!({"max-length": 2}));

    for (x, kind) in [("dx", "direct"), ("dx.e2e", "fanout")] {
        let (status, info) = api.get(&format!("/exchanges/%2F/{x}")).await;
        assert_eq!(status, 200, "durable exchange {x} survives");
        assert_eq!((info["type"].as_str(), info["durable"].as_bool()), (Some(kind), Some(true)));
    }
    assert_eq!(api.get("/exchanges/%2F/tx").await.0, 404, "the transient exchange is gone");
    assert_eq!(api.get("/queues/%2F/tq").await.0, 404, "the transient queue is gone");
    let (_, q) = api.get("/queues/%2F/dq-args").await;
    assert_eq!(q["arguments"], json!({"x-max-length": 1000, "x-message-ttl": 3_600_000}), "queue arguments survive");
    let (_, q) = api.get("/queues/%2F/qq").await;
    assert_eq!(q["type"].as_str(), Some("quorum"), "{q}");

    let (_, bindings) = api.get("/bindings/%2F").await;
    let mut found: Vec<(String, String, String, String)> = bindings
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["source"].as_str() != Some(""))
        .map(|b| {
            let f = |k: &str| b[k].as_str().unwrap_or_default().to_string();
            (f("source"), f("destination_type"), f("destination"), f("routing_key"))
        })
        .collect();
    found.sort();
    let t = |a: &str, b: &str, c: &str, d: &str| (a.to_string(), b.to_string(), c.to_string(), d.to_string());
    assert_eq!(
        found,
        vec![
            t("dx", "exchange", "dx.e2e", "e2e"),
            t("dx", "queue", "dq1", "a"),
            t("dx", "queue", "dq2", "multi"),
            t("dx", "queue", "dq3", "multi"),
            t("dx.e2e", "queue", "dq-e2e", ""),
        ],
        "exactly the bindings whose both ends are durable"
    );

    // ---- Messages ------------------------------------------------------------
    let conn = connect(&broker.url).await;
    let ch = confirm_channel(&conn).await;
    let dq1 = drain(&ch, "dq1").await;
    // p-a-0 and p-a-1 were acked, p-a-2 delivered and not acked; the
    // transient messages are gone; via-tx came through the transient
    // exchange but is persistent in a durable queue, so it stays.
    assert_eq!(
        bodies(&dq1),
        strings((2..10).map(|i| format!("p-a-{i}")).chain(["via-tx".to_string()])),
        "dq1: unacked and undelivered persistent messages, in order"
    );
    for d in &dq1 {
        let body = String::from_utf8(d.data.clone()).unwrap();
        assert_eq!(d.redelivered, body == "p-a-2", "{body}: redelivered only if delivered before the restart");
        if let Some(i) = body.strip_prefix("p-a-") {
            let i: usize = i.parse().unwrap();
            assert_eq!(d.properties, rich_properties(i), "{body}: properties and headers intact");
            assert_eq!((d.exchange.as_str(), d.routing_key.as_str()), ("dx", "a"));
        }
    }
    assert_eq!(bodies(&drain(&ch, "dq2").await), strings((1..5).map(|i| format!("multi-{i}"))), "dq2 acked its multi-0");
    let dq3 = drain(&ch, "dq3").await;
    assert_eq!(bodies(&dq3), strings((0..5).map(|i| format!("multi-{i}"))), "dq3 keeps its own copy of each");
    assert!(dq3.iter().all(|d| !d.redelivered && d.properties.delivery_mode() == &Some(2)));
    assert_eq!(bodies(&drain(&ch, "dq-e2e").await), strings((0..3).map(|i| format!("e2e-{i}"))));
    assert_eq!(bodies(&drain(&ch, "dq-args").await), strings((0..3).map(|i| format!("args-{i}"))));
    assert_eq!(bodies(&drain(&ch, "qq").await), strings((0..3).map(|i| format!("qq-{i}"))), "quorum queues keep transient messages");

    // Routing still works through the recovered bindings, and not through
    // the lost ones.
    publish(&ch, "dx", "e2e", "after-e2e", persistent()).await;
    publish(&ch, "dx", "multi", "after-multi", persistent()).await;
    assert_eq!(bodies(&drain(&ch, "dq-e2e").await), ["after-e2e"]);
    assert_eq!(bodies(&drain(&ch, "dq2").await), ["after-multi"]);
    assert_eq!(bodies(&drain(&ch, "dq3").await), ["after-multi"]);
    assert_eq!(message_count(&ch, "dq1").await, 0);

    // ---- Users, permissions, policies in force ---------------------------------
    let wrong = lapin::Connection::connect(&broker.url_for("alice", "wrong", "v1"), lapin::ConnectionProperties::default()).await;
    assert!(wrong.is_err(), "a wrong password is refused");
    let alice_url = broker.url_for("alice", "s3cret pass", "v1");
    let alice = connect(&alice_url).await;
    let ach = confirm_channel(&alice).await;
    assert_eq!(bodies(&drain(&ach, "alice.q").await), strings((0..4).map(|i| format!("alice-{i}"))));
    let capped = drain(&ach, "capped").await;
    assert_eq!(bodies(&capped), ["c-3", "c-4"], "max-length 2 from the policy");
    for i in 5..9 {
        publish(&ach, "", "capped", &format!("c-{i}"), persistent()).await;
    }
    assert_eq!(message_count(&ach, "capped").await, 2, "the policy still applies after the restart");
    let (_, q) = api.get("/queues/v1/capped").await;
    assert_eq!(q["policy"].as_str(), Some("cap"), "{q}");
    // configure is limited to alice.* and capped.
    let denied = ach.queue_declare(s("bob.q"), QueueDeclareOptions { durable: true, ..Default::default() }, FieldTable::default()).await;
    let err = denied.expect_err("alice may not configure bob.q");
    assert!(err.to_string().contains("403") || err.to_string().contains("ACCESS_REFUSED"), "{err}");
    // alice has no permissions on /.
    let refused = lapin::Connection::connect(&broker.url_for("alice", "s3cret pass", "/"), lapin::ConnectionProperties::default()).await;
    assert!(refused.is_err(), "alice has no access to /");

    // ---- A second restart changes nothing ---------------------------------------
    let alice_ch = channel(&alice).await;
    let held = take(&alice_ch, "capped", 1, false).await; // c-7, left unacked
    assert_eq!(bodies(&held), ["c-7"]);
    within("basic.qos", alice_ch.basic_qos(5, BasicQosOptions::default())).await.expect("qos");
    let mut broker = broker;
    assert!(broker.terminate(STOP).success());
    drop((alice, conn));
    let broker = Broker::start_on(&data, &[]);
    let alice = connect(&broker.url_for("alice", "s3cret pass", "v1")).await;
    let ach = channel(&alice).await;
    let capped = drain(&ach, "capped").await;
    assert_eq!(bodies(&capped), ["c-7", "c-8"]);
    assert_eq!(capped.iter().map(|d| d.redelivered).collect::<Vec<_>>(), [true, false]);
    let conn = connect(&broker.url).await;
    let ch = channel(&conn).await;
    for q in ["dq1", "dq2", "dq3", "dq-e2e", "dq-args", "qq"] {
        assert_eq!(message_count(&ch, q).await, 0, "{q} was drained before the second restart");
    }
    // Nothing else appeared either: the store holds no stray messages.
    let mut consumer = within("consume", ch.basic_consume(s("dq1"), s("late"), BasicConsumeOptions::default(), FieldTable::default()))
        .await
        .expect("consume");
    let extra = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await;
    assert!(extra.is_err(), "no message in dq1: {extra:?}");
}

/// A tx.commit-ok is a promise like a publisher confirm: the committed
/// persistent messages are on disk, so a SIGKILL right after it loses none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_survive_a_kill_right_after_commit_ok() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut broker = Broker::start_on(&data, &[]);
    let conn = connect(&broker.url).await;
    let ch = channel(&conn).await;
    declare_queue(&ch, "txd", true, FieldTable::default()).await;
    within("tx.select", ch.tx_select()).await.expect("tx.select");
    let mut committed = 0;
    for round in 0..20 {
        for i in 0..50 {
            let body = format!("{round}-{i}");
            let publish = ch.basic_publish(s(""), s("txd"), BasicPublishOptions::default(), body.as_bytes(), persistent());
            within("basic.publish", publish).await.expect("basic.publish");
        }
        within("tx.commit", ch.tx_commit()).await.expect("tx.commit");
        committed += 50;
    }
    broker.kill();
    drop(conn);
    let broker = Broker::start_on(&data, &[]);
    let conn = connect(&broker.url).await;
    let ch = channel(&conn).await;
    let got = drain(&ch, "txd").await;
    let expected: Vec<String> = (0..20).flat_map(|r| (0..50).map(move |i| format!("{r}-{i}"))).collect();
    assert_eq!(got.len(), committed);
    assert_eq!(bodies(&got), expected, "every committed message, once, in order");
}
