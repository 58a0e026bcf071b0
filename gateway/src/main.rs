//! `warren`: the native gateway. A thin driver around `broker_core::Broker`:
//! it accepts AMQP connections over TCP, over TLS (AMQPS, with EXTERNAL
//! login from client certificates, see [`tls`]) and over WebSocket (on the
//! HTTP port, plain or HTTPS/WSS, see [`http`]), moves bytes between sockets and the core, keeps
//! time, and shuts down cleanly on SIGINT/SIGTERM. The HTTP port also
//! serves the management API; Prometheus metrics have their own port
//! ([`metrics`]).
//!
//! Exactly one task (see [`core_task`]) owns the broker; connection tasks
//! only read and write bytes and talk to it over channels.

mod clock;
mod core_task;
mod http;
mod logging;
mod metrics;
mod persistence;
mod resources;
mod settings;
mod tcp;
mod tls;

use gateway::store;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "warren", version, about = "Warren: an AMQP 0-9-1 message broker")]
struct Args {
    #[command(flatten)]
    access: settings::AccessArgs,

    /// Address to accept AMQP connections on (repeatable). Port 0 picks a free port.
    #[arg(long = "amqp-bind", value_name = "ADDR")]
    amqp_bind: Vec<SocketAddr>,

    /// Address for the HTTP port: the management API, AMQP over WebSocket
    /// and static files (repeatable). Port 0 picks a free port.
    #[arg(long = "http-bind", value_name = "ADDR")]
    http_bind: Vec<SocketAddr>,

    /// Address to accept AMQPS (AMQP over TLS) connections on
    /// (repeatable; needs `--tls-cert` and `--tls-key`). Default with TLS
    /// configured: port 5671 on all interfaces.
    #[arg(long = "amqps-bind", value_name = "ADDR")]
    amqps_bind: Vec<SocketAddr>,

    /// Address for the HTTP port over TLS: HTTPS and WSS (repeatable; needs
    /// `--tls-cert` and `--tls-key`). Default with TLS configured: port
    /// 15671 on all interfaces.
    #[arg(long = "https-bind", value_name = "ADDR")]
    https_bind: Vec<SocketAddr>,

    #[command(flatten)]
    tls: tls::TlsArgs,

    /// Address for Prometheus metrics (`/metrics`, `/metrics/per-object`)
    /// (repeatable). Port 0 picks a free port.
    #[arg(long = "prometheus-bind", value_name = "ADDR")]
    prometheus_bind: Vec<SocketAddr>,

    /// Serve the dashboard and playground from this directory instead of
    /// the copy built into the binary (for development: edits show on
    /// reload).
    #[arg(long, value_name = "DIR")]
    www_dir: Option<PathBuf>,

    /// Directory for durable data.
    #[arg(long, default_value = store::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,

    /// Heartbeat interval offered to clients, in seconds (0 disables).
    #[arg(long, default_value_t = 60)]
    heartbeat: u16,

    /// Largest frame offered to clients.
    #[arg(long, default_value_t = 131_072)]
    frame_max: u32,

    /// Highest channel number offered to clients.
    #[arg(long, default_value_t = 2047)]
    channel_max: u16,

    /// A client must complete the AMQP handshake (protocol header through
    /// connection.open) within this many ms of connecting, or it is
    /// disconnected (RabbitMQ's `handshake_timeout`).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    handshake_timeout_ms: u64,

    /// Largest message body accepted, checked against the content header's
    /// body size before any body arrives (406). RabbitMQ's
    /// `max_message_size`: default 128MiB, at most 512MiB.
    #[arg(long, value_name = "SIZE", default_value = "128MiB")]
    max_message_size: String,

    /// Memory high watermark: above it publishers are blocked (resource
    /// alarm). A fraction of RAM such as `0.4` (RabbitMQ's default) or a size
    /// such as `2GiB`.
    #[arg(long, value_name = "FRACTION|SIZE", default_value = "0.4")]
    memory_high_watermark: String,

    /// Free disk space under the data directory below which publishers are
    /// blocked (RabbitMQ's default: 50MB).
    #[arg(long, value_name = "SIZE", default_value = "50MB")]
    disk_free_limit: String,

    /// Message bodies kept in memory; beyond it bodies of persistent
    /// messages stay on disk and transient ones are paged out (queues larger
    /// than RAM). Default: half the memory high watermark.
    #[arg(long, value_name = "SIZE")]
    memory_budget: Option<String>,

    /// Largest message log segment file (tests use small ones to exercise
    /// segment rollover and reclamation).
    #[arg(long, value_name = "SIZE", hide = true)]
    segment_max_bytes: Option<String>,

    /// Log filter (tracing-subscriber syntax), e.g. `info` or `gateway=debug`.
    #[arg(long, default_value = "info", env = "WARREN_LOG")]
    log: String,

    /// Start every log line with its time (RFC 3339, UTC), e.g. when the
    /// log goes to a file rather than to journald.
    #[arg(long)]
    log_timestamps: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    logging::init(&args.log, args.log_timestamps);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// How long a health check waits for the core before it fails (503). The
/// core answers management calls in milliseconds; seconds of silence mean
/// it is stuck.
const HEALTH_CHECK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// RabbitMQ refuses a `max_message_size` above 512 MiB.
const MAX_MESSAGE_SIZE_CEILING: u64 = 512 * 1024 * 1024;

async fn run(args: Args) -> Result<(), String> {
    // Created on first start and locked against a second warren.
    let data = store::DataDir::open(&args.data_dir).map_err(|e| e.to_string())?;
    let segment_max_bytes = args.segment_max_bytes.as_deref().map(|s| resources::parse_size(s, None)).transpose()?;
    let (mut durable, recovered) = persistence::Durable::open(&data, segment_max_bytes).map_err(|e| e.to_string())?;
    let saved_definitions = store::definitions::load(&data, &mut clock::seed).map_err(|e| e.to_string())?;

    let listeners = listen_all(&args.amqp_bind, 5672)?;
    let http_listeners = listen_all(&args.http_bind, 15672)?;
    let prometheus_listeners = listen_all(&args.prometheus_bind, 15692)?;
    let tls = tls::Tls::from_args(&args.tls)?;
    let (amqps_listeners, https_listeners) = match &tls {
        Some(_) => (listen_all(&args.amqps_bind, 5671)?, listen_all(&args.https_bind, 15671)?),
        None if !args.amqps_bind.is_empty() || !args.https_bind.is_empty() => {
            return Err("--amqps-bind and --https-bind need --tls-cert and --tls-key".into());
        }
        None => (Vec::new(), Vec::new()),
    };
    // What /api/overview lists, with RabbitMQ's protocol names.
    let mut api_listeners = Vec::new();
    for (protocol, ls) in [
        ("amqp", &listeners),
        ("amqp/ssl", &amqps_listeners),
        ("http", &http_listeners),
        ("https", &https_listeners),
        ("http/prometheus", &prometheus_listeners),
    ] {
        for l in ls.iter() {
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            api_listeners.push(http::api::Listener { protocol, addr });
        }
    }

    let total_memory = resources::total_memory().unwrap_or(8 << 30);
    let limits = resources::Limits {
        memory_high_watermark: resources::parse_size(&args.memory_high_watermark, Some(total_memory))?,
        disk_free_limit: resources::parse_size(&args.disk_free_limit, None)?,
    };
    let budget = match &args.memory_budget {
        Some(b) => resources::parse_size(b, Some(total_memory))?,
        None => limits.memory_high_watermark / 2,
    };
    let max_message_size = resources::parse_size(&args.max_message_size, None)?;
    if max_message_size == 0 || max_message_size > MAX_MESSAGE_SIZE_CEILING {
        return Err(format!("--max-message-size {} must be between 1 octet and 512MiB", args.max_message_size));
    }
    let mut config = broker_core::Config {
        heartbeat: args.heartbeat,
        max_message_size,
        frame_max: args.frame_max,
        channel_max: args.channel_max,
        handshake_timeout_ms: args.handshake_timeout_ms,
        seed: clock::seed(),
        persistence: true,
        memory_budget: Some(budget as usize),
        ..Default::default()
    };
    let restarting = !saved_definitions.users.is_empty();
    if restarting {
        // As RabbitMQ: the default user exists only on first start; after
        // that the saved users are the truth.
        config.users.retain(|u| u.name != "guest");
        config.permissions.retain(|p| p.user != "guest");
    }
    let mut salt_seed = clock::seed();
    settings::apply(&args.access, &mut config, || {
        salt_seed = salt_seed.rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15;
        (salt_seed as u32).to_le_bytes()
    })?;

    let mut broker = broker_core::Broker::new(config, clock::now_ms()).map_err(|e| format!("invalid configuration: {e}"))?;
    broker.set_body_loader(durable.loader());
    if restarting || !saved_definitions.queues.is_empty() {
        let imported = broker.import_definitions(saved_definitions);
        for why in &imported.skipped {
            tracing::warn!("definitions: {why}");
        }
        imported.result.map_err(|e| {
            let reason = broker_core::management::json::reason_text(&e);
            format!("cannot restore the saved definitions in {}: {reason}", data.path().display())
        })?;
    }
    settings::apply_limits(&args.access, &mut broker)?;
    let clean_stop = persistence::take_clean_stop_marker(&data);
    let restored = durable.restore(&mut broker, recovered, &data, clean_stop).map_err(|e| e.to_string())?;
    if restored > 0 {
        tracing::info!("recovered {restored} messages");
    }
    let readings = resources::Monitor::new(limits, data.path().to_path_buf()).spawn(std::time::Duration::from_millis(500));
    let services = core_task::Services { durable: Some(durable), data: Some(data), monitor: Some(readings.clone()) };
    let node = broker.config().cluster_name.clone();

    let (input_tx, input_rx) = core_task::channels();
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut core = tokio::spawn(core_task::run(broker, services, input_rx, shutdown_rx.clone()));
    let handle = core_task::CoreHandle::new(input_tx.clone());

    for l in listeners {
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(target: "startup", "AMQP listening on {addr}");
        tokio::spawn(tcp::accept_loop(l, input_tx.clone(), shutdown_rx.clone()));
    }
    if let Some(tls) = &tls {
        for l in amqps_listeners {
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(target: "startup", "AMQPS listening on {addr}");
            tokio::spawn(tls::accept_loop(l, tls.clone(), input_tx.clone(), shutdown_rx.clone()));
        }
    }
    let www = match &args.www_dir {
        Some(dir) if !dir.is_dir() => return Err(format!("--www-dir {}: not a directory", dir.display())),
        Some(dir) => http::www::Www::dir(dir),
        None => {
            if !http::www::embedded_has_playground() {
                tracing::warn!("this build has no playground (www/pkg was not built; `cargo xtask build-web`)");
            }
            http::www::Www::Embedded
        }
    };
    let api = http::api::Context {
        core: handle.clone(),
        listeners: api_listeners,
        started: std::time::Instant::now(),
        node,
        resources: readings.clone(),
        health_deadline: HEALTH_CHECK_DEADLINE,
    };
    let router = http::router(input_tx.clone(), www, api);
    for l in http_listeners {
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(target: "startup", "HTTP listening on {addr}");
        tokio::spawn(http::serve(l, router.clone(), shutdown_rx.clone()));
    }
    if let Some(tls) = &tls {
        for l in https_listeners {
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(target: "startup", "HTTPS listening on {addr}");
            tokio::spawn(http::serve_tls(l, tls.clone(), router.clone(), shutdown_rx.clone()));
        }
    }
    let metrics = metrics::router(handle, readings);
    for l in prometheus_listeners {
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(target: "startup", "Prometheus listening on {addr}");
        tokio::spawn(http::serve(l, metrics.clone(), shutdown_rx.clone()));
    }
    // Installed before "ready": a SIGTERM right after it must stop us cleanly.
    let signal = wait_for_signal();
    tracing::info!(target: "startup", "ready");
    drop(input_tx);

    tokio::select! {
        _ = signal => {
            tracing::info!("shutting down");
            let _ = shutdown_tx.send(true);
            core.await.map_err(|e| e.to_string())?
        }
        // The core stops by itself only when durability is lost.
        ended = &mut core => ended.map_err(|e| e.to_string())?,
    }
}

/// Binds every address in `binds`, or when there is none the defaults
/// `0.0.0.0:PORT` and `[::]:PORT`; a missing IPv6 stack only warns then.
fn listen_all(binds: &[SocketAddr], default_port: u16) -> Result<Vec<tokio::net::TcpListener>, String> {
    let defaults = binds.is_empty();
    let binds = if defaults {
        vec![SocketAddr::from(([0u8; 4], default_port)), SocketAddr::from(([0u16; 8], default_port))]
    } else {
        binds.to_vec()
    };
    let mut listeners = Vec::new();
    for addr in binds {
        match tcp::listen(addr) {
            Ok(l) => listeners.push(l),
            // IPv6 may be missing in containers: the default dual bind tolerates that.
            Err(e) if defaults && addr.is_ipv6() => tracing::warn!("not listening on {addr}: {e}"),
            Err(e) => return Err(format!("cannot listen on {addr}: {e}")),
        }
    }
    Ok(listeners)
}

/// Registers the SIGINT/SIGTERM handlers now; the future resolves on the
/// first signal.
fn wait_for_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
}
