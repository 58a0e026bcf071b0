//! One channel: content assembly for publishes, consumers, outstanding
//! deliveries with their tags, prefetch accounting, and the confirm and
//! transaction modes.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::amqp::method::BasicPublish;
use crate::amqp::{PropertiesScan, ShortStr};
use crate::error::{AmqpError, Result};
use crate::ids::{ConsumerId, QueueId};
use crate::message::Message;
use crate::queue::QueueEntry;

/// A delivery awaiting acknowledgement.
#[derive(Debug, Clone, Copy)]
pub struct Unacked {
    pub tag: u64,
    pub queue: QueueId,
    pub entry: QueueEntry,
    /// The consumer it went to; `None` for basic.get.
    pub consumer: Option<ConsumerId>,
    /// When it was delivered, for the consumer timeout.
    pub delivered_at: u64,
}

/// A basic.publish whose header and body are still arriving.
pub struct PendingPublish {
    pub method: BasicPublish,
    pub header: Option<(Bytes, PropertiesScan)>,
    pub body_size: u64,
    /// Body frames so far: the first is kept as is; later ones are joined.
    pub body: BodyParts,
}

#[derive(Default)]
pub enum BodyParts {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl BodyParts {
    pub fn len(&self) -> u64 {
        match self {
            BodyParts::Empty => 0,
            BodyParts::One(b) => b.len() as u64,
            BodyParts::Many(b) => b.len() as u64,
        }
    }

    pub fn push(&mut self, part: Bytes) {
        *self = match core::mem::take(self) {
            BodyParts::Empty => BodyParts::One(part),
            BodyParts::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + part.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&part);
                BodyParts::Many(joined)
            }
            BodyParts::Many(mut joined) => {
                joined.extend_from_slice(&part);
                BodyParts::Many(joined)
            }
        }
    }

    pub fn into_bytes(self) -> Bytes {
        match self {
            BodyParts::Empty => Bytes::new(),
            BodyParts::One(b) => b,
            BodyParts::Many(b) => b.freeze(),
        }
    }
}

/// A publish or acknowledgement held until tx.commit. Acknowledged
/// deliveries leave the unacked list at once (so a second ack of the same tag
/// is an error) and return to it on rollback.
pub enum TxOp {
    Publish { exchange: Option<crate::ids::ExchangeId>, mandatory: bool, message: Message },
    Settle { deliveries: Vec<Unacked>, outcome: Settle },
}

/// What becomes of an acknowledged, rejected or nacked delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    Requeue,
    Discard,
}

pub struct Channel {
    pub id: u16,
    /// We sent channel.close and wait for close-ok; everything else is dropped.
    pub closing: bool,
    pub publish: Option<PendingPublish>,
    /// Consumer tags on this channel.
    pub consumers: Vec<(ShortStr, ConsumerId)>,
    /// Outstanding deliveries in tag order.
    pub unacked: VecDeque<Unacked>,
    next_delivery_tag: u64,
    /// basic.qos global=false: the limit given to consumers created later.
    pub consumer_prefetch: u16,
    /// basic.qos global=true: the limit shared by all consumers (0 = none).
    pub channel_prefetch: u16,
    /// Consumer deliveries awaiting ack, counted against `channel_prefetch`.
    pub prefetched: u32,
    /// In confirm mode: the sequence number the next publish gets.
    pub confirm_next: Option<u64>,
    /// Confirm outcomes not yet written: (sequence number, acked, store
    /// ticket to wait for or 0).
    pub confirm_pending: Vec<(u64, bool, u64)>,
    /// In tx mode: the operations of the open transaction.
    pub tx: Option<Vec<TxOp>>,
    /// Committed transactions whose commit-ok waits for the store: the
    /// ticket each waits for, in commit order.
    pub commits_held: VecDeque<u64>,
    /// channel.flow: whether the client wants deliveries.
    pub flow_active: bool,
    /// The queue named by an empty name in later queue methods.
    pub last_queue: Option<ShortStr>,
    /// A consumer-timeout timer is pending for this channel.
    pub timeout_armed: bool,
    /// The direct reply-to consumer: its tag and the secret in its reply key.
    pub reply_consumer: Option<(ShortStr, u64)>,
    /// This channel's message counters and recent samples for rates.
    pub stats: crate::broker::stats::MessageCounters,
    pub rate_window: crate::broker::stats::RateWindow,
}

impl Channel {
    pub fn new(id: u16) -> Self {
        Channel {
            id,
            closing: false,
            publish: None,
            consumers: Vec::new(),
            unacked: VecDeque::new(),
            next_delivery_tag: 1,
            consumer_prefetch: 0,
            channel_prefetch: 0,
            prefetched: 0,
            confirm_next: None,
            confirm_pending: Vec::new(),
            tx: None,
            commits_held: VecDeque::new(),
            flow_active: true,
            last_queue: None,
            timeout_armed: false,
            reply_consumer: None,
            stats: Default::default(),
            rate_window: Default::default(),
        }
    }

    pub fn next_tag(&mut self) -> u64 {
        let t = self.next_delivery_tag;
        self.next_delivery_tag += 1;
        t
    }

    /// Whether the channel-wide prefetch and flow allow another delivery.
    pub fn has_credit(&self) -> bool {
        self.flow_active && !self.closing && (self.channel_prefetch == 0 || self.prefetched < self.channel_prefetch as u32)
    }

    pub fn consumer(&self, tag: &str) -> Option<ConsumerId> {
        self.consumers.iter().find(|(t, _)| &**t == tag).map(|(_, id)| *id)
    }

    pub fn remove_consumer(&mut self, tag: &str) -> Option<ConsumerId> {
        let i = self.consumers.iter().position(|(t, _)| &**t == tag)?;
        Some(self.consumers.remove(i).1)
    }

    /// Takes the deliveries an ack/nack/reject names: `tag` alone, or with
    /// `multiple` every tag up to it (tag 0 with multiple = all). An unknown
    /// tag is a 406, as in RabbitMQ.
    pub fn take_acked(&mut self, tag: u64, multiple: bool) -> Result<Vec<Unacked>> {
        if multiple && tag == 0 {
            return Ok(self.unacked.drain(..).collect());
        }
        let pos = self
            .unacked
            .binary_search_by_key(&tag, |u| u.tag)
            .map_err(|_| AmqpError::precondition_failed(format_args!("unknown delivery tag {tag}")))?;
        Ok(if multiple { self.unacked.drain(..=pos).collect() } else { self.unacked.remove(pos).into_iter().collect() })
    }

    /// Records a publish's confirm outcome, if the channel is in confirm mode.
    pub fn confirm(&mut self, seq: Option<u64>, acked: bool, ticket: Option<u64>) {
        if let Some(seq) = seq {
            self.confirm_pending.push((seq, acked, ticket.unwrap_or(0)));
        }
    }

    /// Assigns the next publish sequence number in confirm mode.
    pub fn next_publish_seq(&mut self) -> Option<u64> {
        let next = self.confirm_next.as_mut()?;
        let seq = *next;
        *next += 1;
        Some(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SlabId;

    fn ch_with(tags: &[u64]) -> Channel {
        let mut c = Channel::new(1);
        for &t in tags {
            c.unacked.push_back(Unacked {
                tag: t,
                queue: QueueId::new(0, 0),
                entry: QueueEntry {
                    message: crate::message::MessageRef::in_store(t),
                    seq: t,
                    expires_at: 0,
                    size: 0,
                    delivery_count: 0,
                    priority: 0,
                    redelivered: false,
                },
                consumer: None,
                delivered_at: 0,
            });
        }
        c
    }

    #[test]
    fn ack_single_multiple_all_and_unknown() {
        let mut c = ch_with(&[1, 2, 3, 4, 5]);
        assert_eq!(c.take_acked(2, false).unwrap().iter().map(|u| u.tag).collect::<Vec<_>>(), vec![2]);
        assert_eq!(c.take_acked(2, false).unwrap_err().text, "PRECONDITION_FAILED - unknown delivery tag 2");
        assert_eq!(c.take_acked(4, true).unwrap().iter().map(|u| u.tag).collect::<Vec<_>>(), vec![1, 3, 4]);
        assert!(c.take_acked(0, false).is_err());
        assert_eq!(c.take_acked(0, true).unwrap().len(), 1);
        assert!(c.unacked.is_empty());
    }

    #[test]
    fn body_parts_join_only_when_split() {
        let mut b = BodyParts::default();
        b.push(Bytes::from_static(b"ab"));
        assert!(matches!(b, BodyParts::One(_)));
        b.push(Bytes::from_static(b"cd"));
        b.push(Bytes::from_static(b"e"));
        assert_eq!(b.len(), 5);
        assert_eq!(&b.into_bytes()[..], b"abcde");
    }
}
