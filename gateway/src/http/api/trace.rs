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
use serde_json::Value;

use super::auth::authenticate;
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
    Ok(reply::object(&req.query, Value::Array(events.iter().map(broker_core::management::json::trace_event).collect())))
}
