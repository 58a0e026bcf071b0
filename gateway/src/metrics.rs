//! Prometheus metrics on their own port (15692 by default), with the names,
//! HELP/TYPE lines and labels of RabbitMQ's `rabbitmq_prometheus` plugin so
//! Grafana's RabbitMQ dashboards work unchanged:
//!
//! * `/metrics`: broker-wide values; queue metrics summed over all queues.
//! * `/metrics/per-object`: the same, with queue metrics per queue,
//!   labelled `vhost` and `queue`.
//!
//! Differences from RabbitMQ: the global counters carry only the
//! `protocol` label (Warren does not split them by `queue_type`). The
//! `rabbitmq_channel_*_total` counters are broker-wide totals,
//! where RabbitMQ sums its open channels' counters (so its totals drop when
//! channels close; `rate()` over Warren's is the steadier for it). Erlang
//! VM metrics do not exist here. The resource alarms and the memory and
//! disk figures come from the resource monitor's latest reading; as in
//! RabbitMQ 3.10, the `rabbitmq_alarms_*` series are on `/metrics` only.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use broker_core::management::info::{ChannelInfo, ConnectionInfo, Overview, QueueInfo};
// The RabbitMQ version whose metric names these follow.
use broker_core::management::json::RABBITMQ_VERSION;

use crate::core_task::CoreHandle;
use crate::resources::Reading;

/// What the metrics handlers read: the core, and the resource monitor's
/// latest reading.
#[derive(Clone)]
struct Sources {
    core: CoreHandle,
    resources: tokio::sync::watch::Receiver<Reading>,
}

pub fn router(core: CoreHandle, resources: tokio::sync::watch::Receiver<Reading>) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(Sources { core, resources })
}

async fn aggregated(State(sources): State<Sources>) -> Response {
    respond(&sources, false).await
}

async fn per_object(State(sources): State<Sources>) -> Response {
    respond(&sources, true).await
}

async fn respond(sources: &Sources, per_object: bool) -> Response {
    let resources = *sources.resources.borrow();
    let snapshot = sources
        .core
        .call(move |b| Snapshot {
            overview: b.overview(),
            queues: b.queues(None),
            channels: b.channels(),
            connections: b.connections(),
            cluster: b.config().cluster_name.clone(),
            resources,
        })
        .await;
    let Ok(snapshot) = snapshot else {
        return (StatusCode::SERVICE_UNAVAILABLE, "broker is shutting down\n").into_response();
    };
    let body = render(&snapshot, per_object);
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

/// What one scrape shows, taken from the core in one step.
pub struct Snapshot {
    pub overview: Overview,
    pub queues: Vec<QueueInfo>,
    pub channels: Vec<ChannelInfo>,
    pub connections: Vec<ConnectionInfo>,
    pub cluster: String,
    /// Not from the core: the resource monitor's reading.
    pub resources: Reading,
}

/// Resident memory of this process, from /proc (0 where there is none).
pub fn resident_bytes() -> u64 {
    proc_status_kb("VmRSS:").map_or(0, |kb| kb * 1024)
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Open file descriptors of this process (0 where /proc is missing).
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The soft limit on open files.
pub fn max_fds() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits.lines().find_map(|l| l.strip_prefix("Max open files")).and_then(|rest| rest.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// One metric family: TYPE, then HELP (RabbitMQ's order), then samples.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# TYPE {name} {kind}\n# HELP {name} {help}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Per-queue metrics: (name, type, help, value of a queue).
type QueueMetric = (&'static str, &'static str, &'static str, fn(&QueueInfo) -> u64);

const QUEUE_METRICS: &[QueueMetric] = &[
    ("rabbitmq_queue_messages_ready", "gauge", "Messages ready to be delivered to consumers", |q| q.messages_ready as u64),
    ("rabbitmq_queue_messages_unacked", "gauge", "Messages delivered to consumers but not yet acknowledged", |q| {
        q.messages_unacknowledged as u64
    }),
    ("rabbitmq_queue_messages", "gauge", "Sum of ready and unacknowledged messages - total queue depth", |q| {
        q.messages_ready as u64 + q.messages_unacknowledged as u64
    }),
    ("rabbitmq_queue_consumers", "gauge", "Consumers on a queue", |q| q.consumers as u64),
    ("rabbitmq_queue_messages_ready_bytes", "gauge", "Size in bytes of ready messages", |q| q.message_bytes_ready as u64),
    ("rabbitmq_queue_messages_published_total", "counter", "Total number of messages published to queues", |q| q.stats.publish),
];

pub fn render(snap: &Snapshot, per_object: bool) -> String {
    let (o, queues, cluster) = (&snap.overview, &snap.queues, snap.cluster.as_str());
    let mut out = Out(String::new());
    let t = &o.totals;
    out.family("rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info");
    out.sample(
        "rabbitmq_build_info",
        &[
            ("rabbitmq_version", RABBITMQ_VERSION),
            ("prometheus_plugin_version", RABBITMQ_VERSION),
            ("product_name", "Warren"),
            ("product_version", env!("CARGO_PKG_VERSION")),
        ],
        1,
    );
    out.family("rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info");
    out.sample(
        "rabbitmq_identity_info",
        &[("rabbitmq_node", cluster), ("rabbitmq_cluster", cluster), ("rabbitmq_cluster_permanent_id", cluster)],
        1,
    );
    let r = &snap.resources;
    if !per_object {
        for (name, help, on) in [
            ("rabbitmq_alarms_file_descriptor_limit", "is 1 if file descriptor limit alarm is in effect", false),
            ("rabbitmq_alarms_free_disk_space_watermark", "is 1 if free disk space watermark alarm is in effect", r.disk_alarm),
            ("rabbitmq_alarms_memory_used_watermark", "is 1 if VM memory watermark alarm is in effect", r.memory_alarm),
        ] {
            out.family(name, "untyped", help);
            out.sample(name, &[], u8::from(on));
        }
    }
    for (name, help, value) in [
        ("rabbitmq_connections", "Connections currently open", o.connections),
        ("rabbitmq_channels", "Channels currently open", o.channels),
        ("rabbitmq_consumers", "Consumers currently connected", o.consumers),
        ("rabbitmq_queues", "Queues available", o.queues),
    ] {
        out.family(name, "gauge", help);
        out.sample(name, &[], value);
    }
    for (name, kind, help, value) in QUEUE_METRICS {
        out.family(name, kind, help);
        if per_object {
            for q in queues {
                out.sample(name, &[("vhost", &q.vhost), ("queue", &q.name)], value(q));
            }
        } else {
            out.sample(name, &[], queues.iter().map(value).sum::<u64>());
        }
    }
    let max_fds = max_fds();
    for (name, help, value) in [
        ("rabbitmq_process_open_fds", "Open file descriptors", open_fds()),
        ("rabbitmq_process_max_fds", "Open file descriptors limit", max_fds),
        ("rabbitmq_process_open_tcp_sockets", "Open TCP sockets", snap.connections.len() as u64),
        ("rabbitmq_process_max_tcp_sockets", "Open TCP sockets limit", max_fds),
        ("rabbitmq_process_resident_memory_bytes", "Memory used in bytes", resident_bytes()),
        ("rabbitmq_disk_space_available_bytes", "Disk space available in bytes", r.disk_free),
        ("rabbitmq_resident_memory_limit_bytes", "Memory high watermark in bytes", r.limits.memory_high_watermark),
        ("rabbitmq_disk_space_available_limit_bytes", "Free disk space low watermark in bytes", r.limits.disk_free_limit),
    ] {
        out.family(name, "gauge", help);
        out.sample(name, &[], value);
    }
    let chans = &snap.channels;
    for (name, help, value) in [
        ("rabbitmq_channel_consumers", "Consumers on a channel", chans.iter().map(|c| c.consumers as u64).sum::<u64>()),
        (
            "rabbitmq_channel_messages_unacked",
            "Delivered but not yet acknowledged messages",
            chans.iter().map(|c| c.messages_unacknowledged as u64).sum(),
        ),
        (
            "rabbitmq_channel_prefetch",
            "Total limit of unacknowledged messages for all consumers on a channel",
            chans.iter().map(|c| u64::from(c.global_prefetch_count)).sum(),
        ),
    ] {
        out.family(name, "gauge", help);
        out.sample(name, &[], value);
    }
    for (name, help, value) in [
        ("published", "Total number of messages published into an exchange on a channel", t.publish),
        ("confirmed", "Total number of messages published into an exchange and confirmed on the channel", t.confirm),
        (
            "unroutable_returned",
            "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
            t.return_unroutable,
        ),
        (
            "unroutable_dropped",
            "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
            t.drop_unroutable,
        ),
        ("delivered_ack", "Total number of messages delivered to consumers in manual acknowledgement mode", t.deliver),
        ("delivered", "Total number of messages delivered to consumers in automatic acknowledgement mode", t.deliver_no_ack),
        ("redelivered", "Total number of messages redelivered to consumers", t.redeliver),
        ("acked", "Total number of messages acknowledged by consumers", t.ack),
    ] {
        let name = format!("rabbitmq_channel_messages_{name}_total");
        out.family(&name, "counter", help);
        out.sample(&name, &[], value);
    }
    for (name, help, value) in [
        ("rabbitmq_channel_get_ack_total", "Total number of messages fetched with basic.get in manual acknowledgement mode", t.get),
        ("rabbitmq_channel_get_total", "Total number of messages fetched with basic.get in automatic acknowledgement mode", t.get_no_ack),
        ("rabbitmq_channel_get_empty_total", "Total number of times basic.get operations fetched no message", t.get_empty),
        (
            "rabbitmq_connection_incoming_bytes_total",
            "Total number of bytes received on a connection",
            snap.connections.iter().map(|c| c.recv_octets).sum(),
        ),
        (
            "rabbitmq_connection_outgoing_bytes_total",
            "Total number of bytes sent on a connection",
            snap.connections.iter().map(|c| c.sent_octets).sum(),
        ),
    ] {
        out.family(name, "counter", help);
        out.sample(name, &[], value);
    }
    let amqp = [("protocol", "amqp091")];
    out.family("rabbitmq_global_consumers", "gauge", "Current number of consumers");
    out.sample("rabbitmq_global_consumers", &amqp, o.consumers);
    let counters: [(&str, &str, u64); 13] = [
        ("acknowledged", "Total number of messages acknowledged by consumers", t.ack),
        ("confirmed", "Total number of messages confirmed to publishers", t.confirm),
        (
            "delivered_consume_auto_ack",
            "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
            t.deliver_no_ack,
        ),
        (
            "delivered_consume_manual_ack",
            "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
            t.deliver,
        ),
        (
            "delivered_get_auto_ack",
            "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
            t.get_no_ack,
        ),
        ("delivered_get_manual_ack", "Total number of messages delivered to consumers using basic.get with manual acknowledgment", t.get),
        ("delivered", "Total number of messages delivered to consumers", t.deliver_get()),
        ("get_empty", "Total number of times basic.get operations fetched no message", t.get_empty),
        ("received", "Total number of messages received from publishers", t.publish),
        ("redelivered", "Total number of messages redelivered to consumers", t.redeliver),
        ("routed", "Total number of messages routed to queues or streams", t.routed),
        (
            "unroutable_dropped",
            "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
            t.drop_unroutable,
        ),
        (
            "unroutable_returned",
            "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
            t.return_unroutable,
        ),
    ];
    for (suffix, help, value) in counters {
        let name = format!("rabbitmq_global_messages_{suffix}_total");
        out.family(&name, "counter", help);
        out.sample(&name, &amqp, value);
    }
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_and_label_escaping() {
        let mut out = Out(String::new());
        out.family("m", "gauge", "Help text");
        out.sample("m", &[("queue", "a\"b\\c\nd")], 3);
        assert_eq!(out.0, "# TYPE m gauge\n# HELP m Help text\nm{queue=\"a\\\"b\\\\c\\nd\"} 3\n");
    }
}
