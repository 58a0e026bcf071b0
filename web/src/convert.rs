//! Core values → plain data for JavaScript, shaped after RabbitMQ's
//! management API JSON (so `www/js` views read them unchanged), and JSON
//! → AMQP field tables the way RabbitMQ's management plugin converts them.
//! Pure Rust: the native tests exercise it without a JavaScript engine.

use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, ShortStr};
use broker_core::management::info::{
    BindingInfo, ChannelInfo, ConnectionInfo, ConsumerInfo, ExchangeInfo, MessageView, Overview, QueueInfo,
};
use broker_core::{MessageCounters, MessageRates};
use serde::Serialize;
use serde_json::{json, Value};

use broker_core::management::json;
pub use broker_core::management::json::{table_to_json, value_to_json};

/// A JSON object as a field table, RabbitMQ's way (see
/// `broker_core::management::json`).
pub fn json_to_table(v: &Value) -> Result<FieldTable, String> {
    json::json_to_table(&whole_numbers(v)).map_err(|e| reason(&e))
}

pub fn json_to_value(v: &Value) -> Result<FieldValue, String> {
    json::json_to_value(&whole_numbers(v)).map_err(|e| reason(&e))
}

/// serde-wasm-bindgen hands whole JS numbers over as floats when they are
/// not safe integers: keep whole ones integers, as JSON text would.
fn whole_numbers(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.as_i64().is_none() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => v.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(whole_numbers).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), whole_numbers(v))).collect()),
        _ => v.clone(),
    }
}

fn reason(e: &Value) -> String {
    e.as_str().map_or_else(|| e.to_string(), str::to_string)
}

/// RabbitMQ's `message_stats`, with an exchange's `publish_in`/`publish_out`.
pub fn message_stats(c: &MessageCounters, r: &MessageRates) -> Value {
    let mut v = json::message_stats(c, r, true);
    if let Value::Object(m) = &mut v {
        json::put_stat(m, "publish_out", c.routed, r.routed);
        json::put_stat(m, "publish_in", c.publish, r.publish);
    }
    v
}

#[derive(Serialize, Debug, Clone)]
pub struct QueueTotals {
    pub messages: u64,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
}

#[derive(Serialize, Debug, Clone)]
pub struct ObjectTotals {
    pub connections: usize,
    pub channels: usize,
    pub exchanges: usize,
    pub queues: usize,
    pub consumers: usize,
}

#[derive(Serialize, Debug, Clone)]
pub struct OverviewView {
    pub now: u64,
    pub cluster_name: String,
    pub rabbitmq_version: &'static str,
    pub product_name: &'static str,
    pub queue_totals: QueueTotals,
    pub object_totals: ObjectTotals,
    pub messages_stored: usize,
    pub message_stats: Value,
}

pub fn overview(o: &Overview, now: u64, cluster_name: &str) -> OverviewView {
    OverviewView {
        now,
        cluster_name: cluster_name.to_string(),
        rabbitmq_version: "3.10.8",
        product_name: "Warren (in-tab)",
        queue_totals: QueueTotals {
            messages: o.messages_ready + o.messages_unacknowledged,
            messages_ready: o.messages_ready,
            messages_unacknowledged: o.messages_unacknowledged,
        },
        object_totals: ObjectTotals {
            connections: o.connections,
            channels: o.channels,
            exchanges: o.exchanges,
            queues: o.queues,
            consumers: o.consumers,
        },
        messages_stored: o.messages_stored,
        message_stats: message_stats(&o.totals, &o.rates),
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct QueueView {
    pub vhost: String,
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive: bool,
    pub arguments: Value,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub messages: u64,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    pub message_bytes_ready: u64,
    pub consumers: usize,
    pub policy: Option<String>,
    pub state: &'static str,
    pub message_stats: Value,
}

pub fn queue(q: &QueueInfo) -> QueueView {
    QueueView {
        vhost: q.vhost.clone(),
        name: q.name.clone(),
        durable: q.durable,
        auto_delete: q.auto_delete,
        exclusive: q.exclusive,
        arguments: table_to_json(&q.arguments),
        kind: q.kind,
        messages: q.messages_ready as u64 + q.messages_unacknowledged as u64,
        messages_ready: q.messages_ready as u64,
        messages_unacknowledged: q.messages_unacknowledged as u64,
        message_bytes_ready: q.message_bytes_ready as u64,
        consumers: q.consumers,
        policy: q.policy.clone(),
        state: "running",
        message_stats: message_stats(&q.stats, &q.rates),
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct ExchangeView {
    pub vhost: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: Value,
    pub message_stats: Value,
}

pub fn exchange(x: &ExchangeInfo) -> ExchangeView {
    ExchangeView {
        vhost: x.vhost.clone(),
        name: x.name.clone(),
        kind: x.kind,
        durable: x.durable,
        auto_delete: x.auto_delete,
        internal: x.internal,
        arguments: table_to_json(&x.arguments),
        message_stats: message_stats(&x.stats, &x.rates),
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct BindingView {
    pub vhost: String,
    pub source: String,
    pub destination: String,
    pub destination_type: &'static str,
    pub routing_key: String,
    pub arguments: Value,
    pub properties_key: String,
}

pub fn binding(b: &BindingInfo) -> BindingView {
    BindingView {
        vhost: b.vhost.clone(),
        source: b.source.clone(),
        destination: b.destination.clone(),
        destination_type: b.destination_type,
        routing_key: b.routing_key.clone(),
        arguments: table_to_json(&b.arguments),
        properties_key: if b.routing_key.is_empty() { "~".into() } else { b.routing_key.clone() },
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct ConsumerView {
    pub queue: NameVhost,
    pub consumer_tag: String,
    pub channel_details: ChannelRef,
    pub ack_required: bool,
    pub prefetch_count: u16,
    pub exclusive: bool,
    pub active: bool,
    pub priority: i32,
    pub arguments: Value,
}

#[derive(Serialize, Debug, Clone)]
pub struct NameVhost {
    pub name: String,
    pub vhost: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct ChannelRef {
    pub connection: u64,
    pub connection_name: String,
    pub number: u16,
    pub name: String,
}

pub fn consumer(c: &ConsumerInfo) -> ConsumerView {
    ConsumerView {
        queue: NameVhost { name: c.queue.clone(), vhost: c.vhost.clone() },
        consumer_tag: c.consumer_tag.clone(),
        channel_details: ChannelRef {
            connection: c.connection,
            connection_name: c.connection_name.clone(),
            number: c.channel,
            name: format!("{} ({})", c.connection_name, c.channel),
        },
        ack_required: c.ack_required,
        prefetch_count: c.prefetch_count,
        exclusive: c.exclusive,
        active: c.active,
        priority: c.priority,
        arguments: table_to_json(&c.arguments),
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct ChannelView {
    pub name: String,
    pub connection: u64,
    pub connection_details: NameOnly,
    pub number: u16,
    pub user: String,
    pub vhost: String,
    pub consumer_count: usize,
    pub messages_unacknowledged: usize,
    pub prefetch_count: u16,
    pub global_prefetch_count: u16,
    pub confirm: bool,
    pub transactional: bool,
    pub message_stats: Value,
}

#[derive(Serialize, Debug, Clone)]
pub struct NameOnly {
    pub name: String,
}

pub fn channel(c: &ChannelInfo) -> ChannelView {
    ChannelView {
        name: format!("{} ({})", c.connection_name, c.number),
        connection: c.connection,
        connection_details: NameOnly { name: c.connection_name.clone() },
        number: c.number,
        user: c.user.clone(),
        vhost: c.vhost.clone(),
        consumer_count: c.consumers,
        messages_unacknowledged: c.messages_unacknowledged,
        prefetch_count: c.prefetch_count,
        global_prefetch_count: c.global_prefetch_count,
        confirm: c.confirm,
        transactional: c.transactional,
        message_stats: message_stats(&c.stats, &c.rates),
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct ConnectionView {
    pub id: u64,
    pub name: String,
    pub peer_host: String,
    pub user: String,
    pub vhost: String,
    pub state: &'static str,
    pub channels: usize,
    pub connected_at: u64,
    pub client_properties: Value,
    pub frame_max: u32,
    pub channel_max: u16,
    pub timeout: u16,
    pub recv_oct: u64,
    pub send_oct: u64,
    pub protocol: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

pub fn connection(c: &ConnectionInfo) -> ConnectionView {
    ConnectionView {
        id: c.id,
        name: c.name.clone(),
        peer_host: c.peer.clone(),
        user: c.user.clone(),
        vhost: c.vhost.clone(),
        state: c.state,
        channels: c.channels,
        connected_at: c.connected_at,
        client_properties: table_to_json(&c.client_properties),
        frame_max: c.frame_max,
        channel_max: c.channel_max,
        timeout: c.heartbeat,
        recv_oct: c.recv_octets,
        send_oct: c.sent_octets,
        protocol: "AMQP 0-9-1",
        kind: "network",
    }
}

fn short(s: &Option<ShortStr>) -> Option<String> {
    s.as_ref().map(|v| v.to_string())
}

/// Message properties as RabbitMQ's management API names them.
#[derive(Serialize, Debug, Clone, Default)]
pub struct PropertiesView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_mode: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

pub fn properties(p: &BasicProperties) -> PropertiesView {
    PropertiesView {
        content_type: short(&p.content_type),
        content_encoding: short(&p.content_encoding),
        headers: p.headers.as_ref().map(table_to_json),
        delivery_mode: p.delivery_mode,
        priority: p.priority,
        correlation_id: short(&p.correlation_id),
        reply_to: short(&p.reply_to),
        expiration: short(&p.expiration),
        message_id: short(&p.message_id),
        timestamp: p.timestamp,
        kind: short(&p.kind),
        user_id: short(&p.user_id),
        app_id: short(&p.app_id),
    }
}

/// Properties from a plain object with RabbitMQ's names (as the HTTP API's
/// publish takes them).
pub fn properties_from_json(v: &Value) -> Result<BasicProperties, String> {
    let mut p = BasicProperties::default();
    let Value::Object(m) = v else { return Ok(p) };
    let s = |k: &str| {
        m.get(k).and_then(|v| match v {
            Value::String(s) => Some(ShortStr::from(s.as_str())),
            Value::Number(n) => Some(ShortStr::from(n.to_string())),
            _ => None,
        })
    };
    p.content_type = s("content_type");
    p.content_encoding = s("content_encoding");
    p.correlation_id = s("correlation_id");
    p.reply_to = s("reply_to");
    p.expiration = s("expiration");
    p.message_id = s("message_id");
    p.kind = s("type");
    p.user_id = s("user_id");
    p.app_id = s("app_id");
    p.delivery_mode = m.get("delivery_mode").and_then(Value::as_u64).map(|v| v as u8);
    p.priority = m.get("priority").and_then(Value::as_u64).map(|v| v as u8);
    p.timestamp = m.get("timestamp").and_then(Value::as_u64);
    if let Some(h) = m.get("headers") {
        p.headers = Some(json_to_table(h)?);
    }
    Ok(p)
}

#[derive(Serialize, Debug, Clone)]
pub struct MessageOut {
    pub exchange: String,
    pub routing_key: String,
    pub redelivered: bool,
    pub message_count: u32,
    pub properties: PropertiesView,
    pub payload: String,
    pub payload_bytes: usize,
    pub payload_encoding: &'static str,
}

pub fn message(m: &MessageView) -> MessageOut {
    MessageOut {
        exchange: m.exchange.clone(),
        routing_key: m.routing_key.clone(),
        redelivered: m.redelivered,
        message_count: m.message_count,
        properties: properties(&m.properties),
        payload: String::from_utf8_lossy(&m.payload).into_owned(),
        payload_bytes: m.payload.len(),
        payload_encoding: "string",
    }
}
