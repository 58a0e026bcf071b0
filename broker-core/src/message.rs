//! Messages are stored once and shared by reference: a message routed to N
//! queues is one entry here with N references, and its body is freed when
//! the last queue has had it acknowledged (or dropped it).
//!
//! A body may be *evicted* when memory is short and the driver's store
//! holds a copy: the entry keeps its metadata, and the body is read back
//! through the [`BodyLoader`] when the message is delivered.
//!
//! A queue entry names its message with a [`MessageRef`]: a message in
//! memory, or one that lives only in the driver's store (a deep queue's
//! persisted backlog), which costs the broker nothing but the entry and is
//! read back whole through the same loader.

use std::borrow::Cow;

use bytes::Bytes;

use crate::amqp::{BasicProperties, PropertiesScan, ShortStr};
use crate::ids::{MessageId, Slab};

/// What a queue entry points at: a message in the broker's memory, or only
/// a key in the driver's store. Packed in 8 octets (bit 63 tells which) so
/// an entry stays 32 octets.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageRef(u64);

const IN_STORE: u64 = 1 << 63;

impl MessageRef {
    pub fn resident(id: MessageId) -> Self {
        let v = id.as_u64();
        debug_assert!(v & IN_STORE == 0, "slab generations stay below 2^31");
        MessageRef(v)
    }

    pub fn in_store(key: u64) -> Self {
        debug_assert!(key & IN_STORE == 0);
        MessageRef(key | IN_STORE)
    }

    /// The message in memory, if it is there.
    pub fn id(self) -> Option<MessageId> {
        (self.0 & IN_STORE == 0).then(|| MessageId::from_u64(self.0))
    }

    /// The store key, if the message is only in the store.
    pub fn store_key(self) -> Option<u64> {
        (self.0 & IN_STORE != 0).then_some(self.0 & !IN_STORE)
    }
}

impl core::fmt::Debug for MessageRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.id(), self.store_key()) {
            (Some(id), _) => write!(f, "Resident({})", id.as_u64()),
            (_, key) => write!(f, "InStore({})", key.unwrap_or_default()),
        }
    }
}

/// A message as the driver's store keeps it.
#[derive(Debug, Clone)]
pub struct LoadedMessage {
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    /// Property flags and list, as published.
    pub properties: Bytes,
    pub body: Bytes,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    /// Property flags and list as the publisher sent them; re-sent verbatim.
    pub properties: Bytes,
    pub scan: PropertiesScan,
    pub body: Bytes,
    /// The per-message TTL from the `expiration` property, validated at publish.
    pub expiration_ms: Option<u64>,
    /// Trace id while tracing is on (0 = untraced).
    pub trace: u64,
}

impl Message {
    pub fn decode_properties(&self) -> BasicProperties {
        // The octets were validated by the scan when the header arrived.
        BasicProperties::decode(self.properties.clone()).unwrap_or_default()
    }

    /// Octets this message keeps alive, for memory accounting.
    pub fn size(&self) -> usize {
        self.body.len() + self.properties.len() + self.exchange.len() + self.routing_key.len()
    }
}

/// Reads messages back from the driver's store. The broker calls it
/// synchronously, inside whichever input needs the message, on the thread
/// that drives the broker (see [`Broker`](crate::Broker), *The one
/// callback*): keep it quick.
pub trait BodyLoader: Send {
    /// The message stored under `key`, or `None` if it cannot be read.
    fn load(&mut self, key: u64) -> Option<LoadedMessage>;
}

struct Stored {
    message: Message,
    references: u32,
    /// The key under which the driver's store keeps it, if persisted or paged.
    persist_key: Option<u64>,
    /// The body's length while it is evicted (the body itself is then empty).
    evicted: Option<usize>,
    /// Written to the store only to save memory (a transient message).
    paged: bool,
}

/// Reference-counted message bodies.
#[derive(Default)]
pub struct MessageStore {
    messages: Slab<MessageId, Stored>,
    /// Octets of messages in memory (evicted bodies not counted).
    bytes: usize,
    /// Keys of paged (transient) messages freed since the last look.
    pub(crate) freed: Vec<u64>,
    /// Reads evicted bodies back (the driver's store), if there is one.
    loader: Option<Box<dyn BodyLoader>>,
}

impl MessageStore {
    /// Stores a message held by `references` queues (at least one).
    pub fn insert(&mut self, message: Message, references: u32) -> MessageId {
        debug_assert!(references > 0);
        self.bytes += message.size();
        self.messages.insert(Stored { message, references, persist_key: None, evicted: None, paged: false })
    }

    /// Adds a reference to a message already stored.
    pub fn retain(&mut self, id: MessageId) {
        if let Some(s) = self.messages.get_mut(id) {
            s.references += 1;
        }
    }

    pub fn set_loader(&mut self, loader: Box<dyn BodyLoader>) {
        self.loader = Some(loader);
    }

    /// The message with its body, reading an evicted body or a message
    /// kept only in the store back through the loader (synchronously).
    /// `None` if the message is gone or unreadable.
    #[inline(always)]
    pub fn get_loaded(&mut self, r: MessageRef) -> Option<Cow<'_, Message>> {
        let Some(id) = r.id() else { return self.load_stored(r.store_key()?).map(Cow::Owned) };
        let s = self.messages.get(id)?;
        if s.evicted.is_none() {
            return Some(Cow::Borrowed(&s.message));
        }
        let body = self.loader.as_mut()?.load(s.persist_key?)?.body;
        Some(Cow::Owned(Message { body, ..s.message.clone() }))
    }

    // Off the in-memory fast path: keeps `get_loaded` small enough to inline.
    #[cold]
    #[inline(never)]
    fn load_stored(&mut self, key: u64) -> Option<Message> {
        let m = self.loader.as_mut()?.load(key)?;
        // The store only holds what the publish path validated.
        let scan = PropertiesScan::scan(&m.properties).ok()?;
        let expiration_ms = PropertiesScan::text(&m.properties, scan.expiration).and_then(|t| t.parse().ok());
        Some(Message {
            exchange: m.exchange,
            routing_key: m.routing_key,
            properties: m.properties,
            scan,
            body: m.body,
            expiration_ms,
            trace: 0,
        })
    }

    /// The trace id of an entry's message (0 when untraced or only in the store).
    pub fn trace_of(&self, r: MessageRef) -> u64 {
        r.id().and_then(|id| self.messages.get(id)).map_or(0, |s| s.message.trace)
    }

    /// Drops a body from memory; the store has it under the message's key.
    pub fn evict(&mut self, id: MessageId) -> bool {
        let Some(s) = self.messages.get_mut(id) else { return false };
        if s.evicted.is_some() || s.persist_key.is_none() {
            return false;
        }
        let len = s.message.body.len();
        s.evicted = Some(len);
        s.message.body = Bytes::new();
        // The small fields are slices of the same read buffer as the body:
        // copy them, or the evicted body's buffer stays alive through them.
        let m = &mut s.message;
        m.properties = Bytes::copy_from_slice(&m.properties);
        m.exchange = ShortStr::from(&*m.exchange);
        m.routing_key = ShortStr::from(&*m.routing_key);
        self.bytes -= len;
        true
    }

    pub fn is_evicted(&self, id: MessageId) -> bool {
        self.messages.get(id).is_some_and(|s| s.evicted.is_some())
    }

    pub fn set_paged(&mut self, id: MessageId, key: u64) {
        if let Some(s) = self.messages.get_mut(id) {
            s.persist_key = Some(key);
            s.paged = true;
        }
    }

    pub fn get(&self, id: MessageId) -> Option<&Message> {
        self.messages.get(id).map(|s| &s.message)
    }

    /// Drops one reference; the message is freed with the last one. An
    /// entry kept only in the store holds no reference here.
    pub fn release(&mut self, r: MessageRef) {
        let Some(id) = r.id() else { return };
        let Some(s) = self.messages.get_mut(id) else { return };
        s.references -= 1;
        if s.references == 0 {
            if let Some(s) = self.messages.remove(id) {
                self.bytes -= s.message.size();
                if let (Some(key), true) = (s.persist_key, s.paged) {
                    self.freed.push(key);
                }
            }
        }
    }

    pub fn set_persist_key(&mut self, id: MessageId, key: u64) {
        if let Some(s) = self.messages.get_mut(id) {
            s.persist_key = Some(key);
        }
    }

    /// The store key of a persisted message, and whether it is persistent
    /// (delivery mode 2). Paged transient messages have no queue records.
    pub fn persist_key(&self, id: MessageId) -> Option<(u64, bool)> {
        let s = self.messages.get(id).filter(|s| !s.paged)?;
        Some((s.persist_key?, s.message.scan.persistent()))
    }

    /// Whether a resident message may leave memory for good once its store
    /// write is durable: persisted (not paged) and untraced.
    pub fn offloadable(&self, id: MessageId) -> Option<u64> {
        let s = self.messages.get(id).filter(|s| !s.paged && s.message.trace == 0)?;
        s.persist_key
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &'static [u8]) -> Message {
        Message {
            exchange: "".into(),
            routing_key: "q".into(),
            properties: Bytes::from_static(&[0, 0]),
            scan: PropertiesScan::default(),
            body: Bytes::from_static(body),
            expiration_ms: None,
            trace: 0,
        }
    }

    #[test]
    fn freed_with_the_last_reference() {
        let mut s = MessageStore::default();
        let id = s.insert(msg(b"abc"), 2);
        assert_eq!(s.len(), 1);
        s.release(MessageRef::resident(id));
        assert!(s.get(id).is_some());
        s.release(MessageRef::in_store(7)); // holds no reference here
        assert!(s.get(id).is_some());
        s.release(MessageRef::resident(id));
        assert!(s.get(id).is_none());
        assert_eq!((s.len(), s.bytes()), (0, 0));
        s.release(MessageRef::resident(id)); // stale: ignored
    }

    #[test]
    fn a_reference_is_a_slab_id_or_a_store_key() {
        let id = MessageId::from_u64(0x7fff_ffff_0000_0005);
        let r = MessageRef::resident(id);
        assert_eq!((r.id(), r.store_key()), (Some(id), None));
        let r = MessageRef::in_store(42);
        assert_eq!((r.id(), r.store_key()), (None, Some(42)));
        assert_eq!(core::mem::size_of::<crate::queue::QueueEntry>(), 32);
    }
}
