//! `GET /api/overview` and `GET /api/whoami`.

use axum::response::Response;
use serde_json::{json, Map, Value};

use super::auth::authenticate;
use super::error::ApiResult;
use super::request::Req;
use super::stats::{message_stats, queue_lengths, RABBITMQ_COMPAT_VERSION};
use super::{reply, Ctx};

const EXCHANGE_TYPES: &[&str] = &["direct", "fanout", "headers", "topic"];

pub async fn overview(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (o, cluster, queues, conns, consumers) =
        ctx.core.call(|b| (b.overview(), b.config().cluster_name.clone(), b.queues(None), b.connections(), b.consumers())).await?;
    let node = cluster.clone();
    let mut body = Map::new();
    body.insert("management_version".into(), json!(RABBITMQ_COMPAT_VERSION));
    body.insert("rates_mode".into(), json!("basic"));
    body.insert(
        "exchange_types".into(),
        Value::Array(
            EXCHANGE_TYPES
                .iter()
                .map(|t| json!({"name": t, "description": format!("AMQP {t} exchange, as per the AMQP specification"), "enabled": true}))
                .collect(),
        ),
    );
    body.insert("product_version".into(), json!(env!("CARGO_PKG_VERSION")));
    body.insert("product_name".into(), json!("Warren"));
    body.insert("rabbitmq_version".into(), json!(RABBITMQ_COMPAT_VERSION));
    body.insert("cluster_name".into(), json!(cluster));
    body.insert("disable_stats".into(), json!(false));
    body.insert("enable_queue_totals".into(), json!(false));
    body.insert("statistics_db_event_queue".into(), json!(0));
    body.insert("node".into(), json!(node));
    // Monitors see the whole broker; other users only their vhosts (and,
    // as in RabbitMQ, no global message rates).
    let mut queue_totals = Map::new();
    if user.is_monitor() {
        body.insert("message_stats".into(), message_stats(&o.totals, &o.rates, true));
        queue_lengths(&mut queue_totals, o.messages_ready, o.messages_unacknowledged);
        body.insert(
            "object_totals".into(),
            json!({"channels": o.channels, "connections": o.connections, "consumers": o.consumers, "exchanges": o.exchanges, "queues": o.queues}),
        );
    } else {
        body.insert("message_stats".into(), json!({}));
        let mine: Vec<_> = queues.iter().filter(|q| user.has_permissions_on(&q.vhost)).collect();
        let ready = mine.iter().map(|q| q.messages_ready as u64).sum();
        let unacked = mine.iter().map(|q| q.messages_unacknowledged as u64).sum();
        queue_lengths(&mut queue_totals, ready, unacked);
        let own_conns: Vec<_> = conns.iter().filter(|c| c.user == user.name).collect();
        let exchanges = ctx.core.call(|b| b.exchanges(None)).await?;
        body.insert(
            "object_totals".into(),
            json!({
                "channels": own_conns.iter().map(|c| c.channels).sum::<usize>(),
                "connections": own_conns.len(),
                "consumers": consumers.iter().filter(|c| user.has_permissions_on(&c.vhost)).count(),
                "exchanges": exchanges.iter().filter(|x| user.has_permissions_on(&x.vhost)).count(),
                "queues": mine.len(),
            }),
        );
    }
    body.insert("queue_totals".into(), Value::Object(queue_totals));
    body.insert("churn_rates".into(), json!({}));
    let listeners: Vec<Value> = ctx
        .listeners
        .iter()
        .map(|l| json!({"node": node, "protocol": l.protocol, "ip_address": l.addr.ip().to_string(), "port": l.addr.port(), "socket_opts": {}}))
        .collect();
    body.insert("listeners".into(), Value::Array(listeners));
    body.insert("contexts".into(), json!([]));
    Ok(reply::object(&req.query, Value::Object(body)))
}

pub async fn whoami(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    Ok(reply::object(&req.query, json!({"name": user.name, "tags": user.tags})))
}
