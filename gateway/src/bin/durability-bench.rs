//! `durability-bench`: what durability costs, end to end through a real
//! `warren` process. Not a test: it prints numbers.
//!
//! ```text
//! cargo build --release -p gateway --bins
//! target/release/durability-bench [--warren PATH] [--dir DIR] [--messages N] [--recovery-messages N]
//! ```
//!
//! 1. Persistent publishes with publisher confirms: P publishers (1 and 4),
//!    each on its own connection with a window of 1000 unconfirmed
//!    messages, into one durable queue with no consumer, for 16 B and
//!    1 KiB bodies. A confirm means the message is on disk (fdatasync), so
//!    this is the rate group commit sustains. Each case starts a fresh
//!    warren on a fresh data directory.
//! 2. Recovery: 1,000,000 persistent 16 B messages published the same way
//!    into one durable queue, warren stopped with SIGTERM, then the time
//!    from starting it again to `warren: ready` (and the queue checked).
//!
//! The publisher is lean on purpose, so it measures warren and not a
//! client library: Warren's own codec (`broker_core::amqp`), one blocking
//! socket and thread per publisher, publish frames encoded once and
//! written in blocks of up to 100 messages whenever the window allows.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use broker_core::amqp::frame::{take_frame, write_body, write_content_header, write_method};
use broker_core::amqp::method::*;
use broker_core::amqp::{BasicProperties, FieldTable, FieldValue, Frame, Method, CLASS_BASIC, PROTOCOL_HEADER};
use bytes::{Bytes, BytesMut};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Persistent publish-with-confirm throughput and recovery time of a warren process")]
struct Args {
    /// The warren binary (default: the one next to this program).
    #[arg(long)]
    warren: Option<PathBuf>,
    /// Where the scratch data directories go (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Messages per throughput case (split between the publishers).
    #[arg(long, default_value_t = 300_000)]
    messages: u64,
    /// Unconfirmed messages each publisher may have outstanding.
    #[arg(long, default_value_t = 1000)]
    window: u64,
    /// Messages for the recovery measurement (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    recovery_messages: u64,
    /// Skip the throughput cases.
    #[arg(long)]
    no_throughput: bool,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("durability-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let warren = match &args.warren {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("warren"),
    };
    if !warren.is_file() {
        return Err(format!("no warren binary at {} (build it, or pass --warren)", warren.display()));
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let scratch = base.join(format!("durability-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("create {}: {e}", scratch.display()))?;
    println!(
        "durability-bench: {} ({} CPUs), data under {}",
        warren.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        scratch.display()
    );
    let result = cases(&args, &warren, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn cases(args: &Args, warren: &Path, scratch: &Path) -> Result<(), String> {
    if !args.no_throughput {
        println!();
        println!("persistent publishes with confirms (window {} per publisher), one durable queue, no consumer:", args.window);
        println!("  {:>6}  {:>10}  {:>9}  {:>8}  {:>10}  {:>8}", "body", "publishers", "messages", "seconds", "msgs/s", "MB/s");
        for (n, size) in [16usize, 1024].into_iter().enumerate() {
            for (m, publishers) in [1u64, 4].into_iter().enumerate() {
                let data = scratch.join(format!("throughput-{n}-{m}"));
                let mut w = Warren::start(warren, &data)?;
                declare(w.port, "bench")?;
                let per = args.messages / publishers;
                let elapsed = publish_parallel(w.port, "bench", publishers, per, size, args.window)?;
                let total = per * publishers;
                let rate = total as f64 / elapsed.as_secs_f64();
                println!(
                    "  {:>6}  {:>10}  {:>9}  {:>8.2}  {:>10.0}  {:>8.1}",
                    if size < 1024 { format!("{size} B") } else { format!("{} KiB", size / 1024) },
                    publishers,
                    total,
                    elapsed.as_secs_f64(),
                    rate,
                    rate * size as f64 / 1e6
                );
                w.stop()?;
                let _ = std::fs::remove_dir_all(&data);
            }
        }
    }
    if args.recovery_messages > 0 {
        let n = args.recovery_messages;
        let data = scratch.join("recovery");
        let mut w = Warren::start(warren, &data)?;
        declare(w.port, "recover")?;
        let publishers = 4;
        let per = n / publishers;
        let elapsed = publish_parallel(w.port, "recover", publishers, per, 16, args.window)?;
        let total = per * publishers;
        let stop = w.stop()?;
        let on_disk: u64 =
            std::fs::read_dir(data.join("msgs")).map_err(|e| e.to_string())?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
        println!();
        println!(
            "recovery: {total} persistent 16 B messages in one durable queue ({:.0} MiB of segments; published in {:.1}s)",
            on_disk as f64 / (1 << 20) as f64,
            elapsed.as_secs_f64()
        );
        println!("  stop (SIGTERM to exit):      {:>7.3}s", stop.as_secs_f64());
        let mut w = Warren::start(warren, &data)?;
        println!("  start to `warren: ready`:    {:>7.3}s", w.ready_after.as_secs_f64());
        let count = declare(w.port, "recover")?;
        println!("  messages in the queue after: {count}");
        if count != total {
            return Err(format!("{count} messages recovered, {total} published"));
        }
        let log = std::fs::read_to_string(&w.log).unwrap_or_default();
        if let Some(line) = log.lines().map(strip_ansi).find(|l| l.contains("recovered")) {
            println!("  warren's log: {}", line.split_once("recovered").map_or(line.as_str(), |(_, rest)| rest).trim());
        }
        w.stop()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The warren process
// ---------------------------------------------------------------------------

struct Warren {
    child: Child,
    port: u16,
    ready_after: Duration,
    log: PathBuf,
}

impl Warren {
    /// Starts warren on `data` and waits for `warren: ready`.
    fn start(binary: &Path, data: &Path) -> Result<Warren, String> {
        let log = data.with_extension("stderr.log");
        let mut log_file = std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["--amqp-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--prometheus-bind", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start {}: {e}", binary.display()))?;
        // warren logs to stderr: watched for startup, copied to the log file.
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Write as _;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log_file, "{line}");
                let _ = tx.send(line);
            }
        });
        let mut port = None;
        loop {
            let line = rx.recv_timeout(Duration::from_secs(600)).map_err(|_| {
                let _ = child.kill();
                format!("warren did not get ready; see {}", log.display())
            })?;
            if let Some(addr) = line.strip_prefix("warren: AMQP listening on ") {
                port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if line == "warren: ready" {
                break;
            }
        }
        let ready_after = started.elapsed();
        let port = port.ok_or("warren printed no AMQP port")?;
        Ok(Warren { child, port, ready_after, log })
    }

    /// SIGTERM, and how long warren took to exit.
    fn stop(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        // SAFETY: kill(2) on the child we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("warren exited with {status}; see {}", self.log.display()));
        }
        Ok(started.elapsed())
    }
}

impl Drop for Warren {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A lean AMQP client on Warren's codec
// ---------------------------------------------------------------------------

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

struct Client {
    stream: TcpStream,
    buf: BytesMut,
    frame_max: u32,
}

impl Client {
    /// Connects as guest to `/` and opens channel 1.
    fn connect(port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut c = Client { stream, buf: BytesMut::with_capacity(64 * 1024), frame_max: 131_072 };
        c.stream.write_all(&PROTOCOL_HEADER)?;
        let Method::ConnectionStart(_) = c.recv()? else { return Err(other("expected connection.start")) };
        let mut caps = FieldTable::new();
        caps.insert("publisher_confirms", FieldValue::Bool(true));
        let mut props = FieldTable::new();
        props.insert("product", FieldValue::str("durability-bench"));
        props.insert("capabilities", FieldValue::Table(caps));
        c.send(
            0,
            ConnectionStartOk {
                client_properties: props,
                mechanism: "PLAIN".into(),
                response: Bytes::from_static(b"\0guest\0guest"),
                locale: "en_US".into(),
            },
        )?;
        let Method::ConnectionTune(tune) = c.recv()? else { return Err(other("expected connection.tune")) };
        c.frame_max = if tune.frame_max == 0 { 131_072 } else { tune.frame_max.min(131_072) };
        c.send(0, ConnectionTuneOk { channel_max: tune.channel_max, frame_max: c.frame_max, heartbeat: 0 })?;
        c.send(0, ConnectionOpen { virtual_host: "/".into(), ..Default::default() })?;
        let Method::ConnectionOpenOk(_) = c.recv()? else { return Err(other("expected connection.open-ok")) };
        c.rpc(ChannelOpen::default())?;
        Ok(c)
    }

    fn send(&mut self, channel: u16, m: impl Into<Method>) -> io::Result<()> {
        let mut out = BytesMut::new();
        write_method(&mut out, channel, &m.into());
        self.stream.write_all(&out)
    }

    /// Reads more bytes from the socket into the buffer.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(other("warren closed the connection"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// The next method frame already buffered, if any.
    fn next_buffered(&mut self) -> io::Result<Option<Method>> {
        while let Some(raw) = take_frame(&mut self.buf, 0).map_err(|e| other(format!("frame error: {e:?}")))? {
            if let Frame::Method { method, .. } = Frame::decode(raw).map_err(|e| other(format!("decode error: {e}")))? {
                if let Method::ConnectionClose(c) = &method {
                    return Err(other(format!("connection closed: {} {}", c.reply_code, c.reply_text)));
                }
                if let Method::ChannelClose(c) = &method {
                    return Err(other(format!("channel closed: {} {}", c.reply_code, c.reply_text)));
                }
                return Ok(Some(method));
            }
        }
        Ok(None)
    }

    fn recv(&mut self) -> io::Result<Method> {
        loop {
            if let Some(m) = self.next_buffered()? {
                return Ok(m);
            }
            self.fill()?;
        }
    }

    fn rpc(&mut self, m: impl Into<Method>) -> io::Result<Method> {
        self.send(1, m)?;
        self.recv()
    }
}

/// Declares a durable queue; returns its message count.
fn declare(port: u16, queue: &str) -> Result<u64, String> {
    let mut c = Client::connect(port).map_err(|e| format!("connect: {e}"))?;
    let m = QueueDeclare { queue: queue.into(), durable: true, ..Default::default() };
    match c.rpc(m).map_err(|e| format!("queue.declare: {e}"))? {
        Method::QueueDeclareOk(ok) => Ok(ok.message_count as u64),
        other => Err(format!("expected queue.declare-ok, got {}", other.name())),
    }
}

/// Runs `publishers` publishers of `per` messages each at once; returns
/// the time from the start until the last confirm.
fn publish_parallel(port: u16, queue: &str, publishers: u64, per: u64, size: usize, window: u64) -> Result<Duration, String> {
    // Connect everyone first, then start together.
    let mut clients = Vec::new();
    for _ in 0..publishers {
        let mut c = Client::connect(port).map_err(|e| format!("connect: {e}"))?;
        c.rpc(ConfirmSelect { nowait: false }).map_err(|e| format!("confirm.select: {e}"))?;
        clients.push(c);
    }
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(publishers as usize + 1));
    let threads: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let (barrier, queue) = (barrier.clone(), queue.to_string());
            std::thread::spawn(move || {
                barrier.wait();
                publish(c, &queue, per, size, window)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    for t in threads {
        t.join().map_err(|_| "a publisher panicked".to_string())?.map_err(|e| format!("publisher: {e}"))?;
    }
    Ok(started.elapsed())
}

/// Publishes `n` persistent messages with at most `window` unconfirmed,
/// and waits for the last confirm.
fn publish(mut c: Client, queue: &str, n: u64, size: usize, window: u64) -> io::Result<()> {
    let mut one = BytesMut::new();
    let publish = BasicPublish { exchange: "".into(), routing_key: queue.into(), ..Default::default() };
    write_method(&mut one, 1, &publish.into());
    let props = BasicProperties { delivery_mode: Some(2), ..Default::default() };
    write_content_header(&mut one, 1, CLASS_BASIC, size as u64, &props.to_bytes());
    write_body(&mut one, 1, &vec![b'x'; size], c.frame_max);
    let block_len = 100.min(window.max(1));
    let block: Vec<u8> = one.iter().copied().cycle().take(one.len() * block_len as usize).collect();

    let (mut sent, mut confirmed) = (0u64, 0u64);
    // Single acks beyond the contiguous prefix (warren sends multiple acks
    // mostly, but a client must not assume it).
    let mut singles: BTreeSet<u64> = BTreeSet::new();
    while confirmed < n {
        while sent < n && sent + block_len.min(n - sent) <= confirmed + window {
            let k = block_len.min(n - sent);
            c.stream.write_all(&block[..one.len() * k as usize])?;
            sent += k;
        }
        c.fill()?;
        while let Some(m) = c.next_buffered()? {
            match m {
                Method::BasicAck(a) if a.multiple => confirmed = confirmed.max(a.delivery_tag),
                Method::BasicAck(a) => {
                    singles.insert(a.delivery_tag);
                }
                Method::BasicNack(a) => return Err(other(format!("message {} nacked", a.delivery_tag))),
                _ => {}
            }
            while singles.first().is_some_and(|t| *t <= confirmed + 1) {
                let t = singles.pop_first().expect("checked");
                confirmed = confirmed.max(t);
            }
        }
    }
    let _ = c.send(0, ConnectionClose { reply_code: 200, reply_text: "bye".into(), class_id: 0, method_id: 0 });
    Ok(())
}
