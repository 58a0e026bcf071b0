//! The broker's one entry point, [`Broker`], and the state it owns.

pub mod alarms;
mod config;
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
use crate::connection::{Connection, Pause, PeerInfo};
use crate::exchange::{Exchange, ExchangeKind};
use crate::ids::{ConnectionId, QueueId, Slab};
use crate::vhost::{VHost, STANDARD_EXCHANGES};
pub use config::{Config, ConfigError};
pub(crate) use state::{State, Topology};

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

/// The whole broker, driven by its caller: a state machine that takes
/// inputs (`handle_*`, a few setters, management operations) and gives
/// outputs (`poll_*`). It never blocks, never reads a clock and never
/// touches a socket or a file; the one call out of it is the
/// [`BodyLoader`](crate::BodyLoader) (see below). The gateway, the browser
/// bindings, the tests, the benchmarks and the fuzz targets are all drivers
/// of this one contract.
///
/// Time is an argument: milliseconds on any clock that never goes back (the
/// gateway uses the Unix epoch, tests a virtual clock). Each input that
/// takes `now` moves the broker's clock to it; TTLs, heartbeats and rates
/// follow that clock.
///
/// # Inputs
///
/// For one connection (ids are generational: an input for an id that is
/// gone is ignored):
///
/// - [`handle_connect`](Self::handle_connect)`(now, peer)` when a peer
///   connects; returns the id every later call uses. Nothing is sent before
///   the peer's protocol header.
/// - [`set_certificate_user`](Self::set_certificate_user)`(id, user)`,
///   before its first bytes, when a verified TLS client certificate names a
///   user (it may then log in with EXTERNAL).
/// - [`handle_bytes`](Self::handle_bytes)`(id, now, data)` with whatever
///   arrived, in order; frames may be split or batched arbitrarily. Bodies
///   are kept as slices of `data`, never copied.
/// - [`handle_written`](Self::handle_written)`(id, n)` once `n` octets that
///   `poll_transmit` gave for it are written to its socket. Deliveries to a
///   connection pause while `Config::output_high_watermark` octets are
///   unwritten and resume here (bounded memory for slow readers).
/// - [`handle_disconnect`](Self::handle_disconnect)`(id, now)` when its
///   socket closes or fails (not needed after `Event::Closed`): its
///   unacknowledged messages go back to their queues.
///
/// For the whole broker:
///
/// - [`handle_timeout`](Self::handle_timeout)`(now)`: see *Timers*.
/// - [`handle_persisted`](Self::handle_persisted),
///   [`restore_message`](Self::restore_message),
///   [`set_next_store_key`](Self::set_next_store_key),
///   [`finish_restore`](Self::finish_restore) and
///   [`set_body_loader`](Self::set_body_loader): see *Persistence*.
/// - [`set_alarm`](Self::set_alarm): see *Resource alarms and reading*.
/// - [`handle_shutdown`](Self::handle_shutdown)`(now)`: every connection gets
///   connection.close 320 and is finished; drain the outputs a last time.
/// - Management ([`crate::management`]): snapshots such as
///   [`overview`](Self::overview), [`queues`](Self::queues) or
///   [`browse`](Self::browse), and operations such as
///   [`execute`](Self::execute) (an AMQP method as a user),
///   [`publish_as`](Self::publish_as), [`get_as`](Self::get_as),
///   [`close_connection`](Self::close_connection),
///   [`add_vhost`](Self::add_vhost), [`put_user`](Self::put_user),
///   [`set_permission`](Self::set_permission),
///   [`set_policy`](Self::set_policy),
///   [`set_vhost_limits`](Self::set_vhost_limits) and
///   [`set_tracing`](Self::set_tracing). An operation is an input like any
///   other: drain the outputs after it. Management calls take no `now`: they
///   act at the time of the last input, so call `handle_timeout(now)` first
///   to bring the clock (and any due timers) up to date.
///
/// # Outputs, after every input, in this order
///
/// 1. [`poll_store_op`](Self::poll_store_op) until `None` (only with
///    `Config::persistence`): carry each op out, in order, before step 3 —
///    the replies of this round may depend on it (a purge-ok on the purge).
/// 2. [`definitions_version`](Self::definitions_version): if it moved since
///    the driver last saved the durable definitions (vhosts, users,
///    permissions, limits, policies, durable exchanges, queues and
///    bindings), save them before step 3, so a declare-ok only leaves once
///    its durable queue is saved.
/// 3. [`poll_transmit`](Self::poll_transmit) until `None`: write each
///    `Transmit::data` to its connection's socket, in the order given, then
///    report it with `handle_written` once written.
/// 4. [`poll_event`](Self::poll_event) until `None`, after step 3: a
///    finished connection's `Event::Closed` is queued by the `poll_transmit`
///    that hands over its last octets. On `Closed`, write those octets,
///    linger as told, close the socket; the id is dead. On `PauseReading` /
///    `ResumeReading`, stop or resume reading from the socket (writing goes
///    on).
/// 5. [`poll_timeout`](Self::poll_timeout): re-arm the driver's one timer.
///
/// Inputs may be interleaved with the polling (`handle_written` inside the
/// `poll_transmit` loop, say): what they cause joins the same queues.
/// With tracing on, [`poll_trace`](Self::poll_trace) may be drained
/// whenever convenient; beyond 100,000 unpolled events the oldest are
/// dropped ([`trace_dropped`](Self::trace_dropped) counts them).
///
/// # Timers
///
/// `poll_timeout` is the earliest deadline of every timer the broker keeps:
/// heartbeats, handshake and close-ok timeouts, message TTLs and queue
/// expiry, consumer timeouts, the delay before a refused login is dropped,
/// the end of a credit-flow pause, and the once-a-second sample of the
/// counters (so there is always one). Call `handle_timeout(now)` once `now`
/// has reached it: an early call runs nothing, a late one runs everything
/// that is due.
///
/// # Persistence
///
/// With `Config::persistence` the core decides what must be on disk
/// (persistent messages in durable queues, their deliveries and removals,
/// bodies paged out under `Config::memory_budget`) and says so with
/// [`StoreOp`](persist::StoreOp)s; the driver owns the files. Appends and
/// pages carry increasing tickets: once every op up to ticket `t` is
/// durable, call `handle_persisted(t)`. Publisher confirms and tx.commit-oks
/// for those messages wait for it, and bodies over the memory budget are
/// dropped from memory only then. Without persistence no op is emitted and
/// confirms go at once.
///
/// At start, before serving clients: restore the durable definitions (with
/// the management operations), hand back each durable queue's surviving
/// messages in their original order with `restore_message`, then
/// `set_next_store_key` (the store's first unused key) and
/// `finish_restore`, and drain the outputs as after any input (the durable
/// queues are announced afresh with `StoreOp::QueueDeclared`).
///
/// # Resource alarms and reading
///
/// The driver measures memory and disk and calls `set_alarm(alarm, active)`.
/// While any alarm is in force, every connection that has published is
/// blocked: clients that announced the capability get connection.blocked,
/// and the driver gets `PauseReading`; consumers keep draining queues.
/// When all alarms clear: connection.unblocked and `ResumeReading`.
/// `PauseReading` also comes when a connection's unwritten output passes
/// `Config::output_hard_limit` (until half of it is written) and for a
/// short credit-flow pause; the driver need not know why. While it does not
/// read a connection, that peer's silence does not count against its
/// heartbeat.
///
/// # The one callback: `BodyLoader`
///
/// With a memory budget, bodies that are on disk are dropped from memory;
/// a deep (or lazy) durable queue keeps only the store key of its
/// persisted backlog, and so does every message restored without a body.
/// When such a message is needed again (delivered to a consumer, taken with
/// basic.get, dead-lettered or browsed) the broker reads it back through the
/// [`BodyLoader`](crate::BodyLoader) given with `set_body_loader`:
/// synchronously, inside whichever input needs it, on the thread driving
/// the broker. In the gateway that is a disk read on the core task, and
/// every other connection waits for it. A body it cannot read (`None`) is
/// not delivered.
///
/// # Errors
///
/// [`Broker::new`] refuses a configuration it cannot honour
/// ([`ConfigError`]). After that no input fails: protocol errors become
/// channel.close or connection.close in the output, and management
/// operations return their errors as values.
///
/// # Example
///
/// ```
/// use broker_core::{Broker, Config, Event, PeerAddress, PeerInfo, Transport};
/// use bytes::Bytes;
///
/// let now = 1_000_000; // ms on the driver's clock
/// let mut broker = Broker::new(Config::default(), now).expect("a valid configuration");
/// let address = PeerAddress::Socket { peer: "127.0.0.1:50000".parse().unwrap(), local: None };
/// let peer = PeerInfo { address, loopback: true, transport: Transport::Tcp };
/// let conn = broker.handle_connect(now, peer);
/// broker.handle_bytes(conn, now, Bytes::from_static(b"AMQP\x00\x00\x09\x01"));
///
/// // After every input, in this order:
/// while let Some(_op) = broker.poll_store_op() {
///     // carry it out (only with `Config::persistence`)
/// }
/// // save the definitions if `broker.definitions_version()` moved
/// let mut sent = 0;
/// while let Some(t) = broker.poll_transmit() {
///     // write `t.data` to the socket of `t.connection`; once written:
///     sent += t.data.len();
///     broker.handle_written(t.connection, t.data.len());
/// }
/// assert!(sent > 0, "connection.start");
/// while let Some(event) = broker.poll_event() {
///     match event {
///         Event::Closed { .. } => {}       // close the socket once written
///         Event::PauseReading { .. } => {} // stop reading from it
///         Event::ResumeReading { .. } => {}
///     }
/// }
/// let next = broker.poll_timeout().expect("the counters are sampled every second");
/// broker.handle_timeout(next); // when the driver's clock reaches `next`
/// ```
pub struct Broker {
    pub(crate) config: Config,
    pub(crate) connections: Slab<ConnectionId, Connection>,
    pub(crate) state: State,
    /// Resource alarms in force (the driver raises them; they block
    /// publishers).
    pub(crate) alarms: Vec<alarms::Alarm>,
}

impl Broker {
    /// A broker with `config`, at time `now` (ms). Refuses a configuration
    /// it cannot honour (a permission expression that does not compile, a
    /// permission for an unknown user or vhost, a setting out of range),
    /// saying which setting and why.
    pub fn new(config: Config, now: u64) -> Result<Broker, ConfigError> {
        let permissions = config.check()?;
        let users = config.users.iter().map(|u| (u.name.clone(), u.clone())).collect();
        let persist = persist::Persistence::new(config.persistence, config.memory_budget, config.resident_queue_depth);
        let mut state = State::new(users, permissions, persist, now, config.seed);
        state.stats.sample(now);
        state.clock.schedule(now + stats::SAMPLE_INTERVAL_MS, Timer::StatsSample);
        for name in &config.vhosts {
            add_vhost(&mut state.topology, name);
        }
        Ok(Broker { config, connections: Slab::default(), state, alarms: Vec::new() })
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

    /// Whether store operations wait to be polled (cheap; lets a driver
    /// hand work to its store early).
    pub fn has_store_ops(&self) -> bool {
        !self.state.persist.ops.is_empty()
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

    /// A number from the broker's seeded random source (`Config::seed`),
    /// for a driver that must not read system randomness (the wasm
    /// bindings' password salts).
    pub fn random_u64(&mut self) -> u64 {
        self.state.clock.random_u64()
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
