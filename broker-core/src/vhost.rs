//! Virtual hosts: separate namespaces of exchanges and queues.

use rustc_hash::FxHashMap;

use crate::amqp::ShortStr;
use crate::ids::{ExchangeId, QueueId};

pub struct VHost {
    pub exchanges: FxHashMap<ShortStr, ExchangeId>,
    pub queues: FxHashMap<ShortStr, QueueId>,
}

impl VHost {
    pub fn new() -> Self {
        VHost { exchanges: FxHashMap::default(), queues: FxHashMap::default() }
    }
}

/// The exchanges every vhost starts with (besides the nameless default).
pub const STANDARD_EXCHANGES: &[(&str, &str)] =
    &[("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"), ("amq.headers", "headers"), ("amq.match", "headers")];
