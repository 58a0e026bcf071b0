//! `/api`: the management API, compatible with RabbitMQ's management
//! plugin (3.10): the same paths, JSON field names, status codes and error
//! bodies, so rabbitmqadmin, monitoring exporters and scripts work as they
//! are. One controller per resource; this module only routes.
//!
//! Reads take snapshots from the core (through [`CoreHandle`]); the
//! controllers turn them into RabbitMQ's JSON on the HTTP task with
//! `broker_core::management::json`, the conversions the playground uses
//! too, so the core task only copies data out. Changes to exchanges, queues, bindings and
//! messages run as the authenticated user over a loopback AMQP connection
//! in the core, so permissions, validation and reply texts are AMQP's.
//!
//! Besides RabbitMQ's endpoints there is one Warren extension:
//! `GET /api/queues/{vhost}/{name}/browse?count=N` lists up to N ready
//! messages (default 10) in delivery order without taking them.

mod auth;
mod bindings;
mod connections;
mod convert;
mod definitions;
mod error;
mod exchanges;
pub mod limits;
mod nodes;
mod overview;
mod permissions;
mod policies;
mod queues;
mod reply;
mod request;
mod trace;
mod users;
mod vhosts;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use tokio::sync::watch;

use crate::core_task::CoreHandle;
use crate::resources::Reading;
pub use error::ApiError;

/// A listener of this gateway, as `/api/overview` lists it.
pub use broker_core::management::json::Listener;

/// What API handlers share.
pub struct Context {
    pub core: CoreHandle,
    pub listeners: Vec<Listener>,
    /// When the gateway started (a node's `uptime`).
    pub started: std::time::Instant,
    /// The node's name (the broker's cluster name, fixed at start), for
    /// health checks that must answer when the core does not.
    pub node: String,
    /// The resource monitor's latest measurement: memory and disk figures,
    /// limits and alarms, read without asking the core.
    pub resources: watch::Receiver<Reading>,
    /// How long a health check waits for the core before it fails.
    pub health_deadline: Duration,
}

type Ctx = axum::extract::State<Arc<Context>>;

/// Every route under `/api`, with full paths (merged into the root router).
/// Specific routes win over the catch-all, which answers RabbitMQ's 404.
pub fn routes<S: Clone + Send + Sync + 'static>(context: Context) -> Router<S> {
    let vq = "/api/queues/{vhost}/{name}";
    let vx = "/api/exchanges/{vhost}/{name}";
    let vb = "/api/bindings/{vhost}/e/{source}/{dtype}/{destination}";
    Router::new()
        .route("/api/overview", get(overview::overview))
        .route("/api/whoami", get(overview::whoami))
        .route("/api/nodes", get(nodes::list))
        .route("/api/nodes/{name}", get(nodes::show))
        .route("/api/health/checks/alarms", get(nodes::alarms))
        .route("/api/health/checks/local-alarms", get(nodes::local_alarms))
        .route("/api/health/checks/virtual-hosts", get(nodes::virtual_hosts))
        .route("/api/healthchecks/node", get(nodes::node_check))
        .route("/api/aliveness-test/{vhost}", get(nodes::aliveness))
        .route("/api/vhosts", get(vhosts::list))
        .route("/api/vhosts/{vhost}", get(vhosts::show).put(vhosts::put).delete(vhosts::delete))
        .route("/api/vhosts/{vhost}/permissions", get(permissions::of_vhost))
        .route("/api/users", get(users::list))
        .route("/api/users/{name}", get(users::show).put(users::put).delete(users::delete))
        .route("/api/users/{name}/permissions", get(permissions::of_user))
        .route("/api/vhost-limits", get(limits::vhosts))
        .route("/api/vhost-limits/{vhost}", get(limits::of_vhost))
        .route("/api/vhost-limits/{vhost}/{name}", axum::routing::put(limits::put_vhost).delete(limits::delete_vhost))
        .route("/api/user-limits", get(limits::users))
        .route("/api/user-limits/{user}", get(limits::of_user))
        .route("/api/user-limits/{user}/{name}", axum::routing::put(limits::put_user).delete(limits::delete_user))
        .route("/api/permissions", get(permissions::list))
        .route("/api/permissions/{vhost}/{user}", get(permissions::show).put(permissions::put).delete(permissions::delete))
        .route("/api/connections", get(connections::list))
        .route("/api/connections/{name}", get(connections::show).delete(connections::delete))
        .route("/api/connections/{name}/channels", get(connections::channels_of))
        .route("/api/channels", get(connections::channels))
        .route("/api/consumers", get(connections::consumers))
        .route("/api/consumers/{vhost}", get(connections::consumers_in))
        .route("/api/exchanges", get(exchanges::list))
        .route("/api/exchanges/{vhost}", get(exchanges::list_in))
        .route(vx, get(exchanges::show).put(exchanges::put).delete(exchanges::delete))
        .route(&format!("{vx}/bindings/source"), get(bindings::of_source))
        .route(&format!("{vx}/bindings/destination"), get(bindings::of_exchange_destination))
        .route(&format!("{vx}/publish"), post(exchanges::publish))
        .route("/api/queues", get(queues::list))
        .route("/api/queues/{vhost}", get(queues::list_in))
        .route(vq, get(queues::show).put(queues::put).delete(queues::delete))
        .route(&format!("{vq}/contents"), axum::routing::delete(queues::purge))
        .route(&format!("{vq}/bindings"), get(bindings::of_queue))
        .route(&format!("{vq}/get"), post(queues::get_messages))
        .route(&format!("{vq}/browse"), get(queues::browse))
        .route(&format!("{vq}/trace"), get(trace::events).put(trace::start).delete(trace::stop))
        .route("/api/bindings", get(bindings::list))
        .route("/api/bindings/{vhost}", get(bindings::list_in))
        .route(vb, get(bindings::between).post(bindings::create))
        .route(&format!("{vb}/{{props}}"), get(bindings::show).delete(bindings::delete))
        .route("/api/definitions", get(definitions::export).post(definitions::import))
        .route("/api/definitions/{vhost}", get(definitions::export_vhost).post(definitions::import_vhost))
        .route("/api/policies", get(policies::list))
        .route("/api/policies/{vhost}", get(policies::list_in))
        .route("/api/policies/{vhost}/{name}", get(policies::show).put(policies::put).delete(policies::delete))
        .route("/api", any(not_found))
        .route("/api/", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .with_state(Arc::new(context))
}

/// Unknown paths: `{"error":"Object Not Found","reason":"Not Found"}`, 404.
pub async fn not_found() -> ApiError {
    ApiError::object_not_found()
}
