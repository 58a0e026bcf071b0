//! `warren-bench`: a PerfTest-style AMQP 0-9-1 load generator, and a
//! harness comparing Warren with RabbitMQ on the same machine in the same
//! run. A tool, not a test: see `bench/README.md`.
//!
//! * `warren-bench run` — one load run against a broker already running.
//! * `warren-bench compare` — starts Warren and RabbitMQ, runs the named
//!   scenarios on both alternately, prints medians and ratios.
//! * `warren-bench list` — the scenarios.
//! * `warren-bench fsync-ceiling` — the confirm rate an ideal broker that
//!   fsyncs before confirming could reach on this disk ([`fsync_ceiling`]).
//!
//! Layout: [`raw`] is the lean client (one thread, mio, pre-encoded frames),
//! [`lapin_client`] the reference client, [`track`] the loss/order checks
//! and latency histogram both use, [`brokers`] starts and stops brokers,
//! [`scenarios`] and [`compare`] run the comparison ([`persistent_backlog`]
//! the scenario that restarts brokers), [`report`] prints it.

mod brokers;
mod compare;
mod fsync_ceiling;
mod lapin_client;
mod load;
mod persistent_backlog;
mod procfs;
mod raw;
mod report;
mod scenarios;
mod setup;
mod track;
mod wire;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::load::{ExchangeType, Load};
use crate::scenarios::Client;

#[derive(Parser)]
#[command(name = "warren-bench", about = "PerfTest-style load generator and Warren-vs-RabbitMQ comparison")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One load run against a running broker.
    Run(Box<RunArgs>),
    /// Start Warren and RabbitMQ and compare them scenario by scenario.
    Compare(CompareArgs),
    /// List the scenarios.
    List,
    /// The confirm rate of an ideal broker that fsyncs before confirming
    /// and spends nothing on a message: this disk's ceiling for one
    /// publisher with a window.
    FsyncCeiling(CeilingArgs),
}

#[derive(Args)]
struct CeilingArgs {
    /// Unconfirmed messages the publisher keeps in flight.
    #[arg(long, default_value_t = 1000)]
    window: u64,
    /// Seconds per run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Runs (each printed, then the median).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Serial work the modelled broker spends on each message, in
    /// nanoseconds (0: an ideal broker).
    #[arg(long, default_value_t = 0)]
    work_ns: u64,
    /// Directory for the file (on the disk to measure).
    #[arg(long, default_value = "/tmp")]
    dir: PathBuf,
}

fn fsync_ceiling(a: CeilingArgs) -> Result<(), String> {
    let mut rates = Vec::new();
    for rep in 1..=a.reps {
        let c = fsync_ceiling::measure(&a.dir, a.window, Duration::from_nanos(a.work_ns), secs(a.duration))?;
        println!(
            "fsync-ceiling {rep}/{}  window {}  work {} ns/msg  {} confirms/s  {} fdatasyncs, {:.3} ms each",
            a.reps,
            a.window,
            a.work_ns,
            report::int(c.confirms_per_sec),
            c.syncs,
            c.ms_per_sync
        );
        rates.push(c.confirms_per_sec);
    }
    rates.sort_by(f64::total_cmp);
    println!("median {} confirms/s", report::int(rates[rates.len() / 2]));
    Ok(())
}

#[derive(Args)]
struct RunArgs {
    /// Broker address.
    #[arg(long, default_value = "127.0.0.1:5672")]
    addr: String,
    #[arg(long, default_value = "guest")]
    user: String,
    #[arg(long, default_value = "guest")]
    password: String,
    #[arg(long, default_value = "/")]
    vhost: String,
    /// PID of the broker, to report its CPU time, efficiency and memory.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Which client generates the load.
    #[arg(long, value_parser = ["raw", "lapin"], default_value = "raw")]
    client: String,
    #[command(flatten)]
    load: LoadArgs,
}

/// Load options; each overrides the scenario's (or the default) value.
#[derive(Args)]
struct LoadArgs {
    /// Start from a named scenario (see `list`; also `crosscheck`).
    #[arg(long)]
    scenario: Option<String>,
    /// Producer connections.
    #[arg(short = 'x', long)]
    producers: Option<usize>,
    /// Consumer connections.
    #[arg(short = 'y', long)]
    consumers: Option<usize>,
    /// Body size in octets (at least 16).
    #[arg(short = 's', long)]
    size: Option<usize>,
    /// Measured seconds (after the warm-up).
    #[arg(short = 'z', long)]
    duration: Option<f64>,
    /// Warm-up seconds, excluded from every figure.
    #[arg(long)]
    warmup: Option<f64>,
    /// Publisher confirms with this many unconfirmed publishes per producer.
    #[arg(short = 'c', long)]
    confirm: Option<u32>,
    /// delivery_mode 2 and durable queues.
    #[arg(long)]
    persistent: bool,
    /// auto (no-ack) or manual (acks batched with `multiple`).
    #[arg(long, value_parser = ["auto", "manual"])]
    ack: Option<String>,
    /// With manual acks, ack at least every N deliveries.
    #[arg(long)]
    ack_every: Option<u32>,
    /// basic.qos prefetch count for manual-ack consumers (0 = unlimited).
    #[arg(short = 'q', long)]
    prefetch: Option<u16>,
    /// direct, fanout or topic.
    #[arg(short = 't', long)]
    exchange: Option<String>,
    /// Number of queues (producer p publishes to queue p mod N; consumer c reads queue c mod N; fanout reaches all).
    #[arg(long)]
    queues: Option<usize>,
    /// Fixed publish rate per producer, msg/s.
    #[arg(short = 'r', long)]
    rate: Option<f64>,
    /// Publish this many messages per producer, then stop (no warm-up).
    #[arg(short = 'C', long)]
    count: Option<u64>,
    /// Seconds to wait for confirms and deliveries after publishing stops.
    #[arg(long)]
    drain_timeout: Option<f64>,
}

#[derive(Args)]
struct CompareArgs {
    /// The warren binary (default: `warren` next to this executable).
    #[arg(long)]
    warren: Option<PathBuf>,
    /// RabbitMQ's start script, run directly with its own environment.
    #[arg(long, default_value = brokers::DEFAULT_RABBITMQ_SERVER)]
    rabbitmq_server: PathBuf,
    /// Brokers to run, comma-separated, in column order.
    #[arg(long, default_value = "warren,rabbitmq")]
    brokers: String,
    /// Scenarios, comma-separated.
    #[arg(long, default_value = "transient,confirm,fanout,many,latency,connections,backlog,persistent-backlog")]
    scenarios: String,
    /// Runs per scenario and broker (medians are reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds per run.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Also print the summary as Markdown.
    #[arg(long)]
    markdown: bool,
    /// Also run the raw-client vs lapin cross-check on every broker.
    #[arg(long)]
    crosscheck: bool,
    /// Keep the brokers' temporary directories (logs, data).
    #[arg(long)]
    keep_dirs: bool,
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.0))
}

fn build_load(a: &LoadArgs) -> Result<scenarios::Kind, String> {
    let mut kind = match &a.scenario {
        Some(name) if name == "crosscheck" => scenarios::Kind::Load(scenarios::crosscheck_load(secs(10.0), secs(2.0))),
        Some(name) => scenarios::all(secs(10.0), secs(2.0))
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.kind)
            .ok_or_else(|| format!("unknown scenario {name:?} (known: {})", scenarios::NAMES.join(", ")))?,
        None => scenarios::Kind::Load(Load::default()),
    };
    if let scenarios::Kind::Load(l) = &mut kind {
        apply(a, l)?;
    }
    Ok(kind)
}

fn apply(a: &LoadArgs, l: &mut Load) -> Result<(), String> {
    if let Some(v) = a.producers {
        l.producers = v
    }
    if let Some(v) = a.consumers {
        l.consumers = v
    }
    if let Some(v) = a.size {
        l.size = v
    }
    if let Some(v) = a.duration {
        l.duration = secs(v)
    }
    if let Some(v) = a.warmup {
        l.warmup = secs(v)
    }
    if let Some(v) = a.confirm {
        l.confirm = Some(v)
    }
    if a.persistent {
        l.persistent = true
    }
    if let Some(v) = &a.ack {
        l.auto_ack = v == "auto"
    }
    if let Some(v) = a.ack_every {
        l.ack_every = v
    }
    if let Some(v) = a.prefetch {
        l.prefetch = v
    }
    if let Some(v) = &a.exchange {
        l.exchange = ExchangeType::parse(v)?
    }
    if let Some(v) = a.queues {
        l.queues = v.max(1)
    }
    if let Some(v) = a.rate {
        l.rate = Some(v)
    }
    if let Some(v) = a.count {
        l.count = Some(v);
        l.warmup = Duration::ZERO;
    }
    if let Some(v) = a.drain_timeout {
        l.drain_timeout = secs(v)
    }
    if l.size < track::STAMP_LEN {
        return Err(format!("--size must be at least {} (timestamp, producer id, sequence)", track::STAMP_LEN));
    }
    if l.producers == 0 && l.consumers == 0 {
        return Err("nothing to do: no producers and no consumers".into());
    }
    Ok(())
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs().map_err(|e| format!("{addr}: {e}"))?.next().ok_or_else(|| format!("{addr}: no address"))
}

fn run(a: RunArgs) -> Result<(), String> {
    procfs::raise_nofile_limit();
    let addr = resolve(&a.addr)?;
    let creds = wire::Credentials { user: a.user.clone(), password: a.password.clone(), vhost: a.vhost.clone() };
    let client = if a.client == "lapin" { Client::Lapin } else { Client::Raw };
    let kind = build_load(&a.load)?;
    match kind {
        scenarios::Kind::Load(load) => {
            println!("# {load:?}");
            let r = scenarios::run_load(client, addr, &creds, &load, a.broker_pid)?;
            print!("{}", report::detail(&r));
            if r.errors() > 0 {
                return Err("the broker lost, duplicated or reordered messages (see checks)".into());
            }
        }
        other => {
            let s = scenarios::Scenario { name: "custom", about: "", kind: other };
            let m = scenarios::run(&s, client, addr, &creds, a.broker_pid);
            println!("{}", report::measurement_line(&m));
            if let Some(e) = m.error {
                return Err(e);
            }
        }
    }
    Ok(())
}

fn compare(a: CompareArgs) -> Result<(), String> {
    let warren = match a.warren {
        Some(p) => p,
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("warren"),
    };
    let brokers = a
        .brokers
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| match s.trim() {
            "warren" => Ok(brokers::Kind::Warren),
            "rabbitmq" => Ok(brokers::Kind::RabbitMq),
            other => Err(format!("unknown broker {other:?} (warren, rabbitmq)")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    compare::compare(compare::Options {
        warren,
        rabbitmq_server: a.rabbitmq_server,
        brokers,
        scenarios: a.scenarios.split(',').filter(|s| !s.is_empty()).map(|s| s.trim().to_string()).collect(),
        reps: a.reps.max(1),
        duration: secs(a.duration),
        warmup: secs(a.warmup),
        markdown: a.markdown,
        crosscheck: a.crosscheck,
        keep_dirs: a.keep_dirs,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Command::Run(a) => run(*a),
        Command::Compare(a) => compare(a),
        Command::FsyncCeiling(a) => fsync_ceiling(a),
        Command::List => {
            for s in scenarios::all(secs(10.0), secs(2.0)) {
                println!("{:<12} {}", s.name, s.about);
            }
            Ok(())
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warren-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
