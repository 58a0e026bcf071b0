//! `/api/policies[/{vhost}[/{name}]]`: listing needs access to the vhost;
//! reading one policy, setting and deleting take the `policymaker` (or
//! `administrator`) tag. Bodies are `{pattern, definition, apply-to,
//! priority}`; validation errors read "Validation failed\n\n...\n" as in
//! RabbitMQ.

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::policy::{ApplyTo, Policy};
use serde_json::{json, Map, Value};

use super::auth::{authenticate, AuthUser};
use super::convert::{json_to_table, table_to_json};
use super::error::{ApiError, ApiResult};
use super::request::{int_value, Req};
use super::{reply, Ctx};

pub fn policy_json(p: &Policy) -> Value {
    json!({
        "vhost": p.vhost,
        "name": p.name,
        "pattern": p.pattern,
        "apply-to": p.apply_to.as_str(),
        "definition": table_to_json(&p.definition),
        "priority": p.priority,
    })
}

fn invalid(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Validation failed\n\n{why}\n"))
}

/// A policy from a PUT body or a definitions entry.
pub fn policy_from_json(vhost: &str, name: &str, body: &Map<String, Value>) -> ApiResult<Policy> {
    let missing: Vec<&str> = ["pattern", "definition"].into_iter().filter(|k| body.get(*k).is_none_or(Value::is_null)).collect();
    if !missing.is_empty() {
        return Err(ApiError::keys_missing(&missing));
    }
    let pattern = body["pattern"].as_str().ok_or_else(|| invalid("pattern should be a string"))?.to_string();
    let definition = match body.get("definition") {
        Some(Value::Object(m)) if m.is_empty() => return Err(invalid("no policy provided")),
        Some(d @ Value::Object(_)) => json_to_table(Some(d))?,
        _ => return Err(invalid("definition should be an object")),
    };
    let apply_to = match body.get("apply-to") {
        None | Some(Value::Null) => ApplyTo::All,
        Some(v) => {
            let s = v.as_str().unwrap_or_default();
            ApplyTo::parse(s).ok_or_else(|| invalid(format!("apply-to '{s}' unrecognised; should be 'queues', 'exchanges' or 'all'")))?
        }
    };
    let priority = match body.get("priority") {
        None | Some(Value::Null) => 0,
        Some(v) => int_value(v).ok_or_else(|| invalid(format!("priority should be a number, actually was {v}")))?,
    };
    Ok(Policy { vhost: vhost.to_string(), name: name.to_string(), pattern, apply_to, priority, definition })
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let all = ctx.core.call(|b| b.policies(None)).await?;
    reply::list(&req.query, all.iter().filter(|p| user.sees_vhost(&p.vhost)).map(policy_json).collect())
}

pub async fn list_in(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    let all = ctx.core.call(move |b| b.policies(Some(&vhost))).await?;
    reply::list(&req.query, all.iter().map(policy_json).collect())
}

fn require_policymaker(user: &AuthUser, vhost: &str) -> ApiResult<()> {
    if user.is_policymaker() && user.sees_vhost(vhost) {
        Ok(())
    } else {
        Err(ApiError::not_authorised("User not authorised to access object"))
    }
}

pub async fn show(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    require_policymaker(&user, &vhost)?;
    let all = ctx.core.call(move |b| b.policies(Some(&vhost))).await?;
    let p = all.iter().find(|p| p.name == name).ok_or_else(ApiError::object_not_found)?;
    Ok(reply::object(&req.query, policy_json(p)))
}

pub async fn put(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::vhost_not_found());
    }
    require_policymaker(&user, &vhost)?;
    let policy = policy_from_json(&vhost, &name, &req.json()?)?;
    let outcome = ctx
        .core
        .call(move |b| {
            let existed = b.policies(Some(&policy.vhost)).iter().any(|p| p.name == policy.name);
            b.set_policy(policy).map(|()| !existed)
        })
        .await?;
    outcome.map(reply::created).map_err(invalid)
}

pub async fn delete(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    require_policymaker(&user, &vhost)?;
    if ctx.core.call(move |b| b.delete_policy(&vhost, &name)).await? {
        Ok(reply::no_content())
    } else {
        Err(ApiError::object_not_found())
    }
}
