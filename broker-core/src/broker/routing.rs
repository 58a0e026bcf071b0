//! The publish path after a message is complete: resolve the exchange,
//! follow bindings (through exchange-to-exchange bindings without loops or
//! duplicates), store the message once and enqueue a reference in every
//! matched queue. Also writes coalesced publisher confirms.

use super::{State, Topology};
use crate::amqp::method::{BasicAck, BasicNack};
use crate::amqp::{FieldTable, Method};
use crate::connection::Connection;
use crate::exchange::{Destination, ExchangeKind};
use crate::ids::{ConnectionId, ExchangeId, QueueId, Slab};
use crate::message::Message;

/// The names that mean the default exchange.
pub(crate) fn is_default_exchange(name: &str) -> bool {
    name.is_empty() || name == "amq.default"
}

/// Queues a message published to `exchange` reaches, sorted and without
/// duplicates. The default exchange routes to the queue named by the key.
pub(crate) fn route(
    topology: &mut Topology,
    scratch: &mut RouteScratch,
    vhost: &str,
    exchange: Option<ExchangeId>,
    message: &Message,
    out: &mut Vec<QueueId>,
) {
    route_key(topology, scratch, vhost, exchange, message, &message.routing_key, out);
    if message.scan.has_headers {
        // Sender-selected distribution: `CC` and `BCC` header keys route too.
        let extra = cc_keys(message, true);
        for key in &extra {
            route_key(topology, scratch, vhost, exchange, message, key, out);
        }
        if !extra.is_empty() {
            out.sort_unstable();
            out.dedup();
        }
    }
}

/// A cheap test before decoding headers: the raw properties mention `CC`.
pub(crate) fn may_have_cc(message: &Message) -> bool {
    let p = &message.properties;
    message.scan.has_headers && (p.windows(3).any(|w| w == b"\x02CC") || p.windows(4).any(|w| w == b"\x03BCC"))
}

/// The routing keys in a message's `CC` (and, with `bcc`, `BCC`) headers.
pub(crate) fn cc_keys(message: &Message, bcc: bool) -> Vec<String> {
    if !may_have_cc(message) {
        return Vec::new();
    }
    let Some(headers) = message.decode_properties().headers else { return Vec::new() };
    let mut keys = Vec::new();
    for name in ["CC", "BCC"].iter().take(if bcc { 2 } else { 1 }) {
        if let Some(crate::amqp::FieldValue::Array(a)) = headers.get(name) {
            keys.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)));
        }
    }
    keys
}

/// The work lists of [`route`], kept between publishes.
#[derive(Default)]
pub(crate) struct RouteScratch {
    visited: Vec<ExchangeId>,
    pending: Vec<ExchangeId>,
    dests: Vec<Destination>,
}

fn route_key(
    topology: &mut Topology,
    scratch: &mut RouteScratch,
    vhost: &str,
    exchange: Option<ExchangeId>,
    message: &Message,
    routing_key: &str,
    out: &mut Vec<QueueId>,
) {
    let Some(vh) = topology.vhosts.get(vhost) else { return };
    let Some(start) = exchange else {
        if let Some(q) = vh.queues.get(routing_key) {
            out.push(*q);
        }
        return;
    };
    let mut headers: Option<FieldTable> = None;
    let RouteScratch { visited, pending, dests } = scratch;
    visited.clear();
    pending.clear();
    visited.push(start);
    pending.push(start);
    while let Some(xid) = pending.pop() {
        let Some(x) = topology.exchanges.get(xid) else { continue };
        if x.kind == ExchangeKind::Headers && headers.is_none() && message.scan.has_headers {
            headers = message.decode_properties().headers;
        }
        dests.clear();
        x.route(routing_key, headers.as_ref(), dests);
        if dests.is_empty() {
            // Nothing bound matched: try the alternate exchange, if it exists.
            let ae = x.alternate_exchange.as_ref().and_then(|name| vh.exchanges.get(&**name));
            if let Some(&ae) = ae.filter(|ae| !visited.contains(ae)) {
                visited.push(ae);
                pending.push(ae);
            }
        }
        if let Some(x) = topology.exchanges.get_mut(xid) {
            x.stats.publish += 1;
            x.stats.routed += !dests.is_empty() as u64;
        }
        for d in dests.iter() {
            match *d {
                Destination::Queue(q) => out.push(q),
                Destination::Exchange(e) if !visited.contains(&e) => {
                    visited.push(e);
                    pending.push(e);
                }
                Destination::Exchange(_) => {}
            }
        }
    }
    if out.len() > 1 {
        out.sort_unstable();
        out.dedup();
    }
}

/// Writes pending publisher confirms, one `multiple` ack per run of
/// consecutive acks.
pub(super) fn flush_confirms(state: &mut State, conns: &mut Slab<ConnectionId, Connection>) {
    for (id, channel) in core::mem::take(&mut state.pending.confirm_dirty) {
        let Some(conn) = conns.get_mut(id) else { continue };
        let Some(ch) = conn.channel_mut(channel) else { continue };
        let mut pending = core::mem::take(&mut ch.confirm_pending);
        pending.sort_unstable_by_key(|(seq, _, _)| *seq);
        // Only the prefix already on disk goes out, in order, so a `multiple`
        // ack never covers a message still waiting for its fsync.
        let durable = state.persist.durable_upto;
        let ready = pending.iter().take_while(|(_, _, ticket)| *ticket <= durable).count();
        let waiting = pending.split_off(ready);
        let mut methods: Vec<Method> = Vec::new();
        let mut i = 0;
        while i < pending.len() {
            let (seq, acked, _) = pending[i];
            if !acked {
                methods.push(BasicNack { delivery_tag: seq, multiple: false, requeue: false }.into());
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < pending.len() && pending[j + 1].1 && pending[j + 1].0 == pending[j].0 + 1 {
                j += 1;
            }
            methods.push(BasicAck { delivery_tag: pending[j].0, multiple: j > i }.into());
            i = j + 1;
        }
        if !waiting.is_empty() {
            ch.confirm_pending = waiting;
            if !state.persist.confirm_waiting.contains(&(id, channel)) {
                state.persist.confirm_waiting.push((id, channel));
            }
        }
        for m in &methods {
            conn.send_method(channel, m);
        }
        state.pending.queue_transmit(conn);
    }
}
