//! `/api/users[/{name}]` (administrators only): users with RabbitMQ's
//! salted SHA-256 password hashes. PUT takes `password` or `password_hash`
//! (base64, `rabbit_password_hashing_sha256`), and `tags` as a
//! comma-separated string or an array.

use axum::extract::Path;
use axum::response::Response;
use base64::Engine;
use broker_core::{hash_password, User};
use serde_json::{json, Map, Value};

use super::auth::authenticate;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

pub const HASHING_ALGORITHM: &str = "rabbit_password_hashing_sha256";

pub fn user_json(u: &User) -> Value {
    json!({
        "name": u.name,
        "password_hash": u.password_hash,
        "hashing_algorithm": HASHING_ALGORITHM,
        "tags": u.tags,
        "limits": {},
    })
}

/// A user as listed, with its limits (`set_user_limits`) as RabbitMQ shows them.
pub fn user_json_with_limits(u: &User, limits: &[(String, broker_core::Limits)]) -> Value {
    let mut v = user_json(u);
    if let Some((_, l)) = limits.iter().find(|(name, _)| *name == u.name) {
        v["limits"] = super::limits::limits_json(l);
    }
    v
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

/// Tags as a comma-separated string (RabbitMQ trims around commas) or an array.
pub fn parse_tags(v: &Value) -> ApiResult<Vec<String>> {
    match v {
        Value::String(s) => Ok(s.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect()),
        Value::Array(items) => items
            .iter()
            .map(|t| t.as_str().map(|s| s.trim().to_string()).ok_or_else(|| ApiError::bad_request("tags must be strings")))
            .filter(|t| !matches!(t, Ok(s) if s.is_empty()))
            .collect(),
        _ => Err(ApiError::bad_request("tags must be a string or an array")),
    }
}

/// A user from a PUT body or a definitions entry. Without a password or
/// hash the user gets a random password, i.e. cannot log in with one.
pub fn user_from_json(name: &str, body: &Map<String, Value>, salt: [u8; 4]) -> ApiResult<User> {
    let tags = match body.get("tags") {
        Some(v) => parse_tags(v)?,
        None => return Err(ApiError::bad_request("tags_not_present")),
    };
    if let Some(alg) = body.get("hashing_algorithm").and_then(Value::as_str) {
        if alg != HASHING_ALGORITHM {
            return Err(ApiError::bad_request(format!("unsupported hashing_algorithm '{alg}': only {HASHING_ALGORITHM}")));
        }
    }
    let password_hash = match (body.get("password").and_then(Value::as_str), body.get("password_hash").and_then(Value::as_str)) {
        (Some(p), _) => hash_password(p, salt),
        (None, Some(h)) => {
            if !h.is_empty() && base64::engine::general_purpose::STANDARD.decode(h).is_err() {
                return Err(ApiError::bad_request(json!(["not_base64", h])));
            }
            h.to_string()
        }
        // RabbitMQ stores a random password here.
        (None, None) => hash_password(&format!("{:016x}{:016x}", crate::clock::seed(), crate::clock::seed()), salt),
    };
    Ok(User { name: name.to_string(), password_hash, tags, loopback_only: false })
}

/// Four salt octets for a new hash.
pub fn salt() -> [u8; 4] {
    (crate::clock::seed() as u32).to_le_bytes()
}

pub async fn put(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let body = req.json()?;
    let mut user = user_from_json(&name, &body, salt())?;
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
