//! `/api/exchanges[/{vhost}[/{name}]]` and `POST .../publish`. The default
//! exchange is `amq.default` in paths and `""` in bodies, as in RabbitMQ.

use axum::extract::Path;
use axum::response::Response;
use base64::Engine;
use broker_core::amqp::method::{ExchangeDeclare, ExchangeDelete};
use broker_core::management::info::ExchangeInfo;
use broker_core::management::json::exchange as exchange_json;
use bytes::Bytes;
use serde_json::{json, Value};

use super::auth::authenticate;
use super::convert::{json_to_properties, json_to_table};
use super::error::{ApiError, ApiResult};
use super::request::{bool_field, Req};
use super::{reply, Ctx};

/// `amq.default` names the default exchange in paths.
pub fn path_name(name: &str) -> &str {
    if name == "amq.default" {
        ""
    } else {
        name
    }
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let all = ctx.core.call(|b| b.exchanges(None)).await?;
    reply::list(&req.query, all.iter().filter(|x| user.sees_vhost(&x.vhost)).map(|x| exchange_json(x, &user.name)).collect())
}

pub async fn list_in(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let all = ctx.core.call(move |b| b.exchanges(Some(&vhost))).await?;
    reply::list(&req.query, all.iter().map(|x| exchange_json(x, &user.name)).collect())
}

pub async fn find(ctx: &Ctx, vhost: &str, name: &str) -> ApiResult<ExchangeInfo> {
    let (vhost, name) = (vhost.to_string(), path_name(name).to_string());
    let found = ctx.core.call(move |b| b.exchanges(Some(&vhost)).into_iter().find(|x| x.name == name)).await?;
    found.ok_or_else(ApiError::object_not_found)
}

pub async fn show(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let x = find(&ctx, &vhost, &name).await?;
    let mut body = exchange_json(&x, &user.name);
    body["incoming"] = json!([]);
    body["outgoing"] = json!([]);
    Ok(reply::object(&req.query, body))
}

/// Declares the exchange as the user (201 created, 204 if it existed).
pub async fn put(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost_login(&vhost)?;
    let body = req.json()?;
    let kind = match body.get("type") {
        None | Some(Value::Null) => "direct".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("type must be a string")),
    };
    let method = ExchangeDeclare {
        exchange: name.as_str().into(),
        kind: kind.as_str().into(),
        durable: bool_field(&body, "durable")?,
        auto_delete: bool_field(&body, "auto_delete")?,
        internal: bool_field(&body, "internal")?,
        arguments: json_to_table(body.get("arguments"))?,
        ..Default::default()
    };
    let who = user.name;
    let outcome = ctx
        .core
        .call(move |b| {
            let existed = b.exchanges(Some(&vhost)).iter().any(|x| *x.name == *name);
            b.execute(&who, &vhost, method.into()).map(|_| !existed)
        })
        .await?;
    outcome.map(reply::created).map_err(ApiError::direct)
}

pub async fn delete(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let x = find(&ctx, &vhost, &name).await?;
    user.require_vhost_login(&vhost)?;
    let method = ExchangeDelete { exchange: x.name.as_str().into(), if_unused: req.query.flag("if-unused"), ..Default::default() };
    let who = user.name;
    let outcome = ctx.core.call(move |b| b.execute(&who, &vhost, method.into())).await?;
    outcome.map(|_| reply::no_content()).map_err(ApiError::direct)
}

/// Publishes one message as the user: `{"routed": bool}`.
pub async fn publish(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (_, values) = req.json_with(&["routing_key", "properties", "payload", "payload_encoding"])?;
    user.require_vhost(&vhost)?;
    user.require_vhost_login(&vhost)?;
    let [routing_key, properties, payload, encoding] = &values[..] else { unreachable!("four keys asked") };
    let routing_key = routing_key.as_str().map(str::to_string).ok_or_else(|| ApiError::bad_request("routing_key must be a string"))?;
    let Value::String(payload) = payload else { return Err(ApiError::bad_request("payload_not_string")) };
    let body = match encoding.as_str() {
        Some("string") => Bytes::from(payload.clone().into_bytes()),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map(Bytes::from)
            .map_err(|_| ApiError::bad_request(json!(["not_base64", payload])))?,
        _ => return Err(ApiError::bad_request(json!(["unsupported_encoding", encoding]))),
    };
    let properties = json_to_properties(properties)?;
    let exchange = path_name(&name).to_string();
    let who = user.name;
    let outcome = ctx.core.call(move |b| b.publish_as(&who, &vhost, &exchange, &routing_key, &properties, body)).await?;
    let routed = outcome.map_err(ApiError::publish)?;
    Ok(reply::object(&req.query, json!({ "routed": routed })))
}
