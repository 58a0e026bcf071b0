//! `/api/policies[/{vhost}[/{name}]]`: listing needs access to the vhost;
//! reading one policy, setting and deleting take the `policymaker` (or
//! `administrator`) tag. Bodies are `{pattern, definition, apply-to,
//! priority}`; validation errors read "Validation failed\n\n...\n" as in
//! RabbitMQ (the entry shape of definitions:
//! `broker_core::management::definitions::policy_from_json`).

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::definitions::{policy_from_json, policy_json};

use super::auth::{authenticate, AuthUser};
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

fn invalid(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Validation failed\n\n{why}\n"))
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
    let policy = policy_from_json(&vhost, &name, &req.json()?).map_err(ApiError::bad_request)?;
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
