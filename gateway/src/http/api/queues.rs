//! `/api/queues[/{vhost}[/{name}]]`, purge (`DELETE .../contents`), `POST
//! .../get`, and Warren's extension `GET .../browse?count=N`: up to N ready
//! messages (default 10, at most 1000) in delivery order, left in the queue,
//! in the same shape as `get` returns them (`encoding`, `truncate` too).

use axum::extract::Path;
use axum::response::Response;
use broker_core::amqp::method::{QueueDeclare, QueueDelete, QueuePurge};
use broker_core::management::json::{self, consumer as consumer_json, message as message_to_json, queue as queue_json, Encoding};
use serde_json::{json, Value};

use super::auth::authenticate;
use super::convert::json_to_table;
use super::error::{ApiError, ApiResult};
use super::request::{bool_field, int_value, Req};
use super::{reply, Ctx};

/// Browse returns at most this many messages.
const MAX_BROWSE: usize = 1000;

async fn listed(ctx: &Ctx, req: &Req, vhost: Option<String>) -> ApiResult<Response> {
    let user = authenticate(ctx, req).await?;
    if let Some(v) = &vhost {
        user.require_vhost(v)?;
    }
    let (queues, policies, node) =
        ctx.core.call(move |b| (b.queues(vhost.as_deref()), b.policies(None), b.config().cluster_name.clone())).await?;
    let items = queues.iter().filter(|q| user.sees_vhost(&q.vhost)).map(|q| queue_json(q, &node, &policies)).collect();
    reply::list(&req.query, items)
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    listed(&ctx, &req, None).await
}

pub async fn list_in(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    listed(&ctx, &req, Some(vhost)).await
}

async fn exists(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<()> {
    let (v, n) = (vhost.to_string(), name.to_string());
    if ctx.core.call(move |b| b.queue_counts(&v, &n).is_some()).await? {
        Ok(())
    } else {
        Err(ApiError::object_not_found())
    }
}

pub async fn show(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let (queue, policies, consumers, conns, node) = ctx
        .core
        .call(move |b| {
            let q = b.queues(Some(&vhost)).into_iter().find(|q| q.name == name);
            (q, b.policies(None), b.consumers(), b.connections(), b.config().cluster_name.clone())
        })
        .await?;
    let q = queue.ok_or_else(ApiError::object_not_found)?;
    let mut body = queue_json(&q, &node, &policies);
    let details: Vec<Value> =
        consumers.iter().filter(|c| c.vhost == q.vhost && c.queue == q.name).map(|c| consumer_json(c, &conns, &node)).collect();
    body["consumer_details"] = Value::Array(details);
    body["deliveries"] = json!([]);
    body["incoming"] = json!([]);
    Ok(reply::object(&req.query, body))
}

/// Declares the queue as the user (201 created, 204 if it existed).
pub async fn put(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost_login(&vhost)?;
    let body = req.json()?;
    let method = QueueDeclare {
        queue: name.as_str().into(),
        durable: bool_field(&body, "durable")?,
        auto_delete: bool_field(&body, "auto_delete")?,
        arguments: json_to_table(body.get("arguments"))?,
        ..Default::default()
    };
    let who = user.name;
    let outcome = ctx
        .core
        .call(move |b| {
            let existed = b.queue_counts(&vhost, &name).is_some();
            b.execute(&who, &vhost, method.into()).map(|_| !existed)
        })
        .await?;
    outcome.map(reply::created).map_err(ApiError::direct)
}

/// Deletes the queue; `?if-empty=true` and `?if-unused=true` as in AMQP.
pub async fn delete(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    exists(&ctx, &vhost, &name).await?;
    user.require_vhost_login(&vhost)?;
    let method = QueueDelete {
        queue: name.as_str().into(),
        if_empty: req.query.flag("if-empty"),
        if_unused: req.query.flag("if-unused"),
        ..Default::default()
    };
    let who = user.name;
    let outcome = ctx.core.call(move |b| b.execute(&who, &vhost, method.into())).await?;
    outcome.map(|_| reply::no_content()).map_err(ApiError::direct)
}

pub async fn purge(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    exists(&ctx, &vhost, &name).await?;
    user.require_vhost_login(&vhost)?;
    let method = QueuePurge { queue: name.as_str().into(), ..Default::default() };
    let who = user.name;
    let outcome = ctx.core.call(move |b| b.execute(&who, &vhost, method.into())).await?;
    outcome.map(|_| reply::no_content()).map_err(ApiError::direct)
}

fn encoding(v: &Value) -> ApiResult<Encoding> {
    json::encoding(v).map_err(ApiError::bad_request)
}

fn truncate(v: Option<&Value>) -> ApiResult<Option<usize>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => int_value(v)
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(json!(["not_int", "truncate"]))),
    }
}

/// RabbitMQ's "get messages": takes up to `count` messages as the user and
/// acks, requeues or rejects them as `ackmode` says.
pub async fn get_messages(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (body, values) = req.json_with(&["ackmode", "count", "encoding"])?;
    user.require_vhost(&vhost)?;
    user.require_vhost_login(&vhost)?;
    let mode = json::ack_mode(&values[0]).map_err(ApiError::bad_request)?;
    let count =
        int_value(&values[1]).and_then(|n| usize::try_from(n).ok()).ok_or_else(|| ApiError::bad_request(json!(["not_int", "count"])))?;
    let enc = encoding(&values[2])?;
    let trunc = truncate(body.get("truncate"))?;
    let who = user.name;
    let outcome = ctx.core.call(move |b| b.get_as(&who, &vhost, &name, count, mode)).await?;
    let messages = outcome.map_err(ApiError::channel)?;
    let items = messages.iter().map(|m| message_to_json(m, enc, trunc)).collect();
    Ok(reply::object(&req.query, Value::Array(items)))
}

/// Warren's extension: the queue's first ready messages, not consumed.
/// Needs read permission on the queue, like a get.
pub async fn browse(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let q = &req.query;
    let count = match q.get("count") {
        None => 10,
        Some(c) => c.parse::<usize>().map_err(|_| ApiError::bad_request(json!(["not_int", "count"])))?.min(MAX_BROWSE),
    };
    let enc = match q.get("encoding") {
        None => Encoding::Auto,
        Some(e) => encoding(&json!(e))?,
    };
    let trunc = truncate(q.get("truncate").map(|t| json!(t)).as_ref())?;
    user.require_vhost_login(&vhost)?;
    // The read permission a basic.get would need (unanchored, empty = none).
    let (who, v, n) = (user.name.clone(), vhost.clone(), name.clone());
    let may_read = ctx
        .core
        .call(move |b| {
            b.permissions()
                .into_iter()
                .find(|p| p.user == who && p.vhost == v)
                .is_some_and(|p| !p.read.is_empty() && regex_lite::Regex::new(&p.read).is_ok_and(|r| r.is_match(&n)))
        })
        .await?;
    if !may_read {
        return Err(ApiError::not_authorised(format!(
            "ACCESS_REFUSED - access to queue '{name}' in vhost '{vhost}' refused for user '{}'",
            user.name
        )));
    }
    let found = ctx.core.call(move |b| b.browse(&vhost, &name, count)).await?;
    let messages = found.ok_or_else(ApiError::object_not_found)?;
    let items = messages.iter().map(|m| message_to_json(m, enc, trunc)).collect();
    Ok(reply::object(&req.query, Value::Array(items)))
}
