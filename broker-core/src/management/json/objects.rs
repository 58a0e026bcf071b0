//! The management API's objects as RabbitMQ 3.10 shows them: queues,
//! exchanges, bindings (with their properties keys), connections, channels,
//! consumers and the overview. What only the caller knows comes in as
//! arguments: the node's name, the listeners, the acting user.

use std::net::SocketAddr;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{message_stats, put_stat, queue_lengths, table_to_json, StatsOf, RABBITMQ_VERSION};
use crate::amqp::FieldTable;
use crate::management::info::{BindingInfo, ChannelInfo, ConnectionInfo, ConsumerInfo, ExchangeInfo, Overview, QueueInfo};
use crate::management::policy::Policy;
use crate::Transport;

/// A queue (`/api/queues`): `policies` give `effective_policy_definition`.
pub fn queue(q: &QueueInfo, node: &str, policies: &[Policy]) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(q.name));
    m.insert("vhost".into(), json!(q.vhost));
    m.insert("durable".into(), json!(q.durable));
    m.insert("auto_delete".into(), json!(q.auto_delete));
    m.insert("exclusive".into(), json!(q.exclusive));
    m.insert("arguments".into(), table_to_json(&q.arguments));
    m.insert("type".into(), json!(q.kind));
    m.insert("node".into(), json!(node));
    m.insert("state".into(), json!("running"));
    m.insert("consumers".into(), json!(q.consumers));
    m.insert("policy".into(), json!(q.policy));
    m.insert("operator_policy".into(), Value::Null);
    let effective = q
        .policy
        .as_ref()
        .and_then(|name| policies.iter().find(|p| &p.name == name && p.vhost == q.vhost))
        .map_or(json!({}), |p| table_to_json(&p.definition));
    m.insert("effective_policy_definition".into(), effective);
    m.insert("exclusive_consumer_tag".into(), Value::Null);
    m.insert("single_active_consumer_tag".into(), Value::Null);
    m.insert("head_message_timestamp".into(), Value::Null);
    queue_lengths(&mut m, q.messages_ready as u64, q.messages_unacknowledged as u64);
    m.insert("message_bytes_ready".into(), json!(q.message_bytes_ready));
    m.insert("message_stats".into(), message_stats(&q.stats, &q.rates, StatsOf::Queue));
    Value::Object(m)
}

/// An exchange (`/api/exchanges`), as shown to `user`. As in RabbitMQ,
/// `message_stats` (`publish_in`, `publish_out`) appear only once it has
/// seen traffic.
pub fn exchange(x: &ExchangeInfo, user: &str) -> Value {
    let mut v = json!({
        "name": x.name,
        "vhost": x.vhost,
        "type": x.kind,
        "durable": x.durable,
        "auto_delete": x.auto_delete,
        "internal": x.internal,
        "arguments": table_to_json(&x.arguments),
        "user_who_performed_action": user,
    });
    if x.stats.publish > 0 {
        let mut m = Map::new();
        put_stat(&mut m, "publish_in", x.stats.publish, x.rates.publish);
        put_stat(&mut m, "publish_out", x.stats.routed, x.rates.routed);
        v["message_stats"] = Value::Object(m);
    }
    v
}

/// A binding (`/api/bindings`), with the properties key that addresses it.
pub fn binding(b: &BindingInfo) -> Value {
    json!({
        "source": b.source,
        "vhost": b.vhost,
        "destination": b.destination,
        "destination_type": b.destination_type,
        "routing_key": b.routing_key,
        "arguments": table_to_json(&b.arguments),
        "properties_key": properties_key(&b.routing_key, &b.arguments),
    })
}

/// A binding's "properties key": the routing key URL-quoted, plus `~` and a
/// hash of the arguments when there are any (`~` alone for an empty key
/// without arguments). The hash is Erlang's `phash2` of the arguments
/// (`phash2.rs`), so keys are the ones RabbitMQ gives.
pub fn properties_key(routing_key: &str, args: &FieldTable) -> String {
    match (routing_key.is_empty(), args.is_empty()) {
        (true, true) => "~".to_string(),
        (false, true) => quote_binding(routing_key),
        _ => format!("{}~{}", quote_binding(routing_key), quote_binding(&args_hash(args))),
    }
}

/// RabbitMQ's `quote_plus` (alphanumerics and `-_.` kept, space as `+`),
/// with `~` escaped since it separates the key from the hash.
fn quote_binding(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// RabbitMQ's argument hash: `phash2` of the arguments, base64url.
fn args_hash(args: &FieldTable) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(super::phash2::binding_args_hash(args).to_be_bytes())
}

/// A client connection (`/api/connections`). In-process connections (the
/// playground's) are `direct`, as RabbitMQ's Erlang clients are.
pub fn connection(c: &ConnectionInfo, node: &str) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name));
    m.insert("node".into(), json!(node));
    m.insert("user".into(), json!(c.user));
    m.insert("user_who_performed_action".into(), json!(c.user));
    m.insert("vhost".into(), json!(c.vhost));
    m.insert("state".into(), json!(c.state));
    m.insert("channels".into(), json!(c.channels));
    m.insert("connected_at".into(), json!(c.connected_at));
    m.insert("client_properties".into(), table_to_json(&c.client_properties));
    // The name a client gave itself, as RabbitMQ shows it.
    if let Some(given) = c.client_properties.get("connection_name").and_then(|v| v.as_str()) {
        m.insert("user_provided_name".into(), json!(given));
    }
    m.insert("frame_max".into(), json!(c.frame_max));
    m.insert("channel_max".into(), json!(c.channel_max));
    m.insert("timeout".into(), json!(c.heartbeat));
    m.insert("peer_host".into(), json!(c.peer.peer_host()));
    m.insert("peer_port".into(), json!(c.peer.peer_port()));
    let local = c.peer.local();
    m.insert("host".into(), json!(local.map(|a| a.ip().to_canonical().to_string())));
    m.insert("port".into(), json!(local.map(|a| a.port())));
    let protocol = match c.transport {
        Transport::WebSocket => "Web AMQP 0-9-1",
        _ => "AMQP 0-9-1",
    };
    m.insert("protocol".into(), json!(protocol));
    m.insert("type".into(), json!(if c.transport == Transport::InProcess { "direct" } else { "network" }));
    m.insert("ssl".into(), json!(false));
    put_stat(&mut m, "recv_oct", c.recv_octets, 0.0);
    put_stat(&mut m, "send_oct", c.sent_octets, 0.0);
    Value::Object(m)
}

/// A channel (`/api/channels`).
pub fn channel(ch: &ChannelInfo, node: &str) -> Value {
    json!({
        "name": format!("{} ({})", ch.connection_name, ch.number),
        "number": ch.number,
        "node": node,
        "connection_details": {"name": ch.connection_name, "peer_host": ch.peer.peer_host(), "peer_port": ch.peer.peer_port()},
        "user": ch.user,
        "user_who_performed_action": ch.user,
        "vhost": ch.vhost,
        "state": ch.state,
        "consumer_count": ch.consumers,
        "messages_unacknowledged": ch.messages_unacknowledged,
        "messages_unconfirmed": 0,
        "messages_uncommitted": 0,
        "acks_uncommitted": 0,
        "prefetch_count": ch.prefetch_count,
        "global_prefetch_count": ch.global_prefetch_count,
        "confirm": ch.confirm,
        "transactional": ch.transactional,
        "message_stats": message_stats(&ch.stats, &ch.rates, StatsOf::Channel),
    })
}

/// A consumer (`/api/consumers`, and a queue's `consumer_details`);
/// `conns` give its channel's user.
pub fn consumer(c: &ConsumerInfo, conns: &[ConnectionInfo], node: &str) -> Value {
    let user = conns.iter().find(|x| x.id == c.connection).map(|x| x.user.clone()).unwrap_or_default();
    json!({
        "arguments": table_to_json(&c.arguments),
        "ack_required": c.ack_required,
        "active": c.active,
        "activity_status": if c.active { "up" } else { "waiting" },
        "channel_details": {
            "connection_name": c.connection_name,
            "name": format!("{} ({})", c.connection_name, c.channel),
            "node": node,
            "number": c.channel,
            "peer_host": c.peer.peer_host(),
            "peer_port": c.peer.peer_port(),
            "user": user,
        },
        "consumer_tag": c.consumer_tag,
        "exclusive": c.exclusive,
        "prefetch_count": c.prefetch_count,
        "priority": c.priority,
        "queue": {"name": c.queue, "vhost": c.vhost},
    })
}

/// A listener as `/api/overview` lists it.
#[derive(Debug, Clone)]
pub struct Listener {
    /// RabbitMQ's protocol names: `amqp`, `amqp/ssl`, `http`, `https`,
    /// `http/prometheus`.
    pub protocol: &'static str,
    pub addr: SocketAddr,
}

const EXCHANGE_TYPES: &[&str] = &["direct", "fanout", "headers", "topic"];

/// `/api/overview` for a node named `node` listening on `listeners`. The
/// totals are `o`'s; `global_stats` adds the broker's message rates (which
/// RabbitMQ shows only to monitors: `{}` otherwise).
pub fn overview(o: &Overview, node: &str, listeners: &[Listener], global_stats: bool) -> Value {
    let mut body = Map::new();
    body.insert("management_version".into(), json!(RABBITMQ_VERSION));
    body.insert("rates_mode".into(), json!("basic"));
    body.insert(
        "exchange_types".into(),
        Value::Array(
            EXCHANGE_TYPES
                .iter()
                .map(|t| json!({"name": t, "description": format!("AMQP {t} exchange, as per the AMQP specification"), "enabled": true}))
                .collect(),
        ),
    );
    body.insert("product_version".into(), json!(env!("CARGO_PKG_VERSION")));
    body.insert("product_name".into(), json!("Warren"));
    body.insert("rabbitmq_version".into(), json!(RABBITMQ_VERSION));
    body.insert("cluster_name".into(), json!(node));
    body.insert("disable_stats".into(), json!(false));
    body.insert("enable_queue_totals".into(), json!(false));
    body.insert("statistics_db_event_queue".into(), json!(0));
    body.insert("node".into(), json!(node));
    body.insert("message_stats".into(), if global_stats { message_stats(&o.totals, &o.rates, StatsOf::Broker) } else { json!({}) });
    let mut queue_totals = Map::new();
    queue_lengths(&mut queue_totals, o.messages_ready, o.messages_unacknowledged);
    body.insert("queue_totals".into(), Value::Object(queue_totals));
    body.insert(
        "object_totals".into(),
        json!({"channels": o.channels, "connections": o.connections, "consumers": o.consumers, "exchanges": o.exchanges, "queues": o.queues}),
    );
    body.insert("churn_rates".into(), json!({}));
    let listeners: Vec<Value> = listeners
        .iter()
        .map(|l| json!({"node": node, "protocol": l.protocol, "ip_address": l.addr.ip().to_string(), "port": l.addr.port(), "socket_opts": {}}))
        .collect();
    body.insert("listeners".into(), Value::Array(listeners));
    body.insert("contexts".into(), json!([]));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::FieldValue;
    use crate::{MessageCounters, MessageRates, PeerAddress};

    fn counters(publish: u64, routed: u64) -> MessageCounters {
        MessageCounters { publish, routed, ..Default::default() }
    }

    #[test]
    fn queues_have_rabbitmqs_fields() {
        let q = QueueInfo {
            vhost: "/".into(),
            name: "q".into(),
            durable: true,
            auto_delete: false,
            exclusive: false,
            arguments: FieldTable::from([("x-max-length", FieldValue::I64(10))]),
            kind: "classic",
            messages_ready: 2,
            messages_unacknowledged: 1,
            message_bytes_ready: 10,
            consumers: 1,
            stats: counters(3, 0),
            rates: MessageRates { publish: 0.26, ..Default::default() },
            policy: Some("p".into()),
        };
        let policy = Policy {
            vhost: "/".into(),
            name: "p".into(),
            pattern: ".*".into(),
            apply_to: crate::management::policy::ApplyTo::All,
            priority: 0,
            definition: FieldTable::from([("max-length", FieldValue::I64(5))]),
        };
        let v = queue(&q, "warren@localhost", &[policy]);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "name",
            "vhost",
            "durable",
            "auto_delete",
            "exclusive",
            "arguments",
            "type",
            "node",
            "state",
            "consumers",
            "policy",
            "operator_policy",
            "effective_policy_definition",
            "exclusive_consumer_tag",
            "single_active_consumer_tag",
            "head_message_timestamp",
            "messages",
            "messages_details",
            "messages_ready",
            "messages_ready_details",
            "messages_unacknowledged",
            "messages_unacknowledged_details",
            "message_bytes_ready",
            "message_stats",
        ];
        let mut keys = keys.clone();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(v["arguments"], json!({"x-max-length": 10}));
        assert_eq!((v["messages"].clone(), v["messages_details"].clone()), (json!(3), json!({"rate": 0.0})));
        assert_eq!(v["effective_policy_definition"], json!({"max-length": 5}));
        assert_eq!(v["node"], "warren@localhost");
        // Queues have no confirm/return/drop counters; rates to a tenth.
        assert_eq!(v["message_stats"]["publish_details"], json!({"rate": 0.3}));
        assert!(v["message_stats"].get("confirm").is_none() && v["message_stats"].get("publish_in").is_none());
    }

    #[test]
    fn exchanges_show_stats_only_after_traffic() {
        let mut x = ExchangeInfo {
            vhost: "/".into(),
            name: "x".into(),
            kind: "topic",
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::new(),
            stats: MessageCounters::default(),
            rates: MessageRates::default(),
        };
        let quiet = exchange(&x, "guest");
        assert_eq!(
            quiet,
            json!({"name": "x", "vhost": "/", "type": "topic", "durable": true, "auto_delete": false, "internal": false,
                   "arguments": {}, "user_who_performed_action": "guest"})
        );
        x.stats = counters(2, 1);
        let busy = exchange(&x, "guest");
        assert_eq!(
            busy["message_stats"],
            json!({"publish_in": 2, "publish_in_details": {"rate": 0.0}, "publish_out": 1, "publish_out_details": {"rate": 0.0}})
        );
    }

    #[test]
    fn properties_keys_quote_like_rabbitmq() {
        assert_eq!(properties_key("", &FieldTable::new()), "~");
        assert_eq!(properties_key("a.#", &FieldTable::new()), "a.%23");
        assert_eq!(properties_key("a b~c", &FieldTable::new()), "a+b%7Ec");
        // RabbitMQ's key for `a.#` with {"x-foo": "bar"}.
        let args = FieldTable::from([("x-foo", FieldValue::str("bar"))]);
        assert_eq!(properties_key("a.#", &args), "a.%23~EDqv5Q");
        let b = BindingInfo {
            vhost: "/".into(),
            source: "x".into(),
            destination: "q".into(),
            destination_type: "queue",
            routing_key: "a.#".into(),
            arguments: args,
        };
        assert_eq!(
            binding(&b),
            json!({"source": "x", "vhost": "/", "destination": "q", "destination_type": "queue", "routing_key": "a.#",
                   "arguments": {"x-foo": "bar"}, "properties_key": "a.%23~EDqv5Q"})
        );
    }

    fn socket(peer: &str, local: Option<&str>) -> PeerAddress {
        PeerAddress::Socket { peer: peer.parse().unwrap(), local: local.map(|l| l.parse().unwrap()) }
    }

    #[test]
    fn peer_addresses_as_rabbitmq_shows_them() {
        let both = socket("127.0.0.1:50312", Some("127.0.0.1:5672"));
        assert_eq!(both.connection_name(), "127.0.0.1:50312 -> 127.0.0.1:5672");
        assert_eq!(
            (both.peer_host().as_str(), both.peer_port(), both.local()),
            ("127.0.0.1", Some(50312), Some("127.0.0.1:5672".parse().unwrap()))
        );
        let mapped = socket("[::ffff:10.0.0.1]:7", None);
        assert_eq!(mapped.connection_name(), "[::ffff:10.0.0.1]:7");
        assert_eq!((mapped.peer_host().as_str(), mapped.peer_port(), mapped.local()), ("10.0.0.1", Some(7), None));
        let tab = PeerAddress::Named("in-tab".into());
        assert_eq!((tab.connection_name().as_str(), tab.peer_host().as_str(), tab.peer_port()), ("in-tab", "in-tab", None));
    }

    fn conn(transport: Transport) -> ConnectionInfo {
        ConnectionInfo {
            id: 1,
            name: "10.0.0.1:4000 -> 10.0.0.2:5672".into(),
            peer: socket("10.0.0.1:4000", Some("10.0.0.2:5672")),
            transport,
            user: "guest".into(),
            vhost: "/".into(),
            state: "running",
            channels: 1,
            connected_at: 5,
            client_properties: FieldTable::from([("connection_name", FieldValue::str("app"))]),
            frame_max: 131072,
            channel_max: 2047,
            heartbeat: 60,
            recv_octets: 10,
            sent_octets: 20,
        }
    }

    #[test]
    fn connections_channels_and_consumers() {
        let c = connection(&conn(Transport::Tcp), "n");
        assert_eq!((c["peer_host"].clone(), c["peer_port"].clone(), c["port"].clone()), (json!("10.0.0.1"), json!(4000), json!(5672)));
        assert_eq!(
            (c["protocol"].clone(), c["type"].clone(), c["user_provided_name"].clone()),
            (json!("AMQP 0-9-1"), json!("network"), json!("app"))
        );
        assert_eq!((c["recv_oct"].clone(), c["send_oct_details"].clone()), (json!(10), json!({"rate": 0.0})));
        let ws = connection(&conn(Transport::WebSocket), "n");
        assert_eq!(ws["protocol"], "Web AMQP 0-9-1");
        let tab = connection(
            &ConnectionInfo { name: "in-tab".into(), peer: PeerAddress::Named("in-tab".into()), ..conn(Transport::InProcess) },
            "n",
        );
        assert_eq!(
            (tab["type"].clone(), tab["peer_host"].clone(), tab["peer_port"].clone()),
            (json!("direct"), json!("in-tab"), Value::Null)
        );

        let ch = ChannelInfo {
            connection: 1,
            connection_name: "10.0.0.1:4000 -> 10.0.0.2:5672".into(),
            peer: socket("10.0.0.1:4000", Some("10.0.0.2:5672")),
            number: 3,
            user: "guest".into(),
            vhost: "/".into(),
            state: "running",
            consumers: 1,
            messages_unacknowledged: 0,
            prefetch_count: 10,
            global_prefetch_count: 0,
            confirm: true,
            transactional: false,
            stats: counters(4, 0),
            rates: MessageRates::default(),
        };
        let v = channel(&ch, "n");
        assert_eq!(v["name"], "10.0.0.1:4000 -> 10.0.0.2:5672 (3)");
        assert_eq!(v["connection_details"], json!({"name": "10.0.0.1:4000 -> 10.0.0.2:5672", "peer_host": "10.0.0.1", "peer_port": 4000}));
        assert_eq!(v["message_stats"]["publish"], 4);
        assert!(v["message_stats"].get("get_empty").is_none());

        let k = ConsumerInfo {
            vhost: "/".into(),
            queue: "q".into(),
            consumer_tag: "c1".into(),
            connection: 1,
            connection_name: ch.connection_name.clone(),
            peer: ch.peer.clone(),
            channel: 3,
            ack_required: true,
            prefetch_count: 10,
            exclusive: false,
            active: false,
            priority: 0,
            arguments: FieldTable::new(),
        };
        let v = consumer(&k, &[conn(Transport::Tcp)], "n");
        assert_eq!(v["activity_status"], "waiting");
        assert_eq!(v["channel_details"]["user"], "guest");
        assert_eq!(v["channel_details"]["name"], "10.0.0.1:4000 -> 10.0.0.2:5672 (3)");
        assert_eq!(v["queue"], json!({"name": "q", "vhost": "/"}));
    }

    #[test]
    fn overview_totals_and_listeners() {
        let o = Overview {
            connections: 1,
            channels: 2,
            exchanges: 7,
            queues: 1,
            consumers: 0,
            messages_ready: 3,
            messages_unacknowledged: 1,
            messages_stored: 4,
            totals: counters(3, 3),
            rates: MessageRates::default(),
        };
        let listeners = [Listener { protocol: "amqp", addr: "127.0.0.1:5672".parse().unwrap() }];
        let v = overview(&o, "warren@localhost", &listeners, true);
        assert_eq!(v["rabbitmq_version"], "3.10.8");
        assert_eq!((v["node"].clone(), v["cluster_name"].clone()), (json!("warren@localhost"), json!("warren@localhost")));
        assert_eq!(v["queue_totals"]["messages"], 4);
        assert_eq!(v["object_totals"], json!({"channels": 2, "connections": 1, "consumers": 0, "exchanges": 7, "queues": 1}));
        assert_eq!(v["message_stats"]["publish"], 3);
        assert_eq!(
            v["listeners"],
            json!([{"node": "warren@localhost", "protocol": "amqp", "ip_address": "127.0.0.1", "port": 5672, "socket_opts": {}}])
        );
        assert_eq!(overview(&o, "n", &[], false)["message_stats"], json!({}));
    }
}
