//! The broker's settings, and the check [`Broker::new`](super::Broker::new)
//! makes of them: a configuration it cannot honour is refused with a
//! [`ConfigError`] naming the setting and why, never silently adjusted.

use core::fmt;

use rustc_hash::FxHashSet;

use super::state::Permissions;
use crate::amqp::FRAME_MIN_SIZE;
use crate::auth::User;
use crate::permissions::{Compiled, Permission};

/// Broker settings. `Default` gives RabbitMQ's defaults and the guest user
/// (password guest, loopback peers only) on vhost `/`.
#[derive(Debug, Clone)]
pub struct Config {
    pub users: Vec<User>,
    pub vhosts: Vec<String>,
    pub permissions: Vec<Permission>,
    /// Highest channel number offered in connection.tune (0 = no limit,
    /// as in AMQP).
    pub channel_max: u16,
    /// Largest frame offered in connection.tune: at least 4096, or 0 for
    /// no limit (as in AMQP).
    pub frame_max: u32,
    /// Heartbeat interval offered in connection.tune, in seconds.
    pub heartbeat: u16,
    /// Largest message body accepted (406 beyond it), as RabbitMQ's
    /// `max_message_size`: 1 octet to 512 MiB.
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
    /// with 406, as RabbitMQ's `consumer_timeout` (None = never; not 0).
    pub consumer_timeout_ms: Option<u64>,
    /// A refused login of a client without `authentication_failure_close`
    /// is dropped after this many ms (RabbitMQ waits about 3 s).
    pub login_failure_delay_ms: u64,
    /// Emit [`StoreOp`](super::persist::StoreOp)s for a driver that keeps messages on disk,
    /// and hold confirms until it reports them durable.
    pub persistence: bool,
    /// With persistence: octets of message bodies kept in memory; beyond it
    /// the newest bodies move to disk (queues larger than RAM).
    pub memory_budget: Option<usize>,
    /// With persistence: a persisted message entering a queue that already
    /// holds this many ready messages leaves memory once its write is
    /// durable; the queue keeps only its key (a 32-octet entry) and reads
    /// it back when it is delivered. Bounds the memory of a backlog. A
    /// queue declared with `x-queue-mode: lazy` (or such a policy) uses 0.
    pub resident_queue_depth: usize,
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
            resident_queue_depth: 2048,
            cluster_name: "warren@localhost".into(),
        }
    }
}

/// RabbitMQ's ceiling for `max_message_size`.
const MAX_MESSAGE_SIZE_CEILING: u64 = 512 * 1024 * 1024;

/// Why [`Broker::new`](super::Broker::new) refused a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A permission's expression is not a valid regular expression.
    BadExpression {
        user: String,
        vhost: String,
        /// `configure`, `write` or `read`.
        which: &'static str,
        expression: String,
        /// What the regular expression parser said.
        reason: String,
    },
    /// A permission names a user that is not in `Config::users`.
    UnknownUser { user: String, vhost: String },
    /// A permission names a vhost that is not in `Config::vhosts`.
    UnknownVhost { user: String, vhost: String },
    /// A user, vhost or permission (user and vhost) is listed twice.
    Duplicate { what: &'static str, name: String },
    /// A numeric setting outside the values that work.
    OutOfRange {
        setting: &'static str,
        value: u64,
        /// The values allowed, in words.
        allowed: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::BadExpression { user, vhost, which, expression, reason } => write!(
                f,
                "permission of user '{user}' on vhost '{vhost}': the {which} expression '{expression}' is not a valid regular expression: {reason}"
            ),
            ConfigError::UnknownUser { user, vhost } => write!(f, "permission of user '{user}' on vhost '{vhost}': no user '{user}'"),
            ConfigError::UnknownVhost { user, vhost } => write!(f, "permission of user '{user}' on vhost '{vhost}': no vhost '{vhost}'"),
            ConfigError::Duplicate { what, name } => write!(f, "{what} {name} is listed twice"),
            ConfigError::OutOfRange { setting, value, allowed } => write!(f, "{setting} = {value}: it must be {allowed}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks every setting and compiles the permissions.
    pub(super) fn check(&self) -> Result<Permissions, ConfigError> {
        let out_of_range = |setting, value: u64, allowed| Err(ConfigError::OutOfRange { setting, value, allowed });
        if self.frame_max != 0 && self.frame_max < FRAME_MIN_SIZE {
            return out_of_range("frame_max", self.frame_max.into(), "at least 4096, or 0 for no limit");
        }
        if self.max_message_size == 0 || self.max_message_size > MAX_MESSAGE_SIZE_CEILING {
            return out_of_range("max_message_size", self.max_message_size, "between 1 octet and 512 MiB");
        }
        if self.handshake_timeout_ms == 0 {
            return out_of_range("handshake_timeout_ms", 0, "at least 1 ms");
        }
        // Both are left once half of them is written: below 2 never.
        if self.output_high_watermark < 2 {
            return out_of_range("output_high_watermark", self.output_high_watermark as u64, "at least 2 octets");
        }
        if self.output_hard_limit < 2 {
            return out_of_range("output_hard_limit", self.output_hard_limit as u64, "at least 2 octets");
        }
        if self.consumer_timeout_ms == Some(0) {
            return out_of_range("consumer_timeout_ms", 0, "at least 1 ms (None disables it)");
        }
        let mut users = FxHashSet::default();
        for u in &self.users {
            if !users.insert(u.name.as_str()) {
                return Err(ConfigError::Duplicate { what: "user", name: format!("'{}'", u.name) });
            }
        }
        let mut vhosts = FxHashSet::default();
        for v in &self.vhosts {
            if !vhosts.insert(v.as_str()) {
                return Err(ConfigError::Duplicate { what: "vhost", name: format!("'{v}'") });
            }
        }
        let mut permissions = Permissions::default();
        for p in &self.permissions {
            let (user, vhost) = (p.user.clone(), p.vhost.clone());
            if !users.contains(p.user.as_str()) {
                return Err(ConfigError::UnknownUser { user, vhost });
            }
            if !vhosts.contains(p.vhost.as_str()) {
                return Err(ConfigError::UnknownVhost { user, vhost });
            }
            let compiled = Compiled::compile(p).map_err(|e| ConfigError::BadExpression {
                user: user.clone(),
                vhost: vhost.clone(),
                which: e.which,
                expression: e.expression,
                reason: e.reason,
            })?;
            if permissions.insert((user, vhost), (p.clone(), compiled)).is_some() {
                let name = format!("of user '{}' on vhost '{}'", p.user, p.vhost);
                return Err(ConfigError::Duplicate { what: "permission", name });
            }
        }
        Ok(permissions)
    }
}
