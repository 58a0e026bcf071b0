//! The state the broker owns besides its connections, in named parts so
//! that a function's signature says what it may touch:
//!
//! - [`Topology`]: vhosts, exchanges, queues, consumers, the messages they
//!   hold, and the policies that shape queues and exchanges;
//! - [`AccessControl`]: users, their permissions, and the limits on them;
//! - [`Pending`]: what the current input left to do before it returns
//!   (`Broker::flush`), and what the driver is to be told: the transmit
//!   queue and the events;
//! - [`Clock`]: the time of the input being handled, the timers and the
//!   random source — what a broker with I/O would read from the OS;
//! - [`Persistence`]: the decisions about the driver's message store (ops,
//!   tickets, the memory budget) and what waits for the store;
//! - [`Stats`] and [`Tracer`]: counters and trace events;
//! - the definitions version, and the publish path's reused buffers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rustc_hash::FxHashMap;

use super::deadletter::DeadLetter;
use super::persist::Persistence;
use super::stats::Stats;
use super::trace::Tracer;
use super::{limits, routing, Event, Timer};
use crate::amqp::ShortStr;
use crate::auth::User;
use crate::connection::{ConnState, Connection};
use crate::exchange::Exchange;
use crate::ids::{ConnectionId, ConsumerId, ExchangeId, QueueId, Slab};
use crate::management::policy::CompiledPolicy;
use crate::message::{Message, MessageStore};
use crate::permissions::{self, Permission};
use crate::queue::{Consumer, Queue};
use crate::vhost::VHost;

/// Everything but the connections: what handlers on one connection may
/// touch while that connection is borrowed.
pub(crate) struct State {
    pub(crate) topology: Topology,
    pub(crate) access: AccessControl,
    pub(crate) pending: Pending,
    pub(crate) clock: Clock,
    pub(crate) persist: Persistence,
    pub(crate) stats: Stats,
    pub(crate) tracer: Tracer,
    /// Bumped whenever something that is saved with the definitions
    /// changes: vhosts, users, permissions, limits, policies, durable
    /// exchanges, queues and bindings.
    pub(crate) definitions_version: u64,
    /// Buffers the publish path reuses, so routing a message allocates
    /// nothing.
    pub(crate) scratch: Scratch,
}

impl State {
    pub(crate) fn new(users: FxHashMap<String, User>, permissions: Permissions, persist: Persistence, now: u64, seed: u64) -> State {
        State {
            topology: Topology::default(),
            access: AccessControl { users, permissions, limits: limits::Counts::default() },
            pending: Pending::default(),
            clock: Clock::new(now, seed),
            persist,
            stats: Stats::default(),
            tracer: Tracer::default(),
            definitions_version: 0,
            scratch: Scratch::default(),
        }
    }

    /// Queues `queue` for delivery at the next flush, if it has consumers
    /// and is not queued already.
    #[inline]
    pub(crate) fn mark_dirty(&mut self, queue: QueueId) {
        if let Some(q) = self.topology.queues.get_mut(queue) {
            if !q.dispatch_queued && !q.consumers.is_empty() {
                q.dispatch_queued = true;
                self.pending.dirty_queues.push(queue);
            }
        }
    }

    /// Notes a change to what the durable definitions hold.
    pub(crate) fn definitions_changed(&mut self) {
        self.definitions_version += 1;
    }
}

/// What clients (and the management API) declared, and the messages it
/// holds.
#[derive(Default)]
pub(crate) struct Topology {
    pub(crate) vhosts: FxHashMap<String, VHost>,
    pub(crate) exchanges: Slab<ExchangeId, Exchange>,
    pub(crate) queues: Slab<QueueId, Queue>,
    pub(crate) consumers: Slab<ConsumerId, Consumer>,
    /// Every message held by a queue (or on its way to one), stored once.
    pub(crate) messages: MessageStore,
    pub(crate) policies: Vec<CompiledPolicy>,
}

impl Topology {
    #[inline]
    pub(crate) fn queue_id(&self, vhost: &str, name: &str) -> Option<QueueId> {
        self.vhosts.get(vhost)?.queues.get(name).copied()
    }

    #[inline]
    pub(crate) fn exchange_id(&self, vhost: &str, name: &str) -> Option<ExchangeId> {
        self.vhosts.get(vhost)?.exchanges.get(name).copied()
    }
}

/// (user, vhost) to the permission and its compiled expressions.
pub(crate) type Permissions = FxHashMap<(String, String), (Permission, permissions::Compiled)>;

/// Who may connect, and what they may do.
pub(crate) struct AccessControl {
    pub(crate) users: FxHashMap<String, User>,
    pub(crate) permissions: Permissions,
    /// Vhost and user limits, and the counts they are checked against.
    pub(crate) limits: limits::Counts,
}

/// What the current input left to do and to tell. Handlers note work here
/// that concerns other connections or must wait until the input is fully
/// handled; `Broker::flush` does it before the input returns. The transmit
/// queue and the events are what the driver polls.
#[derive(Default)]
pub(crate) struct Pending {
    /// Connections with output for the driver (`poll_transmit`).
    pub(crate) transmit: VecDeque<ConnectionId>,
    /// Events for the driver (`poll_event`).
    pub(crate) events: VecDeque<Event>,
    /// Queues that may be able to deliver.
    pub(crate) dirty_queues: Vec<QueueId>,
    /// Consumers cancelled by the broker (their queue was deleted), told
    /// to their channels after the current frame: the channel may belong to
    /// another connection.
    pub(crate) cancelled: Vec<(ConnectionId, u16, ShortStr)>,
    /// Channels with confirms to write: (connection, channel).
    pub(crate) confirm_dirty: Vec<(ConnectionId, u16)>,
    /// Messages on their way to a dead-letter exchange.
    pub(crate) dead_letters: Vec<DeadLetter>,
    /// Queues that took a message with TTL 0: it expires after this flush
    /// unless a consumer took it.
    pub(crate) expire_soon: Vec<QueueId>,
    /// Direct reply-to messages: (connection, channel, secret, message).
    pub(crate) direct_replies: Vec<(ConnectionId, u16, u64, Message)>,
    /// Publishers released from credit flow by a queue that drained, lost
    /// its consumers or went away.
    pub(crate) flow_released: Vec<ConnectionId>,
    /// Connections whose reasons to pause reading changed (credit flow).
    pub(crate) reading_changed: Vec<ConnectionId>,
}

impl Pending {
    /// Puts a connection with output (or a finished one) on the transmit
    /// queue, once.
    #[inline]
    pub(crate) fn queue_transmit(&mut self, conn: &mut Connection) {
        if !conn.transmit_queued && (!conn.out.is_empty() || conn.state == ConnState::Closed) {
            conn.transmit_queued = true;
            self.transmit.push_back(conn.id);
        }
    }

    /// Tells the driver to stop or resume reading from `conn` if what it
    /// should do (see `connection::Backpressure`) differs from what it was
    /// last told.
    pub(crate) fn reading_switch(&mut self, conn: &mut Connection, now: u64) {
        let Some(paused) = conn.backpressure.update() else { return };
        if !paused {
            // Its heartbeats could not arrive while it was not read: its
            // silence is counted from now.
            conn.last_recv = now;
        }
        let connection = conn.id;
        self.events.push_back(if paused { Event::PauseReading { connection } } else { Event::ResumeReading { connection } });
    }

    /// The broker cancelled a consumer; its channel is told at the flush.
    pub(crate) fn consumer_cancelled(&mut self, conn: ConnectionId, channel: u16, tag: ShortStr) {
        self.cancelled.push((conn, channel, tag));
    }

    /// Notes that a channel has confirms to write at the next flush.
    #[inline]
    pub(crate) fn confirms_pending(&mut self, conn: ConnectionId, channel: u16) {
        if !self.confirm_dirty.contains(&(conn, channel)) {
            self.confirm_dirty.push((conn, channel));
        }
    }

    /// Lets the publishers a queue held back read again (it drained, lost
    /// its consumers, was purged or went away).
    pub(crate) fn release_flow(&mut self, waiters: Vec<ConnectionId>) {
        self.flow_released.extend(waiters);
    }
}

/// Time, timers and the random source: what a broker with I/O would read
/// from the OS, here given by the driver (the time of each input, a seed).
pub(crate) struct Clock {
    /// The time of the input being handled (ms).
    pub(crate) now: u64,
    timers: BinaryHeap<Reverse<(u64, Timer)>>,
    rng: u64,
}

impl Clock {
    pub(crate) fn new(now: u64, seed: u64) -> Clock {
        Clock { now, timers: BinaryHeap::new(), rng: seed }
    }

    #[inline]
    pub(crate) fn schedule(&mut self, at: u64, timer: Timer) {
        self.timers.push(Reverse((at, timer)));
    }

    /// When the earliest timer is due.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the earliest timer if it is due at `now`: (deadline, timer).
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, Timer)> {
        let &Reverse((at, timer)) = self.timers.peek()?;
        if at > now {
            return None;
        }
        self.timers.pop();
        Some((at, timer))
    }

    pub(crate) fn random_u64(&mut self) -> u64 {
        splitmix64(&mut self.rng)
    }

    /// A random name with RabbitMQ's shape: prefix plus 22 base64url chars.
    pub(crate) fn gen_name(&mut self, prefix: &str) -> ShortStr {
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

/// The publish path's reused buffers. `targets` and `taking` are taken
/// with `mem::take` and put back (a nested use, such as dead-lettering
/// inside an enqueue, simply gets a fresh one); `route` is lent to
/// `routing::route`.
#[derive(Default)]
pub(crate) struct Scratch {
    /// The queues a publish routes to.
    pub(crate) targets: Vec<QueueId>,
    /// The queues that take a message being enqueued.
    pub(crate) taking: Vec<QueueId>,
    pub(crate) route: routing::RouteScratch,
}
