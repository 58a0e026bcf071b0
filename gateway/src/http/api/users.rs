//! `/api/users[/{name}]` (administrators only): users with RabbitMQ's
//! salted SHA-256 password hashes. PUT takes `password` or `password_hash`
//! (base64, `rabbit_password_hashing_sha256`), and `tags` as a
//! comma-separated string or an array (the entry shape of definitions:
//! `broker_core::management::definitions::user_from_json`).

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::definitions::{user_from_json, user_json};
use broker_core::User;
use serde_json::Value;

use super::auth::authenticate;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

/// A user as listed, with its limits (`set_user_limits`) as RabbitMQ shows them.
fn user_json_with_limits(u: &User, limits: &[(String, broker_core::Limits)]) -> Value {
    user_json(u, limits.iter().find(|(name, _)| *name == u.name).map(|(_, l)| l))
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let (users, limits) = ctx.core.call(|b| (b.users(), b.user_limits())).await?;
    reply::list(&req.query, users.iter().map(|u| user_json_with_limits(u, &limits)).collect())
}

pub async fn show(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    match ctx.core.call(move |b| (b.user(&name).cloned(), b.user_limits())).await? {
        (Some(u), limits) => Ok(reply::object(&req.query, user_json_with_limits(&u, &limits))),
        (None, _) => Err(ApiError::object_not_found()),
    }
}

pub async fn put(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let body = req.json()?;
    let mut user = user_from_json(&name, &body, &mut crate::clock::seed).map_err(ApiError::bad_request)?;
    let created = ctx
        .core
        .call(move |b| {
            let existing = b.user(&user.name).map(|u| u.loopback_only);
            // RabbitMQ's default loopback_users is [guest]: keep the rule.
            user.loopback_only = existing.unwrap_or(user.name == "guest");
            b.put_user(user);
            existing.is_none()
        })
        .await?;
    Ok(reply::created(created))
}

pub async fn delete(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    if ctx.core.call(move |b| b.delete_user(&name)).await? {
        Ok(reply::no_content())
    } else {
        Err(ApiError::object_not_found())
    }
}
