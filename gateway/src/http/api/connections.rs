//! `/api/connections[/{name}]`, `/api/channels` and `/api/consumers[/{vhost}]`.
//! Users see their own connections and channels; monitors see all;
//! closing another user's connection takes an administrator.

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::info::ConnectionInfo;
use broker_core::management::json::{channel as channel_json, connection as connection_json, consumer as consumer_json};

use super::auth::{authenticate, AuthUser};
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

/// The reason RabbitMQ gives when none is set in an `X-Reason` header.
const DEFAULT_CLOSE_REASON: &str = "Closed via management plugin";

fn sees(user: &AuthUser, owner: &str) -> bool {
    user.is_monitor() || user.name == owner
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conns, node) = ctx.core.call(|b| (b.connections(), b.config().cluster_name.clone())).await?;
    reply::list(&req.query, conns.iter().filter(|c| sees(&user, &c.user)).map(|c| connection_json(c, &node)).collect())
}

async fn find(ctx: &Ctx, name: &str) -> ApiResult<(ConnectionInfo, String)> {
    let (conns, node) = ctx.core.call(|b| (b.connections(), b.config().cluster_name.clone())).await?;
    let conn = conns.into_iter().find(|c| c.name == name).ok_or_else(ApiError::object_not_found)?;
    Ok((conn, node))
}

pub async fn show(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conn, node) = find(&ctx, &name).await?;
    if !sees(&user, &conn.user) {
        return Err(ApiError::not_authorised("User not authorised to access object"));
    }
    Ok(reply::object(&req.query, connection_json(&conn, &node)))
}

/// Closes the connection with 320 CONNECTION_FORCED and the `X-Reason`
/// header's text (RabbitMQ's default otherwise).
pub async fn delete(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conn, _) = find(&ctx, &name).await?;
    if !(user.is_admin() || user.name == conn.user) {
        return Err(ApiError::not_authorised("User not authorised to access object"));
    }
    let reason = req.headers.get("x-reason").and_then(|v| v.to_str().ok()).unwrap_or(DEFAULT_CLOSE_REASON).to_string();
    if ctx.core.call(move |b| b.close_connection(conn.id, &reason)).await? {
        Ok(reply::no_content())
    } else {
        Err(ApiError::object_not_found())
    }
}

pub async fn channels(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (chans, node) = ctx.core.call(|b| (b.channels(), b.config().cluster_name.clone())).await?;
    reply::list(&req.query, chans.iter().filter(|c| sees(&user, &c.user)).map(|c| channel_json(c, &node)).collect())
}

pub async fn channels_of(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conn, node) = find(&ctx, &name).await?;
    if !sees(&user, &conn.user) {
        return Err(ApiError::not_authorised("User not authorised to access object"));
    }
    let chans = ctx.core.call(|b| b.channels()).await?;
    reply::list(&req.query, chans.iter().filter(|c| c.connection == conn.id).map(|c| channel_json(c, &node)).collect())
}

async fn consumers_where(ctx: &Ctx, req: &Req, vhost: Option<String>) -> ApiResult<Response> {
    let user = authenticate(ctx, req).await?;
    let (consumers, conns, node) = ctx.core.call(|b| (b.consumers(), b.connections(), b.config().cluster_name.clone())).await?;
    let items = consumers
        .iter()
        .filter(|c| user.sees_vhost(&c.vhost) && vhost.as_ref().is_none_or(|v| *v == c.vhost))
        .map(|c| consumer_json(c, &conns, &node))
        .collect();
    reply::list(&req.query, items)
}

pub async fn consumers(ctx: Ctx, req: Req) -> ApiResult<Response> {
    consumers_where(&ctx, &req, None).await
}

pub async fn consumers_in(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    consumers_where(&ctx, &req, Some(vhost)).await
}
