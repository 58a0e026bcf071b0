//! The lean load generator: every producer and consumer connection on one
//! thread and one `mio` poll, no per-message allocation, no general-purpose
//! client.
//!
//! * Producers write pre-encoded publish frames ([`PublishBlock`]) patched in
//!   place with a timestamp, producer id and sequence number, up to a block
//!   (~64 KiB) per `write`. Confirms are counted from raw `basic.ack` /
//!   `basic.nack` frames.
//! * Consumers read up to 512 KiB per `read`, walk the frames reading only
//!   the frame type, method ids, delivery tag and the body's first 16 octets,
//!   take one clock reading per `read`, and send one `basic.ack` with
//!   `multiple` per `read` (or every `ack_every` deliveries).
//! * A fixed rate is paced by a timerfd, so pacing costs one wake-up per
//!   tick rather than a spin.
//!
//! The handshake and declarations go through Warren's codec on a blocking
//! socket ([`SyncConn`]) before the socket joins the poll.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use broker_core::amqp::method::*;
use broker_core::amqp::Method;
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::load::{Load, RunResult, Topology};
use crate::procfs::{now_ns, Sample};
use crate::track::{Tracker, STAMP_LEN};
use crate::wire::{describe_close, encode_ack, peek_frame, Credentials, PublishBlock, SyncConn};
use crate::{load, setup};

const TIMER: Token = Token(usize::MAX - 1);
const CONSUMER_BASE: usize = 1 << 20;
/// Octets one producer may write before the loop looks at others.
const WRITE_BUDGET: usize = 256 * 1024;
/// Octets one consumer may read before the loop looks at others.
const READ_BUDGET: usize = 1 << 20;
const READ_BUF: usize = 512 * 1024;
/// Target size of one pre-encoded block of publishes.
const BLOCK_TARGET: usize = 64 * 1024;

/// Outstanding publisher confirms of one producer. Delivery tag n is the
/// n-th publish (1-based).
struct Confirms {
    window: u64,
    /// Every tag below this is resolved.
    below: u64,
    /// Tags at or above `below` resolved one by one, out of order.
    singles: BTreeSet<u64>,
    acked: u64,
    nacked: u64,
}

impl Confirms {
    fn resolved(&self) -> u64 {
        self.acked + self.nacked
    }

    fn resolve(&mut self, tag: u64, multiple: bool, nack: bool) {
        let mut n = 0;
        if multiple {
            if tag >= self.below {
                let singles = self.singles.range(self.below..=tag).count() as u64;
                n = tag + 1 - self.below - singles;
                self.singles = self.singles.split_off(&(tag + 1));
                self.below = tag + 1;
            }
        } else if tag == self.below {
            n = 1;
            self.below += 1;
        } else if tag > self.below && self.singles.insert(tag) {
            n = 1;
        }
        while self.singles.first() == Some(&self.below) {
            self.singles.pop_first();
            self.below += 1;
        }
        if nack {
            self.nacked += n;
        } else {
            self.acked += n;
        }
    }
}

struct Producer {
    id: u32,
    token: Token,
    sock: TcpStream,
    /// Registered for WRITABLE too (only while a write has blocked, so an
    /// unblocked producer is not woken by every ACK from the peer).
    write_interest: bool,
    block: PublishBlock,
    /// The part of the block still to write.
    out_from: usize,
    out_to: usize,
    published: u64,
    writable: bool,
    confirms: Option<Confirms>,
    limit: Option<u64>,
    rbuf: Vec<u8>,
    rlen: usize,
    returned: u64,
    blocked: u64,
    /// Inside a basic.return's content: skip header and body frames.
    skipping_content: bool,
}

impl Producer {
    fn credit(&self, rate_allowed: Option<u64>, stopping: bool) -> u64 {
        if stopping {
            return 0;
        }
        let mut c = self.block.count as u64;
        if let Some(cf) = &self.confirms {
            c = c.min(cf.window.saturating_sub(self.published - cf.resolved()));
        }
        if let Some(a) = rate_allowed {
            c = c.min(a.saturating_sub(self.published));
        }
        if let Some(l) = self.limit {
            c = c.min(l.saturating_sub(self.published));
        }
        c
    }

    fn has_output(&self) -> bool {
        self.out_from < self.out_to
    }

    /// Writes as much as credit, the socket and the budget allow.
    fn pump(&mut self, registry: &Registry, rate_allowed: Option<u64>, stopping: bool) -> Result<(), String> {
        let mut budget = WRITE_BUDGET;
        while self.writable {
            if !self.has_output() {
                let n = self.credit(rate_allowed, stopping) as usize;
                if n == 0 {
                    return Ok(());
                }
                let ts = now_ns();
                for i in 0..n {
                    self.block.patch(i, ts, self.id, (self.published + i as u64) as u32);
                }
                self.out_from = 0;
                self.out_to = n * self.block.stride;
                self.published += n as u64;
            }
            match self.sock.write(&self.block.buf[self.out_from..self.out_to]) {
                Ok(0) => return Err("producer socket closed".into()),
                Ok(w) => {
                    self.out_from += w;
                    if w >= budget {
                        return Ok(());
                    }
                    budget -= w;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    if !self.write_interest {
                        self.write_interest = true;
                        registry
                            .reregister(&mut self.sock, self.token, Interest::READABLE | Interest::WRITABLE)
                            .map_err(|e| e.to_string())?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("producer {} write: {e}", self.id)),
            }
        }
        Ok(())
    }

    fn on_readable(&mut self) -> Result<(), String> {
        loop {
            let room = self.rbuf.len() - self.rlen;
            match self.sock.read(&mut self.rbuf[self.rlen..]) {
                Ok(0) => return Err(format!("producer {}: broker closed the connection", self.id)),
                Ok(n) => {
                    self.rlen += n;
                    self.parse()?;
                    if n < room {
                        // A short read drained the socket; new data raises a
                        // new edge, so skip the read that would say WouldBlock.
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("producer {} read: {e}", self.id)),
            }
        }
    }

    fn parse(&mut self) -> Result<(), String> {
        let mut at = 0;
        while let Some((kind, total, size)) = peek_frame(&self.rbuf[at..self.rlen]) {
            let payload = &self.rbuf[at + 7..at + 7 + size];
            if kind == 1 && size >= 4 {
                self.skipping_content = false;
                let class = u16::from_be_bytes([payload[0], payload[1]]);
                let method = u16::from_be_bytes([payload[2], payload[3]]);
                match (class, method) {
                    (60, 80) | (60, 120) if size >= 13 => {
                        let tag = u64::from_be_bytes(payload[4..12].try_into().unwrap());
                        let multiple = payload[12] & 1 != 0;
                        if let Some(cf) = &mut self.confirms {
                            cf.resolve(tag, multiple, method == 120);
                        }
                    }
                    (60, 50) => {
                        self.returned += 1;
                        self.skipping_content = true;
                    }
                    (10, 60) => self.blocked += 1,
                    (20, 40) | (10, 50) => return Err(format!("producer {}: {}", self.id, describe_close(payload))),
                    _ => {}
                }
            }
            at += total;
        }
        self.rbuf.copy_within(at..self.rlen, 0);
        self.rlen -= at;
        if self.rlen == self.rbuf.len() {
            return Err(format!("producer {}: frame larger than the read buffer", self.id));
        }
        Ok(())
    }
}

/// Where a consumer is within the frames of one delivery.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    Method,
    Header,
    Body { left: u64, first: bool },
}

/// The consumer's frame walker, apart from the socket: reads only the frame
/// type, method ids, delivery tag, body size and the body's first 16
/// octets, and decides when to ack.
pub(crate) struct DeliveryReader {
    idx: usize,
    queue: usize,
    expect: Expect,
    stamp: [u8; STAMP_LEN],
    stamp_ok: bool,
    auto_ack: bool,
    ack_every: u32,
    /// Delivery tag of the delivery whose content is being read.
    current_tag: u64,
    /// Highest delivery tag fully received: an ack never covers a delivery
    /// whose body has not arrived, and never repeats a tag (a broker closes
    /// the channel on an ack for an unknown tag).
    last_tag: u64,
    unacked: u32,
    pub(crate) redelivered: u64,
}

impl DeliveryReader {
    pub(crate) fn new(idx: usize, queue: usize, auto_ack: bool, ack_every: u32) -> DeliveryReader {
        DeliveryReader {
            idx,
            queue,
            expect: Expect::Method,
            stamp: [0; STAMP_LEN],
            stamp_ok: false,
            auto_ack,
            ack_every: ack_every.max(1),
            current_tag: 0,
            last_tag: 0,
            unacked: 0,
            redelivered: 0,
        }
    }

    /// Walks the complete frames at the front of `buf`, recording each
    /// finished delivery in `tracker` and appending acks due to `acks`.
    /// Returns the octets consumed (a partial frame is left).
    pub(crate) fn feed(&mut self, buf: &[u8], tracker: &mut Tracker, now: u64, acks: &mut Vec<u8>) -> Result<usize, String> {
        let mut at = 0;
        while let Some((kind, total, size)) = peek_frame(&buf[at..]) {
            let payload = &buf[at + 7..at + 7 + size];
            match (kind, self.expect) {
                (1, Expect::Method) if size >= 4 => {
                    let class = u16::from_be_bytes([payload[0], payload[1]]);
                    let method = u16::from_be_bytes([payload[2], payload[3]]);
                    match (class, method) {
                        (60, 60) => {
                            // consumer-tag (short string), delivery-tag, redelivered.
                            let l = *payload.get(4).ok_or("short basic.deliver")? as usize;
                            let t = payload.get(5 + l..14 + l).ok_or("short basic.deliver")?;
                            self.current_tag = u64::from_be_bytes(t[..8].try_into().unwrap());
                            if t[8] & 1 != 0 {
                                self.redelivered += 1;
                            }
                            self.expect = Expect::Header;
                        }
                        (60, 30) => return Err(format!("consumer {}: cancelled by the broker", self.idx)),
                        (20, 40) | (10, 50) => return Err(format!("consumer {}: {}", self.idx, describe_close(payload))),
                        _ => {}
                    }
                }
                (2, Expect::Header) if size >= 12 => {
                    let body_size = u64::from_be_bytes(payload[4..12].try_into().unwrap());
                    if body_size == 0 {
                        tracker.record(self.queue, self.idx, &[], now);
                        self.delivered(acks);
                    } else {
                        self.expect = Expect::Body { left: body_size, first: true };
                    }
                }
                (3, Expect::Body { left, first }) => {
                    if first {
                        self.stamp_ok = payload.len() >= STAMP_LEN;
                        if self.stamp_ok {
                            self.stamp.copy_from_slice(&payload[..STAMP_LEN]);
                        }
                    }
                    let left = left.saturating_sub(size as u64);
                    if left == 0 {
                        let body: &[u8] = if self.stamp_ok { &self.stamp } else { &[] };
                        tracker.record(self.queue, self.idx, body, now);
                        self.delivered(acks);
                    } else {
                        self.expect = Expect::Body { left, first: false };
                    }
                }
                (8, _) => {}
                (1, _) | (2, _) | (3, _) => return Err(format!("consumer {}: unexpected frame type {kind} mid-delivery", self.idx)),
                _ => return Err(format!("consumer {}: unknown frame type {kind}", self.idx)),
            }
            at += total;
        }
        Ok(at)
    }

    fn delivered(&mut self, acks: &mut Vec<u8>) {
        self.expect = Expect::Method;
        self.last_tag = self.current_tag;
        if !self.auto_ack {
            self.unacked += 1;
            if self.unacked >= self.ack_every {
                self.ack(acks);
            }
        }
    }

    /// Acks everything fully received so far (one `multiple` ack), if anything.
    pub(crate) fn ack(&mut self, acks: &mut Vec<u8>) {
        if self.unacked > 0 {
            encode_ack(acks, self.last_tag);
            self.unacked = 0;
        }
    }
}

struct Consumer {
    token: Token,
    sock: TcpStream,
    write_interest: bool,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    reader: DeliveryReader,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Stopped reading on the budget, not on WouldBlock: read again.
    more: bool,
}

impl Consumer {
    fn parse(&mut self, tracker: &mut Tracker, now: u64) -> Result<(), String> {
        self.rstart += self.reader.feed(&self.rbuf[self.rstart..self.rend], tracker, now, &mut self.wbuf)?;
        Ok(())
    }

    fn on_readable(&mut self, registry: &Registry, tracker: &mut Tracker) -> Result<(), String> {
        let idx = self.reader.idx;
        let mut got = 0;
        self.more = false;
        // Frames left over from the handshake socket, or a partial read.
        self.parse(tracker, now_ns())?;
        loop {
            if self.rstart == self.rend {
                self.rstart = 0;
                self.rend = 0;
            } else if self.rbuf.len() - self.rend < 64 * 1024 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            }
            let room = self.rbuf.len() - self.rend;
            match self.sock.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => return Err(format!("consumer {idx}: broker closed the connection")),
                Ok(n) => {
                    self.rend += n;
                    got += n;
                    self.parse(tracker, now_ns())?;
                    if n < room {
                        // Drained (see Producer::on_readable).
                        break;
                    }
                    if got >= READ_BUDGET {
                        self.more = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("consumer {idx} read: {e}")),
            }
        }
        self.reader.ack(&mut self.wbuf);
        self.flush(registry)
    }

    fn flush(&mut self, registry: &Registry) -> Result<(), String> {
        while self.wpos < self.wbuf.len() {
            match self.sock.write(&self.wbuf[self.wpos..]) {
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.write_interest {
                        self.write_interest = true;
                        registry
                            .reregister(&mut self.sock, self.token, Interest::READABLE | Interest::WRITABLE)
                            .map_err(|e| e.to_string())?;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("consumer {} write: {e}", self.reader.idx)),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        if self.write_interest {
            self.write_interest = false;
            registry.reregister(&mut self.sock, self.token, Interest::READABLE).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn to_mio(conn: SyncConn) -> io::Result<(TcpStream, Vec<u8>)> {
    conn.stream.set_nonblocking(true)?;
    let leftover = conn.buf.to_vec();
    Ok((TcpStream::from_std(conn.stream), leftover))
}

/// A periodic timerfd for pacing fixed-rate producers.
struct Timer(RawFd);

impl Timer {
    fn new(interval: Duration) -> io::Result<Timer> {
        // SAFETY: plain syscalls; the fd is owned by the Timer and closed on drop.
        unsafe {
            let fd = libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let ts = libc::timespec { tv_sec: interval.as_secs() as _, tv_nsec: interval.subsec_nanos() as _ };
            let spec = libc::itimerspec { it_interval: ts, it_value: ts };
            if libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) < 0 {
                let e = io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            Ok(Timer(fd))
        }
    }

    /// Clears the expiration count (one read: it returns them all).
    fn drain(&self) {
        let mut b = [0u8; 8];
        // SAFETY: reads at most 8 octets into a local buffer.
        unsafe { libc::read(self.0, b.as_mut_ptr().cast(), 8) };
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.0) };
    }
}

struct Snapshot {
    sample: Sample,
    published: u64,
    confirmed: u64,
    consumed: u64,
}

/// Runs `load` against the broker at `addr`. `broker_pid` (if known) is
/// sampled for CPU and disk writes over the measured window. `after` runs
/// once the run is over but before its queues are deleted (the backlog
/// scenario measures memory there).
pub fn run(
    addr: SocketAddr,
    creds: &Credentials,
    load: &Load,
    broker_pid: Option<u32>,
    after: &mut dyn FnMut(&mut RunResult),
) -> Result<RunResult, String> {
    let topo = Topology::new(&load::run_id(), load);
    let mut setup_conn = SyncConn::open(addr, creds, "warren-bench setup").map_err(|e| format!("setup connection: {e}"))?;
    setup::declare(&mut setup_conn, load, &topo).map_err(|e| format!("declare: {e}"))?;
    let result = run_declared(addr, creds, load, &topo, broker_pid);
    let mut result = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = setup::delete(&mut setup_conn, &topo);
            return Err(e);
        }
    };
    after(&mut result);
    setup::delete(&mut setup_conn, &topo).map_err(|e| format!("delete queues: {e}"))?;
    setup_conn.close();
    Ok(result)
}

/// [`run`] on a topology already declared (and left in place).
pub(crate) fn run_declared(
    addr: SocketAddr,
    creds: &Credentials,
    load: &Load,
    topo: &Topology,
    broker_pid: Option<u32>,
) -> Result<RunResult, String> {
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let mut consumers = Vec::new();
    for c in 0..load.consumers {
        let mut conn = SyncConn::open(addr, creds, &format!("warren-bench consumer {c}")).map_err(|e| format!("consumer {c}: {e}"))?;
        if !load.auto_ack && load.prefetch > 0 {
            conn.rpc(BasicQos { prefetch_count: load.prefetch, ..Default::default() }).map_err(|e| e.to_string())?;
        }
        let queue = topo.queue_of_consumer(c);
        let reply = conn
            .rpc(BasicConsume {
                queue: topo.queues[queue].as_str().into(),
                consumer_tag: format!("c{c}").into(),
                no_ack: load.auto_ack,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        if !matches!(reply, Method::BasicConsumeOk(_)) {
            return Err(format!("consumer {c}: expected basic.consume-ok, got {}", reply.name()));
        }
        let (mut sock, leftover) = to_mio(conn).map_err(|e| e.to_string())?;
        poll.registry().register(&mut sock, Token(CONSUMER_BASE + c), Interest::READABLE).map_err(|e| e.to_string())?;
        let mut rbuf = vec![0u8; READ_BUF];
        rbuf[..leftover.len()].copy_from_slice(&leftover);
        consumers.push(Consumer {
            token: Token(CONSUMER_BASE + c),
            sock,
            write_interest: false,
            rbuf,
            rstart: 0,
            rend: leftover.len(),
            reader: DeliveryReader::new(c, queue, load.auto_ack, load.ack_every),
            wbuf: Vec::with_capacity(4096),
            wpos: 0,
            more: !leftover.is_empty(),
        });
    }
    let mut producers = Vec::new();
    for p in 0..load.producers {
        let mut conn = SyncConn::open(addr, creds, &format!("warren-bench producer {p}")).map_err(|e| format!("producer {p}: {e}"))?;
        if load.confirm.is_some() {
            let reply = conn.rpc(ConfirmSelect { nowait: false }).map_err(|e| e.to_string())?;
            if !matches!(reply, Method::ConfirmSelectOk(_)) {
                return Err(format!("producer {p}: expected confirm.select-ok, got {}", reply.name()));
            }
        }
        let block = PublishBlock::new(
            &topo.exchange,
            &topo.routing_key(load.exchange, p),
            load.size,
            load.persistent,
            conn.frame_max,
            BLOCK_TARGET,
        );
        let (mut sock, _) = to_mio(conn).map_err(|e| e.to_string())?;
        poll.registry().register(&mut sock, Token(p), Interest::READABLE).map_err(|e| e.to_string())?;
        producers.push(Producer {
            id: p as u32,
            token: Token(p),
            sock,
            write_interest: false,
            block,
            out_from: 0,
            out_to: 0,
            published: 0,
            writable: true,
            confirms: load.confirm.map(|w| Confirms { window: w.max(1) as u64, below: 1, singles: BTreeSet::new(), acked: 0, nacked: 0 }),
            limit: load.count,
            rbuf: vec![0u8; 256 * 1024],
            rlen: 0,
            returned: 0,
            blocked: 0,
            skipping_content: false,
        });
    }
    let timer = match load.rate {
        Some(r) if r > 0.0 => {
            let interval = Duration::from_secs_f64((1.0 / r).clamp(50e-6, 10e-3));
            let t = Timer::new(interval).map_err(|e| format!("timerfd: {e}"))?;
            poll.registry().register(&mut SourceFd(&t.0), TIMER, Interest::READABLE).map_err(|e| e.to_string())?;
            Some(t)
        }
        _ => None,
    };
    let mut poll = poll;
    let mut tracker = Tracker::new(topo, load.exchange, load.producers, load.consumers);
    let mut events = Events::with_capacity(1024);

    let count_mode = load.count.is_some();
    let start = Instant::now();
    let warm_end = if count_mode { start } else { start + load.warmup };
    let end = warm_end + load.duration;
    let snap = |producers: &[Producer], tracker: &Tracker| Snapshot {
        sample: Sample::take(broker_pid),
        published: producers.iter().map(|p| p.published).sum(),
        confirmed: producers.iter().filter_map(|p| p.confirms.as_ref()).map(|c| c.acked).sum(),
        consumed: tracker.delivered,
    };
    let mut s0: Option<Snapshot> = None;
    let mut s1: Option<Snapshot> = None;
    let mut drain_deadline = None;
    let mut drained = false;
    let mut stopping = false;

    loop {
        let now = Instant::now();
        if s0.is_none() && now >= warm_end {
            s0 = Some(snap(&producers, &tracker));
            tracker.recording = true;
        }
        let published: Vec<u64> = producers.iter().map(|p| p.published).collect();
        let all_confirmed = producers.iter().all(|p| p.confirms.as_ref().is_none_or(|c| c.resolved() == p.published));
        let all_written = producers.iter().all(|p| !p.has_output());
        if s0.is_some() && s1.is_none() {
            let done = if count_mode {
                producers.iter().all(|p| Some(p.published) == p.limit)
                    && all_written
                    && all_confirmed
                    && tracker.outstanding(&published) == 0
            } else {
                now >= end
            };
            if done {
                s1 = Some(snap(&producers, &tracker));
                tracker.recording = false;
                stopping = true;
                drain_deadline = Some(now + load.drain_timeout);
            }
        }
        if let Some(deadline) = drain_deadline {
            if all_written && all_confirmed && tracker.outstanding(&published) == 0 {
                drained = true;
                break;
            }
            if now >= deadline {
                break;
            }
        }

        let rate_allowed = load.rate.map(|r| (r * now.duration_since(start).as_secs_f64()) as u64 + 1);
        for p in producers.iter_mut() {
            p.pump(poll.registry(), rate_allowed, stopping)?;
        }
        for c in consumers.iter_mut().filter(|c| c.more) {
            c.on_readable(poll.registry(), &mut tracker)?;
        }

        let busy = consumers.iter().any(|c| c.more)
            || producers.iter().any(|p| p.writable && (p.has_output() || p.credit(rate_allowed, stopping) > 0));
        let timeout = if busy {
            Duration::ZERO
        } else {
            let next = if s0.is_none() {
                warm_end
            } else if s1.is_none() && !count_mode {
                end
            } else {
                now + Duration::from_millis(50)
            };
            next.saturating_duration_since(now).min(Duration::from_millis(50))
        };
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            let t = ev.token();
            if t == TIMER {
                if let Some(t) = &timer {
                    t.drain();
                }
            } else if t.0 >= CONSUMER_BASE {
                let c = &mut consumers[t.0 - CONSUMER_BASE];
                if ev.is_readable() || ev.is_read_closed() {
                    c.on_readable(poll.registry(), &mut tracker)?;
                }
                if ev.is_writable() {
                    c.flush(poll.registry())?;
                }
            } else {
                let p = &mut producers[t.0];
                if ev.is_writable() {
                    p.writable = true;
                    if p.write_interest {
                        p.write_interest = false;
                        poll.registry().reregister(&mut p.sock, p.token, Interest::READABLE).map_err(|e| e.to_string())?;
                    }
                }
                if ev.is_readable() || ev.is_read_closed() {
                    p.on_readable()?;
                }
            }
        }
    }

    let published: Vec<u64> = producers.iter().map(|p| p.published).collect();
    let (missing, undrained) = tracker.verdict(&published);
    let (s0, s1) = (s0.expect("window started"), s1.expect("window ended"));
    let result = RunResult {
        client: "raw",
        secs: s1.sample.at.duration_since(s0.sample.at).as_secs_f64(),
        published: s1.published - s0.published,
        confirmed: s1.confirmed - s0.confirmed,
        consumed: s1.consumed - s0.consumed,
        total_published: published.iter().sum(),
        total_confirmed: producers.iter().filter_map(|p| p.confirms.as_ref()).map(|c| c.acked).sum(),
        total_nacked: producers.iter().filter_map(|p| p.confirms.as_ref()).map(|c| c.nacked).sum(),
        total_consumed: tracker.delivered,
        returned: producers.iter().map(|p| p.returned).sum(),
        redelivered: consumers.iter().map(|c| c.reader.redelivered).sum(),
        missing,
        undrained,
        duplicates: tracker.duplicates,
        out_of_order: tracker.out_of_order,
        malformed: tracker.malformed,
        blocked: producers.iter().map(|p| p.blocked).sum(),
        latency: tracker.latency(),
        gen_cpu: s1.sample.self_cpu - s0.sample.self_cpu,
        broker_cpu: s1.sample.broker_cpu.zip(s0.sample.broker_cpu).map(|(b, a)| b - a),
        broker_disk: s1.sample.broker_disk.zip(s0.sample.broker_disk).map(|(b, a)| b.saturating_sub(a)),
        drained,
    };
    for p in producers.iter_mut() {
        let _ = p.sock.write_all(&close_frame());
    }
    for c in consumers.iter_mut() {
        let _ = c.sock.write_all(&close_frame());
    }
    Ok(result)
}

/// connection.close (the socket is dropped right after; brokers cope).
fn close_frame() -> Vec<u8> {
    let mut b = bytes::BytesMut::new();
    broker_core::amqp::frame::write_method(
        &mut b,
        0,
        &ConnectionClose { reply_code: 200, reply_text: "bye".into(), class_id: 0, method_id: 0 }.into(),
    );
    b.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Load;

    fn confirms() -> Confirms {
        Confirms { window: 100, below: 1, singles: BTreeSet::new(), acked: 0, nacked: 0 }
    }

    /// `n` deliveries of 1 KB bodies (stamped producer 0, seq i) as a broker
    /// would send them.
    fn deliveries(n: u64) -> Vec<u8> {
        use broker_core::amqp::frame::{write_body, write_content_header, write_method};
        let mut out = bytes::BytesMut::new();
        for i in 0..n {
            let m = BasicDeliver {
                consumer_tag: "c0".into(),
                delivery_tag: i + 1,
                redelivered: false,
                exchange: "x".into(),
                routing_key: "q0".into(),
            };
            write_method(&mut out, 1, &m.into());
            write_content_header(&mut out, 1, 60, 1024, &[0, 0]);
            let mut body = vec![0u8; 1024];
            crate::track::write_stamp(&mut body, 1, 0, i as u32);
            write_body(&mut out, 1, &body, 600); // two body frames each
        }
        out.to_vec()
    }

    #[test]
    fn acks_cover_only_complete_deliveries_and_never_repeat_a_tag() {
        use broker_core::amqp::frame::take_frame;
        use broker_core::amqp::Frame;
        let wire = deliveries(40);
        let topo = crate::load::Topology::new("t", &Load::default());
        for chunk in [1, 7, 100, 1000, 1100, 5000, wire.len()] {
            let mut tracker = Tracker::new(&topo, crate::load::ExchangeType::Direct, 1, 1);
            let mut reader = DeliveryReader::new(0, 0, false, 3);
            let (mut buf, mut acks) = (Vec::new(), Vec::new());
            // One "read" per chunk, with the per-read ack at its end.
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                let used = reader.feed(&buf, &mut tracker, 2, &mut acks).unwrap();
                buf.drain(..used);
                reader.ack(&mut acks);
            }
            assert_eq!(tracker.delivered, 40, "chunk {chunk}");
            assert_eq!(tracker.verdict(&[40]), (0, 0));
            let mut acks = bytes::BytesMut::from(&acks[..]);
            let mut last = 0;
            while let Some(raw) = take_frame(&mut acks, 0).unwrap() {
                let Frame::Method { method: Method::BasicAck(a), .. } = Frame::decode(raw).unwrap() else { panic!() };
                assert!(a.multiple);
                assert!(a.delivery_tag > last, "chunk {chunk}: ack {} after {last}", a.delivery_tag);
                last = a.delivery_tag;
            }
            assert_eq!(last, 40, "chunk {chunk}");
        }
    }

    #[test]
    fn confirms_count_each_tag_once_whatever_the_order() {
        let mut c = confirms();
        c.resolve(3, false, false);
        c.resolve(1, false, false);
        assert_eq!((c.acked, c.below), (2, 2));
        c.resolve(5, true, false); // 2, 4, 5 are new; 3 was already counted
        assert_eq!((c.acked, c.below), (5, 6));
        c.resolve(5, true, false);
        assert_eq!(c.acked, 5);
        c.resolve(6, false, true);
        assert_eq!((c.acked, c.nacked, c.below), (5, 1, 7));
    }
}
