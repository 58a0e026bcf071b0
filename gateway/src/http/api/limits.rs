//! `/api/vhost-limits[/{vhost}[/{name}]]` and `/api/user-limits[/{user}[/{name}]]`:
//! RabbitMQ's `set_vhost_limits` (`max-connections`, `max-queues`) and
//! `set_user_limits` (`max-connections`, `max-channels`) over HTTP, with
//! RabbitMQ 3.10's paths, bodies (`{"value": N}`), status codes and error
//! texts. The limits themselves live in the core (`Broker::set_vhost_limits`
//! / `set_user_limits`). As in RabbitMQ a negative value means "no limit";
//! Warren then drops the limit rather than showing `-1`.
//!
//! The JSON shape is the one definitions use (`parameters` entries of
//! component `vhost-limits`, each user's `limits`:
//! `broker_core::management::definitions::limits_json`); also here, the
//! command-line form (`max-connections=N,max-queues=M`).

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::definitions::{limit_mut, limits_json, set_limit, USER_LIMITS, VHOST_LIMITS};
use broker_core::Limits;
use serde_json::{json, Value};

use super::auth::authenticate;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

/// Sets `name` on `l` from a JSON value (negative = no limit).
fn set_from_json(l: &mut Limits, allowed: &[&str], name: &str, value: &Value, user: bool) -> ApiResult<()> {
    set_limit(l, allowed, name, value, user).map_err(ApiError::bad_request)
}

/// The command-line form `max-connections=N,max-queues=M` (`-1` = none).
pub fn limits_from_flag(spec: &str, allowed: &[&str]) -> Result<Limits, String> {
    let mut l = Limits::default();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (name, n) = part.split_once('=').ok_or_else(|| format!("{part}: expected NAME=N"))?;
        let n: i64 = n.trim().parse().map_err(|_| format!("{part}: {n} is not an integer"))?;
        let slot = limit_mut(&mut l, name.trim()).filter(|_| allowed.contains(&name.trim()));
        let slot = slot.ok_or_else(|| format!("unknown limit '{name}' (one of {})", allowed.join(", ")))?;
        *slot = u64::try_from(n).ok();
    }
    Ok(l)
}

fn value_of(req: &Req) -> ApiResult<Value> {
    let body = req.json()?;
    body.get("value").cloned().ok_or_else(|| ApiError::bad_request("[{key_missing,value}]"))
}

// ----- vhost limits -----

fn vhost_entry(vhost: &str, l: &Limits) -> Value {
    json!({"vhost": vhost, "value": limits_json(l)})
}

pub async fn vhosts(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let all = ctx.core.call(|b| b.vhost_limits()).await?;
    let items = all.iter().filter(|(v, _)| user.is_monitor() || user.sees_vhost(v)).map(|(v, l)| vhost_entry(v, l)).collect();
    reply::list(&req.query, items)
}

pub async fn of_vhost(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    if !user.is_monitor() {
        user.require_vhost(&vhost)?;
    } else if !user.vhost_exists(&vhost) {
        return Err(ApiError::object_not_found());
    }
    let all = ctx.core.call(|b| b.vhost_limits()).await?;
    let items = all.iter().filter(|(v, _)| *v == vhost).map(|(v, l)| vhost_entry(v, l)).collect();
    reply::list(&req.query, items)
}

pub async fn put_vhost(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::vhost_not_found());
    }
    let value = value_of(&req)?;
    ctx.core
        .call(move |b| {
            let mut l = b.vhost_limits().into_iter().find(|(v, _)| *v == vhost).map(|(_, l)| l).unwrap_or_default();
            set_from_json(&mut l, VHOST_LIMITS, &name, &value, false)?;
            b.set_vhost_limits(&vhost, l);
            Ok::<_, ApiError>(())
        })
        .await??;
    Ok(reply::no_content())
}

pub async fn delete_vhost(ctx: Ctx, Path((vhost, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::vhost_not_found());
    }
    ctx.core
        .call(move |b| {
            if let Some((_, mut l)) = b.vhost_limits().into_iter().find(|(v, _)| *v == vhost) {
                if let Some(s) = limit_mut(&mut l, &name) {
                    *s = None;
                    b.set_vhost_limits(&vhost, l);
                }
            }
        })
        .await?;
    Ok(reply::no_content())
}

// ----- user limits -----

fn user_entry(user: &str, l: &Limits) -> Value {
    json!({"user": user, "value": limits_json(l)})
}

pub async fn users(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let all = ctx.core.call(|b| b.user_limits()).await?;
    reply::list(&req.query, all.iter().map(|(u, l)| user_entry(u, l)).collect())
}

pub async fn of_user(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let (exists, all) = ctx
        .core
        .call({
            let name = name.clone();
            move |b| (b.user(&name).is_some(), b.user_limits())
        })
        .await?;
    if !exists {
        return Err(ApiError::object_not_found());
    }
    reply::list(&req.query, all.iter().filter(|(u, _)| *u == name).map(|(u, l)| user_entry(u, l)).collect())
}

pub async fn put_user(ctx: Ctx, Path((user, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let value = value_of(&req)?;
    ctx.core
        .call(move |b| {
            if b.user(&user).is_none() {
                return Err(ApiError::bad_request(json!(["no_such_user", user])));
            }
            let mut l = b.user_limits().into_iter().find(|(u, _)| *u == user).map(|(_, l)| l).unwrap_or_default();
            set_from_json(&mut l, USER_LIMITS, &name, &value, true)?;
            b.set_user_limits(&user, l);
            Ok(())
        })
        .await??;
    Ok(reply::no_content())
}

pub async fn delete_user(ctx: Ctx, Path((user, name)): Path<(String, String)>, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?.require_admin()?;
    let found = ctx
        .core
        .call(move |b| {
            if b.user(&user).is_none() {
                return false;
            }
            if let Some((_, mut l)) = b.user_limits().into_iter().find(|(u, _)| *u == user) {
                if let Some(s) = limit_mut(&mut l, &name) {
                    *s = None;
                    b.set_user_limits(&user, l);
                }
            }
            true
        })
        .await?;
    if found {
        Ok(reply::no_content())
    } else {
        Err(ApiError::object_not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::management::definitions::limits_from_json;

    #[test]
    fn flags_and_json_forms() {
        let l = limits_from_flag("max-connections=10,max-queues=5", VHOST_LIMITS).unwrap();
        assert_eq!((l.max_connections, l.max_queues, l.max_channels), (Some(10), Some(5), None));
        assert_eq!(limits_json(&l), json!({"max-connections": 10, "max-queues": 5}));
        assert_eq!(limits_from_json(&limits_json(&l), VHOST_LIMITS, false).unwrap(), l);
        assert!(limits_from_flag("max-channels=1", VHOST_LIMITS).is_err());
        assert!(limits_from_flag("max-channels=x", USER_LIMITS).is_err());
        assert_eq!(limits_from_flag("max-channels=-1", USER_LIMITS).unwrap(), Limits::default());
        let e = limits_from_json(&json!({"max-queues": 1}), USER_LIMITS, true).unwrap_err();
        assert_eq!(e, json!("Unrecognised terms [{<<\"max-queues\">>,1}] in user-limits"));
        let e = limits_from_json(&json!({"max-queues": "x"}), VHOST_LIMITS, false).unwrap_err();
        assert_eq!(e, json!("Validation failed\n\nmax-queues should be a number, actually was <<\"x\">>\n"));
        let mut l = Limits::default();
        let e = set_from_json(&mut l, VHOST_LIMITS, "max-channels", &json!(1), false).unwrap_err();
        assert_eq!(e.reason, json!("Validation failed\n\nUnrecognised terms [{<<\"max-channels\">>,1}] in limits\n"));
    }
}
