//! What each method means, one file per AMQP class. Handlers take the
//! connection the method came on plus the shared state, reply on the same
//! channel, and return an [`AmqpError`](crate::AmqpError) that the input
//! layer turns into channel.close or connection.close.

pub mod basic;
pub mod channel;
pub mod confirm;
pub mod connection;
pub mod exchange;
pub mod queue;
pub mod tx;

use crate::amqp::ShortStr;
use crate::broker::Ctx;
use crate::connection::Channel;
use crate::error::{resource, AmqpError, Result};
use crate::ids::{ExchangeId, QueueId};
use crate::permissions::{self, Access};

impl Ctx<'_> {
    /// The channel a method arrived on (the input layer checked it is open).
    pub(crate) fn channel(&mut self, id: u16) -> Result<&mut Channel> {
        self.conn.channel_mut(id).ok_or_else(|| AmqpError::channel_error(format_args!("channel {id} is not open")))
    }

    /// RabbitMQ's permission check for `access` to a resource in this vhost.
    ///
    /// The last few allowed checks are remembered per connection (as
    /// RabbitMQ's channel permission cache), so a publisher pays for the
    /// expression match once, not per message; any change to users,
    /// vhosts or permissions invalidates them.
    pub(crate) fn permit(&mut self, access: Access, kind: &str, name: &str) -> Result<()> {
        let version = self.state.definitions_version;
        let cache = &mut self.conn.permit_cache;
        if cache.version != version {
            cache.version = version;
            cache.allowed.clear();
        }
        let queue = kind == "queue";
        if cache.allowed.iter().any(|(a, q, n)| *a == access && *q == queue && n == name) {
            return Ok(());
        }
        let key = (self.conn.user.clone(), self.conn.vhost.clone());
        permissions::check(self.state.access.permissions.get(&key).map(|(_, c)| c), access, kind, name, &self.conn.vhost, &self.conn.user)?;
        let cache = &mut self.conn.permit_cache;
        if cache.allowed.len() == 12 {
            cache.allowed.remove(0);
        }
        cache.allowed.push((access, queue, name.into()));
        Ok(())
    }

    pub(crate) fn vhost_name(&self) -> &str {
        &self.conn.vhost
    }

    pub(crate) fn find_exchange(&self, name: &str) -> Option<ExchangeId> {
        self.state.topology.exchange_id(&self.conn.vhost, name)
    }

    /// An exchange by name, or 404 as RabbitMQ words it.
    pub(crate) fn exchange(&self, name: &str) -> Result<ExchangeId> {
        self.find_exchange(name).ok_or_else(|| AmqpError::not_found(format_args!("no {}", resource("exchange", name, &self.conn.vhost))))
    }

    pub(crate) fn find_queue(&self, name: &str) -> Option<QueueId> {
        self.state.topology.queue_id(&self.conn.vhost, name)
    }

    /// A queue by name: 404 if missing, 405 if another connection holds it
    /// exclusively.
    pub(crate) fn queue(&self, name: &str) -> Result<QueueId> {
        let id =
            self.find_queue(name).ok_or_else(|| AmqpError::not_found(format_args!("no {}", resource("queue", name, &self.conn.vhost))))?;
        self.check_exclusive(id)?;
        Ok(id)
    }

    pub(crate) fn check_exclusive(&self, id: QueueId) -> Result<()> {
        match self.state.topology.queues.get(id).and_then(|q| q.exclusive_owner) {
            Some(owner) if owner != self.conn.id => Err(self.locked(id)),
            _ => Ok(()),
        }
    }

    /// 405 for a queue another connection holds exclusively.
    pub(crate) fn locked(&self, id: QueueId) -> AmqpError {
        let (name, vhost) = self.state.topology.queues.get(id).map_or(("", ""), |q| (&*q.name, q.vhost.as_str()));
        AmqpError::resource_locked(format_args!(
            "cannot obtain exclusive access to locked {}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.",
            resource("queue", name, vhost)
        ))
    }

    /// Resolves the spec's shortcut: an empty queue name means the queue last
    /// declared on this channel.
    pub(crate) fn queue_name(&mut self, channel: u16, name: ShortStr) -> Result<ShortStr> {
        if !name.is_empty() {
            return Ok(name);
        }
        self.channel(channel)?.last_queue.clone().ok_or_else(|| AmqpError::not_found("no previously declared queue"))
    }
}

/// The reserved prefix check RabbitMQ applies to new exchange and queue names.
pub(crate) fn check_name(kind: &str, name: &str) -> Result<()> {
    if name.starts_with("amq.") {
        return Err(AmqpError::access_refused(format_args!("{kind} name '{name}' contains reserved prefix 'amq.*'")));
    }
    Ok(())
}
