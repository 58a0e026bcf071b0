//! `/api/connections[/{name}]`, `/api/channels` and `/api/consumers[/{vhost}]`.
//! Users see their own connections and channels; monitors see all;
//! closing another user's connection takes an administrator.

use axum::extract::Path;
use axum::response::Response;
use broker_core::management::info::{ChannelInfo, ConnectionInfo, ConsumerInfo};
use broker_core::Transport;
use serde_json::{json, Map, Value};

use super::auth::{authenticate, AuthUser};
use super::convert::table_to_json;
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::stats::{endpoints, put as put_stat};
use super::{reply, Ctx};

/// The reason RabbitMQ gives when none is set in an `X-Reason` header.
const DEFAULT_CLOSE_REASON: &str = "Closed via management plugin";

fn connection_json(c: &ConnectionInfo, node: &str) -> Value {
    let e = endpoints(&c.peer);
    let mut m = Map::new();
    m.insert("name".into(), json!(c.name));
    m.insert("node".into(), json!(node));
    m.insert("user".into(), json!(c.user));
    m.insert("user_who_performed_action".into(), json!(c.user));
    m.insert("vhost".into(), json!(c.vhost));
    m.insert("state".into(), json!(c.state));
    m.insert("channels".into(), json!(c.channels));
    m.insert("connected_at".into(), json!(c.connected_at));
    m.insert("client_properties".into(), table_to_json(&c.client_properties));
    // The name a client gave itself, as RabbitMQ shows it.
    if let Some(given) = c.client_properties.get("connection_name").and_then(|v| v.as_str()) {
        m.insert("user_provided_name".into(), json!(given));
    }
    m.insert("frame_max".into(), json!(c.frame_max));
    m.insert("channel_max".into(), json!(c.channel_max));
    m.insert("timeout".into(), json!(c.heartbeat));
    m.insert("peer_host".into(), json!(e.peer_host));
    m.insert("peer_port".into(), json!(e.peer_port));
    m.insert("host".into(), json!(e.host));
    m.insert("port".into(), json!(e.port));
    let protocol = match c.transport {
        Transport::WebSocket => "Web AMQP 0-9-1",
        _ => "AMQP 0-9-1",
    };
    m.insert("protocol".into(), json!(protocol));
    m.insert("type".into(), json!(if c.transport == Transport::InProcess { "direct" } else { "network" }));
    m.insert("ssl".into(), json!(false));
    put_stat(&mut m, "recv_oct", c.recv_octets, 0.0);
    put_stat(&mut m, "send_oct", c.sent_octets, 0.0);
    Value::Object(m)
}

fn channel_json(ch: &ChannelInfo, node: &str) -> Value {
    let e = endpoints(&ch.connection_name);
    json!({
        "name": format!("{} ({})", ch.connection_name, ch.number),
        "number": ch.number,
        "node": node,
        "connection_details": {"name": ch.connection_name, "peer_host": e.peer_host, "peer_port": e.peer_port},
        "user": ch.user,
        "user_who_performed_action": ch.user,
        "vhost": ch.vhost,
        "state": ch.state,
        "consumer_count": ch.consumers,
        "messages_unacknowledged": ch.messages_unacknowledged,
        "messages_unconfirmed": 0,
        "messages_uncommitted": 0,
        "acks_uncommitted": 0,
        "prefetch_count": ch.prefetch_count,
        "global_prefetch_count": ch.global_prefetch_count,
        "confirm": ch.confirm,
        "transactional": ch.transactional,
        "message_stats": channel_stats(ch),
    })
}

/// A channel's `message_stats`: what it published, confirmed, received and acked.
fn channel_stats(ch: &ChannelInfo) -> Value {
    let (c, r) = (&ch.stats, &ch.rates);
    let mut m = serde_json::Map::new();
    super::stats::put(&mut m, "publish", c.publish, r.publish);
    super::stats::put(&mut m, "confirm", c.confirm, r.confirm);
    super::stats::put(&mut m, "deliver", c.deliver, r.deliver);
    super::stats::put(&mut m, "deliver_no_ack", c.deliver_no_ack, r.deliver_no_ack);
    super::stats::put(&mut m, "get", c.get, r.get);
    super::stats::put(&mut m, "get_no_ack", c.get_no_ack, r.get_no_ack);
    super::stats::put(&mut m, "redeliver", c.redeliver, r.redeliver);
    super::stats::put(&mut m, "ack", c.ack, r.ack);
    super::stats::put(&mut m, "deliver_get", c.deliver_get(), r.deliver_get());
    Value::Object(m)
}

/// A consumer as RabbitMQ lists it (also in a queue's `consumer_details`).
pub fn consumer_json(c: &ConsumerInfo, conns: &[ConnectionInfo], node: &str) -> Value {
    let e = endpoints(&c.connection_name);
    let user = conns.iter().find(|x| x.id == c.connection).map(|x| x.user.clone()).unwrap_or_default();
    json!({
        "arguments": table_to_json(&c.arguments),
        "ack_required": c.ack_required,
        "active": c.active,
        "activity_status": if c.active { "up" } else { "waiting" },
        "channel_details": {
            "connection_name": c.connection_name,
            "name": format!("{} ({})", c.connection_name, c.channel),
            "node": node,
            "number": c.channel,
            "peer_host": e.peer_host,
            "peer_port": e.peer_port,
            "user": user,
        },
        "consumer_tag": c.consumer_tag,
        "exclusive": c.exclusive,
        "prefetch_count": c.prefetch_count,
        "priority": c.priority,
        "queue": {"name": c.queue, "vhost": c.vhost},
    })
}

fn sees(user: &AuthUser, owner: &str) -> bool {
    user.is_monitor() || user.name == owner
}

pub async fn list(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conns, node) = ctx.core.call(|b| (b.connections(), b.config().cluster_name.clone())).await?;
    reply::list(&req.query, conns.iter().filter(|c| sees(&user, &c.user)).map(|c| connection_json(c, &node)).collect())
}

async fn find(ctx: &Ctx, name: &str) -> ApiResult<(ConnectionInfo, String)> {
    let (conns, node) = ctx.core.call(|b| (b.connections(), b.config().cluster_name.clone())).await?;
    let conn = conns.into_iter().find(|c| c.name == name).ok_or_else(ApiError::object_not_found)?;
    Ok((conn, node))
}

pub async fn show(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conn, node) = find(&ctx, &name).await?;
    if !sees(&user, &conn.user) {
        return Err(ApiError::not_authorised("User not authorised to access object"));
    }
    Ok(reply::object(&req.query, connection_json(&conn, &node)))
}

/// Closes the connection with 320 CONNECTION_FORCED and the `X-Reason`
/// header's text (RabbitMQ's default otherwise).
pub async fn delete(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conn, _) = find(&ctx, &name).await?;
    if !(user.is_admin() || user.name == conn.user) {
        return Err(ApiError::not_authorised("User not authorised to access object"));
    }
    let reason = req.headers.get("x-reason").and_then(|v| v.to_str().ok()).unwrap_or(DEFAULT_CLOSE_REASON).to_string();
    if ctx.core.call(move |b| b.close_connection(conn.id, &reason)).await? {
        Ok(reply::no_content())
    } else {
        Err(ApiError::object_not_found())
    }
}

pub async fn channels(ctx: Ctx, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (chans, node) = ctx.core.call(|b| (b.channels(), b.config().cluster_name.clone())).await?;
    reply::list(&req.query, chans.iter().filter(|c| sees(&user, &c.user)).map(|c| channel_json(c, &node)).collect())
}

pub async fn channels_of(ctx: Ctx, Path(name): Path<String>, req: Req) -> ApiResult<Response> {
    let user = authenticate(&ctx, &req).await?;
    let (conn, node) = find(&ctx, &name).await?;
    if !sees(&user, &conn.user) {
        return Err(ApiError::not_authorised("User not authorised to access object"));
    }
    let chans = ctx.core.call(|b| b.channels()).await?;
    reply::list(&req.query, chans.iter().filter(|c| c.connection == conn.id).map(|c| channel_json(c, &node)).collect())
}

async fn consumers_where(ctx: &Ctx, req: &Req, vhost: Option<String>) -> ApiResult<Response> {
    let user = authenticate(ctx, req).await?;
    let (consumers, conns, node) = ctx.core.call(|b| (b.consumers(), b.connections(), b.config().cluster_name.clone())).await?;
    let items = consumers
        .iter()
        .filter(|c| user.sees_vhost(&c.vhost) && vhost.as_ref().is_none_or(|v| *v == c.vhost))
        .map(|c| consumer_json(c, &conns, &node))
        .collect();
    reply::list(&req.query, items)
}

pub async fn consumers(ctx: Ctx, req: Req) -> ApiResult<Response> {
    consumers_where(&ctx, &req, None).await
}

pub async fn consumers_in(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> ApiResult<Response> {
    consumers_where(&ctx, &req, Some(vhost)).await
}
