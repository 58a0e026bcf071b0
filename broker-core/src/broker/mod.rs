//! The broker's one entry point, [`Broker`], and the state it owns.

pub mod alarms;
pub(crate) mod deadletter;
pub(crate) mod dispatch;
pub(crate) mod flow;
pub(crate) mod input;
pub(crate) mod lifecycle;
pub mod limits;
pub mod persist;
pub(crate) mod queues;
pub(crate) mod reply_to;
pub mod restore;
pub(crate) mod routing;
pub mod stats;
mod timers;
pub mod trace;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use bytes::Bytes;
use rustc_hash::FxHashMap;

use crate::amqp::method::BasicCancel;
use crate::amqp::{FieldTable, ShortStr};
use crate::auth::User;
use crate::connection::{Connection, PeerInfo};
use crate::exchange::{Exchange, ExchangeKind};
use crate::ids::{ConnectionId, ConsumerId, ExchangeId, QueueId, Slab};
use crate::message::MessageStore;
use crate::permissions::{self, Permission};
use crate::queue::{Consumer, Queue};
use crate::vhost::{VHost, STANDARD_EXCHANGES};

/// Broker settings. `Default` gives RabbitMQ's defaults and the guest user
/// (password guest, loopback peers only) on vhost `/`.
#[derive(Debug, Clone)]
pub struct Config {
    pub users: Vec<User>,
    pub vhosts: Vec<String>,
    pub permissions: Vec<Permission>,
    /// Highest channel number offered in connection.tune.
    pub channel_max: u16,
    /// Largest frame offered in connection.tune.
    pub frame_max: u32,
    /// Heartbeat interval offered in connection.tune, in seconds.
    pub heartbeat: u16,
    /// Largest message body accepted (406 beyond it), as RabbitMQ's
    /// `max_message_size`.
    pub max_message_size: u64,
    /// A connection must finish the handshake within this many ms.
    pub handshake_timeout_ms: u64,
    /// Deliveries to a connection pause while this many octets of its
    /// output are not yet written, so a slow reader cannot grow memory.
    pub output_high_watermark: usize,
    /// Beyond this much unwritten output the driver stops reading from the
    /// connection at all (a peer that sends requests but never reads the
    /// replies), until half of it is written.
    pub output_hard_limit: usize,
    /// Credit flow: a queue with consumers and more ready messages than
    /// this may pause its publishers briefly, if it drains fast enough to
    /// catch up (see `broker::flow`; never for slow or stuck consumers).
    pub flow_backlog: usize,
    /// Seed for server-generated names (`amq.gen-…`, `amq.ctag-…`).
    pub seed: u64,
    /// A delivery not acknowledged within this many ms closes its channel
    /// with 406, as RabbitMQ's `consumer_timeout` (None = never).
    pub consumer_timeout_ms: Option<u64>,
    /// A refused login of a client without `authentication_failure_close`
    /// is dropped after this many ms (RabbitMQ waits about 3 s).
    pub login_failure_delay_ms: u64,
    /// Emit [`persist::StoreOp`]s for a driver that keeps messages on disk,
    /// and hold confirms until it reports them durable.
    pub persistence: bool,
    /// With persistence: octets of message bodies kept in memory; beyond it
    /// the newest bodies move to disk (queues larger than RAM).
    pub memory_budget: Option<usize>,
    pub cluster_name: String,
}

impl Default for Config {
    fn default() -> Self {
        let mut guest = User::new("guest", "guest", [0x57, 0x61, 0x72, 0x72]);
        guest.tags = vec!["administrator".into()];
        guest.loopback_only = true;
        Config {
            users: vec![guest],
            vhosts: vec!["/".into()],
            permissions: vec![Permission::all("guest", "/")],
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
            max_message_size: 128 * 1024 * 1024,
            handshake_timeout_ms: 10_000,
            output_high_watermark: 1024 * 1024,
            output_hard_limit: 16 * 1024 * 1024,
            flow_backlog: 20_000,
            seed: 0x5741_5252_454e,
            consumer_timeout_ms: Some(30 * 60 * 1000),
            login_failure_delay_ms: 3000,
            persistence: false,
            memory_budget: None,
            cluster_name: "warren@localhost".into(),
        }
    }
}

/// Octets for one connection, to be written in order to its socket.
#[derive(Debug)]
pub struct Transmit {
    pub connection: ConnectionId,
    pub data: Bytes,
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The connection is finished. Write everything `poll_transmit` gave for
    /// it; then, if `linger_ms` is not 0, keep reading and discarding what
    /// the peer still sends until it closes its side or `linger_ms` passes
    /// (after a client's connection.close: frames it wrote before seeing our
    /// close-ok are still arriving, and closing with them unread would
    /// reset the connection); then close the socket. The core has already
    /// forgotten it.
    Closed {
        connection: ConnectionId,
        reason: String,
        linger_ms: u64,
    },
    /// A resource alarm blocks this publishing connection: stop reading
    /// from its socket until `ResumeReading`.
    PauseReading {
        connection: ConnectionId,
    },
    ResumeReading {
        connection: ConnectionId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Send our heartbeat or notice the peer's silence.
    Heartbeat(ConnectionId),
    /// The handshake must be done by now.
    Handshake(ConnectionId),
    /// We sent connection.close; close-ok is due.
    CloseWait(ConnectionId),
    /// The message at the head of a queue may have expired.
    QueueTtl(QueueId),
    /// A queue with `x-expires` may have gone unused for its period.
    QueueExpires(QueueId),
    /// The oldest unacknowledged delivery on a channel may have timed out.
    ConsumerTimeout(ConnectionId, u16),
    /// A refused login is answered after a short delay.
    LoginRefused(ConnectionId),
    /// A publisher's credit-flow pause is over.
    FlowResume(ConnectionId),
    /// Sample the message counters for rates.
    StatsSample,
}

/// Everything but the connections: what handlers on one connection may
/// touch while that connection is borrowed.
pub(crate) struct State {
    pub vhosts: FxHashMap<String, VHost>,
    pub users: FxHashMap<String, User>,
    /// (user, vhost) to the permission and its compiled expressions.
    pub permissions: FxHashMap<(String, String), (Permission, permissions::Compiled)>,
    pub exchanges: Slab<ExchangeId, Exchange>,
    pub queues: Slab<QueueId, Queue>,
    pub consumers: Slab<ConsumerId, Consumer>,
    pub messages: MessageStore,
    /// Queues that may be able to deliver.
    dirty_queues: Vec<QueueId>,
    /// Consumers cancelled by the broker (their queue was deleted), told
    /// to their channels after the current frame: the channel may belong to
    /// another connection.
    cancelled: Vec<(ConnectionId, u16, ShortStr)>,
    /// Channels with confirms to write: (connection, channel).
    confirm_dirty: Vec<(ConnectionId, u16)>,
    /// Messages on their way to a dead-letter exchange.
    pub(crate) dead_letters: Vec<deadletter::DeadLetter>,
    /// Queues that took a message with TTL 0: it expires after this flush
    /// unless a consumer took it.
    pub(crate) expire_soon: Vec<QueueId>,
    /// Direct reply-to messages: (connection, channel, secret, message).
    pub(crate) direct_replies: Vec<(ConnectionId, u16, u64, crate::message::Message)>,
    /// Connections with output for the driver.
    transmit: VecDeque<ConnectionId>,
    timers: BinaryHeap<Reverse<(u64, Timer)>>,
    rng: u64,
    /// The time of the input being handled (ms).
    pub(crate) now: u64,
    pub(crate) stats: stats::Stats,
    pub(crate) policies: Vec<crate::management::policy::CompiledPolicy>,
    pub(crate) persist: persist::Persistence,
    /// Channels whose confirms wait for the store: (connection, channel).
    pub(crate) confirm_waiting: Vec<(ConnectionId, u16)>,
    /// Channels with a tx.commit-ok waiting for the store.
    pub(crate) commits_waiting: Vec<(ConnectionId, u16)>,
    /// Resource alarms in force.
    pub(crate) alarms: Vec<alarms::Alarm>,
    pub(crate) loader: Option<Box<dyn crate::message::BodyLoader>>,
    /// Bumped whenever something that is saved with the definitions changes.
    pub(crate) definitions_version: u64,
    pub(crate) tracer: trace::Tracer,
    next_trace: u64,
    pub(crate) counts: limits::Counts,
    /// Connections whose reasons to pause reading changed (credit flow).
    pub(crate) reading_changed: Vec<ConnectionId>,
    /// Publishers released by a queue that drained.
    pub(crate) flow_released: Vec<ConnectionId>,
    /// Buffers the publish path reuses, so routing a message allocates
    /// nothing (taken with `mem::take` and put back; a nested use, such as
    /// dead-lettering inside an enqueue, simply gets a fresh one).
    pub(crate) scratch: Scratch,
}

#[derive(Default)]
pub(crate) struct Scratch {
    /// The queues a publish routes to.
    pub(crate) targets: Vec<QueueId>,
    /// The queues that take a message being enqueued.
    pub(crate) taking: Vec<QueueId>,
    pub(crate) route: routing::RouteScratch,
}

impl State {
    pub fn mark_dirty(&mut self, queue: QueueId) {
        if let Some(q) = self.queues.get_mut(queue) {
            if !q.dispatch_queued && !q.consumers.is_empty() {
                q.dispatch_queued = true;
                self.dirty_queues.push(queue);
            }
        }
    }

    pub fn consumer_cancelled(&mut self, conn: ConnectionId, channel: u16, tag: ShortStr) {
        self.cancelled.push((conn, channel, tag));
    }

    pub(crate) fn schedule(&mut self, at: u64, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    pub fn next_trace_id(&mut self) -> u64 {
        self.next_trace += 1;
        self.next_trace
    }

    /// Notes a change to what the durable definitions hold.
    pub fn definitions_changed(&mut self) {
        self.definitions_version += 1;
    }

    pub fn random_u64(&mut self) -> u64 {
        splitmix64(&mut self.rng)
    }

    /// A random name with RabbitMQ's shape: prefix plus 22 base64url chars.
    pub fn gen_name(&mut self, prefix: &str) -> ShortStr {
        use base64::Engine;
        let mut raw = [0u8; 16];
        for chunk in raw.chunks_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut self.rng).to_le_bytes());
        }
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        ShortStr::from(format!("{prefix}{enc}"))
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The whole broker, driven by its caller.
///
/// # Contract
/// Inputs are `handle_*` calls, outputs are `poll_*` calls, and time is an
/// argument (milliseconds since the Unix epoch, or any clock that only moves
/// forward; TTLs and heartbeats follow it, so a virtual clock works).
///
/// 1. [`handle_connect`](Self::handle_connect) when a peer connects; it
///    returns the id used in every later call for that peer.
/// 2. [`handle_bytes`](Self::handle_bytes) with whatever arrived, in order.
///    Frames may be split or batched arbitrarily; bodies are kept as slices
///    of the buffers passed in, never copied.
/// 3. [`handle_written`](Self::handle_written) when octets returned by
///    `poll_transmit` have been written, so delivery to a slow reader pauses
///    and resumes (bounded memory).
/// 4. [`handle_timeout`](Self::handle_timeout) once the time returned by
///    [`poll_timeout`](Self::poll_timeout) has come.
/// 5. [`handle_disconnect`](Self::handle_disconnect) when the socket closes.
///
/// After any `handle_*` call, drain [`poll_transmit`](Self::poll_transmit)
/// (octets per connection, in order) and then [`poll_event`](Self::poll_event),
/// then ask `poll_timeout` when to call `handle_timeout` next. The core never
/// blocks, never reads a clock and never touches a socket.
pub struct Broker {
    pub(crate) config: Config,
    pub(crate) connections: Slab<ConnectionId, Connection>,
    pub(crate) state: State,
    events: VecDeque<Event>,
}

impl Broker {
    pub fn new(config: Config, now: u64) -> Self {
        let mut state = State {
            vhosts: FxHashMap::default(),
            users: config.users.iter().map(|u| (u.name.clone(), u.clone())).collect(),
            permissions: config
                .permissions
                .iter()
                .filter_map(|p| Some(((p.user.clone(), p.vhost.clone()), (p.clone(), permissions::Compiled::new(p).ok()?))))
                .collect(),
            exchanges: Slab::default(),
            queues: Slab::default(),
            consumers: Slab::default(),
            messages: MessageStore::default(),
            dirty_queues: Vec::new(),
            cancelled: Vec::new(),
            confirm_dirty: Vec::new(),
            dead_letters: Vec::new(),
            expire_soon: Vec::new(),
            direct_replies: Vec::new(),
            transmit: VecDeque::new(),
            timers: BinaryHeap::new(),
            rng: config.seed,
            now,
            stats: stats::Stats::default(),
            policies: Vec::new(),
            persist: persist::Persistence::new(config.persistence, config.memory_budget),
            confirm_waiting: Vec::new(),
            commits_waiting: Vec::new(),
            scratch: Scratch::default(),
            alarms: Vec::new(),
            loader: None,
            definitions_version: 0,
            tracer: trace::Tracer::default(),
            next_trace: 0,
            counts: limits::Counts::default(),
            reading_changed: Vec::new(),
            flow_released: Vec::new(),
        };
        state.stats.sample(now);
        state.schedule(now + stats::SAMPLE_INTERVAL_MS, Timer::StatsSample);
        for name in &config.vhosts {
            add_vhost(&mut state, name);
        }
        Broker { config, connections: Slab::default(), state, events: VecDeque::new() }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A peer connected. Nothing is sent until it sends the protocol header.
    pub fn handle_connect(&mut self, now: u64, peer: PeerInfo) -> ConnectionId {
        self.state.now = now;
        let id = self.connections.insert_with(|id| Connection::new(id, peer, now));
        self.state.schedule(now + self.config.handshake_timeout_ms, Timer::Handshake(id));
        id
    }

    /// The peer presented a verified TLS client certificate naming `user`:
    /// it may log in with the EXTERNAL mechanism. Call before its first bytes.
    pub fn set_certificate_user(&mut self, id: ConnectionId, user: String) {
        if let Some(conn) = self.connections.get_mut(id) {
            conn.certificate_user = Some(user);
        }
    }

    /// Octets from a peer. Complete frames are handled at once; a partial
    /// frame waits for the rest.
    pub fn handle_bytes(&mut self, id: ConnectionId, now: u64, data: Bytes) {
        self.state.now = now;
        input::handle_bytes(self, id, data);
        if !self.state.alarms.is_empty() {
            // A connection that just published during an alarm is blocked too.
            self.block_if_publisher(id);
        }
        self.flush();
        if let Some(conn) = self.connections.get_mut(id) {
            if !conn.output_paused && conn.pending_output() > self.config.output_hard_limit {
                conn.output_paused = true;
                reading_switch(&mut self.events, conn, self.state.now);
            }
        }
    }

    /// The driver wrote `n` octets of this connection's output.
    pub fn handle_written(&mut self, id: ConnectionId, n: usize) {
        let Some(conn) = self.connections.get_mut(id) else { return };
        conn.in_flight = conn.in_flight.saturating_sub(n);
        if conn.output_paused && conn.pending_output() < self.config.output_hard_limit / 2 {
            conn.output_paused = false;
            reading_switch(&mut self.events, conn, self.state.now);
        }
        if conn.output_blocked && conn.pending_output() < self.config.output_high_watermark / 2 {
            conn.output_blocked = false;
            dispatch::wake_consumers_of(&mut self.state, conn);
            self.flush();
        }
    }

    /// The peer's socket closed (or failed). Its channels are cleaned up as
    /// if closed: unacknowledged messages go back to their queues.
    pub fn handle_disconnect(&mut self, id: ConnectionId, now: u64) {
        self.state.now = now;
        if let Some(mut conn) = self.connections.remove(id) {
            lifecycle::cleanup_connection(&mut self.state, &mut conn);
        }
        self.flush();
    }

    /// The broker is stopping: every connection gets connection.close 320
    /// (as RabbitMQ sends on shutdown) and is finished.
    pub fn handle_shutdown(&mut self, now: u64) {
        self.state.now = now;
        let close = crate::amqp::method::ConnectionClose {
            reply_code: 320,
            reply_text: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'".into(),
            class_id: 0,
            method_id: 0,
        };
        for id in self.connections.ids() {
            let Some(conn) = self.connections.get_mut(id) else { continue };
            if conn.state != crate::connection::ConnState::AwaitingHeader {
                conn.send_method(0, &close.clone().into());
            }
            lifecycle::finish(&mut self.state, conn, "broker shutdown".into());
        }
        self.flush();
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        self.state.now = now;
        while let Some(Reverse((at, timer))) = self.state.timers.peek().copied() {
            if at > now {
                break;
            }
            self.state.timers.pop();
            timers::fire(self, timer, at, now);
        }
        self.flush();
    }

    /// When `handle_timeout` should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.state.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Output for one connection, or `None` when there is nothing to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        while let Some(id) = self.state.transmit.pop_front() {
            let Some(conn) = self.connections.get_mut(id) else { continue };
            conn.transmit_queued = false;
            let closed = conn.state == crate::connection::ConnState::Closed;
            let data = conn.out.split().freeze();
            if closed {
                let conn = self.connections.remove(id);
                let (reason, linger_ms) = conn.map(|c| (c.close_reason, c.linger_ms)).unwrap_or_default();
                self.events.push_back(Event::Closed { connection: id, reason, linger_ms });
            } else if !data.is_empty() {
                conn.in_flight += data.len();
                conn.sent_octets += data.len() as u64;
                conn.last_sent = self.state.now;
            }
            if !data.is_empty() {
                return Some(Transmit { connection: id, data });
            }
        }
        None
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next operation for the message store (only with
    /// `Config::persistence`). Carry them out in order.
    pub fn poll_store_op(&mut self) -> Option<persist::StoreOp> {
        self.state.persist.ops.pop_front()
    }

    /// Message keys continue from `next` (the store's first unused id).
    pub fn set_next_store_key(&mut self, next: u64) {
        self.state.set_next_key(next);
    }

    /// How evicted bodies are read back (the gateway's message store).
    pub fn set_body_loader(&mut self, loader: Box<dyn crate::message::BodyLoader>) {
        self.state.loader = Some(loader);
    }

    /// Every `StoreOp::Append` with a ticket up to `ticket` is on disk:
    /// the confirms waiting for them can go.
    pub fn handle_persisted(&mut self, ticket: u64) {
        if ticket <= self.state.persist.durable_upto {
            return;
        }
        self.state.persist.durable_upto = ticket;
        self.state.evict_durable();
        let waiting = core::mem::take(&mut self.state.confirm_waiting);
        for w in waiting {
            self.state.confirms_pending(w.0, w.1);
        }
        self.release_commits(ticket);
        self.flush();
    }

    /// Sends the tx.commit-oks whose transactions are now on disk.
    fn release_commits(&mut self, durable: u64) {
        let mut waiting = core::mem::take(&mut self.state.commits_waiting);
        let state = &mut self.state;
        waiting.retain(|&(id, channel)| {
            let Some(conn) = self.connections.get_mut(id) else { return false };
            let Some(ch) = conn.channel_mut(channel) else { return false };
            let mut released = 0;
            while ch.commits_held.front().is_some_and(|&t| t <= durable) {
                ch.commits_held.pop_front();
                released += 1;
            }
            let more = !ch.commits_held.is_empty();
            for _ in 0..released {
                conn.send_method(channel, &crate::amqp::method::TxCommitOk {}.into());
            }
            if released > 0 {
                queue_transmit(state, conn);
            }
            more
        });
        self.state.commits_waiting.extend(waiting);
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Ready and unacknowledged message counts of a queue, for tests and
    /// management.
    pub fn queue_counts(&self, vhost: &str, queue: &str) -> Option<(usize, u32, usize)> {
        let id = *self.state.vhosts.get(vhost)?.queues.get(queue)?;
        let q = self.state.queues.get(id)?;
        Some((q.ready_count(), q.unacked, q.consumers.len()))
    }

    /// Increases whenever vhosts, users, permissions, policies or durable
    /// exchanges, queues or bindings change: the driver saves the
    /// definitions when it moves (before sending the replies that caused it).
    pub fn definitions_version(&self) -> u64 {
        self.state.definitions_version
    }

    /// Octets of messages held in memory (evicted bodies not counted).
    pub fn resident_bytes(&self) -> usize {
        self.state.messages.bytes()
    }

    /// Messages held in the store (each counted once, however many queues).
    pub fn stored_messages(&self) -> usize {
        self.state.messages.len()
    }

    /// Settles everything one input caused: notices for other connections,
    /// deliveries from queues that can make progress, coalesced confirms,
    /// and the transmit queue.
    pub(crate) fn flush(&mut self) {
        let now = self.state.now;
        loop {
            for (id, channel, tag) in core::mem::take(&mut self.state.cancelled) {
                let Some(conn) = self.connections.get_mut(id) else { continue };
                let notify = conn.capabilities.consumer_cancel_notify;
                let Some(ch) = conn.channel_mut(channel) else { continue };
                if ch.remove_consumer(&tag).is_some() && notify && !ch.closing {
                    conn.send_method(channel, &BasicCancel { consumer_tag: tag, nowait: true }.into());
                    queue_transmit(&mut self.state, conn);
                }
            }
            deadletter::process(&mut self.state, now);
            if !self.state.dirty_queues.is_empty() {
                dispatch::run(&mut self.state, &mut self.connections, &self.config, now);
                continue;
            }
            if !self.state.expire_soon.is_empty() {
                for q in core::mem::take(&mut self.state.expire_soon) {
                    queues::expire_head(&mut self.state, q, now);
                }
                continue;
            }
            if self.state.cancelled.is_empty() && self.state.dead_letters.is_empty() {
                break;
            }
        }
        reply_to::deliver(&mut self.state, &mut self.connections);
        routing::flush_confirms(&mut self.state, &mut self.connections);
        for id in core::mem::take(&mut self.state.flow_released) {
            if let Some(conn) = self.connections.get_mut(id) {
                conn.flow_paused_until = None;
                reading_switch(&mut self.events, conn, now);
            }
        }
        for id in core::mem::take(&mut self.state.reading_changed) {
            if let Some(conn) = self.connections.get_mut(id) {
                reading_switch(&mut self.events, conn, now);
            }
        }
        if self.state.persist.enabled {
            self.state.collect_freed();
            self.state.relieve_memory();
        }
    }
}

/// Tells the driver to stop or resume reading from a connection when the
/// reasons to pause it (alarm, unread output, credit flow) change.
pub(crate) fn reading_switch(events: &mut VecDeque<Event>, conn: &mut Connection, now: u64) {
    let want = conn.wants_pause();
    if want != conn.reading_paused {
        conn.reading_paused = want;
        if !want {
            // Its heartbeats could not arrive while it was not read: its
            // silence is counted from now.
            conn.last_recv = now;
        }
        let connection = conn.id;
        events.push_back(if want { Event::PauseReading { connection } } else { Event::ResumeReading { connection } });
    }
}

/// Puts a connection with output on the transmit queue (once).
pub(crate) fn queue_transmit(state: &mut State, conn: &mut Connection) {
    if !conn.transmit_queued && (!conn.out.is_empty() || conn.state == crate::connection::ConnState::Closed) {
        conn.transmit_queued = true;
        state.transmit.push_back(conn.id);
    }
}

pub(crate) fn add_vhost(state: &mut State, name: &str) {
    let mut vhost = VHost::new();
    for (xname, kind) in STANDARD_EXCHANGES {
        let kind = ExchangeKind::parse(kind).expect("standard exchange kinds are valid");
        let x = Exchange::new((*xname).into(), kind, true, false, false, FieldTable::new());
        let id = state.exchanges.insert(x);
        vhost.exchanges.insert((*xname).into(), id);
    }
    state.vhosts.insert(name.to_string(), vhost);
}

/// What handlers get: the shared state, the connection the input came from,
/// the configuration and the time.
pub(crate) struct Ctx<'a> {
    pub state: &'a mut State,
    pub conn: &'a mut Connection,
    pub config: &'a Config,
    pub now: u64,
}
