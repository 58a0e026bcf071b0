//! `warren-load`: the broker keeps serving everyone while it is loaded.
//! A command, not a test: it prints figures and a verdict.
//!
//! ```text
//! cargo xtask load [-- ARGS]        # builds both in release, then runs:
//! target/release/warren-load [--warren PATH] [--connections 10000] [--memory-high-watermark 1GiB] ...
//! ```
//!
//! 1. Starts warren (or uses `--amqp-url`/`--pid`) on loopback with a modest
//!    `--memory-high-watermark` (and a memory budget above it, so bodies stay
//!    in memory and the alarm is reached).
//! 2. A probe connection does a passive `queue.declare` every 100 ms from
//!    start to end; every response time is kept.
//! 3. Opens `--connections` AMQP connections (handshake, channel 1) and holds
//!    them open; RLIMIT_NOFILE is raised to the hard limit first.
//! 4. On `--busy-connections` of them opens `--channels` channels each and
//!    runs a declare / publish / get round on every channel.
//! 5. Floods a queue with no consumer, with publisher confirms, until the
//!    memory alarm blocks the publisher (`connection.blocked`).
//! 6. Consumes the queue and checks that every confirmed message is there.
//!
//! Verdict: all connections opened, every channel round trip correct, the
//! alarm fired, no confirmed message lost, and the probe's max response
//! time within `--probe-limit-ms` (100 ms).

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_core::amqp::frame::{take_frame, write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
#[command(about = "Holds many connections and floods warren to its memory alarm while a probe measures response times")]
struct Args {
    /// The warren binary to start (default: the one next to this program).
    #[arg(long)]
    warren: Option<PathBuf>,
    /// Use an already running broker at this address instead (host:port).
    #[arg(long)]
    amqp_addr: Option<SocketAddr>,
    /// That broker's process id, for its resident memory (optional).
    #[arg(long)]
    pid: Option<u32>,
    /// Connections held open at once.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Handshakes in flight at once while opening them.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Connections that get `--channels` channels each.
    #[arg(long, default_value_t = 4)]
    busy_connections: usize,
    /// Channels on each busy connection.
    #[arg(long, default_value_t = 100)]
    channels: u16,
    /// Messages each busy channel publishes and gets back.
    #[arg(long, default_value_t = 10)]
    messages_per_channel: usize,
    /// warren's --memory-high-watermark (when it is started here).
    #[arg(long, default_value = "1GiB")]
    memory_high_watermark: String,
    /// Flood message body size in octets.
    #[arg(long, default_value_t = 16 * 1024)]
    body: usize,
    /// Unconfirmed flood messages allowed in flight.
    #[arg(long, default_value_t = 2000)]
    window: u64,
    /// Give up flooding after this many seconds without an alarm.
    #[arg(long, default_value_t = 180)]
    flood_seconds: u64,
    /// The probe's period and its limit for the verdict.
    #[arg(long, default_value_t = 100)]
    probe_interval_ms: u64,
    #[arg(long, default_value_t = 100)]
    probe_limit_ms: u64,
}

/// A hand-encoded AMQP client on Warren's codec: lean enough to hold
/// thousands of connections in one process.
struct Client {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    buf: BytesMut,
    frame_max: u32,
}

type Io<T> = Result<T, String>;

impl Client {
    async fn connect(addr: SocketAddr) -> Io<Client> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (rd, wr) = tcp.into_split();
        let mut c = Client { rd, wr, buf: BytesMut::with_capacity(4096), frame_max: 131_072 };
        c.wr.write_all(&PROTOCOL_HEADER).await.map_err(|e| e.to_string())?;
        let Method::ConnectionStart(_) = c.method().await?.1 else { return Err("expected connection.start".into()) };
        let caps = FieldTable::from([
            ("publisher_confirms", FieldValue::Bool(true)),
            ("connection.blocked", FieldValue::Bool(true)),
            ("basic.nack", FieldValue::Bool(true)),
        ]);
        c.send(
            0,
            ConnectionStartOk {
                client_properties: FieldTable::from([
                    ("capabilities", FieldValue::Table(caps)),
                    ("product", FieldValue::str("warren-load")),
                ]),
                mechanism: "PLAIN".into(),
                response: Bytes::from_static(b"\0guest\0guest"),
                locale: "en_US".into(),
            },
        )
        .await?;
        let Method::ConnectionTune(t) = c.method().await?.1 else { return Err("expected connection.tune".into()) };
        c.frame_max = t.frame_max;
        c.send(0, ConnectionTuneOk { channel_max: t.channel_max, frame_max: t.frame_max, heartbeat: 0 }).await?;
        c.send(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() }).await?;
        let Method::ConnectionOpenOk(_) = c.method().await?.1 else { return Err("expected connection.open-ok".into()) };
        c.send(1, ChannelOpen::default()).await?;
        let Method::ChannelOpenOk(_) = c.method().await?.1 else { return Err("expected channel.open-ok".into()) };
        Ok(c)
    }

    async fn write(&mut self, b: &[u8]) -> Io<()> {
        self.wr.write_all(b).await.map_err(|e| format!("write: {e}"))
    }

    async fn send(&mut self, channel: u16, m: impl Into<Method>) -> Io<()> {
        let mut b = BytesMut::new();
        write_method(&mut b, channel, &m.into());
        self.write(&b).await
    }

    async fn frame(&mut self) -> Io<Frame> {
        read_frame(&mut self.rd, &mut self.buf).await
    }

    async fn method(&mut self) -> Io<(u16, Method)> {
        loop {
            match self.frame().await? {
                Frame::Method { channel, method: Method::ConnectionClose(c) } => {
                    return Err(format!("connection closed on channel {channel}: {} {}", c.reply_code, &*c.reply_text))
                }
                Frame::Method { channel, method } => return Ok((channel, method)),
                Frame::Heartbeat { .. } => {}
                other => return Err(format!("expected a method, got {other:?}")),
            }
        }
    }
}

async fn read_frame(rd: &mut OwnedReadHalf, buf: &mut BytesMut) -> Io<Frame> {
    loop {
        if let Some(raw) = take_frame(buf, 0).map_err(|e| format!("{e:?}"))? {
            return Frame::decode(raw).map_err(|e| e.to_string());
        }
        if rd.read_buf(buf).await.map_err(|e| format!("read: {e}"))? == 0 {
            return Err("connection closed by the broker".into());
        }
    }
}

fn publish_frames(out: &mut BytesMut, channel: u16, queue: &str, body: &[u8], frame_max: u32) {
    write_method(out, channel, &BasicPublish { routing_key: queue.into(), ..Default::default() }.into());
    write_content_header(out, channel, 60, body.len() as u64, &[0, 0]);
    write_body(out, channel, body, frame_max);
}

/// Resident memory of a process, from /proc.
fn rss(pid: Option<u32>) -> String {
    let Some(pid) = pid else { return "?".into() };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0);
    format!("{} MiB", kb / 1024)
}

fn raise_nofile() -> libc::rlim_t {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut l = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        }
        l.rlim_cur
    }
}

/// Starts warren on loopback port 0 with a scratch data directory.
fn start_warren(args: &Args, dir: &std::path::Path) -> Result<(Child, SocketAddr), String> {
    let bin = match &args.warren {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("warren"),
    };
    let mut child = Command::new(&bin)
        .args(["--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir)
        .args(["--memory-high-watermark", &args.memory_high_watermark])
        // Bodies stay in memory, so the flood reaches the watermark.
        .args(["--memory-budget", "64GiB"])
        .args(["--log", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(a) = line.strip_prefix("warren: AMQP listening on ") {
            addr = a.parse().ok();
        }
        if line == "warren: ready" {
            break;
        }
    }
    // Its warnings and errors from here on show with ours.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| eprintln!("{l}")));
    Ok((child, addr.ok_or("warren printed no AMQP address")?))
}

/// The phases the probe's samples are labelled with.
const PHASES: [&str; 5] = ["idle", "opening connections", "busy channels", "flood", "drain"];

#[derive(Default)]
struct Probe {
    /// (phase, response time in µs) per declare.
    samples: Mutex<Vec<(usize, u64)>>,
    phase: std::sync::atomic::AtomicUsize,
    failures: AtomicU64,
    stop: AtomicBool,
}

/// Passive queue.declare every `interval`, timing each reply. On its own
/// OS thread with a blocking socket, so the load generator's own busy
/// runtime does not count against the broker.
fn probe(addr: SocketAddr, queue: String, interval: Duration, p: Arc<Probe>) -> Io<()> {
    use std::io::{Read, Write};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let c = rt.block_on(Client::connect(addr))?;
    let mut sock = c.rd.reunite(c.wr).map_err(|e| e.to_string())?.into_std().map_err(|e| e.to_string())?;
    sock.set_nonblocking(false).map_err(|e| e.to_string())?;
    let mut request = BytesMut::new();
    write_method(&mut request, 1, &QueueDeclare { queue: queue.as_str().into(), passive: true, ..Default::default() }.into());
    let mut buf = BytesMut::new();
    let mut next = Instant::now();
    while !p.stop.load(Ordering::Relaxed) {
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
        let started = Instant::now();
        sock.write_all(&request).map_err(|e| e.to_string())?;
        let frame = loop {
            if let Some(raw) = take_frame(&mut buf, 0).map_err(|e| format!("{e:?}"))? {
                break Frame::decode(raw).map_err(|e| e.to_string())?;
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("probe connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        match frame {
            Frame::Method { channel: 1, method: Method::QueueDeclareOk(_) } => {
                let phase = p.phase.load(Ordering::Relaxed);
                p.samples.lock().unwrap().push((phase, started.elapsed().as_micros() as u64));
            }
            other => {
                p.failures.fetch_add(1, Ordering::Relaxed);
                return Err(format!("probe: {other:?}"));
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One busy connection: `channels` more channels, each declaring its own
/// queue, publishing `n` messages and getting them back.
async fn busy(c: &mut Client, index: usize, channels: u16, n: usize) -> Io<usize> {
    let chans: Vec<u16> = (2..2 + channels).collect();
    let mut b = BytesMut::new();
    for &ch in &chans {
        write_method(&mut b, ch, &ChannelOpen::default().into());
        let q = format!("load-busy-{index}-{ch}");
        write_method(&mut b, ch, &QueueDeclare { queue: q.as_str().into(), exclusive: true, ..Default::default() }.into());
    }
    c.write(&b).await?;
    for _ in 0..chans.len() * 2 {
        match c.method().await? {
            (_, Method::ChannelOpenOk(_) | Method::QueueDeclareOk(_)) => {}
            other => return Err(format!("busy channels: {other:?}")),
        }
    }
    let mut b = BytesMut::new();
    for &ch in &chans {
        let q = format!("load-busy-{index}-{ch}");
        for i in 0..n {
            publish_frames(&mut b, ch, &q, format!("{ch}:{i}").as_bytes(), c.frame_max);
        }
        for _ in 0..n {
            write_method(&mut b, ch, &BasicGet { queue: q.as_str().into(), no_ack: true, ..Default::default() }.into());
        }
    }
    c.write(&b).await?;
    let mut got = 0;
    for _ in 0..chans.len() * n {
        match c.method().await? {
            (ch, Method::BasicGetOk(_)) => {
                let Frame::Header { .. } = c.frame().await? else { return Err("expected a content header".into()) };
                let Frame::Body { payload, .. } = c.frame().await? else { return Err("expected a body".into()) };
                if !payload.starts_with(format!("{ch}:").as_bytes()) {
                    return Err(format!("channel {ch} got another channel's message"));
                }
                got += 1;
            }
            other => return Err(format!("busy get: {other:?}")),
        }
    }
    Ok(got)
}

struct Flood {
    published: u64,
    confirmed: Vec<u64>,
    blocked_after: Option<Duration>,
}

/// Publishes with confirms into `queue` until connection.blocked.
async fn flood(addr: SocketAddr, queue: &str, args: &Args) -> Io<Flood> {
    let mut c = Client::connect(addr).await?;
    c.send(1, ConfirmSelect { nowait: false }).await?;
    let (1, Method::ConfirmSelectOk(_)) = c.method().await? else { return Err("expected confirm.select-ok".into()) };
    let Client { mut rd, mut wr, mut buf, frame_max } = c;
    let confirmed = Arc::new(AtomicU64::new(0));
    let blocked = Arc::new(AtomicBool::new(false));
    let nacked = Arc::new(AtomicU64::new(0));
    let (c2, b2, n2) = (confirmed.clone(), blocked.clone(), nacked.clone());
    // Confirms arrive in order (one channel): the highest tag is enough.
    let reader = tokio::spawn(async move {
        loop {
            match read_frame(&mut rd, &mut buf).await {
                Ok(Frame::Method { method: Method::BasicAck(a), .. }) => c2.fetch_max(a.delivery_tag, Ordering::Relaxed),
                Ok(Frame::Method { method: Method::BasicNack(a), .. }) => n2.fetch_max(a.delivery_tag, Ordering::Relaxed),
                Ok(Frame::Method { method: Method::ConnectionBlocked(_), .. }) => {
                    b2.store(true, Ordering::Relaxed);
                    0
                }
                Ok(_) => 0,
                Err(_) => return,
            };
        }
    });
    let started = Instant::now();
    let mut seq = 0u64;
    let mut body = vec![b'x'; args.body.max(8)];
    let mut blocked_after = None;
    while started.elapsed() < Duration::from_secs(args.flood_seconds) {
        if blocked.load(Ordering::Relaxed) {
            blocked_after = Some(started.elapsed());
            break;
        }
        if seq - confirmed.load(Ordering::Relaxed) >= args.window {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let mut b = BytesMut::new();
        for _ in 0..50 {
            seq += 1;
            body[..8].copy_from_slice(&seq.to_be_bytes());
            publish_frames(&mut b, 1, queue, &body, frame_max);
        }
        // A write that cannot finish means the broker stopped reading (the
        // alarm): wait for connection.blocked instead.
        match tokio::time::timeout(Duration::from_secs(5), wr.write_all(&b)).await {
            Ok(r) => r.map_err(|e| format!("flood write: {e}"))?,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        }
    }
    // Let confirms for what the broker already took arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let upto = confirmed.load(Ordering::Relaxed);
    if nacked.load(Ordering::Relaxed) > 0 {
        return Err(format!("the broker nacked messages (up to tag {})", nacked.load(Ordering::Relaxed)));
    }
    reader.abort();
    drop(wr);
    Ok(Flood { published: seq, confirmed: (1..=upto).collect(), blocked_after })
}

/// Consumes `queue` until every confirmed message came and it stays quiet.
async fn drain(addr: SocketAddr, queue: &str, confirmed: &[u64]) -> Io<(usize, usize, usize)> {
    let mut c = Client::connect(addr).await?;
    c.send(1, BasicQos { prefetch_count: 2000, ..Default::default() }).await?;
    c.method().await?;
    c.send(1, BasicConsume { queue: queue.into(), consumer_tag: "drain".into(), ..Default::default() }).await?;
    c.method().await?;
    let want: HashSet<u64> = confirmed.iter().copied().collect();
    let mut seen = HashSet::with_capacity(want.len());
    let mut duplicates = 0;
    let mut last_tag = 0;
    loop {
        let frame = match tokio::time::timeout(Duration::from_secs(3), c.frame()).await {
            Ok(f) => f?,
            Err(_) => break, // quiet for 3 s
        };
        match frame {
            Frame::Method { method: Method::BasicDeliver(d), .. } => last_tag = d.delivery_tag,
            Frame::Body { payload, .. } if payload.len() >= 8 => {
                let seq = u64::from_be_bytes(payload[..8].try_into().unwrap());
                if !seen.insert(seq) {
                    duplicates += 1;
                }
                if seen.len() % 1000 == 0 {
                    c.send(1, BasicAck { delivery_tag: last_tag, multiple: true }).await?;
                }
            }
            _ => {}
        }
    }
    if last_tag > 0 {
        c.send(1, BasicAck { delivery_tag: last_tag, multiple: true }).await?;
    }
    let lost = want.difference(&seen).count();
    Ok((seen.len(), lost, duplicates))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("warren-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<bool, String> {
    let nofile = raise_nofile();
    println!("load: RLIMIT_NOFILE {nofile}");
    if (nofile as usize) < args.connections + 64 {
        return Err(format!("RLIMIT_NOFILE is {nofile}: too low for {} connections (raise the hard limit)", args.connections));
    }
    let dir = std::env::temp_dir().join(format!("warren-load-{}", std::process::id()));
    let (mut child, addr, pid) = match args.amqp_addr {
        Some(a) => (None, a, args.pid),
        None => {
            let (c, a) = start_warren(&args, &dir)?;
            let pid = c.id();
            println!("load: started warren (pid {pid}) on {a}, memory high watermark {}", args.memory_high_watermark);
            (Some(c), a, Some(pid))
        }
    };
    let result = phases(&args, addr, pid).await;
    if let Some(c) = child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn phases(args: &Args, addr: SocketAddr, pid: Option<u32>) -> Result<bool, String> {
    let mut ok = true;
    let probe_queue = format!("load-probe-{}", std::process::id());
    let flood_queue = format!("load-flood-{}", std::process::id());
    {
        let mut c = Client::connect(addr).await?;
        for q in [&probe_queue, &flood_queue] {
            c.send(1, QueueDeclare { queue: q.as_str().into(), ..Default::default() }).await?;
            c.method().await?;
        }
    }
    println!("load: warren resident memory at start: {}", rss(pid));
    let p = Arc::new(Probe::default());
    let probe_thread = {
        let (p, q, every) = (p.clone(), probe_queue.clone(), Duration::from_millis(args.probe_interval_ms));
        std::thread::spawn(move || probe(addr, q, every, p))
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.phase.store(1, Ordering::Relaxed);

    // Phase 1: many connections.
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        set.spawn(async move {
            let r = Client::connect(addr).await;
            drop(permit);
            r
        });
    }
    let mut held = Vec::with_capacity(args.connections);
    let mut failed = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(c) => held.push(c),
            Err(e) => failed.push(e),
        }
    }
    println!(
        "load: {} connections open in {:.1}s ({} failed{}); warren resident memory {}",
        held.len(),
        started.elapsed().as_secs_f64(),
        failed.len(),
        failed.first().map(|e| format!(", first: {e}")).unwrap_or_default(),
        rss(pid)
    );
    ok &= failed.is_empty();

    // Phase 2: busy channels on a few of them, concurrently.
    p.phase.store(2, Ordering::Relaxed);
    let started = Instant::now();
    let mut busy_set = tokio::task::JoinSet::new();
    let n = args.busy_connections.min(held.len());
    for (i, mut c) in held.drain(..n).enumerate() {
        let (channels, per) = (args.channels, args.messages_per_channel);
        busy_set.spawn(async move { (busy(&mut c, i, channels, per).await, c) });
    }
    let mut got = 0;
    while let Some(r) = busy_set.join_next().await {
        let (r, c) = r.map_err(|e| e.to_string())?;
        match r {
            Ok(g) => got += g,
            Err(e) => {
                println!("load: busy connection failed: {e}");
                ok = false;
            }
        }
        held.push(c);
    }
    let want = n * args.channels as usize * args.messages_per_channel;
    println!(
        "load: {n} connections x {} channels: {got}/{want} messages round-tripped in {:.2}s",
        args.channels,
        started.elapsed().as_secs_f64()
    );
    ok &= got == want;

    // Phase 3: flood to the memory alarm, with all connections still held.
    p.phase.store(3, Ordering::Relaxed);
    let f = flood(addr, &flood_queue, args).await?;
    match f.blocked_after {
        Some(t) => println!(
            "load: memory alarm after {:.1}s: {} published, {} confirmed ({} MiB of bodies); warren resident memory {}",
            t.as_secs_f64(),
            f.published,
            f.confirmed.len(),
            f.confirmed.len() * args.body / (1 << 20),
            rss(pid)
        ),
        None => {
            println!("load: no memory alarm within {}s ({} published, {} confirmed)", args.flood_seconds, f.published, f.confirmed.len());
            ok = false;
        }
    }

    // Phase 4: every confirmed message is in the queue.
    p.phase.store(4, Ordering::Relaxed);
    let started = Instant::now();
    let (received, lost, duplicates) = drain(addr, &flood_queue, &f.confirmed).await?;
    println!(
        "load: drained {received} messages ({duplicates} duplicates) in {:.1}s: {lost} of {} confirmed messages missing",
        started.elapsed().as_secs_f64(),
        f.confirmed.len()
    );
    ok &= lost == 0 && duplicates == 0;

    p.stop.store(true, Ordering::Relaxed);
    let probe_result = probe_thread.join().map_err(|_| "the probe thread panicked".to_string())?;
    let all = p.samples.lock().unwrap().clone();
    let ms = |us: u64| us as f64 / 1000.0;
    let mut max = 0;
    for (i, name) in PHASES.iter().enumerate() {
        let mut v: Vec<u64> = all.iter().filter(|(ph, _)| *ph == i).map(|(_, us)| *us).collect();
        v.sort_unstable();
        if v.is_empty() {
            continue;
        }
        println!(
            "load: probe during {name}: {} declares, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v.len(),
            ms(percentile(&v, 0.5)),
            ms(percentile(&v, 0.99)),
            ms(*v.last().unwrap())
        );
    }
    let mut samples: Vec<u64> = all.iter().map(|(_, us)| *us).collect();
    samples.sort_unstable();
    let (p50, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
    max = max.max(samples.last().copied().unwrap_or(0));
    println!(
        "load: probe overall: {} passive declares every {} ms: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (limit {} ms), {} failed",
        samples.len(),
        args.probe_interval_ms,
        ms(p50),
        ms(p99),
        ms(max),
        args.probe_limit_ms,
        p.failures.load(Ordering::Relaxed)
    );
    if let Err(e) = probe_result {
        println!("load: probe failed: {e}");
        ok = false;
    }
    ok &= max <= args.probe_limit_ms * 1000 && p.failures.load(Ordering::Relaxed) == 0;
    drop(held);
    println!("load: {}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}
