//! Messages as the management API shows and takes them: properties both
//! ways, a message as `get` and `browse` return it (payload as a string
//! when it is UTF-8, else base64), and the request values that choose how
//! (`ackmode`, `encoding`), with RabbitMQ's reasons for bad ones.

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{int_value, json_to_table, table_to_json};
use crate::amqp::{BasicProperties, ShortStr};
use crate::management::info::MessageView;
use crate::management::AckMode;

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

/// Message properties from JSON (`properties` of a publish). Integer fields
/// that are not integers, or do not fit (an octet for `delivery_mode` and
/// `priority`), give RabbitMQ's `["not_int", field]`.
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

/// How a message body is shown: `auto` (a string when it is UTF-8, else
/// base64) or always `base64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Auto,
    Base64,
}

/// `encoding` of a get: `"auto"` or `"base64"`.
pub fn encoding(v: &Value) -> Result<Encoding, Value> {
    match v.as_str() {
        Some("auto") => Ok(Encoding::Auto),
        Some("base64") => Ok(Encoding::Base64),
        _ => Err(json!("Unsupported encoding. Please use auto or base64.")),
    }
}

/// `ackmode` of a get. RabbitMQ answers an unknown one with an empty 500;
/// this says why instead.
pub fn ack_mode(v: &Value) -> Result<AckMode, Value> {
    v.as_str().and_then(AckMode::parse).ok_or_else(|| json!(["unsupported_ackmode", v]))
}

/// One message as `POST /api/queues/{vhost}/{name}/get` returns it;
/// `truncate` cuts the payload to that many octets (`payload_bytes` is
/// still the whole size).
pub fn message(m: &MessageView, encoding: Encoding, truncate: Option<usize>) -> Value {
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
    use crate::amqp::FieldValue;
    use bytes::Bytes;

    #[test]
    fn properties_round_trip_and_the_empty_quirk() {
        assert_eq!(properties_to_json(&BasicProperties::default()), json!([]));
        let v = json!({"delivery_mode": 2, "priority": 3, "content_type": "text/plain", "headers": {"h": 1}, "timestamp": 17, "type": "t",
                       "cluster_id": "c"});
        let p = json_to_properties(&v).unwrap();
        assert_eq!(p.delivery_mode, Some(2));
        assert_eq!(p.kind.as_deref(), Some("t"));
        assert_eq!(properties_to_json(&p), v);
        let p = json_to_properties(&json!({"delivery_mode": "2", "headers": {"k": 1}})).unwrap();
        assert_eq!((p.delivery_mode, p.headers.unwrap().get("k").cloned()), (Some(2), Some(FieldValue::I64(1))));
        assert_eq!(json_to_properties(&json!({"priority": "high"})).unwrap_err(), json!(["not_int", "priority"]));
        assert_eq!(json_to_properties(&json!({"delivery_mode": "x"})).unwrap_err(), json!(["not_int", "delivery_mode"]));
        // Out of an octet's range is refused, not truncated.
        assert_eq!(json_to_properties(&json!({"delivery_mode": 258})).unwrap_err(), json!(["not_int", "delivery_mode"]));
        assert_eq!(json_to_properties(&json!([])).unwrap(), BasicProperties::default());
        assert_eq!(json_to_properties(&json!("x")).unwrap_err(), json!("properties must be an object"));
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
        let j = message(&m, Encoding::Auto, None);
        assert_eq!((j["payload"].as_str(), j["payload_encoding"].as_str()), (Some("////"), Some("base64")));
        assert_eq!(j["properties"], json!([]));
        let m = MessageView { payload: Bytes::from_static(b"hello"), ..m };
        let j = message(&m, Encoding::Auto, Some(3));
        assert_eq!((j["payload"].as_str(), j["payload_bytes"].as_u64()), (Some("hel"), Some(5)));
        let j = message(&m, Encoding::Base64, None);
        assert_eq!((j["payload"].as_str(), j["payload_encoding"].as_str()), (Some("aGVsbG8="), Some("base64")));
        assert_eq!(
            j,
            json!({"payload_bytes": 5, "redelivered": false, "exchange": "", "routing_key": "q", "message_count": 0,
                   "properties": [], "payload": "aGVsbG8=", "payload_encoding": "base64"})
        );
    }

    #[test]
    fn ack_modes_and_encodings() {
        assert_eq!(ack_mode(&json!("reject_requeue_false")), Ok(AckMode::RejectRequeueFalse));
        assert_eq!(ack_mode(&json!("ack_requeue_true")), Ok(AckMode::AckRequeueTrue));
        assert_eq!(ack_mode(&json!("nack")), Err(json!(["unsupported_ackmode", "nack"])));
        assert_eq!(encoding(&json!("base64")), Ok(Encoding::Base64));
        assert_eq!(encoding(&json!("utf8")), Err(json!("Unsupported encoding. Please use auto or base64.")));
    }
}
