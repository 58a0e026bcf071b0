//! Read-only views of the broker for management: plain data, shaped after
//! RabbitMQ's management API objects. `management::json` renders them as
//! RabbitMQ does, for the gateway's API and the playground alike.

use bytes::Bytes;

use crate::amqp::{BasicProperties, FieldTable};
use crate::broker::stats::{MessageCounters, MessageRates};
use crate::broker::Broker;
use crate::connection::{ConnState, Pause, PeerAddress, Transport};
use crate::exchange::Destination;

#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub connections: usize,
    pub channels: usize,
    pub exchanges: usize,
    pub queues: usize,
    pub consumers: usize,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    /// Messages held in the store, each counted once.
    pub messages_stored: usize,
    pub totals: MessageCounters,
    pub rates: MessageRates,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionInfo {
    pub id: u64,
    /// RabbitMQ's name for the connection (`peer -> local`), which also
    /// names it in the API.
    pub name: String,
    pub peer: PeerAddress,
    pub transport: Transport,
    pub user: String,
    pub vhost: String,
    pub state: &'static str,
    pub channels: usize,
    pub connected_at: u64,
    pub client_properties: FieldTable,
    pub frame_max: u32,
    pub channel_max: u16,
    pub heartbeat: u16,
    pub recv_octets: u64,
    pub sent_octets: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelInfo {
    pub connection: u64,
    pub connection_name: String,
    pub peer: PeerAddress,
    pub number: u16,
    pub user: String,
    pub vhost: String,
    /// `flow` while its connection is not read, else `running`.
    pub state: &'static str,
    pub consumers: usize,
    pub messages_unacknowledged: usize,
    pub prefetch_count: u16,
    pub global_prefetch_count: u16,
    pub confirm: bool,
    pub transactional: bool,
    pub stats: MessageCounters,
    pub rates: MessageRates,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerInfo {
    pub vhost: String,
    pub queue: String,
    pub consumer_tag: String,
    pub connection: u64,
    pub connection_name: String,
    pub peer: PeerAddress,
    pub channel: u16,
    pub ack_required: bool,
    pub prefetch_count: u16,
    pub exclusive: bool,
    /// With single-active-consumer, whether this one is the active one.
    pub active: bool,
    pub priority: i32,
    pub arguments: FieldTable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeInfo {
    pub vhost: String,
    pub name: String,
    pub kind: &'static str,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// `publish` = messages in, `routed` = messages out.
    pub stats: MessageCounters,
    pub rates: MessageRates,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueInfo {
    pub vhost: String,
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
    pub exclusive: bool,
    pub arguments: FieldTable,
    /// `classic` or `quorum`.
    pub kind: &'static str,
    pub messages_ready: usize,
    pub messages_unacknowledged: u32,
    pub message_bytes_ready: usize,
    pub consumers: usize,
    pub stats: MessageCounters,
    pub rates: MessageRates,
    /// The policy in effect, if any.
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BindingInfo {
    pub vhost: String,
    /// Empty for the default exchange's implicit binding.
    pub source: String,
    pub destination: String,
    /// `queue` or `exchange`.
    pub destination_type: &'static str,
    pub routing_key: String,
    pub arguments: FieldTable,
}

/// A message as the management API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    pub exchange: String,
    pub routing_key: String,
    pub redelivered: bool,
    pub properties: BasicProperties,
    pub payload: Bytes,
    /// Ready messages left in the queue after this one (basic.get's count).
    pub message_count: u32,
}

/// RabbitMQ's connection states: `blocked` (an alarm stopped reading a
/// publisher), `blocking` (an alarm is on; it will be blocked if it
/// publishes), `flow` (not read for another reason, e.g. it does not read
/// its own output), `running`, and the handshake and closing states.
fn connection_state(c: &crate::connection::Connection, alarm: bool) -> &'static str {
    match c.state {
        ConnState::Open if c.backpressure.has(Pause::Alarm) => "blocked",
        ConnState::Open if c.backpressure.reading_paused() => "flow",
        ConnState::Open if alarm => "blocking",
        ConnState::Open => "running",
        ConnState::Closing { .. } | ConnState::Closed | ConnState::Refusing => "closing",
        _ => "starting",
    }
}

impl Broker {
    pub fn overview(&self) -> Overview {
        let s = &self.state;
        let (mut ready, mut unacked) = (0u64, 0u64);
        for (_, q) in s.topology.queues.iter() {
            ready += q.ready_count() as u64;
            unacked += q.unacked as u64;
        }
        Overview {
            connections: self.connections.len(),
            channels: self.connections.iter().map(|(_, c)| c.channel_count()).sum(),
            exchanges: s.topology.exchanges.len() + s.topology.vhosts.len(),
            queues: s.topology.queues.len(),
            consumers: s.topology.consumers.len(),
            messages_ready: ready,
            messages_unacknowledged: unacked,
            messages_stored: s.topology.messages.len(),
            totals: s.stats.totals,
            rates: s.stats.rates(s.clock.now),
        }
    }

    /// Sampled global counters, oldest first (one per second, two minutes).
    pub fn stats_history(&self) -> Vec<(u64, MessageCounters)> {
        self.state.stats.history().copied().collect()
    }

    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.connections
            .iter()
            .map(|(id, c)| ConnectionInfo {
                id: id.as_u64(),
                name: c.peer.address.connection_name(),
                peer: c.peer.address.clone(),
                transport: c.peer.transport,
                user: c.user.clone(),
                vhost: c.vhost.clone(),
                state: connection_state(c, !self.alarms.is_empty()),
                channels: c.channel_count(),
                connected_at: c.connected_at,
                client_properties: c.client_properties.clone(),
                frame_max: c.frame_max,
                channel_max: c.channel_max,
                heartbeat: c.heartbeat,
                recv_octets: c.recv_octets,
                sent_octets: c.sent_octets,
            })
            .collect()
    }

    pub fn channels(&self) -> Vec<ChannelInfo> {
        let mut out = Vec::new();
        for (id, c) in self.connections.iter() {
            for ch in c.channels() {
                out.push(ChannelInfo {
                    connection: id.as_u64(),
                    connection_name: c.peer.address.connection_name(),
                    peer: c.peer.address.clone(),
                    number: ch.id,
                    user: c.user.clone(),
                    vhost: c.vhost.clone(),
                    state: if c.backpressure.reading_paused() { "flow" } else { "running" },
                    consumers: ch.consumers.len() + ch.reply_consumer.is_some() as usize,
                    messages_unacknowledged: ch.unacked.len(),
                    prefetch_count: ch.consumer_prefetch,
                    global_prefetch_count: ch.channel_prefetch,
                    confirm: ch.confirm_next.is_some(),
                    transactional: ch.tx.is_some(),
                    stats: ch.stats,
                    rates: ch.rate_window.rates(self.state.clock.now, &ch.stats),
                });
            }
        }
        out
    }

    pub fn consumers(&self) -> Vec<ConsumerInfo> {
        let s = &self.state.topology;
        let mut out = Vec::new();
        for (_, q) in s.queues.iter() {
            for (i, (_, cid)) in q.consumers.iter().enumerate() {
                let Some(c) = s.consumers.get(*cid) else { continue };
                let peer = self.connections.get(c.connection).map_or(PeerAddress::Named(String::new()), |c| c.peer.address.clone());
                out.push(ConsumerInfo {
                    vhost: q.vhost.clone(),
                    queue: q.name.to_string(),
                    consumer_tag: c.tag.to_string(),
                    connection: c.connection.as_u64(),
                    connection_name: peer.connection_name(),
                    peer,
                    channel: c.channel,
                    ack_required: !c.no_ack,
                    prefetch_count: c.prefetch,
                    exclusive: c.exclusive,
                    active: !q.config.single_active_consumer || i == 0,
                    priority: c.priority,
                    arguments: c.arguments.clone(),
                });
            }
        }
        out
    }

    pub fn exchanges(&self, vhost: Option<&str>) -> Vec<ExchangeInfo> {
        let mut out = Vec::new();
        for (vname, vh) in self.state.topology.vhosts.iter().filter(|(n, _)| vhost.is_none_or(|v| v == n.as_str())) {
            out.push(ExchangeInfo {
                vhost: vname.clone(),
                name: String::new(),
                kind: "direct",
                durable: true,
                auto_delete: false,
                internal: false,
                arguments: FieldTable::new(),
                stats: MessageCounters::default(),
                rates: MessageRates::default(),
            });
            for id in vh.exchanges.values() {
                let Some(x) = self.state.topology.exchanges.get(*id) else { continue };
                out.push(ExchangeInfo {
                    vhost: vname.clone(),
                    name: x.name.to_string(),
                    kind: x.kind.as_str(),
                    durable: x.durable,
                    auto_delete: x.auto_delete,
                    internal: x.internal,
                    arguments: x.arguments.clone(),
                    stats: x.stats,
                    rates: x.rate_window.rates(self.state.clock.now, &x.stats),
                });
            }
        }
        out.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
        out
    }

    pub fn queues(&self, vhost: Option<&str>) -> Vec<QueueInfo> {
        let now = self.state.clock.now;
        let mut out: Vec<QueueInfo> = self
            .state
            .topology
            .queues
            .iter()
            .filter(|(_, q)| vhost.is_none_or(|v| v == q.vhost))
            .map(|(_, q)| QueueInfo {
                vhost: q.vhost.clone(),
                name: q.name.to_string(),
                durable: q.durable,
                auto_delete: q.auto_delete,
                exclusive: q.exclusive_owner.is_some(),
                arguments: q.arguments.clone(),
                kind: match q.config.kind {
                    crate::queue::QueueKind::Classic => "classic",
                    crate::queue::QueueKind::Quorum => "quorum",
                },
                messages_ready: q.ready_count(),
                messages_unacknowledged: q.unacked,
                message_bytes_ready: q.ready.bytes(),
                consumers: q.consumers.len(),
                stats: q.stats,
                rates: q.rate_window.rates(now, &q.stats),
                policy: q.policy.clone(),
            })
            .collect();
        out.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
        out
    }

    /// Every binding, including each queue's implicit binding to the default
    /// exchange, as RabbitMQ lists them.
    pub fn bindings(&self, vhost: Option<&str>) -> Vec<BindingInfo> {
        let s = &self.state.topology;
        let mut out = Vec::new();
        for (vname, vh) in s.vhosts.iter().filter(|(n, _)| vhost.is_none_or(|v| v == n.as_str())) {
            for (qname, _) in vh.queues.iter() {
                out.push(BindingInfo {
                    vhost: vname.clone(),
                    source: String::new(),
                    destination: qname.to_string(),
                    destination_type: "queue",
                    routing_key: qname.to_string(),
                    arguments: FieldTable::new(),
                });
            }
            for xid in vh.exchanges.values() {
                let Some(x) = s.exchanges.get(*xid) else { continue };
                for (dest, key, args) in x.bindings() {
                    let (destination, destination_type) = match dest {
                        Destination::Queue(q) => (s.queues.get(q).map(|q| q.name.to_string()), "queue"),
                        Destination::Exchange(e) => (s.exchanges.get(e).map(|e| e.name.to_string()), "exchange"),
                    };
                    let Some(destination) = destination else { continue };
                    out.push(BindingInfo {
                        vhost: vname.clone(),
                        source: x.name.to_string(),
                        destination,
                        destination_type,
                        routing_key: key.to_string(),
                        arguments: args.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.vhost, &a.source, &a.destination, &a.routing_key).cmp(&(&b.vhost, &b.source, &b.destination, &b.routing_key))
        });
        out
    }

    /// Up to `limit` ready messages of a queue, in delivery order, without
    /// consuming them (RabbitMQ has no such view).
    pub fn browse(&mut self, vhost: &str, queue: &str, limit: usize) -> Option<Vec<MessageView>> {
        let s = &mut self.state.topology;
        let q = s.queues.get(*s.vhosts.get(vhost)?.queues.get(queue)?)?;
        let remaining = q.ready_count();
        Some(
            q.ready
                .iter()
                .take(limit)
                .enumerate()
                .filter_map(|(i, e)| {
                    let m = s.messages.get_loaded(e.message)?;
                    Some(MessageView {
                        exchange: m.exchange.to_string(),
                        routing_key: m.routing_key.to_string(),
                        redelivered: e.redelivered,
                        properties: m.decode_properties(),
                        payload: m.body.clone(),
                        message_count: (remaining - i - 1) as u32,
                    })
                })
                .collect(),
        )
    }

    pub fn vhost_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state.topology.vhosts.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn users(&self) -> Vec<crate::User> {
        let mut v: Vec<crate::User> = self.state.access.users.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn user(&self, name: &str) -> Option<&crate::User> {
        self.state.access.users.get(name)
    }

    pub fn permissions(&self) -> Vec<crate::Permission> {
        let mut v: Vec<crate::Permission> = self.state.access.permissions.values().map(|(p, _)| p.clone()).collect();
        v.sort_by(|a, b| (&a.user, &a.vhost).cmp(&(&b.user, &b.vhost)));
        v
    }
}
