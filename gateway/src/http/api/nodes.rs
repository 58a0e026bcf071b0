//! `/api/nodes[/{name}]` (monitors) and the health checks that load
//! balancers and Kubernetes probes call: `/api/health/checks/alarms`,
//! `/api/health/checks/virtual-hosts`, `/api/healthchecks/node` and
//! `/api/aliveness-test/{vhost}` (a real declare, publish and get).

use axum::extract::Path;
use axum::response::Response;
use broker_core::amqp::method::QueueDeclare;
use broker_core::amqp::BasicProperties;
use broker_core::management::AckMode;
use bytes::Bytes;
use serde_json::{json, Value};

use super::auth::{authenticate, AuthUser};
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};

fn require_monitor(user: &AuthUser) -> ApiResult<()> {
    if user.is_monitor() { Ok(()) } else { Err(ApiError::not_authorised("Not monitor user")) }
}

async fn node_json(ctx: &Ctx) -> ApiResult<Value> {
    let (name, connections) = ctx.core.call(|b| (b.config().cluster_name.clone(), b.connection_count())).await?;
    Ok(json!({
        "name": name,
        "type": "disc",
        "running": true,
        "uptime": ctx.started.elapsed().as_millis() as u64,
        "mem_used": crate::metrics::resident_bytes(),
        "fd_used": crate::metrics::open_fds(),
        "fd_total": crate::metrics::max_fds(),
        "mem_alarm": false,
        "disk_free_alarm": false,
        "os_pid": std::process::id().to_string(),
        "sockets_used": connections,
        "processors": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "rates_mode": "basic",
        "partitions": [],
        "cluster_links": [],
        "applications": [],
        "contexts": [],
    }))
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    require_monitor(&authenticate(&ctx, &req).await?)?;
    let node = node_json(&ctx).await?;
    reply::list(&req.query, vec![node])
}

pub async fn show(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    require_monitor(&authenticate(&ctx, &req).await?)?;
    let node = node_json(&ctx).await?;
    if node["name"] != name.as_str() {
        return Err(ApiError::object_not_found());
    }
    Ok(reply::object(&req.query, node))
}

/// `{"status":"ok"}`: Warren has a single node and raises no alarms here.
pub async fn ok(ctx: Ctx, req: Req) -> ApiResult<Response> {
    authenticate(&ctx, &req).await?;
    Ok(reply::object(&req.query, json!({"status": "ok"})))
}

/// Declares the `aliveness-test` queue, publishes a message to it and gets
/// it back, as the user, as RabbitMQ does.
pub async fn aliveness(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    user.require_vhost(&vhost)?;
    user.require_vhost_login(&vhost)?;
    let who = user.name;
    let outcome = ctx
        .core
        .call(move |b| {
            let queue = "aliveness-test";
            b.execute(&who, &vhost, QueueDeclare { queue: queue.into(), ..Default::default() }.into())?;
            b.publish_as(&who, &vhost, "", queue, &BasicProperties::default(), Bytes::from_static(b"test_message"))?;
            b.get_as(&who, &vhost, queue, 1, AckMode::AckRequeueFalse)
        })
        .await?;
    match outcome {
        Ok(got) if got.first().is_some_and(|m| &m.payload[..] == b"test_message") => Ok(reply::object(&req.query, json!({"status": "ok"}))),
        Ok(_) => Ok(reply::object(&req.query, json!({"status": "failed", "reason": "message not received"}))),
        Err(e) => Err(ApiError::channel(e)),
    }
}
