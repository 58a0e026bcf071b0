//! Exchanges: where a published message goes. One file per exchange type
//! (`direct`, `fanout`, `topic`, `headers`), each an index over the
//! exchange's bindings that answers "which destinations match this key and
//! these headers". The default exchange routes by queue name and has no
//! index; the vhost resolves it.

mod direct;
mod fanout;
mod headers;
mod topic;

pub use headers::headers_match;

use rustc_hash::FxHashMap;

use crate::amqp::{FieldTable, ShortStr};
use crate::ids::{ExchangeId, QueueId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeKind {
    Direct,
    Fanout,
    Topic,
    Headers,
}

impl ExchangeKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "direct" => ExchangeKind::Direct,
            "fanout" => ExchangeKind::Fanout,
            "topic" => ExchangeKind::Topic,
            "headers" => ExchangeKind::Headers,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

/// Where a binding sends matching messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    Queue(QueueId),
    Exchange(ExchangeId),
}

/// The per-type routing index.
enum Routes {
    Direct(direct::DirectRoutes),
    Fanout(fanout::FanoutRoutes),
    Topic(topic::TopicRoutes),
    Headers(headers::HeadersRoutes),
}

pub struct Exchange {
    pub name: ShortStr,
    pub kind: ExchangeKind,
    pub durable: bool,
    pub auto_delete: bool,
    pub internal: bool,
    pub arguments: FieldTable,
    /// `alternate-exchange`: where messages go that match no binding here.
    pub alternate_exchange: Option<ShortStr>,
    /// The canonical binding set: `(destination, key)` to the argument
    /// tables bound with it (RabbitMQ treats differing arguments as
    /// distinct bindings).
    bindings: FxHashMap<(Destination, ShortStr), Vec<FieldTable>>,
    binding_count: usize,
    routes: Routes,
    /// `publish` counts messages in, `routed` messages out (RabbitMQ's
    /// publish_in / publish_out).
    pub stats: crate::broker::stats::MessageCounters,
    pub rate_window: crate::broker::stats::RateWindow,
}

impl Exchange {
    pub fn new(name: ShortStr, kind: ExchangeKind, durable: bool, auto_delete: bool, internal: bool, arguments: FieldTable) -> Self {
        let routes = match kind {
            ExchangeKind::Direct => Routes::Direct(Default::default()),
            ExchangeKind::Fanout => Routes::Fanout(Default::default()),
            ExchangeKind::Topic => Routes::Topic(Default::default()),
            ExchangeKind::Headers => Routes::Headers(Default::default()),
        };
        Exchange {
            name,
            kind,
            durable,
            auto_delete,
            internal,
            alternate_exchange: match arguments.get("alternate-exchange") {
                Some(crate::amqp::FieldValue::LongStr(s)) => Some(String::from_utf8_lossy(s).into_owned().into()),
                _ => None,
            },
            arguments,
            bindings: FxHashMap::default(),
            binding_count: 0,
            routes,
            stats: Default::default(),
            rate_window: Default::default(),
        }
    }

    /// The type's own check on a new binding's arguments (only headers
    /// exchanges have one: `x-match`).
    pub fn validate_binding(&self, args: &FieldTable) -> crate::error::Result<()> {
        match self.kind {
            ExchangeKind::Headers => headers::validate_binding(args),
            ExchangeKind::Direct | ExchangeKind::Fanout | ExchangeKind::Topic => Ok(()),
        }
    }

    /// Adds a binding; `false` if an identical one exists (binding is idempotent).
    pub fn bind(&mut self, dest: Destination, key: ShortStr, args: FieldTable) -> bool {
        let entry = self.bindings.entry((dest, key.clone())).or_default();
        if entry.contains(&args) {
            return false;
        }
        match &mut self.routes {
            Routes::Direct(r) => r.bind(&key, dest),
            Routes::Fanout(r) => r.bind(dest),
            Routes::Topic(r) => r.bind(&key, dest),
            Routes::Headers(r) => r.bind(&args, dest),
        }
        entry.push(args);
        self.binding_count += 1;
        true
    }

    /// Removes a binding; `false` if there was none.
    pub fn unbind(&mut self, dest: Destination, key: &ShortStr, args: &FieldTable) -> bool {
        let map_key = (dest, key.clone());
        let Some(entry) = self.bindings.get_mut(&map_key) else { return false };
        let Some(pos) = entry.iter().position(|a| a == args) else { return false };
        entry.swap_remove(pos);
        if entry.is_empty() {
            self.bindings.remove(&map_key);
        }
        match &mut self.routes {
            Routes::Direct(r) => r.unbind(key, dest),
            Routes::Fanout(r) => r.unbind(dest),
            Routes::Topic(r) => r.unbind(key, dest),
            Routes::Headers(r) => r.unbind(args, dest),
        }
        self.binding_count -= 1;
        true
    }

    /// Removes every binding to `dest`, returning how many went.
    pub fn unbind_destination(&mut self, dest: Destination) -> usize {
        let doomed: Vec<(ShortStr, FieldTable)> = self
            .bindings
            .iter()
            .filter(|((d, _), _)| *d == dest)
            .flat_map(|((_, k), args)| args.iter().map(move |a| (k.clone(), a.clone())))
            .collect();
        for (k, a) in &doomed {
            self.unbind(dest, k, a);
        }
        doomed.len()
    }

    pub fn has_bindings(&self) -> bool {
        self.binding_count > 0
    }

    /// Every binding as `(destination, key, arguments)`.
    pub fn bindings(&self) -> impl Iterator<Item = (Destination, &ShortStr, &FieldTable)> {
        self.bindings.iter().flat_map(|((d, k), args)| args.iter().map(move |a| (*d, k, a)))
    }

    /// Appends the destinations matching a message (possibly with repeats).
    /// `headers` is only consulted by headers exchanges.
    pub fn route(&self, key: &str, headers: Option<&FieldTable>, out: &mut Vec<Destination>) {
        match &self.routes {
            Routes::Direct(r) => r.route(key, out),
            Routes::Fanout(r) => r.route(out),
            Routes::Topic(r) => r.route(key, out),
            Routes::Headers(r) => r.route(headers, out),
        }
    }
}

impl Exchange {
    /// Whether one binding matches a message (for explaining a route).
    pub fn binding_matches(&self, key: &str, args: &FieldTable, routing_key: &str, headers: Option<&FieldTable>) -> bool {
        match self.kind {
            ExchangeKind::Direct => key == routing_key,
            ExchangeKind::Fanout => true,
            ExchangeKind::Topic => topic::pattern_matches(key, routing_key),
            ExchangeKind::Headers => headers_match(args, headers.unwrap_or(&FieldTable::new())),
        }
    }
}

/// Removes one occurrence of `dest` from a multiset kept as a vector.
fn remove_one(v: &mut Vec<Destination>, dest: Destination) {
    if let Some(i) = v.iter().position(|d| *d == dest) {
        v.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{QueueId, SlabId};

    fn q(i: u32) -> Destination {
        Destination::Queue(QueueId::new(i, 0))
    }

    #[test]
    fn bindings_are_idempotent_and_distinct_by_arguments() {
        let mut e = Exchange::new("x".into(), ExchangeKind::Direct, false, false, false, FieldTable::new());
        assert!(e.bind(q(1), "k".into(), FieldTable::new()));
        assert!(!e.bind(q(1), "k".into(), FieldTable::new()));
        let args = FieldTable::from([("a", crate::amqp::FieldValue::I32(1))]);
        assert!(e.bind(q(1), "k".into(), args.clone()));
        assert_eq!(e.bindings().count(), 2);
        let mut out = Vec::new();
        e.route("k", None, &mut out);
        assert_eq!(out, vec![q(1), q(1)]);
        assert!(e.unbind(q(1), &"k".into(), &args));
        assert!(!e.unbind(q(1), &"k".into(), &args));
        out.clear();
        e.route("k", None, &mut out);
        assert_eq!(out, vec![q(1)]);
        assert_eq!(e.unbind_destination(q(1)), 1);
        assert!(!e.has_bindings());
    }
}
