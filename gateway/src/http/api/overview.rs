//! `GET /api/overview` and `GET /api/whoami`.

use axum::response::Response;
use broker_core::management::info::Overview;
use broker_core::management::json;
use serde_json::json;

use super::auth::authenticate;
use super::error::ApiResult;
use super::request::Req;
use super::{reply, Ctx};

pub async fn overview(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (o, node, queues, conns, consumers, exchanges) = ctx
        .core
        .call(|b| (b.overview(), b.config().cluster_name.clone(), b.queues(None), b.connections(), b.consumers(), b.exchanges(None)))
        .await?;
    // Monitors see the whole broker; other users only their vhosts (and,
    // as in RabbitMQ, no global message rates).
    let visible = if user.is_monitor() {
        o
    } else {
        let mine: Vec<_> = queues.iter().filter(|q| user.has_permissions_on(&q.vhost)).collect();
        let own_conns: Vec<_> = conns.iter().filter(|c| c.user == user.name).collect();
        Overview {
            channels: own_conns.iter().map(|c| c.channels).sum(),
            connections: own_conns.len(),
            consumers: consumers.iter().filter(|c| user.has_permissions_on(&c.vhost)).count(),
            exchanges: exchanges.iter().filter(|x| user.has_permissions_on(&x.vhost)).count(),
            queues: mine.len(),
            messages_ready: mine.iter().map(|q| q.messages_ready as u64).sum(),
            messages_unacknowledged: mine.iter().map(|q| q.messages_unacknowledged as u64).sum(),
            ..o
        }
    };
    Ok(reply::object(&req.query, json::overview(&visible, &node, &ctx.listeners, user.is_monitor())))
}

pub async fn whoami(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    Ok(reply::object(&req.query, json!({"name": user.name, "tags": user.tags})))
}
