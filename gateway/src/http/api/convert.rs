//! JSON for the API: every shape and conversion lives in
//! `broker_core::management::json`, shared with the browser bindings; here
//! its refusals become the API's 400s.

use broker_core::amqp::{BasicProperties, FieldTable};
use broker_core::management::json;
use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// A JSON object as a field table (`{}` or absent: empty).
pub fn json_to_table(v: Option<&Value>) -> ApiResult<FieldTable> {
    json::json_to_table(v.unwrap_or(&Value::Null)).map_err(ApiError::bad_request)
}

/// Message properties from JSON (`properties` of a publish).
pub fn json_to_properties(v: &Value) -> ApiResult<BasicProperties> {
    json::json_to_properties(v).map_err(ApiError::bad_request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::amqp::FieldValue;
    use broker_core::management::json::{properties_to_json, table_to_json};
    use serde_json::json;

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
}
