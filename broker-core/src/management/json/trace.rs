//! Trace events as JSON, as the gateway's trace API and the playground's
//! "why" panel show them.

use serde_json::{json, Value};

use super::table_to_json;
use crate::TraceEvent;

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
