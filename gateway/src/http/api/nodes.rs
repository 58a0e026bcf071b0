//! `/api/nodes[/{name}]` (monitors) and the health checks that load
//! balancers and Kubernetes probes call, answering as RabbitMQ 3.10 does:
//! 200 `{"status":"ok"}`, or 503 `{"status":"failed","reason":...}`.
//!
//! * `/api/health/checks/alarms` and `.../local-alarms` fail while a
//!   resource alarm is in force, listing the alarms;
//! * `/api/healthchecks/node` fails during an alarm too;
//! * `/api/health/checks/virtual-hosts`: every vhost lives in the one core
//!   task, so it fails when the core does not answer;
//! * `/api/aliveness-test/{vhost}`: a real declare, publish and get; fails
//!   when the message does not come back (e.g. a `max-length` 0 policy on
//!   the `aliveness-test` queue).
//!
//! Every check asks the core, if only to authenticate, within
//! [`Context::health_deadline`](super::Context): a core that is gone or
//! stuck fails the check rather than hanging the probe. Alarms and memory
//! and disk figures come from the resource monitor's latest reading, not
//! from the core.

use std::future::Future;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use broker_core::amqp::method::QueueDeclare;
use broker_core::amqp::BasicProperties;
use broker_core::management::AckMode;
use bytes::Bytes;
use serde_json::{json, Value};

use super::auth::{authenticate, AuthUser};
use super::error::{ApiError, ApiResult};
use super::request::Req;
use super::{reply, Ctx};
use crate::resources::Reading;

fn require_monitor(user: &AuthUser) -> ApiResult<()> {
    if user.is_monitor() {
        Ok(())
    } else {
        Err(ApiError::not_authorised("Not monitor user"))
    }
}

async fn node_json(ctx: &Ctx) -> ApiResult<Value> {
    let (name, connections) = ctx.core.call(|b| (b.config().cluster_name.clone(), b.connection_count())).await?;
    let r = *ctx.resources.borrow();
    Ok(json!({
        "name": name,
        "type": "disc",
        "running": true,
        "uptime": ctx.started.elapsed().as_millis() as u64,
        "mem_used": r.memory_used,
        "mem_limit": r.limits.memory_high_watermark,
        "mem_alarm": r.memory_alarm,
        "disk_free": r.disk_free,
        "disk_free_limit": r.limits.disk_free_limit,
        "disk_free_alarm": r.disk_alarm,
        "fd_used": crate::metrics::open_fds(),
        "fd_total": crate::metrics::max_fds(),
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

/// Why a health check ended without its own verdict.
#[derive(Debug)]
pub enum Trouble {
    /// RabbitMQ's error reply (wrong credentials, unknown vhost, ...).
    Refused(ApiError),
    /// The core task is gone (shutting down).
    CoreGone,
    /// The core did not answer within the deadline.
    TimedOut(Duration),
}

impl IntoResponse for Trouble {
    fn into_response(self) -> Response {
        match self {
            Trouble::Refused(e) => e.into_response(),
            Trouble::CoreGone => failed(json!({"reason": "The broker is shutting down"})),
            Trouble::TimedOut(d) => failed(json!({"reason": format!("The broker did not answer within {} ms", d.as_millis())})),
        }
    }
}

/// Runs a check's work within `deadline`.
async fn within(deadline: Duration, work: impl Future<Output = ApiResult<Response>>) -> Result<Response, Trouble> {
    match tokio::time::timeout(deadline, work).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) if e.is_core_gone() => Err(Trouble::CoreGone),
        Ok(Err(e)) => Err(Trouble::Refused(e)),
        Err(_) => Err(Trouble::TimedOut(deadline)),
    }
}

fn passed(req: &Req) -> Response {
    reply::object(&req.query, json!({"status": "ok"}))
}

/// 503 with `{"status":"failed"}` and `fields` (at least a `reason`).
fn failed(fields: Value) -> Response {
    let mut body = json!({"status": "failed"});
    if let (Some(b), Value::Object(f)) = (body.as_object_mut(), fields) {
        b.extend(f);
    }
    reply::json_response(StatusCode::SERVICE_UNAVAILABLE, &body)
}

/// The alarms in force as (RabbitMQ's resource name, its Erlang atom), in
/// RabbitMQ's order: disk first.
fn in_force(r: &Reading) -> Vec<(&'static str, &'static str)> {
    let mut alarms = Vec::new();
    if r.disk_alarm {
        alarms.push(("disk space", "disk"));
    }
    if r.memory_alarm {
        alarms.push(("memory", "memory"));
    }
    alarms
}

/// Warren is a single node, so the cluster's alarms are the node's.
async fn alarm_check(ctx: Ctx, req: Req, reason: &'static str) -> Result<Response, Trouble> {
    within(ctx.health_deadline, async {
        authenticate(&ctx, &req).await?;
        let alarms = in_force(&ctx.resources.borrow());
        if alarms.is_empty() {
            return Ok(passed(&req));
        }
        let alarms: Vec<Value> = alarms.iter().map(|(resource, _)| json!({"node": ctx.node, "resource": resource})).collect();
        Ok(failed(json!({"reason": reason, "alarms": alarms})))
    })
    .await
}

pub async fn alarms(ctx: Ctx, req: Req) -> Result<Response, Trouble> {
    alarm_check(ctx, req, "There are alarms in effect in the cluster").await
}

pub async fn local_alarms(ctx: Ctx, req: Req) -> Result<Response, Trouble> {
    alarm_check(ctx, req, "There are alarms in effect on the node").await
}

/// Passes when the core, which runs every vhost, answers in time.
pub async fn virtual_hosts(ctx: Ctx, req: Req) -> Result<Response, Trouble> {
    within(ctx.health_deadline, async {
        authenticate(&ctx, &req).await?;
        ctx.core.call(|b| b.vhost_names().len()).await?;
        Ok(passed(&req))
    })
    .await
}

/// RabbitMQ's node check: the node answers (within the `timeout` header's
/// milliseconds, if given) and no resource alarm is in force.
pub async fn node_check(ctx: Ctx, req: Req) -> Result<Response, Trouble> {
    let deadline =
        req.headers.get("timeout").and_then(|v| v.to_str().ok()?.trim().parse().ok()).map_or(ctx.health_deadline, Duration::from_millis);
    let outcome = within(deadline, async {
        authenticate(&ctx, &req).await?;
        let alarms = in_force(&ctx.resources.borrow());
        if alarms.is_empty() {
            return Ok(passed(&req));
        }
        Ok(failed(json!({"reason": alarms_in_effect(&ctx.node, &alarms)})))
    })
    .await;
    match outcome {
        Err(Trouble::TimedOut(_)) => Ok(failed(json!({"reason": format!("node {} health check timed out", atom(&ctx.node))}))),
        other => other,
    }
}

/// `resource alarm(s) in effect:[{resource_limit,disk,NODE}]`, the Erlang
/// list printed as `~p` does: on one line if it fits in 80 columns, else
/// one alarm a line, aligned under the first.
fn alarms_in_effect(node: &str, alarms: &[(&str, &str)]) -> String {
    const PREFIX: &str = "resource alarm(s) in effect:";
    let items: Vec<String> = alarms.iter().map(|(_, a)| format!("{{resource_limit,{a},{}}}", atom(node))).collect();
    let one_line = items.join(",");
    if PREFIX.len() + one_line.len() + 2 <= 80 {
        return format!("{PREFIX}[{one_line}]");
    }
    format!("{PREFIX}[{}]", items.join(&format!(",\n{}", " ".repeat(PREFIX.len() + 1))))
}

/// An atom as Erlang prints it: bare if it starts with a lowercase letter
/// and holds only letters, digits, `_` and `@`; else single-quoted.
fn atom(name: &str) -> String {
    let bare =
        name.starts_with(|c: char| c.is_ascii_lowercase()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
    if bare {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// Declares the `aliveness-test` queue, publishes a message to it and gets
/// it back, as the user, as RabbitMQ does. An error on the way is
/// RabbitMQ's error reply (e.g. 400 for an inequivalent existing queue);
/// no message back fails the check.
pub async fn aliveness(ctx: Ctx, Path(vhost): Path<String>, req: Req) -> Result<Response, Trouble> {
    within(ctx.health_deadline, async {
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
            Ok(got) if !got.is_empty() => Ok(passed(&req)),
            Ok(_) => Ok(failed(json!({"reason": "aliveness-test queue is empty"}))),
            Err(e) => Err(ApiError::channel(e)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core_task::{self, CoreHandle};
    use crate::resources::Limits;
    use axum::body::Body;
    use axum::extract::{ConnectInfo, Request};
    use tokio::sync::watch;
    use tower::ServiceExt;

    const CHECKS: [&str; 5] = [
        "/api/health/checks/alarms",
        "/api/health/checks/local-alarms",
        "/api/health/checks/virtual-hosts",
        "/api/healthchecks/node",
        "/api/aliveness-test/%2F",
    ];

    fn router(core: CoreHandle, deadline: Duration) -> (axum::Router, watch::Sender<Reading>) {
        let limits = Limits { memory_high_watermark: 1 << 30, disk_free_limit: 50_000_000 };
        let (tx, rx) = watch::channel(Reading { memory_used: 1 << 20, disk_free: 1 << 30, limits, ..Default::default() });
        let context = super::super::Context {
            core,
            listeners: Vec::new(),
            started: std::time::Instant::now(),
            node: "warren@localhost".into(),
            resources: rx,
            health_deadline: deadline,
        };
        (super::super::routes(context), tx)
    }

    /// GET as guest from loopback (guest may log in only from there).
    async fn get(api: &axum::Router, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut req = Request::get(path).header("authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::empty()).unwrap();
        req.extensions_mut().insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 5000))));
        let resp = api.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn every_health_check_fails_when_the_core_is_gone() {
        let (sender, receiver) = core_task::channels();
        drop(receiver);
        let (api, _readings) = router(CoreHandle::new(sender), Duration::from_secs(5));
        for path in CHECKS {
            assert_eq!(get(&api, path, &[]).await, (503, json!({"status": "failed", "reason": "The broker is shutting down"})), "{path}");
        }
    }

    #[tokio::test]
    async fn every_health_check_fails_when_the_core_does_not_answer() {
        // The receiver is kept but never read: calls are queued, never run.
        let (sender, _silent) = core_task::channels();
        let (api, _readings) = router(CoreHandle::new(sender.clone()), Duration::from_millis(50));
        for path in CHECKS {
            let reason = if path.ends_with("/node") {
                "node warren@localhost health check timed out"
            } else {
                "The broker did not answer within 50 ms"
            };
            assert_eq!(get(&api, path, &[]).await, (503, json!({"status": "failed", "reason": reason})), "{path}");
        }
        // RabbitMQ's `timeout` header (ms) sets the node check's deadline.
        let (patient, _readings) = router(CoreHandle::new(sender), Duration::from_secs(3600));
        let r = tokio::time::timeout(Duration::from_secs(5), get(&patient, "/api/healthchecks/node", &[("timeout", "30")])).await;
        assert_eq!(r.expect("the header's deadline").0, 503);
    }

    #[tokio::test]
    async fn a_live_core_passes_until_an_alarm_is_in_force() {
        let (sender, receiver) = core_task::channels();
        let broker = broker_core::Broker::new(broker_core::Config::default(), crate::clock::now_ms()).expect("a valid configuration");
        let services = core_task::Services { durable: None, data: None, monitor: None };
        let (stop, shutdown) = watch::channel(false);
        let core = tokio::spawn(core_task::run(broker, services, receiver, shutdown));
        let (api, readings) = router(CoreHandle::new(sender), Duration::from_secs(5));
        for path in CHECKS {
            assert_eq!(get(&api, path, &[]).await, (200, json!({"status": "ok"})), "{path}");
        }
        readings.send_modify(|r| r.disk_alarm = true);
        let alarms = json!([{"node": "warren@localhost", "resource": "disk space"}]);
        let cluster = json!({"status": "failed", "reason": "There are alarms in effect in the cluster", "alarms": alarms});
        assert_eq!(get(&api, CHECKS[0], &[]).await, (503, cluster));
        let node = json!({"status": "failed", "reason": "There are alarms in effect on the node", "alarms": alarms});
        assert_eq!(get(&api, CHECKS[1], &[]).await, (503, node));
        let reason = "resource alarm(s) in effect:[{resource_limit,disk,warren@localhost}]";
        assert_eq!(get(&api, CHECKS[3], &[]).await, (503, json!({"status": "failed", "reason": reason})));
        // As in RabbitMQ, an alarm fails neither of these.
        for path in [CHECKS[2], CHECKS[4]] {
            assert_eq!(get(&api, path, &[]).await, (200, json!({"status": "ok"})), "{path}");
        }
        stop.send(true).unwrap();
        core.await.unwrap().unwrap();
    }

    #[test]
    fn alarm_reasons_print_like_erlang() {
        let disk = [("disk space", "disk")];
        assert_eq!(alarms_in_effect("warren@localhost", &disk), "resource alarm(s) in effect:[{resource_limit,disk,warren@localhost}]");
        // Both, as RabbitMQ printed them for node refalarmmem@localhost.
        let both = [("disk space", "disk"), ("memory", "memory")];
        assert_eq!(
            alarms_in_effect("refalarmmem@localhost", &both),
            "resource alarm(s) in effect:[{resource_limit,disk,refalarmmem@localhost},\n                             {resource_limit,memory,refalarmmem@localhost}]"
        );
        assert_eq!(atom("rabbit@my-host"), "'rabbit@my-host'");
        assert_eq!(atom("Warren"), "'Warren'");
    }
}
