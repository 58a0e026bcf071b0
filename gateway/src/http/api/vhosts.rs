//! `/api/vhosts[/{vhost}]`: list (every vhost for monitors, the permitted
//! ones otherwise), show, create and delete (administrators).

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::info::{ConnectionInfo, QueueInfo};
use broker_core::management::json::{put_stat, queue_lengths};
use broker_core::Permission;
use serde_json::{json, Map, Value};

use super::auth::authenticate;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

fn vhost_json(name: &str, node: &str, queues: &[QueueInfo], conns: &[ConnectionInfo]) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("description".into(), json!(""));
    m.insert("tags".into(), json!([]));
    m.insert("default_queue_type".into(), json!("undefined"));
    m.insert("metadata".into(), json!({"description": "", "tags": []}));
    m.insert("tracing".into(), json!(false));
    m.insert("cluster_state".into(), Value::Object(Map::from_iter([(node.to_string(), json!("running"))])));
    let mine = queues.iter().filter(|q| q.vhost == name);
    let (ready, unacked) = mine.fold((0u64, 0u64), |(r, u), q| (r + q.messages_ready as u64, u + q.messages_unacknowledged as u64));
    queue_lengths(&mut m, ready, unacked);
    let conns = conns.iter().filter(|c| c.vhost == name);
    let (recv, sent) = conns.fold((0u64, 0u64), |(r, s), c| (r + c.recv_octets, s + c.sent_octets));
    put_stat(&mut m, "recv_oct", recv, 0.0);
    put_stat(&mut m, "send_oct", sent, 0.0);
    Value::Object(m)
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (names, node, queues, conns) =
        ctx.core.call(|b| (b.vhost_names(), b.config().cluster_name.clone(), b.queues(None), b.connections())).await?;
    let items =
        names.iter().filter(|v| user.is_monitor() || user.has_permissions_on(v)).map(|v| vhost_json(v, &node, &queues, &conns)).collect();
    reply::list(&req.query, items)
}

pub async fn show(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if !user.vhost_exists(&vhost) {
        return Err(ApiError::object_not_found());
    }
    let (node, queues, conns) = ctx.core.call(|b| (b.config().cluster_name.clone(), b.queues(None), b.connections())).await?;
    Ok(reply::object(&req.query, vhost_json(&vhost, &node, &queues, &conns)))
}

/// Creates a vhost (201) or accepts an existing one (204). As in RabbitMQ,
/// the user who creates a vhost gets full permissions on it.
pub async fn put(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    req.json()?;
    let actor = user.name.clone();
    let created = ctx
        .core
        .call(move |b| {
            let created = b.add_vhost(&vhost);
            if created {
                let _ = b.set_permission(Permission::all(&actor, &vhost));
            }
            created
        })
        .await?;
    Ok(reply::created(created))
}

pub async fn delete(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_admin()?;
    if ctx.core.call(move |b| b.delete_vhost(&vhost)).await? {
        Ok(reply::no_content())
    } else {
        Err(ApiError::object_not_found())
    }
}
