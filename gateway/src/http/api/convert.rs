//! AMQP values ↔ JSON, the way RabbitMQ's management plugin converts them.
//!
//! JSON → field table: integers become signed 64-bit (`l`), other numbers
//! doubles (`d`), strings long strings (`S`), booleans `t`, objects nested
//! tables, arrays arrays; `null` is refused ("null_not_allowed"). Field
//! table → JSON: every integer type is a number, strings and byte arrays
//! are strings, void is null.

use base64::Engine;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue};
use broker_core::management::info::MessageView;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};

pub fn table_to_json(table: &FieldTable) -> Value {
    let mut m = Map::new();
    for (k, v) in table.iter() {
        m.insert(k.to_string(), value_to_json(v));
    }
    Value::Object(m)
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

/// A JSON object as a field table (`{}` or absent: empty).
pub fn json_to_table(v: Option<&Value>) -> ApiResult<FieldTable> {
    match v {
        None | Some(Value::Null) => Ok(FieldTable::new()),
        Some(Value::Object(m)) => {
            let mut t = FieldTable::new();
            for (k, v) in m {
                t.insert(k, json_to_value(v)?);
            }
            Ok(t)
        }
        Some(_) => Err(ApiError::bad_request("arguments must be an object")),
    }
}

pub fn json_to_value(v: &Value) -> ApiResult<FieldValue> {
    Ok(match v {
        Value::Null => return Err(ApiError::bad_request("null_not_allowed")),
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => FieldValue::F64(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => FieldValue::LongStr(Bytes::from(s.clone().into_bytes())),
        Value::Array(items) => FieldValue::Array(items.iter().map(json_to_value).collect::<ApiResult<_>>()?),
        Value::Object(_) => FieldValue::Table(json_to_table(Some(v))?),
    })
}

/// RabbitMQ's rendering of message properties. Quirk kept: with no
/// property set at all it is an empty JSON *array*, `[]`, not `{}`.
pub fn properties_to_json(p: &BasicProperties) -> Value {
    let mut m = Map::new();
    let mut s = |k: &str, v: &Option<broker_core::amqp::ShortStr>| {
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
    if m.is_empty() { json!([]) } else { Value::Object(m) }
}

/// Message properties from JSON (`properties` of a publish). Integer fields
/// that are not integers give RabbitMQ's `["not_int", field]`.
pub fn json_to_properties(v: &Value) -> ApiResult<BasicProperties> {
    let empty = Map::new();
    let m = match v {
        Value::Object(m) => m,
        // An empty array is how RabbitMQ itself renders no properties.
        Value::Array(a) if a.is_empty() => &empty,
        Value::Null => &empty,
        _ => return Err(ApiError::bad_request("properties must be an object")),
    };
    let text = |k: &str| -> ApiResult<Option<broker_core::amqp::ShortStr>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str().into())),
            Some(other) => Ok(Some(other.to_string().as_str().into())),
        }
    };
    let int = |k: &str| -> ApiResult<Option<i64>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => super::request::int_value(v).map(Some).ok_or_else(|| ApiError::bad_request(json!(["not_int", k]))),
        }
    };
    let octet = |k: &str| -> ApiResult<Option<u8>> {
        int(k)?.map(|n| u8::try_from(n).map_err(|_| ApiError::bad_request(json!(["not_int", k])))).transpose()
    };
    Ok(BasicProperties {
        content_type: text("content_type")?,
        content_encoding: text("content_encoding")?,
        headers: match m.get("headers") {
            None | Some(Value::Null) => None,
            Some(h) => Some(json_to_table(Some(h))?),
        },
        delivery_mode: octet("delivery_mode")?,
        priority: octet("priority")?,
        correlation_id: text("correlation_id")?,
        reply_to: text("reply_to")?,
        expiration: text("expiration")?,
        message_id: text("message_id")?,
        timestamp: int("timestamp")?.map(|t| t as u64),
        kind: text("type")?,
        user_id: text("user_id")?,
        app_id: text("app_id")?,
        cluster_id: text("cluster_id")?,
    })
}

/// How a message body is shown: `auto` (a string when it is UTF-8, else
/// base64) or always `base64`; `truncate` cuts it to that many octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Auto,
    Base64,
}

/// One message as `POST /api/queues/{vhost}/{name}/get` returns it.
pub fn message_to_json(m: &MessageView, encoding: Encoding, truncate: Option<usize>) -> Value {
    let body: &[u8] = match truncate {
        Some(n) if n < m.payload.len() => &m.payload[..n],
        _ => &m.payload,
    };
    let (payload, enc) = match (encoding, std::str::from_utf8(body)) {
        (Encoding::Auto, Ok(s)) => (s.to_string(), "string"),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), "base64"),
    };
    json!({
        "payload_bytes": m.payload.len(),
        "redelivered": m.redelivered,
        "exchange": m.exchange,
        "routing_key": m.routing_key,
        "message_count": m.message_count,
        "properties": properties_to_json(&m.properties),
        "payload": payload,
        "payload_encoding": enc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_convert_both_ways() {
        let v = json!({"i": 1, "f": 1.5, "s": "x", "b": true, "n": {"a": -2}, "arr": [1, "two"]});
        let t = json_to_table(Some(&v)).unwrap();
        assert_eq!(t.get("i"), Some(&FieldValue::I64(1)));
        assert_eq!(t.get("f"), Some(&FieldValue::F64(1.5)));
        assert_eq!(t.get("s"), Some(&FieldValue::str("x")));
        assert_eq!(table_to_json(&t), v);
        assert_eq!(json_to_table(Some(&json!({"x": null}))).unwrap_err().reason, json!("null_not_allowed"));
        let odd = FieldTable::from([("d", FieldValue::Decimal { scale: 2, value: 150 }), ("v", FieldValue::Void), ("u", FieldValue::U8(7))]);
        assert_eq!(table_to_json(&odd), json!({"d": 1.5, "v": null, "u": 7}));
    }

    #[test]
    fn properties_round_trip_and_the_empty_quirk() {
        assert_eq!(properties_to_json(&BasicProperties::default()), json!([]));
        let v = json!({"delivery_mode": 2, "priority": 3, "content_type": "text/plain", "headers": {"h": 1}, "timestamp": 17, "type": "t"});
        let p = json_to_properties(&v).unwrap();
        assert_eq!(p.delivery_mode, Some(2));
        assert_eq!(p.kind.as_deref(), Some("t"));
        assert_eq!(properties_to_json(&p), v);
        assert_eq!(json_to_properties(&json!({"delivery_mode": "x"})).unwrap_err().reason, json!(["not_int", "delivery_mode"]));
    }

    #[test]
    fn payloads_are_strings_when_utf8() {
        let m = MessageView {
            exchange: String::new(),
            routing_key: "q".into(),
            redelivered: false,
            properties: BasicProperties::default(),
            payload: Bytes::from_static(b"\xff\xff\xff"),
            message_count: 0,
        };
        let j = message_to_json(&m, Encoding::Auto, None);
        assert_eq!((j["payload"].as_str(), j["payload_encoding"].as_str()), (Some("////"), Some("base64")));
        let m = MessageView { payload: Bytes::from_static(b"hello"), ..m };
        let j = message_to_json(&m, Encoding::Auto, Some(3));
        assert_eq!((j["payload"].as_str(), j["payload_bytes"].as_u64()), (Some("hel"), Some(5)));
    }
}
