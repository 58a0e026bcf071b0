// The scenario: a topology (exchanges, queues, bindings) plus the
// page's clients (producers, consumers) and settings, as plain data. It is
// what the share URL carries and what presets are; a RabbitMQ definitions
// document (read by the core) maps to its topology, and two documents'
// topologies are compared here. No DOM, no broker.

export function emptyScenario() {
  return { v: 1, title: '', exchanges: [], queues: [], bindings: [], producers: [], consumers: [], settings: { speed: 1 } };
}

/** A deep copy of plain data. */
export const clone = (x) => JSON.parse(JSON.stringify(x));

/** Fills defaults so every later reader can rely on the fields. */
export function normalize(s) {
  const out = { ...emptyScenario(), ...clone(s || {}) };
  out.settings = { speed: 1, ...(out.settings || {}) };
  out.exchanges = out.exchanges.map((x) => ({ type: 'direct', arguments: {}, internal: false, ...x }));
  out.queues = out.queues.map((q) => ({ arguments: {}, ...q }));
  out.bindings = out.bindings.map((b) => ({ destination_type: 'queue', routing_key: '', arguments: {}, ...b }));
  out.producers = out.producers.map((p) => ({
    exchange: '', routingKeys: [''], rate: 1, count: 0, headers: {}, expiration: '', priority: null, replyTo: '', body: '', ...p,
  }));
  out.consumers = out.consumers.map((c) => ({
    queue: '', prefetch: 1, ack: 'manual', processingMs: 500, action: 'ack', reply: false, priority: null, ...c,
  }));
  return out;
}

// --- share by URL -----------------------------------------------------------

function b64url(str) {
  const bytes = new TextEncoder().encode(str);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function unb64url(s) {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** `s=<base64url JSON>` for the URL fragment. */
export function toFragment(scenario) {
  return 's=' + b64url(JSON.stringify(scenario));
}

/** The scenario in a fragment (`#s=…`), `{preset}` for `#preset=name`, or null. */
export function fromFragment(hash) {
  const params = new URLSearchParams(String(hash || '').replace(/^#/, ''));
  if (params.get('s')) return { scenario: normalize(JSON.parse(unb64url(params.get('s')))) };
  if (params.get('preset')) return { preset: params.get('preset') };
  return null;
}

// --- RabbitMQ definitions -----------------------------------------------------
// The format is read and written by the core (broker_core::management::
// definitions, through the engine's tab broker: Engine.definitions and
// Engine.readDefinitions); here is only what a document means to the editor.

const builtin = (name) => name === '' || name.startsWith('amq.');

/**
 * The editor's topology of a definitions document as the core writes it
 * (exchanges, queues and bindings of one vhost; the rest is not modelled;
 * clients kept from `base`).
 */
export function fromDefinitions(defs, base = emptyScenario(), vhost = '/') {
  const inV = (o) => o.vhost === vhost;
  return normalize({
    ...base,
    exchanges: defs.exchanges.filter(inV).map((x) => ({ name: x.name, type: x.type, durable: x.durable, internal: x.internal, arguments: x.arguments })),
    // Server-named queues (amq.gen-…) cannot be declared by name.
    queues: defs.queues.filter((q) => inV(q) && !builtin(q.name)).map((q) => ({ name: q.name, durable: q.durable, arguments: q.arguments })),
    bindings: defs.bindings.filter(inV).map((b) => ({ source: b.source, destination: b.destination, destination_type: b.destination_type, routing_key: b.routing_key, arguments: b.arguments })),
  });
}

const stable = (v) => JSON.stringify(v, Object.keys(v || {}).sort());
const bindingKey = (b) => `${b.source}|${b.destination_type}|${b.destination}|${b.routing_key}|${stable(b.arguments || {})}`;

/**
 * What applying `want` (definitions) to `have` (a gateway's definitions)
 * changes, in vhost `/`: [{action: 'add'|'change'|'remove', kind, name, want, have}].
 */
export function diffDefinitions(want, have, vhost = '/') {
  const inV = (o) => (o.vhost ?? vhost) === vhost;
  const out = [];
  const index = (list, key) => new Map((list || []).filter(inV).map((o) => [key(o), o]));
  for (const [kind, key, same] of [
    ['exchange', (x) => x.name, (a, b) => a.type === b.type && !!a.internal === !!b.internal && stable(a.arguments || {}) === stable(b.arguments || {})],
    ['queue', (q) => q.name, (a, b) => stable(a.arguments || {}) === stable(b.arguments || {})],
  ]) {
    const W = index(want[kind + 's'], key);
    const H = index(have[kind + 's'], key);
    for (const [name, w] of W) {
      if (builtin(name)) continue;
      const h = H.get(name);
      if (!h) out.push({ action: 'add', kind, name, want: w });
      else if (!same(w, h)) out.push({ action: 'change', kind, name, want: w, have: h });
    }
    for (const [name, h] of H) {
      if (!W.has(name) && !builtin(name)) out.push({ action: 'remove', kind, name, have: h });
    }
  }
  const W = index(want.bindings, bindingKey);
  const H = index((have.bindings || []).filter((b) => b.source !== ''), bindingKey);
  for (const [k, w] of W) if (!H.has(k)) out.push({ action: 'add', kind: 'binding', name: describeBinding(w), want: w });
  for (const [k, h] of H) if (!W.has(k)) out.push({ action: 'remove', kind: 'binding', name: describeBinding(h), have: h });
  return out;
}

export function describeBinding(b) {
  const args = b.arguments && Object.keys(b.arguments).length ? ` ${JSON.stringify(b.arguments)}` : '';
  return `${b.source} → ${b.destination}${b.routing_key ? ` [${b.routing_key}]` : ''}${args}`;
}

/** What a binding matches on, for labels. */
export function bindingLabel(b, exchangeType) {
  if (exchangeType === 'headers') {
    const a = { ...(b.arguments || {}) };
    const m = a['x-match'] || 'all';
    delete a['x-match'];
    return `${m}: ${Object.entries(a).map(([k, v]) => `${k}=${v}`).join(', ')}`;
  }
  if (exchangeType === 'fanout') return '';
  return b.routing_key || '""';
}
