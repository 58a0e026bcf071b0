//! Warren extension: trace one queue of a live broker. `PUT` turns the
//! core's trace events on for the queue (one traced queue at a time; a new
//! PUT replaces it), `GET` returns the events gathered since the last GET
//! (oldest first), `DELETE` turns tracing off. Administrators only: the
//! events show message routing across the vhost.
//!
//! `/api/queues/{vhost}/{name}/trace`

use axum::extract::Path;
use axum::response::Response;
use broker_core::{TraceEvent, TraceFilter};
use serde_json::{json, Value};

use super::auth::authenticate;
use super::convert::table_to_json;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

pub async fn start(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let found = ctx
        .core
        .call(move |b| {
            let exists = b.queues(Some(&vhost)).iter().any(|q| q.name == name);
            if exists {
                b.set_tracing(Some(TraceFilter::Queue { vhost, queue: name }));
            }
            exists
        })
        .await?;
    if !found {
        return Err(ApiError::object_not_found());
    }
    Ok(reply::no_content())
}

pub async fn stop(ctx: Ctx, Path((_vhost, _name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    ctx.core.call(|b| b.set_tracing(None)).await?;
    Ok(reply::no_content())
}

pub async fn events(ctx: Ctx, Path((_vhost, _name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let events: Vec<TraceEvent> = ctx.core.call(|b| std::iter::from_fn(|| b.poll_trace()).collect()).await?;
    Ok(reply::object(&req.query, Value::Array(events.iter().map(event_json).collect())))
}

/// One event as JSON: `{"event": kind, "at": ms, "message": id, ...fields}`.
pub fn event_json(e: &TraceEvent) -> Value {
    match e {
        TraceEvent::Published { at, message, vhost, exchange, routing_key, connection, channel } => json!({
            "event": "published", "at": at, "message": message, "vhost": vhost, "exchange": exchange,
            "routing_key": routing_key, "connection": connection, "channel": channel}),
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
            "connection": connection, "channel": channel, "delivery_tag": delivery_tag, "redelivered": redelivered}),
        TraceEvent::Acked { at, message, queue } => json!({"event": "acked", "at": at, "message": message, "queue": queue}),
        TraceEvent::Rejected { at, message, queue, requeue } => {
            json!({"event": "rejected", "at": at, "message": message, "queue": queue, "requeue": requeue})
        }
        TraceEvent::Requeued { at, message, queue } => json!({"event": "requeued", "at": at, "message": message, "queue": queue}),
        TraceEvent::Confirmed { at, message, acked } => json!({"event": "confirmed", "at": at, "message": message, "acked": acked}),
    }
}
