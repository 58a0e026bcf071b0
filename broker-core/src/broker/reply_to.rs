//! Direct reply-to (RabbitMQ's `amq.rabbitmq.reply-to`): an RPC client
//! consumes from the pseudo-queue in no-ack mode and publishes requests with
//! `reply_to: amq.rabbitmq.reply-to`; the broker rewrites that to a name that
//! identifies the client's channel, and a reply published to the default
//! exchange with that name as routing key goes straight to the client,
//! bypassing queues.

use base64::Engine;

use super::state::{Pending, State};
use crate::amqp::ShortStr;
use crate::connection::Connection;
use crate::ids::{ConnectionId, Slab};
use crate::message::Message;

pub(crate) const PSEUDO_QUEUE: &str = "amq.rabbitmq.reply-to";
const PREFIX: &str = "amq.rabbitmq.reply-to.";

/// The routing key replies must use to reach this channel's reply consumer.
/// The secret keeps other clients from guessing it.
pub(crate) fn reply_key(conn: ConnectionId, channel: u16, secret: u64) -> ShortStr {
    let mut raw = [0u8; 18];
    raw[..8].copy_from_slice(&conn.as_u64().to_le_bytes());
    raw[8..10].copy_from_slice(&channel.to_le_bytes());
    raw[10..].copy_from_slice(&secret.to_le_bytes());
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    ShortStr::from(format!("{PREFIX}{key}"))
}

/// The channel a reply key names, if it is one.
pub(crate) fn parse_key(routing_key: &str) -> Option<(ConnectionId, u16, u64)> {
    let key = routing_key.strip_prefix(PREFIX)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key).ok()?;
    let raw: [u8; 18] = raw.try_into().ok()?;
    let conn = ConnectionId::from_u64(u64::from_le_bytes(raw[..8].try_into().ok()?));
    let channel = u16::from_le_bytes([raw[8], raw[9]]);
    let secret = u64::from_le_bytes(raw[10..].try_into().ok()?);
    Some((conn, channel, secret))
}

/// Delivers the replies published since the last flush. A reply whose
/// consumer has gone is dropped, as in RabbitMQ.
pub(super) fn deliver(state: &mut State, conns: &mut Slab<ConnectionId, Connection>) {
    for (id, channel, secret, message) in core::mem::take(&mut state.pending.direct_replies) {
        let Some(conn) = conns.get_mut(id) else { continue };
        let Some(ch) = conn.channel_mut(channel) else { continue };
        let Some((tag, s)) = ch.reply_consumer.clone() else { continue };
        if s != secret || ch.closing {
            continue;
        }
        let delivery_tag = ch.next_tag();
        conn.send_delivery(channel, &tag, delivery_tag, false, &message);
        state.pending.queue_transmit(conn);
    }
}

impl Pending {
    /// Routes a reply addressed to a reply key; `false` if the key is not a
    /// valid one (the message is then unroutable).
    pub(crate) fn direct_reply(&mut self, message: &Message) -> bool {
        match parse_key(&message.routing_key) {
            Some((conn, channel, secret)) => {
                self.direct_replies.push((conn, channel, secret, message.clone()));
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SlabId;

    #[test]
    fn keys_round_trip() {
        let c = ConnectionId::new(7, 3);
        let k = reply_key(c, 12, 0xdead_beef);
        assert!(k.starts_with(PREFIX));
        assert_eq!(parse_key(&k), Some((c, 12, 0xdead_beef)));
        assert_eq!(parse_key("amq.rabbitmq.reply-to.garbage"), None);
        assert_eq!(parse_key("other"), None);
    }
}
