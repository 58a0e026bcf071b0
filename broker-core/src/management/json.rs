//! The management data as JSON, the way RabbitMQ 3.10's management plugin
//! shows and takes it (feature `json`). One set of conversions for the
//! gateway's HTTP API and the browser bindings, so the playground shows
//! exactly what the API returns for the same objects:
//!
//! * here: AMQP values ↔ JSON, and counters as `message_stats`;
//! * [`objects`]: queues, exchanges, bindings, connections, channels,
//!   consumers and the overview;
//! * [`messages`]: message properties both ways and messages as `get`
//!   returns them;
//! * [`trace`]: trace events.
//!
//! JSON → field table: integers become signed 64-bit (`l`), other numbers
//! doubles (`d`), strings long strings (`S`), booleans `t`, objects nested
//! tables, arrays arrays; `null` is refused ("null_not_allowed"). Field
//! table → JSON: every integer type is a number, strings and byte arrays
//! are strings, void is null. Errors are RabbitMQ's reasons as JSON values.
//!
//! No I/O and no clock: what only a driver knows (the node's name, its
//! listeners, the acting user) is an argument.

pub mod messages;
pub mod objects;
mod phash2;
pub mod trace;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::amqp::{FieldTable, FieldValue};
use crate::{MessageCounters, MessageRates};

pub use messages::{ack_mode, encoding, json_to_properties, message, properties_to_json, Encoding};
pub use objects::{binding, channel, connection, consumer, exchange, overview, properties_key, queue, Listener};
pub use trace::trace_event;

/// The version of RabbitMQ's management API these shapes follow; clients
/// gate features on `rabbitmq_version`/`management_version`.
pub const RABBITMQ_VERSION: &str = "3.10.8";

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

/// An integer as RabbitMQ's management plugin accepts one: a JSON integer
/// or a string of digits.
pub fn int_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean field of a request body or definitions entry: JSON
/// true/false or the strings "true"/"false"; absent is false.
pub fn bool_field(body: &Map<String, Value>, key: &str) -> Result<bool, Value> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(_) => Err(json!(["not_bool", key])),
    }
}

/// RabbitMQ's `[{key_missing,routing_key},...]`: an Erlang term printed
/// with `~p`, which wraps lines past 80 columns.
pub fn keys_missing(keys: &[&str]) -> String {
    let items: Vec<String> = keys.iter().map(|k| format!("{{key_missing,{k}}}")).collect();
    let one_line = format!("[{}]", items.join(","));
    if one_line.len() > 80 {
        format!("[{}]", items.join(",\n "))
    } else {
        one_line
    }
}

/// A refusal's reason as text (logs, start-up errors, JavaScript errors):
/// a string as it is, an Erlang term as its JSON.
pub fn reason_text(reason: &Value) -> String {
    reason.as_str().map_or_else(|| reason.to_string(), str::to_string)
}

/// Inserts `key: value` and `key_details: {"rate": rate}`, rates to a tenth
/// as RabbitMQ shows them.
pub fn put_stat(m: &mut Map<String, Value>, key: &str, value: u64, rate: f64) {
    m.insert(key.to_string(), json!(value));
    m.insert(format!("{key}_details"), json!({ "rate": (rate * 10.0).round() / 10.0 }));
}

/// `messages`, `messages_ready`, `messages_unacknowledged` with details
/// (queue lengths; their rate of change is not tracked: 0.0).
pub fn queue_lengths(m: &mut Map<String, Value>, ready: u64, unacked: u64) {
    put_stat(m, "messages", ready + unacked, 0.0);
    put_stat(m, "messages_ready", ready, 0.0);
    put_stat(m, "messages_unacknowledged", unacked, 0.0);
}

/// Whose `message_stats` these are: RabbitMQ shows each a different set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsOf {
    /// The whole broker (`/api/overview`): every counter.
    Broker,
    /// A queue: no confirm, return or drop counters.
    Queue,
    /// A channel: what it published, confirmed, received and acked.
    Channel,
}

/// `message_stats` for the broker, a queue or a channel.
pub fn message_stats(c: &MessageCounters, r: &MessageRates, of: StatsOf) -> Value {
    let mut m = Map::new();
    put_stat(&mut m, "publish", c.publish, r.publish);
    if of != StatsOf::Queue {
        put_stat(&mut m, "confirm", c.confirm, r.confirm);
    }
    if of == StatsOf::Broker {
        put_stat(&mut m, "return_unroutable", c.return_unroutable, r.return_unroutable);
        put_stat(&mut m, "drop_unroutable", c.drop_unroutable, r.drop_unroutable);
    }
    put_stat(&mut m, "deliver", c.deliver, r.deliver);
    put_stat(&mut m, "deliver_no_ack", c.deliver_no_ack, r.deliver_no_ack);
    put_stat(&mut m, "get", c.get, r.get);
    put_stat(&mut m, "get_no_ack", c.get_no_ack, r.get_no_ack);
    if of != StatsOf::Channel {
        put_stat(&mut m, "get_empty", c.get_empty, r.get_empty);
    }
    put_stat(&mut m, "redeliver", c.redeliver, r.redeliver);
    put_stat(&mut m, "ack", c.ack, r.ack);
    put_stat(&mut m, "deliver_get", c.deliver_get(), r.deliver_get());
    Value::Object(m)
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
        assert_eq!(t.get("s"), Some(&FieldValue::str("x")));
        assert_eq!(table_to_json(&t), v);
        assert_eq!(json_to_table(&json!({"x": null})).unwrap_err(), json!("null_not_allowed"));
        assert_eq!(json_to_table(&Value::Null).unwrap(), FieldTable::new());
        assert_eq!(json_to_table(&json!([1])).unwrap_err(), json!("arguments must be an object"));
        let odd =
            FieldTable::from([("d", FieldValue::Decimal { scale: 2, value: 150 }), ("v", FieldValue::Void), ("u", FieldValue::U8(7))]);
        assert_eq!(table_to_json(&odd), json!({"d": 1.5, "v": null, "u": 7}));
    }

    #[test]
    fn stats_come_with_rates_to_a_tenth() {
        let c = MessageCounters { publish: 3, confirm: 2, deliver: 1, get: 1, ..Default::default() };
        let r = MessageRates { publish: 1.26, ..Default::default() };
        let global = message_stats(&c, &r, StatsOf::Broker);
        assert_eq!((global["publish"].clone(), global["publish_details"].clone()), (json!(3), json!({"rate": 1.3})));
        assert_eq!((global["confirm"].clone(), global["deliver_get"].clone()), (json!(2), json!(2)));
        assert!(message_stats(&c, &r, StatsOf::Queue).get("confirm").is_none(), "queues have no confirm counter");
        let mut m = Map::new();
        queue_lengths(&mut m, 2, 1);
        assert_eq!(
            Value::Object(m),
            json!({"messages": 3, "messages_details": {"rate": 0.0}, "messages_ready": 2, "messages_ready_details": {"rate": 0.0},
                   "messages_unacknowledged": 1, "messages_unacknowledged_details": {"rate": 0.0}})
        );
    }
}
