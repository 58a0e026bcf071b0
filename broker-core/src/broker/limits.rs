//! Per-vhost and per-user limits, as RabbitMQ's `set_vhost_limits` and
//! `set_user_limits`: connections and queues per vhost, connections and
//! channels per user. Counts are kept as connections and channels open and
//! close; refusals use RabbitMQ's codes and texts.

use rustc_hash::FxHashMap;

use super::state::AccessControl;
use super::Broker;
use crate::error::{AmqpError, Result};

/// Limits on a vhost (`max-connections`, `max-queues`) or a user
/// (`max-connections`, `max-channels`); `None` = unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: Option<u64>,
    pub max_queues: Option<u64>,
    pub max_channels: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub vhost_limits: FxHashMap<String, Limits>,
    pub user_limits: FxHashMap<String, Limits>,
    pub vhost_connections: FxHashMap<String, u64>,
    pub user_connections: FxHashMap<String, u64>,
    pub user_channels: FxHashMap<String, u64>,
}

fn bump(map: &mut FxHashMap<String, u64>, key: &str, up: bool) {
    let n = map.entry(key.to_string()).or_insert(0);
    *n = if up { *n + 1 } else { n.saturating_sub(1) };
}

impl AccessControl {
    /// connection.open may proceed for `user` on `vhost`.
    pub(crate) fn admit_connection(&self, user: &str, vhost: &str) -> Result<()> {
        let c = &self.limits;
        if let Some(max) = c.vhost_limits.get(vhost).and_then(|l| l.max_connections) {
            if c.vhost_connections.get(vhost).copied().unwrap_or(0) >= max {
                return Err(AmqpError::not_allowed(format_args!(
                    "access to vhost '{vhost}' refused for user '{user}': connection limit ({max}) is reached"
                )));
            }
        }
        if let Some(max) = c.user_limits.get(user).and_then(|l| l.max_connections) {
            if c.user_connections.get(user).copied().unwrap_or(0) >= max {
                return Err(AmqpError::not_allowed(format_args!(
                    "connection refused for user '{user}': user connection limit ({max}) is reached"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn count_connection(&mut self, user: &str, vhost: &str, up: bool) {
        bump(&mut self.limits.vhost_connections, vhost, up);
        bump(&mut self.limits.user_connections, user, up);
    }

    /// channel.open may proceed for `user`.
    pub(crate) fn admit_channel(&self, user: &str) -> Result<()> {
        let c = &self.limits;
        if let Some(max) = c.user_limits.get(user).and_then(|l| l.max_channels) {
            if c.user_channels.get(user).copied().unwrap_or(0) >= max {
                return Err(AmqpError::not_allowed(format_args!(
                    "number of channels opened for user '{user}' has reached the maximum allowed user limit of ({max})"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn count_channel(&mut self, user: &str, up: bool) {
        bump(&mut self.limits.user_channels, user, up);
    }

    /// A new queue may be declared in `vhost`, which has `queues` already.
    pub(crate) fn admit_queue(&self, vhost: &str, name: &str, queues: usize) -> Result<()> {
        let Some(max) = self.limits.vhost_limits.get(vhost).and_then(|l| l.max_queues) else { return Ok(()) };
        if queues as u64 >= max {
            return Err(AmqpError::precondition_failed(format_args!(
                "cannot declare queue '{name}': queue limit in vhost '{vhost}' ({max}) is reached"
            )));
        }
        Ok(())
    }
}

impl Broker {
    pub fn set_vhost_limits(&mut self, vhost: &str, limits: Limits) {
        if limits == Limits::default() {
            self.state.access.limits.vhost_limits.remove(vhost);
        } else {
            self.state.access.limits.vhost_limits.insert(vhost.to_string(), limits);
        }
        self.state.definitions_changed();
    }

    pub fn set_user_limits(&mut self, user: &str, limits: Limits) {
        if limits == Limits::default() {
            self.state.access.limits.user_limits.remove(user);
        } else {
            self.state.access.limits.user_limits.insert(user.to_string(), limits);
        }
        self.state.definitions_changed();
    }

    pub fn vhost_limits(&self) -> Vec<(String, Limits)> {
        let mut v: Vec<_> = self.state.access.limits.vhost_limits.iter().map(|(k, l)| (k.clone(), *l)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn user_limits(&self) -> Vec<(String, Limits)> {
        let mut v: Vec<_> = self.state.access.limits.user_limits.iter().map(|(k, l)| (k.clone(), *l)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
