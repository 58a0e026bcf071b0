//! `/api/bindings...`, `/api/exchanges/{vhost}/{name}/bindings/{source,destination}`
//! and `/api/queues/{vhost}/{name}/bindings`.
//!
//! A binding is addressed by its "properties key"
//! (`broker_core::management::json::properties_key`): the routing key
//! URL-quoted, plus `~` and a hash of the arguments when there are any, the
//! very key RabbitMQ gives for the same binding.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use broker_core::amqp::method::{ExchangeBind, ExchangeUnbind, QueueBind, QueueUnbind};
use broker_core::amqp::Method;
use broker_core::management::info::BindingInfo;
use broker_core::management::json::{binding as binding_json, properties_key};

use super::auth::authenticate;
use super::convert::json_to_table;
use super::error::{ApiError, ApiResult};
use super::exchanges::{find as find_exchange, path_name};
use super::request::{str_field, Req};
use super::{reply, Ctx};

/// Percent-encodes one path segment (for the `Location` header).
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn all_in(ctx: &Ctx, vhost: Option<String>) -> ApiResult<Vec<BindingInfo>> {
    Ok(ctx.core.call(move |b| b.bindings(vhost.as_deref())).await?)
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let all = all_in(&ctx, None).await?;
    reply::list(&req.query, all.iter().filter(|b| user.sees_vhost(&b.vhost)).map(binding_json).collect())
}

pub async fn list_in(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let all = all_in(&ctx, Some(vhost)).await?;
    reply::list(&req.query, all.iter().map(binding_json).collect())
}

pub async fn of_source(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let x = find_exchange(&ctx, &vhost, &name).await?;
    let all = all_in(&ctx, Some(vhost)).await?;
    reply::list(&req.query, all.iter().filter(|b| b.source == x.name).map(binding_json).collect())
}

pub async fn of_exchange_destination(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let x = find_exchange(&ctx, &vhost, &name).await?;
    let all = all_in(&ctx, Some(vhost)).await?;
    let items = all.iter().filter(|b| b.destination_type == "exchange" && b.destination == x.name).map(binding_json).collect();
    reply::list(&req.query, items)
}

pub async fn of_queue(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let (v, n) = (vhost.clone(), name.clone());
    if ctx.core.call(move |b| b.queue_counts(&v, &n).is_none()).await? {
        return Err(ApiError::object_not_found());
    }
    let all = all_in(&ctx, Some(vhost)).await?;
    let items = all.iter().filter(|b| b.destination_type == "queue" && b.destination == name).map(binding_json).collect();
    reply::list(&req.query, items)
}

/// `q` or `e` in binding paths.
fn destination_type(dtype: &str) -> ApiResult<&'static str> {
    match dtype {
        "q" => Ok("queue"),
        "e" => Ok("exchange"),
        _ => Err(ApiError::object_not_found()),
    }
}

/// Bindings from `source` to `destination`, after checking both exist.
async fn between_in(ctx: &Ctx, vhost: &str, source: &str, dtype: &str, destination: &str) -> ApiResult<Vec<BindingInfo>> {
    let kind = destination_type(dtype)?;
    let x = find_exchange(ctx, vhost, source).await?;
    let (v, d) = (vhost.to_string(), destination.to_string());
    let dest_exists = ctx
        .core
        .call(move |b| match kind {
            "queue" => b.queue_counts(&v, &d).is_some(),
            _ => b.exchanges(Some(&v)).iter().any(|x| x.name == d),
        })
        .await?;
    if !dest_exists {
        return Err(ApiError::object_not_found());
    }
    let all = all_in(ctx, Some(vhost.to_string())).await?;
    Ok(all.into_iter().filter(|b| b.source == x.name && b.destination_type == kind && b.destination == destination).collect())
}

type BetweenPath = (String, String, String, String);

pub async fn between(ctx: Ctx, Path((vhost, source, dtype, destination)): Path<BetweenPath>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let found = between_in(&ctx, &vhost, &source, &dtype, &destination).await?;
    reply::list(&req.query, found.iter().map(binding_json).collect())
}

/// Binds as the user: 201 with `Location: {destination}/{properties key}`
/// relative to the request path, as RabbitMQ answers.
pub async fn create(ctx: Ctx, Path((vhost, source, dtype, destination)): Path<BetweenPath>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let kind = destination_type(&dtype)?;
    user.require_vhost_login(&vhost)?;
    let body = req.json()?;
    let routing_key = str_field(&body, "routing_key")?.to_string();
    let arguments = json_to_table(body.get("arguments"))?;
    let location = format!("{}/{}", encode_segment(&destination), encode_segment(&properties_key(&routing_key, &arguments)));
    let source = path_name(&source).to_string();
    let method: Method = if kind == "queue" {
        QueueBind { queue: destination.into(), exchange: source.into(), routing_key: routing_key.into(), arguments, ..Default::default() }
            .into()
    } else {
        ExchangeBind {
            destination: destination.into(),
            source: source.into(),
            routing_key: routing_key.into(),
            arguments,
            ..Default::default()
        }
        .into()
    };
    let who = user.name;
    let outcome = ctx.core.call(move |b| b.execute(&who, &vhost, method)).await?;
    outcome.map_err(ApiError::direct)?;
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

type BindingPath = (String, String, String, String, String);

async fn find(ctx: &Ctx, (vhost, source, dtype, destination, props): &BindingPath) -> ApiResult<BindingInfo> {
    let found = between_in(ctx, vhost, source, dtype, destination).await?;
    found.into_iter().find(|b| properties_key(&b.routing_key, &b.arguments) == *props).ok_or_else(ApiError::object_not_found)
}

pub async fn show(ctx: Ctx, Path(path): Path<BindingPath>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&path.0)?;
    let b = find(&ctx, &path).await?;
    Ok(reply::object(&req.query, binding_json(&b)))
}

pub async fn delete(ctx: Ctx, Path(path): Path<BindingPath>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&path.0)?;
    let b = find(&ctx, &path).await?;
    user.require_vhost_login(&path.0)?;
    let method: Method = if b.destination_type == "queue" {
        QueueUnbind {
            queue: b.destination.into(),
            exchange: b.source.into(),
            routing_key: b.routing_key.into(),
            arguments: b.arguments,
            ..Default::default()
        }
        .into()
    } else {
        ExchangeUnbind {
            destination: b.destination.into(),
            source: b.source.into(),
            routing_key: b.routing_key.into(),
            arguments: b.arguments,
            ..Default::default()
        }
        .into()
    };
    let (who, vhost) = (user.name, path.0);
    let outcome = ctx.core.call(move |b| b.execute(&who, &vhost, method)).await?;
    outcome.map(|_| reply::no_content()).map_err(ApiError::direct)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_encode_the_properties_key() {
        assert_eq!(encode_segment("a.%23~x"), "a.%2523~x");
    }
}
