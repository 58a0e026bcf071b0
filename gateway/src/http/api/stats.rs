//! Counters as RabbitMQ's `message_stats` objects: each counter `x` comes
//! with `x_details: {"rate": per-second}`.

use serde_json::{Map, Value};

/// The version of RabbitMQ's management API these responses follow;
/// clients gate features on `rabbitmq_version`/`management_version`.
pub const RABBITMQ_COMPAT_VERSION: &str = "3.10.8";

pub use broker_core::management::json::{message_stats, put_stat as put};

/// `messages`, `messages_ready`, `messages_unacknowledged` with details
/// (queue lengths; their rate of change is not tracked: 0.0).
pub fn queue_lengths(m: &mut Map<String, Value>, ready: u64, unacked: u64) {
    put(m, "messages", ready + unacked, 0.0);
    put(m, "messages_ready", ready, 0.0);
    put(m, "messages_unacknowledged", unacked, 0.0);
}

/// A connection name, `peer -> local` as RabbitMQ names TCP connections
/// (or just `peer`), as the peer's and the local host and port.
pub struct Endpoints {
    pub peer_host: String,
    pub peer_port: Option<u16>,
    pub host: Option<String>,
    pub port: Option<u16>,
}

pub fn endpoints(name: &str) -> Endpoints {
    let split = |addr: &str| match addr.trim().parse::<std::net::SocketAddr>() {
        Ok(a) => (a.ip().to_canonical().to_string(), Some(a.port())),
        Err(_) => (addr.trim().to_string(), None),
    };
    let (peer, local) = match name.split_once(" -> ") {
        Some((p, l)) => (p, Some(l)),
        None => (name, None),
    };
    let (peer_host, peer_port) = split(peer);
    let (host, port) = match local.map(split) {
        Some((h, p)) => (Some(h), p),
        None => (None, None),
    };
    Endpoints { peer_host, peer_port, host, port }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names_split() {
        let e = endpoints("127.0.0.1:50312 -> 127.0.0.1:5672");
        assert_eq!(
            (e.peer_host.as_str(), e.peer_port, e.host.as_deref(), e.port),
            ("127.0.0.1", Some(50312), Some("127.0.0.1"), Some(5672))
        );
        let e = endpoints("[::ffff:10.0.0.1]:7");
        assert_eq!((e.peer_host.as_str(), e.peer_port, e.host), ("10.0.0.1", Some(7), None));
    }
}
