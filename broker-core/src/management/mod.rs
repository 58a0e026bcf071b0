//! Management: what the HTTP API and the playground need beyond AMQP.
//!
//! Reads are snapshots ([`info`]). Changes to exchanges, queues, bindings
//! and messages go through a *loopback connection*: a connection object for
//! the acting user that never touches a socket, whose channel 1 runs the
//! very same method handlers as a client's. So the API enforces the same
//! validation, permissions and reply codes as AMQP — RabbitMQ's management
//! plugin works the same way. Users, vhosts and permissions are changed
//! directly.

#[cfg(feature = "json")]
pub mod definitions;
pub mod info;
#[cfg(feature = "json")]
pub mod json;
pub mod policy;

use bytes::{Bytes, BytesMut};

use crate::amqp::frame::take_frame;
use crate::amqp::method::*;
use crate::amqp::{BasicProperties, Frame, Method, PropertiesScan};
use crate::auth::User;
use crate::broker::{add_vhost, input, lifecycle, Broker, Ctx};
use crate::connection::{ConnState, Connection, PeerAddress, PeerInfo, Transport};
use crate::error::{AmqpError, Result};
use crate::ids::{ConnectionId, SlabId};
use crate::permissions::{Compiled, Permission};
use info::MessageView;

/// What `get` does with the messages it takes, as RabbitMQ's `ackmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    AckRequeueTrue,
    AckRequeueFalse,
    RejectRequeueTrue,
    RejectRequeueFalse,
}

impl AckMode {
    /// RabbitMQ's names: `ack_requeue_true`, `ack_requeue_false`,
    /// `reject_requeue_true`, `reject_requeue_false`.
    pub fn parse(name: &str) -> Option<AckMode> {
        match name {
            "ack_requeue_true" => Some(AckMode::AckRequeueTrue),
            "ack_requeue_false" => Some(AckMode::AckRequeueFalse),
            "reject_requeue_true" => Some(AckMode::RejectRequeueTrue),
            "reject_requeue_false" => Some(AckMode::RejectRequeueFalse),
            _ => None,
        }
    }
}

/// The id loopback connections use: never handed out by the slab.
fn loopback_id() -> ConnectionId {
    ConnectionId::new(u32::MAX, u32::MAX)
}

fn loopback(user: &str, vhost: &str, now: u64) -> Connection {
    let peer = PeerInfo { address: PeerAddress::Named("management".into()), loopback: true, transport: Transport::InProcess };
    let mut c = Connection::new(loopback_id(), peer, now);
    c.state = ConnState::Open;
    c.user = user.to_string();
    c.vhost = vhost.to_string();
    c.frame_max = u32::MAX;
    c.channel_max = 1;
    c.open_channel(1);
    c
}

/// Frames written to a loopback connection.
fn frames(out: &mut BytesMut) -> Vec<Frame> {
    let mut v = Vec::new();
    while let Ok(Some(raw)) = take_frame(out, 0) {
        if let Ok(f) = Frame::decode(raw) {
            v.push(f);
        }
    }
    v
}

impl Broker {
    fn check_vhost_access(&self, user: &str, vhost: &str) -> Result<()> {
        if !self.state.topology.vhosts.contains_key(vhost) {
            return Err(AmqpError::not_found(format_args!("vhost '{vhost}' not found")));
        }
        if !self.state.access.permissions.contains_key(&(user.to_string(), vhost.to_string())) {
            return Err(AmqpError::access_refused(format_args!("access to vhost '{vhost}' refused for user '{user}'")));
        }
        Ok(())
    }

    /// Runs `f` on channel 1 of a loopback connection for `user` on `vhost`.
    fn with_loopback<T>(&mut self, user: &str, vhost: &str, f: impl FnOnce(&mut Ctx) -> Result<T>) -> Result<(T, Vec<Frame>)> {
        self.check_vhost_access(user, vhost)?;
        let now = self.state.clock.now;
        let mut conn = loopback(user, vhost, now);
        let result = {
            let mut ctx = Ctx { state: &mut self.state, conn: &mut conn, config: &self.config, now };
            f(&mut ctx)
        };
        // Anything still held (a get with no ack) goes back, as on channel close.
        if let Some(mut ch) = conn.remove_channel(1) {
            lifecycle::cleanup_channel(&mut self.state, &mut ch);
        }
        let out = frames(&mut conn.out);
        self.flush();
        result.map(|r| (r, out))
    }

    /// Executes one AMQP method (a declare, delete, bind, unbind or purge)
    /// as `user` on `vhost` and returns the broker's reply method.
    pub fn execute(&mut self, user: &str, vhost: &str, method: Method) -> Result<Method> {
        let ids = method.ids();
        let ((), out) = self.with_loopback(user, vhost, |ctx| input::dispatch_method(ctx, 1, method).map_err(|e| e.on(ids)))?;
        out.into_iter()
            .find_map(|f| match f {
                Frame::Method { method, .. } => Some(method),
                _ => None,
            })
            .ok_or_else(|| AmqpError::new(crate::amqp::ReplyCode::InternalError, "no reply"))
    }

    /// Publishes a message as `user`; returns whether it reached a queue.
    pub fn publish_as(
        &mut self,
        user: &str,
        vhost: &str,
        exchange: &str,
        routing_key: &str,
        properties: &BasicProperties,
        body: Bytes,
    ) -> Result<bool> {
        let raw = properties.to_bytes();
        let scan = PropertiesScan::scan(&raw).map_err(AmqpError::syntax_error)?;
        let m = BasicPublish { exchange: exchange.into(), routing_key: routing_key.into(), ..Default::default() };
        let before = self.state.stats.totals;
        self.with_loopback(user, vhost, |ctx| crate::class::basic::publish(ctx, 1, m, raw, scan, body).map_err(|e| e.on((60, 40))))?;
        let after = self.state.stats.totals;
        Ok(after.drop_unroutable == before.drop_unroutable && after.return_unroutable == before.return_unroutable)
    }

    /// Takes up to `count` messages from a queue as `user` and acks or
    /// rejects them as `mode` says (RabbitMQ's "get messages").
    pub fn get_as(&mut self, user: &str, vhost: &str, queue: &str, count: usize, mode: AckMode) -> Result<Vec<MessageView>> {
        let ((), out) = self.with_loopback(user, vhost, |ctx| {
            for _ in 0..count {
                let before = ctx.conn.channel(1).map_or(0, |c| c.unacked.len());
                crate::class::basic::get(ctx, 1, BasicGet { queue: queue.into(), no_ack: false, ..Default::default() })
                    .map_err(|e| e.on((60, 70)))?;
                if ctx.conn.channel(1).map_or(0, |c| c.unacked.len()) == before {
                    break; // get-empty
                }
            }
            let outcome = match mode {
                AckMode::AckRequeueTrue | AckMode::RejectRequeueTrue => crate::connection::channel::Settle::Requeue,
                AckMode::AckRequeueFalse => crate::connection::channel::Settle::Ack,
                AckMode::RejectRequeueFalse => crate::connection::channel::Settle::Discard,
            };
            let taken: Vec<_> = ctx.conn.channel_mut(1).map(|c| c.unacked.drain(..).collect()).unwrap_or_default();
            crate::class::basic::settle(ctx.state, ctx.conn.channel_mut(1), taken, outcome);
            Ok(())
        })?;
        let mut views = Vec::new();
        let mut it = out.into_iter().peekable();
        while let Some(f) = it.next() {
            let Frame::Method { method: Method::BasicGetOk(ok), .. } = f else { continue };
            let Some(Frame::Header { header, .. }) = it.next() else { break };
            let mut body = BytesMut::new();
            while (body.len() as u64) < header.body_size {
                match it.next() {
                    Some(Frame::Body { payload, .. }) => body.extend_from_slice(&payload),
                    _ => break,
                }
            }
            views.push(MessageView {
                exchange: ok.exchange.to_string(),
                routing_key: ok.routing_key.to_string(),
                redelivered: ok.redelivered,
                properties: BasicProperties::decode(header.properties).unwrap_or_default(),
                payload: body.freeze(),
                message_count: ok.message_count,
            });
        }
        Ok(views)
    }

    /// Closes a client connection with 320 CONNECTION_FORCED, as RabbitMQ's
    /// `DELETE /api/connections/{name}`. Returns whether it existed.
    pub fn close_connection(&mut self, id: u64, reason: &str) -> bool {
        let id = ConnectionId::from_u64(id);
        let now = self.state.clock.now;
        let Some(conn) = self.connections.get_mut(id) else { return false };
        let err = AmqpError::new(crate::amqp::ReplyCode::ConnectionForced, reason);
        let mut ctx = Ctx { state: &mut self.state, conn, config: &self.config, now };
        lifecycle::connection_error(&mut ctx, err);
        self.flush();
        true
    }

    pub fn add_vhost(&mut self, name: &str) -> bool {
        if self.state.topology.vhosts.contains_key(name) {
            return false;
        }
        self.state.definitions_changed();
        add_vhost(&mut self.state.topology, name);
        true
    }

    /// Deletes a vhost with everything in it; its connections are closed.
    pub fn delete_vhost(&mut self, name: &str) -> bool {
        if !self.state.topology.vhosts.contains_key(name) {
            return false;
        }
        self.state.definitions_changed();
        let conns: Vec<u64> = self.connections.iter().filter(|(_, c)| c.vhost == name).map(|(id, _)| id.as_u64()).collect();
        for c in conns {
            self.close_connection(c, "vhost deleted");
        }
        let queues: Vec<_> = self.state.topology.vhosts[name].queues.values().copied().collect();
        for q in queues {
            lifecycle::delete_queue(&mut self.state, q);
        }
        let exchanges: Vec<_> = self.state.topology.vhosts[name].exchanges.values().copied().collect();
        for x in exchanges {
            lifecycle::delete_exchange(&mut self.state, x, name);
        }
        self.state.topology.vhosts.remove(name);
        self.state.access.permissions.retain(|(_, v), _| v != name);
        self.flush();
        true
    }

    /// Adds or replaces a user.
    pub fn put_user(&mut self, user: User) {
        self.state.definitions_changed();
        self.state.access.users.insert(user.name.clone(), user);
    }

    /// Deletes a user and its permissions, closing its connections.
    pub fn delete_user(&mut self, name: &str) -> bool {
        if self.state.access.users.remove(name).is_none() {
            return false;
        }
        self.state.definitions_changed();
        self.state.access.permissions.retain(|(u, _), _| u != name);
        let conns: Vec<u64> = self.connections.iter().filter(|(_, c)| c.user == name).map(|(id, _)| id.as_u64()).collect();
        for c in conns {
            self.close_connection(c, "user deleted");
        }
        true
    }

    /// Sets a user's permissions on a vhost; errors on an unknown user or
    /// vhost or a bad expression.
    pub fn set_permission(&mut self, p: Permission) -> core::result::Result<(), String> {
        if !self.state.access.users.contains_key(&p.user) {
            return Err(format!("no user '{}'", p.user));
        }
        if !self.state.topology.vhosts.contains_key(&p.vhost) {
            return Err(format!("no vhost '{}'", p.vhost));
        }
        let compiled = Compiled::new(&p)?;
        self.state.access.permissions.insert((p.user.clone(), p.vhost.clone()), (p, compiled));
        self.state.definitions_changed();
        Ok(())
    }

    pub fn clear_permission(&mut self, user: &str, vhost: &str) -> bool {
        self.state.definitions_changed();
        self.state.access.permissions.remove(&(user.to_string(), vhost.to_string())).is_some()
    }

    /// Checks a user's password (for the HTTP API's basic auth).
    pub fn authenticate(&self, user: &str, password: &str) -> Option<&User> {
        self.state.access.users.get(user).filter(|u| u.check_password(password.as_bytes()))
    }
}
