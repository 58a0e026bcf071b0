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
mod state;
pub mod stats;
mod timers;
pub mod trace;

use bytes::Bytes;

use crate::amqp::method::BasicCancel;
use crate::amqp::FieldTable;
use crate::auth::User;
use crate::connection::{Connection, Pause, PeerInfo};
use crate::exchange::{Exchange, ExchangeKind};
use crate::ids::{ConnectionId, QueueId, Slab};
use crate::permissions::{self, Permission};
use crate::vhost::{VHost, STANDARD_EXCHANGES};
pub(crate) use state::{State, Topology};

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
    /// Resource alarms in force (the driver raises them; they block
    /// publishers).
    pub(crate) alarms: Vec<alarms::Alarm>,
}

impl Broker {
    pub fn new(config: Config, now: u64) -> Self {
        let users = config.users.iter().map(|u| (u.name.clone(), u.clone())).collect();
        let permissions = config
            .permissions
            .iter()
            .filter_map(|p| Some(((p.user.clone(), p.vhost.clone()), (p.clone(), permissions::Compiled::new(p).ok()?))))
            .collect();
        let persist = persist::Persistence::new(config.persistence, config.memory_budget);
        let mut state = State::new(users, permissions, persist, now, config.seed);
        state.stats.sample(now);
        state.clock.schedule(now + stats::SAMPLE_INTERVAL_MS, Timer::StatsSample);
        for name in &config.vhosts {
            add_vhost(&mut state.topology, name);
        }
        Broker { config, connections: Slab::default(), state, alarms: Vec::new() }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A peer connected. Nothing is sent until it sends the protocol header.
    pub fn handle_connect(&mut self, now: u64, peer: PeerInfo) -> ConnectionId {
        self.state.clock.now = now;
        let id = self.connections.insert_with(|id| Connection::new(id, peer, now));
        self.state.clock.schedule(now + self.config.handshake_timeout_ms, Timer::Handshake(id));
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
        self.state.clock.now = now;
        input::handle_bytes(self, id, data);
        if !self.alarms.is_empty() {
            // A connection that just published during an alarm is blocked too.
            self.block_if_publisher(id);
        }
        self.flush();
        if let Some(conn) = self.connections.get_mut(id) {
            if !conn.backpressure.has(Pause::OutputFull) && conn.pending_output() > self.config.output_hard_limit {
                conn.backpressure.pause(Pause::OutputFull);
                self.state.pending.reading_switch(conn, now);
            }
        }
    }

    /// The driver wrote `n` octets of this connection's output.
    pub fn handle_written(&mut self, id: ConnectionId, n: usize) {
        let Some(conn) = self.connections.get_mut(id) else { return };
        conn.in_flight = conn.in_flight.saturating_sub(n);
        if conn.backpressure.has(Pause::OutputFull) && conn.pending_output() < self.config.output_hard_limit / 2 {
            conn.backpressure.resume(Pause::OutputFull);
            self.state.pending.reading_switch(conn, self.state.clock.now);
        }
        if conn.backpressure.deliveries_held && conn.pending_output() < self.config.output_high_watermark / 2 {
            conn.backpressure.deliveries_held = false;
            dispatch::wake_consumers_of(&mut self.state, conn);
            self.flush();
        }
    }

    /// The peer's socket closed (or failed). Its channels are cleaned up as
    /// if closed: unacknowledged messages go back to their queues.
    pub fn handle_disconnect(&mut self, id: ConnectionId, now: u64) {
        self.state.clock.now = now;
        if let Some(mut conn) = self.connections.remove(id) {
            lifecycle::cleanup_connection(&mut self.state, &mut conn);
        }
        self.flush();
    }

    /// The broker is stopping: every connection gets connection.close 320
    /// (as RabbitMQ sends on shutdown) and is finished.
    pub fn handle_shutdown(&mut self, now: u64) {
        self.state.clock.now = now;
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
        self.state.clock.now = now;
        while let Some((at, timer)) = self.state.clock.pop_due(now) {
            timers::fire(self, timer, at, now);
        }
        self.flush();
    }

    /// When `handle_timeout` should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.state.clock.next_deadline()
    }

    /// Output for one connection, or `None` when there is nothing to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        while let Some(id) = self.state.pending.transmit.pop_front() {
            let Some(conn) = self.connections.get_mut(id) else { continue };
            conn.transmit_queued = false;
            let closed = conn.state == crate::connection::ConnState::Closed;
            let data = conn.out.split().freeze();
            if closed {
                let conn = self.connections.remove(id);
                let (reason, linger_ms) = conn.map(|c| (c.close_reason, c.linger_ms)).unwrap_or_default();
                self.state.pending.events.push_back(Event::Closed { connection: id, reason, linger_ms });
            } else if !data.is_empty() {
                conn.in_flight += data.len();
                conn.sent_octets += data.len() as u64;
                conn.last_sent = self.state.clock.now;
            }
            if !data.is_empty() {
                return Some(Transmit { connection: id, data });
            }
        }
        None
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.state.pending.events.pop_front()
    }

    /// The next operation for the message store (only with
    /// `Config::persistence`). Carry them out in order.
    pub fn poll_store_op(&mut self) -> Option<persist::StoreOp> {
        self.state.persist.ops.pop_front()
    }

    /// Message keys continue from `next` (the store's first unused id).
    pub fn set_next_store_key(&mut self, next: u64) {
        self.state.persist.set_next_key(next);
    }

    /// How evicted bodies are read back (the gateway's message store).
    pub fn set_body_loader(&mut self, loader: Box<dyn crate::message::BodyLoader>) {
        self.state.topology.messages.set_loader(loader);
    }

    /// Every `StoreOp::Append` with a ticket up to `ticket` is on disk:
    /// the confirms waiting for them can go.
    pub fn handle_persisted(&mut self, ticket: u64) {
        if ticket <= self.state.persist.durable_upto {
            return;
        }
        self.state.persist.durable_upto = ticket;
        self.state.evict_durable();
        for (conn, channel) in core::mem::take(&mut self.state.persist.confirm_waiting) {
            self.state.pending.confirms_pending(conn, channel);
        }
        self.release_commits(ticket);
        self.flush();
    }

    /// Sends the tx.commit-oks whose transactions are now on disk.
    fn release_commits(&mut self, durable: u64) {
        let mut waiting = core::mem::take(&mut self.state.persist.commits_waiting);
        let pending = &mut self.state.pending;
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
                pending.queue_transmit(conn);
            }
            more
        });
        self.state.persist.commits_waiting.extend(waiting);
    }

    /// Number of live connections.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Ready and unacknowledged message counts of a queue, for tests and
    /// management.
    pub fn queue_counts(&self, vhost: &str, queue: &str) -> Option<(usize, u32, usize)> {
        let topology = &self.state.topology;
        let q = topology.queues.get(topology.queue_id(vhost, queue)?)?;
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
        self.state.topology.messages.bytes()
    }

    /// Messages held in the store (each counted once, however many queues).
    pub fn stored_messages(&self) -> usize {
        self.state.topology.messages.len()
    }

    /// Settles everything one input caused: notices for other connections,
    /// deliveries from queues that can make progress, coalesced confirms,
    /// and the transmit queue.
    pub(crate) fn flush(&mut self) {
        let now = self.state.clock.now;
        loop {
            for (id, channel, tag) in core::mem::take(&mut self.state.pending.cancelled) {
                let Some(conn) = self.connections.get_mut(id) else { continue };
                let notify = conn.capabilities.consumer_cancel_notify;
                let Some(ch) = conn.channel_mut(channel) else { continue };
                if ch.remove_consumer(&tag).is_some() && notify && !ch.closing {
                    conn.send_method(channel, &BasicCancel { consumer_tag: tag, nowait: true }.into());
                    self.state.pending.queue_transmit(conn);
                }
            }
            deadletter::process(&mut self.state, now);
            if !self.state.pending.dirty_queues.is_empty() {
                dispatch::run(&mut self.state, &mut self.connections, &self.config, now);
                continue;
            }
            if !self.state.pending.expire_soon.is_empty() {
                for q in core::mem::take(&mut self.state.pending.expire_soon) {
                    queues::expire_head(&mut self.state, q, now);
                }
                continue;
            }
            if self.state.pending.cancelled.is_empty() && self.state.pending.dead_letters.is_empty() {
                break;
            }
        }
        reply_to::deliver(&mut self.state, &mut self.connections);
        routing::flush_confirms(&mut self.state, &mut self.connections);
        for id in core::mem::take(&mut self.state.pending.flow_released) {
            if let Some(conn) = self.connections.get_mut(id) {
                conn.backpressure.resume(Pause::CreditFlow);
                self.state.pending.reading_switch(conn, now);
            }
        }
        for id in core::mem::take(&mut self.state.pending.reading_changed) {
            if let Some(conn) = self.connections.get_mut(id) {
                self.state.pending.reading_switch(conn, now);
            }
        }
        if self.state.persist.enabled {
            self.state.collect_freed();
            self.state.relieve_memory();
        }
    }
}

pub(crate) fn add_vhost(topology: &mut Topology, name: &str) {
    let mut vhost = VHost::new();
    for (xname, kind) in STANDARD_EXCHANGES {
        let kind = ExchangeKind::parse(kind).expect("standard exchange kinds are valid");
        let x = Exchange::new((*xname).into(), kind, true, false, false, FieldTable::new());
        let id = topology.exchanges.insert(x);
        vhost.exchanges.insert((*xname).into(), id);
    }
    topology.vhosts.insert(name.to_string(), vhost);
}

/// What handlers get: the shared state, the connection the input came from,
/// the configuration and the time.
pub(crate) struct Ctx<'a> {
    pub state: &'a mut State,
    pub conn: &'a mut Connection,
    pub config: &'a Config,
    pub now: u64,
}
