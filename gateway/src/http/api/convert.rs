//! JSON for the API: the conversions shared with the browser bindings live
//! in `broker_core::management::json`; here are the API's error mapping and
//! message rendering (`get`, `browse`).

use base64::Engine;
use broker_core::amqp::{BasicProperties, FieldTable};
use broker_core::management::info::MessageView;
use broker_core::management::json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};

pub use broker_core::management::json::{properties_to_json, table_to_json};

/// A JSON object as a field table (`{}` or absent: empty).
pub fn json_to_table(v: Option<&Value>) -> ApiResult<FieldTable> {
    json::json_to_table(v.unwrap_or(&Value::Null)).map_err(ApiError::bad_request)
}

/// Message properties from JSON (`properties` of a publish).
pub fn json_to_properties(v: &Value) -> ApiResult<BasicProperties> {
    json::json_to_properties(v).map_err(ApiError::bad_request)
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
    use broker_core::amqp::FieldValue;
    use bytes::Bytes;

    #[test]
    fn tables_convert_both_ways() {
        let v = json!({"i": 1, "f": 1.5, "s": "x", "b": true, "n": {"a": -2}, "arr": [1, "two"]});
        let t = json_to_table(Some(&v)).unwrap();
        assert_eq!(t.get("i"), Some(&FieldValue::I64(1)));
        assert_eq!(t.get("f"), Some(&FieldValue::F64(1.5)));
        assert_eq!(t.get("s"), Some(&FieldValue::str("x")));
        assert_eq!(table_to_json(&t), v);
        assert_eq!(json_to_table(Some(&json!({"x": null}))).unwrap_err().reason, json!("null_not_allowed"));
        let odd =
            FieldTable::from([("d", FieldValue::Decimal { scale: 2, value: 150 }), ("v", FieldValue::Void), ("u", FieldValue::U8(7))]);
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
