//! `/api/permissions[/{vhost}/{user}]`, `/api/users/{user}/permissions` and
//! `/api/vhosts/{vhost}/permissions` (administrators only).

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::definitions::permission_json;
use broker_core::Permission;
use serde_json::Value;

use super::auth::authenticate;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

async fn listed(ctx: &Ctx, req: &Req, keep: impl Fn(&Permission) -> bool) -> ApiResult<Response> {
    let all = ctx.core.call(|b| b.permissions()).await?;
    reply::list(&req.query, all.iter().filter(|p| keep(p)).map(permission_json).collect())
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    listed(&ctx, &req, |_| true).await
}

pub async fn of_user(ctx: Ctx, Path(user): Path<String>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let u = user.clone();
    if !ctx.core.call(move |b| b.user(&u).is_some()).await? {
        return Err(ApiError::object_not_found());
    }
    listed(&ctx, &req, |p| p.user == user).await
}

pub async fn of_vhost(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::object_not_found());
    }
    listed(&ctx, &req, |p| p.vhost == vhost).await
}

pub async fn show(ctx: Ctx, Path((vhost, user)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let all = ctx.core.call(|b| b.permissions()).await?;
    match all.iter().find(|p| p.vhost == vhost && p.user == user) {
        Some(p) => Ok(reply::object(&req.query, permission_json(p))),
        None => Err(ApiError::object_not_found()),
    }
}

pub async fn put(ctx: Ctx, Path((vhost, user)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let (_, values) = req.json_with(&["configure", "write", "read"])?;
    let text = |v: &Value| v.as_str().map(str::to_string).ok_or_else(|| ApiError::bad_request("permissions must be strings"));
    let p = Permission { user, vhost, configure: text(&values[0])?, write: text(&values[1])?, read: text(&values[2])? };
    let outcome = ctx
        .core
        .call(move |b| {
            if b.user(&p.user).is_none() || !b.vhost_names().contains(&p.vhost) {
                return Err("vhost_or_user_not_found".to_string());
            }
            let existed = b.permissions().iter().any(|e| e.user == p.user && e.vhost == p.vhost);
            b.set_permission(p).map(|()| !existed)
        })
        .await?;
    match outcome {
        Ok(created) => Ok(reply::created(created)),
        Err(reason) => Err(ApiError::bad_request(reason)),
    }
}

pub async fn delete(ctx: Ctx, Path((vhost, user)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    if ctx.core.call(move |b| b.clear_permission(&user, &vhost)).await? {
        Ok(reply::no_content())
    } else {
        Err(ApiError::object_not_found())
    }
}
