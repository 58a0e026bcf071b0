//! AMQP values ↔ JSON, the way RabbitMQ's management plugin converts them
//! (feature `json`): shared by the gateway's HTTP API and the browser
//! bindings, so both show the same data the same way.
//!
//! JSON → field table: integers become signed 64-bit (`l`), other numbers
//! doubles (`d`), strings long strings (`S`), booleans `t`, objects nested
//! tables, arrays arrays; `null` is refused ("null_not_allowed"). Field
//! table → JSON: every integer type is a number, strings and byte arrays
//! are strings, void is null. Errors are RabbitMQ's reasons as JSON values.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::amqp::{BasicProperties, FieldTable, FieldValue, ShortStr};
use crate::broker::stats::{MessageCounters, MessageRates};
use crate::TraceEvent;

pub fn table_to_json(table: &FieldTable) -> Value {
    Value::Object(table.iter().map(|(k, v)| (k.to_string(), value_to_json(v))).collect())
}

pub fn value_to_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Bool(b) => json!(b),
        FieldValue::I8(n) => json!(n),
        FieldValue::U8(n) => json!(n),
        FieldValue::I16(n) => json!(n),
        FieldValue::U16(n) => json!(n),
        FieldValue::I32(n) => json!(n),
        FieldValue::U32(n) => json!(n),
        FieldValue::I64(n) => json!(n),
        FieldValue::F32(f) => json!(f),
        FieldValue::F64(f) => json!(f),
        FieldValue::Decimal { scale, value } => json!(*value as f64 / 10f64.powi(*scale as i32)),
        FieldValue::LongStr(b) | FieldValue::Bytes(b) => json!(String::from_utf8_lossy(b)),
        FieldValue::Array(items) => Value::Array(items.iter().map(value_to_json).collect()),
        FieldValue::Timestamp(t) => json!(t),
        FieldValue::Table(t) => table_to_json(t),
        FieldValue::Void => Value::Null,
    }
}

/// A JSON object as a field table (`null`: empty).
pub fn json_to_table(v: &Value) -> Result<FieldTable, Value> {
    match v {
        Value::Null => Ok(FieldTable::new()),
        Value::Object(m) => {
            let mut t = FieldTable::new();
            for (k, v) in m {
                t.insert(k, json_to_value(v)?);
            }
            Ok(t)
        }
        _ => Err(json!("arguments must be an object")),
    }
}

pub fn json_to_value(v: &Value) -> Result<FieldValue, Value> {
    Ok(match v {
        Value::Null => return Err(json!("null_not_allowed")),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => FieldValue::LongStr(Bytes::from(s.clone().into_bytes())),
        Value::Array(items) => FieldValue::Array(items.iter().map(json_to_value).collect::<Result<_, _>>()?),
        Value::Object(_) => FieldValue::Table(json_to_table(v)?),
    })
}

/// RabbitMQ's rendering of message properties. Quirk kept: with no
/// property set at all it is an empty JSON *array*, `[]`, not `{}`.
pub fn properties_to_json(p: &BasicProperties) -> Value {
    let mut m = Map::new();
    let mut s = |k: &str, v: &Option<ShortStr>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(&**v));
        }
    };
    s("content_type", &p.content_type);
    s("content_encoding", &p.content_encoding);
    s("correlation_id", &p.correlation_id);
    s("reply_to", &p.reply_to);
    s("expiration", &p.expiration);
    s("message_id", &p.message_id);
    s("type", &p.kind);
    s("user_id", &p.user_id);
    s("app_id", &p.app_id);
    s("cluster_id", &p.cluster_id);
    if let Some(h) = &p.headers {
        m.insert("headers".into(), table_to_json(h));
    }
    if let Some(d) = p.delivery_mode {
        m.insert("delivery_mode".into(), json!(d));
    }
    if let Some(pr) = p.priority {
        m.insert("priority".into(), json!(pr));
    }
    if let Some(t) = p.timestamp {
        m.insert("timestamp".into(), json!(t));
    }
    if m.is_empty() {
        json!([])
    } else {
        Value::Object(m)
    }
}

/// An integer as RabbitMQ's management plugin accepts one: a JSON integer
/// or a string of digits.
pub fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Message properties from JSON (`properties` of a publish). Integer fields
/// that are not integers give RabbitMQ's `["not_int", field]`.
pub fn json_to_properties(v: &Value) -> Result<BasicProperties, Value> {
    let empty = Map::new();
    let m = match v {
        Value::Object(m) => m,
        // An empty array is how RabbitMQ itself renders no properties.
        Value::Array(a) if a.is_empty() => &empty,
        Value::Null => &empty,
        _ => return Err(json!("properties must be an object")),
    };
    let text = |k: &str| -> Option<ShortStr> {
        match m.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str().into()),
            Some(other) => Some(other.to_string().as_str().into()),
        }
    };
    let int = |k: &str| -> Result<Option<i64>, Value> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => int_value(v).map(Some).ok_or_else(|| json!(["not_int", k])),
        }
    };
    let octet = |k: &str| -> Result<Option<u8>, Value> { int(k)?.map(|n| u8::try_from(n).map_err(|_| json!(["not_int", k]))).transpose() };
    Ok(BasicProperties {
        content_type: text("content_type"),
        content_encoding: text("content_encoding"),
        headers: match m.get("headers") {
            None | Some(Value::Null) => None,
            Some(h) => Some(json_to_table(h)?),
        },
        delivery_mode: octet("delivery_mode")?,
        priority: octet("priority")?,
        correlation_id: text("correlation_id"),
        reply_to: text("reply_to"),
        expiration: text("expiration"),
        message_id: text("message_id"),
        timestamp: int("timestamp")?.map(|t| t as u64),
        kind: text("type"),
        user_id: text("user_id"),
        app_id: text("app_id"),
        cluster_id: text("cluster_id"),
    })
}

/// Inserts `key: value` and `key_details: {"rate": rate}`, rates to a tenth
/// as RabbitMQ shows them.
pub fn put_stat(m: &mut Map<String, Value>, key: &str, value: u64, rate: f64) {
    m.insert(key.to_string(), json!(value));
    m.insert(format!("{key}_details"), json!({ "rate": (rate * 10.0).round() / 10.0 }));
}

/// `message_stats` for the broker (`global`) or for one queue (queues have
/// no confirm/return/drop counters, as in RabbitMQ).
pub fn message_stats(c: &MessageCounters, r: &MessageRates, global: bool) -> Value {
    let mut m = Map::new();
    put_stat(&mut m, "publish", c.publish, r.publish);
    if global {
        put_stat(&mut m, "confirm", c.confirm, r.confirm);
        put_stat(&mut m, "return_unroutable", c.return_unroutable, r.return_unroutable);
        put_stat(&mut m, "drop_unroutable", c.drop_unroutable, r.drop_unroutable);
    }
    put_stat(&mut m, "deliver", c.deliver, r.deliver);
    put_stat(&mut m, "deliver_no_ack", c.deliver_no_ack, r.deliver_no_ack);
    put_stat(&mut m, "get", c.get, r.get);
    put_stat(&mut m, "get_no_ack", c.get_no_ack, r.get_no_ack);
    put_stat(&mut m, "get_empty", c.get_empty, r.get_empty);
    put_stat(&mut m, "redeliver", c.redeliver, r.redeliver);
    put_stat(&mut m, "ack", c.ack, r.ack);
    put_stat(&mut m, "deliver_get", c.deliver_get(), r.deliver_get());
    Value::Object(m)
}

/// One trace event as JSON: `{"event": kind, "at": ms, "message": id,
/// ...fields}`, as the gateway's trace API and the playground show it.
pub fn trace_event(e: &TraceEvent) -> Value {
    match e {
        TraceEvent::Published { at, message, vhost, exchange, routing_key, connection, channel } => json!({
            "event": "published", "at": at, "message": message, "vhost": vhost, "exchange": exchange,
            "routing_key": routing_key, "connection": client_connection(*connection), "channel": channel}),
        TraceEvent::Routed { at, message, exchange, destination, to_exchange, key, arguments } => json!({
            "event": "routed", "at": at, "message": message, "exchange": exchange, "destination": destination,
            "destination_type": if *to_exchange { "exchange" } else { "queue" }, "routing_key": key,
            "arguments": table_to_json(arguments)}),
        TraceEvent::AlternateExchange { at, message, from, to } => {
            json!({"event": "alternate_exchange", "at": at, "message": message, "from": from, "to": to})
        }
        TraceEvent::Unroutable { at, message, exchange, returned } => {
            json!({"event": "unroutable", "at": at, "message": message, "exchange": exchange, "returned": returned})
        }
        TraceEvent::Enqueued { at, message, queue, expires_at } => {
            json!({"event": "enqueued", "at": at, "message": message, "queue": queue, "expires_at": expires_at})
        }
        TraceEvent::Overflow { at, message, queue, mode } => {
            json!({"event": "overflow", "at": at, "message": message, "queue": queue, "mode": mode})
        }
        TraceEvent::Expired { at, message, queue } => json!({"event": "expired", "at": at, "message": message, "queue": queue}),
        TraceEvent::DeadLettered { at, message, queue, reason, exchange, new_message } => json!({
            "event": "dead_lettered", "at": at, "message": message, "queue": queue, "reason": reason,
            "exchange": exchange, "new_message": new_message}),
        TraceEvent::Delivered { at, message, queue, consumer, connection, channel, delivery_tag, redelivered } => json!({
            "event": "delivered", "at": at, "message": message, "queue": queue, "consumer_tag": consumer,
            "connection": client_connection(*connection), "channel": channel, "delivery_tag": delivery_tag, "redelivered": redelivered}),
        TraceEvent::Acked { at, message, queue } => json!({"event": "acked", "at": at, "message": message, "queue": queue}),
        TraceEvent::Rejected { at, message, queue, requeue } => {
            json!({"event": "rejected", "at": at, "message": message, "queue": queue, "requeue": requeue})
        }
        TraceEvent::Requeued { at, message, queue } => json!({"event": "requeued", "at": at, "message": message, "queue": queue}),
        TraceEvent::Confirmed { at, message, acked } => json!({"event": "confirmed", "at": at, "message": message, "acked": acked}),
    }
}

/// A client connection's id, or null for the management loopback, whose id
/// is beyond what a JavaScript number holds exactly.
fn client_connection(connection: u64) -> Option<u64> {
    (connection < (1 << 53)).then_some(connection)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_convert_both_ways() {
        let v = json!({"i": 1, "f": 1.5, "s": "x", "b": true, "n": {"a": -2}, "arr": [1, "two"]});
        let t = json_to_table(&v).unwrap();
        assert_eq!(t.get("i"), Some(&FieldValue::I64(1)));
        assert_eq!(t.get("f"), Some(&FieldValue::F64(1.5)));
        assert_eq!(table_to_json(&t), v);
        assert_eq!(json_to_table(&json!({"x": null})).unwrap_err(), json!("null_not_allowed"));
        assert_eq!(properties_to_json(&BasicProperties::default()), json!([]));
        let p = json_to_properties(&json!({"delivery_mode": "2", "headers": {"k": 1}})).unwrap();
        assert_eq!((p.delivery_mode, p.headers.unwrap().get("k").cloned()), (Some(2), Some(FieldValue::I64(1))));
        assert_eq!(json_to_properties(&json!({"priority": "high"})).unwrap_err(), json!(["not_int", "priority"]));
    }
}
