// Edits of a scenario from the canvas and the edit form: remove the
// selected node or binding, connect two nodes, add a node. Plain data in
// and out, like model.js: no DOM, no broker.

/** Removes `sel` ({kind, name} or {kind: 'binding', index}) and what hangs on it. */
export function removeSelected(s, sel) {
  if (sel.kind === 'binding') s.bindings.splice(sel.index, 1);
  if (sel.kind === 'exchange') { s.exchanges = s.exchanges.filter((x) => x.name !== sel.name); s.bindings = s.bindings.filter((b) => b.source !== sel.name && !(b.destination_type === 'exchange' && b.destination === sel.name)); }
  if (sel.kind === 'queue') { s.queues = s.queues.filter((x) => x.name !== sel.name); s.bindings = s.bindings.filter((b) => !(b.destination_type === 'queue' && b.destination === sel.name)); }
  if (sel.kind === 'producer') s.producers = s.producers.filter((x) => x.name !== sel.name);
  if (sel.kind === 'consumer') s.consumers = s.consumers.filter((x) => x.name !== sel.name);
}

/** `kind:name` -> [kind, name] (names may contain ':'). */
const split = (id) => { const i = id.indexOf(':'); return [id.slice(0, i), id.slice(i + 1)]; };

/**
 * Connects node `from` to node `to` (ids `kind:name`): producer → exchange
 * or queue, exchange → queue or exchange (a binding), queue → consumer,
 * queue → exchange (its dead-letter exchange). Returns { ok, selection }:
 * ok is false for kinds that cannot be connected; selection is the new
 * binding, if one was made.
 */
export function connectNodes(s, from, to) {
  const [fk, fn] = split(from), [tk, tn] = split(to);
  if (fk === 'producer' && tk === 'exchange') Object.assign(s.producers.find((p) => p.name === fn), { exchange: tn });
  else if (fk === 'producer' && tk === 'queue') Object.assign(s.producers.find((p) => p.name === fn), { exchange: '', routingKeys: [tn] });
  else if (fk === 'exchange' && (tk === 'queue' || tk === 'exchange')) {
    const type = s.exchanges.find((x) => x.name === fn)?.type;
    const routing_key = type === 'topic' ? '#' : type === 'direct' ? (tk === 'queue' ? tn : '') : '';
    const args = type === 'headers' ? { 'x-match': 'all' } : {};
    s.bindings.push({ source: fn, destination: tn, destination_type: tk, routing_key, arguments: args });
    return { ok: true, selection: { kind: 'binding', index: s.bindings.length - 1 } };
  } else if (fk === 'queue' && tk === 'consumer') Object.assign(s.consumers.find((c) => c.name === tn), { queue: fn });
  else if (fk === 'queue' && tk === 'exchange') Object.assign(s.queues.find((q) => q.name === fn).arguments, { 'x-dead-letter-exchange': tn });
  else return { ok: false, error: `cannot connect ${fk} to ${tk}` };
  return { ok: true };
}

/** `base` followed by the first number no node in `list` has. */
function unique(list, base) {
  let i = 1;
  while (list.some((x) => x.name === `${base}${i}`)) i++;
  return `${base}${i}`;
}

const ADDERS = {
  producer: (s) => s.producers.push({ name: unique(s.producers, 'producer'), exchange: '', routingKeys: [s.queues[0]?.name || ''], rate: 1 }),
  exchange: (s) => s.exchanges.push({ name: unique(s.exchanges, 'exchange'), type: 'direct' }),
  queue: (s) => s.queues.push({ name: unique(s.queues, 'queue') }),
  consumer: (s) => s.consumers.push({ name: unique(s.consumers, 'consumer'), queue: s.queues[0]?.name || '' }),
};

/** Adds a new node of `kind` (producer, exchange, queue, consumer) with a fresh name. */
export function addNode(s, kind) {
  ADDERS[kind](s);
}
