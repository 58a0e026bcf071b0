//! JavaScript values → core values. Every shape the playground reads
//! (queues, exchanges, bindings, connections, channels, consumers,
//! messages, the overview) and every conversion of JSON to AMQP values is
//! `broker_core::management::json`'s, the very code behind the gateway's
//! HTTP API, so the playground shows exactly what the API returns. Here
//! are only what JavaScript adds: numbers that arrive as floats, and errors
//! as text. Pure Rust: the native tests exercise it without a JavaScript
//! engine.

use broker_core::amqp::{BasicProperties, FieldTable, FieldValue};
use broker_core::management::json;
use serde_json::{json, Value};

/// A JSON object as a field table, RabbitMQ's way (see
/// `broker_core::management::json`).
pub fn json_to_table(v: &Value) -> Result<FieldTable, String> {
    json::json_to_table(&whole_numbers(v)).map_err(|e| reason(&e))
}

pub fn json_to_value(v: &Value) -> Result<FieldValue, String> {
    json::json_to_value(&whole_numbers(v)).map_err(|e| reason(&e))
}

/// Properties from a plain object with RabbitMQ's names, as the HTTP API's
/// publish takes them (and refuses them: `["not_int","priority"]`, …).
pub fn properties_from_json(v: &Value) -> Result<BasicProperties, String> {
    json::json_to_properties(&whole_numbers(v)).map_err(|e| reason(&e))
}

/// serde-wasm-bindgen hands whole JS numbers over as floats when they are
/// not safe integers: keep whole ones integers, as JSON text would.
pub fn whole_numbers(v: &Value) -> Value {
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

/// A refusal's reason as text: a string as it is, a term as JSON.
pub fn reason(e: &Value) -> String {
    json::reason_text(e)
}
