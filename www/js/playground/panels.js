// Side panels: the edit form of the selected node or binding, a message's
// "why" (its trace events explained), the frame inspector, the script
// panel and the definitions / live gateway dialog. DOM only: they call back
// with plain data.

import { h } from '../dom.js';
import { EXCHANGE_TYPES } from '../amqp.js';
import { describeBinding } from './model.js';

const secs = (ms) => `t=${(ms / 1000).toFixed(ms % 1000 ? 3 : 0)}s`;

function field(label, input) {
  return h('label', { class: 'pg-field' }, h('span', {}, label), input);
}

function input(name, value, attrs = {}) {
  return h('input', { name, value: value ?? '', ...attrs });
}

function select(name, value, options) {
  const s = h('select', { name }, ...options.map((o) => h('option', { value: o, selected: o === value }, o)));
  return s;
}

function json(v) { return JSON.stringify(v ?? {}, null, 0); }

function parseJson(text, what) {
  if (!text.trim()) return {};
  try { return JSON.parse(text); } catch { throw new Error(`${what} must be JSON`); }
}

const num = (v) => (v === '' || v == null ? undefined : Number(v));

/** The edit form for `sel` in scenario `s`; onApply(mutator) / onDelete(). */
export function editForm(s, sel, { onApply, onDelete }) {
  if (!sel) {
    return h('div', { class: 'pg-help' },
      h('p', {}, 'Select a node or a link to edit it. Drag a node to move it; drag from its right-hand port to another node to connect them (producer → exchange or queue, exchange → queue or exchange = a binding, queue → consumer, queue → exchange = dead-letter exchange).'),
      h('p', {}, 'Click a moving message, or one in the Messages list, to see why it went where it did.'));
  }
  const form = h('form', { class: 'pg-form', 'data-kind': sel.kind });
  const err = h('p', { class: 'pg-error', role: 'alert' });
  const val = (n) => form.elements[n]?.type === 'checkbox' ? form.elements[n].checked : form.elements[n]?.value;
  let apply;
  if (sel.kind === 'exchange') {
    const x = s.exchanges.find((e) => e.name === sel.name);
    if (!x) return h('p', {}, 'gone');
    const extra = { ...x.arguments };
    delete extra['alternate-exchange'];
    form.append(h('h3', {}, 'Exchange'),
      field('Name', input('name', x.name, { required: true })),
      field('Type', select('type', x.type, EXCHANGE_TYPES)),
      field('Alternate exchange', input('ae', x.arguments['alternate-exchange'] || '')),
      field('Internal', h('input', { type: 'checkbox', name: 'internal', checked: !!x.internal })),
      field('Other arguments (JSON)', input('args', json(extra))));
    apply = () => onApply((sc) => {
      const t = sc.exchanges.find((e) => e.name === sel.name);
      const name = val('name');
      const args = parseJson(val('args'), 'Arguments');
      if (val('ae')) args['alternate-exchange'] = val('ae');
      Object.assign(t, { name, type: val('type'), internal: val('internal'), arguments: args });
      if (name !== sel.name) {
        for (const b of sc.bindings) { if (b.source === sel.name) b.source = name; if (b.destination_type === 'exchange' && b.destination === sel.name) b.destination = name; }
        for (const p of sc.producers) if (p.exchange === sel.name) p.exchange = name;
      }
    });
  } else if (sel.kind === 'queue') {
    const q = s.queues.find((e) => e.name === sel.name);
    if (!q) return h('p', {}, 'gone');
    const a = q.arguments;
    const known = ['x-message-ttl', 'x-max-length', 'x-overflow', 'x-dead-letter-exchange', 'x-dead-letter-routing-key', 'x-max-priority', 'x-single-active-consumer', 'x-expires'];
    const extra = Object.fromEntries(Object.entries(a).filter(([k]) => !known.includes(k)));
    form.append(h('h3', {}, 'Queue'),
      field('Name', input('name', q.name, { required: true })),
      field('Message TTL (ms)', input('ttl', a['x-message-ttl'], { type: 'number', min: 0 })),
      field('Max length', input('maxlen', a['x-max-length'], { type: 'number', min: 0 })),
      field('Overflow', select('overflow', a['x-overflow'] || 'drop-head', ['drop-head', 'reject-publish', 'reject-publish-dlx'])),
      field('Dead-letter exchange', input('dlx', a['x-dead-letter-exchange'], { placeholder: 'none; "" = default' })),
      field('Dead-letter routing key', input('dlrk', a['x-dead-letter-routing-key'])),
      field('Max priority', input('prio', a['x-max-priority'], { type: 'number', min: 0, max: 255 })),
      field('Single active consumer', h('input', { type: 'checkbox', name: 'sac', checked: !!a['x-single-active-consumer'] })),
      field('Expires (ms unused)', input('expires', a['x-expires'], { type: 'number', min: 1 })),
      field('Other arguments (JSON)', input('args', json(extra))));
    apply = () => onApply((sc) => {
      const t = sc.queues.find((e) => e.name === sel.name);
      const args = parseJson(val('args'), 'Arguments');
      const set = (k, v) => { if (v !== undefined && v !== '' && !Number.isNaN(v)) args[k] = v; };
      set('x-message-ttl', num(val('ttl')));
      set('x-max-length', num(val('maxlen')));
      if ('x-overflow' in a || val('overflow') !== 'drop-head') set('x-overflow', val('overflow'));
      if (form.elements.dlx.value !== '' || 'x-dead-letter-exchange' in a) set('x-dead-letter-exchange', val('dlx'));
      if (val('dlx') === '' && val('dlrk')) args['x-dead-letter-exchange'] = '';
      set('x-dead-letter-routing-key', val('dlrk'));
      set('x-max-priority', num(val('prio')));
      if (val('sac')) args['x-single-active-consumer'] = true;
      set('x-expires', num(val('expires')));
      const name = val('name');
      Object.assign(t, { name, arguments: args });
      if (name !== sel.name) {
        for (const b of sc.bindings) if (b.destination_type === 'queue' && b.destination === sel.name) b.destination = name;
        for (const c of sc.consumers) if (c.queue === sel.name) c.queue = name;
      }
    });
  } else if (sel.kind === 'binding') {
    const b = s.bindings[sel.index];
    if (!b) return h('p', {}, 'gone');
    form.append(h('h3', {}, 'Binding'), h('p', {}, describeBinding(b)),
      field('Routing key', input('key', b.routing_key)),
      field('Arguments (JSON; headers: {"x-match":"all","k":"v"})', input('args', json(b.arguments))));
    apply = () => onApply((sc) => Object.assign(sc.bindings[sel.index], { routing_key: val('key'), arguments: parseJson(val('args'), 'Arguments') }));
  } else if (sel.kind === 'producer') {
    const p = s.producers.find((e) => e.name === sel.name);
    if (!p) return h('p', {}, 'gone');
    form.append(h('h3', {}, 'Producer'),
      field('Name', input('name', p.name, { required: true })),
      field('Exchange ("" = default)', input('exchange', p.exchange)),
      field('Routing keys (comma-separated, cycled)', input('keys', p.routingKeys.join(', '))),
      field('Rate (msg/s, 0 = manual)', input('rate', p.rate, { type: 'number', min: 0, step: 'any' })),
      field('Count (0 = unlimited)', input('count', p.count, { type: 'number', min: 0 })),
      field('Headers (JSON)', input('headers', json(p.headers))),
      field('Expiration (ms)', input('expiration', p.expiration)),
      field('Priority', input('priority', p.priority ?? '', { type: 'number', min: 0, max: 255 })),
      field('Reply to (RPC)', input('replyTo', p.replyTo)),
      field('Body', input('body', p.body)));
    apply = () => onApply((sc) => Object.assign(sc.producers.find((e) => e.name === sel.name), {
      name: val('name'), exchange: val('exchange'), routingKeys: val('keys').split(',').map((k) => k.trim()),
      rate: Number(val('rate')) || 0, count: Number(val('count')) || 0, headers: parseJson(val('headers'), 'Headers'),
      expiration: val('expiration'), priority: num(val('priority')) ?? null, replyTo: val('replyTo'), body: val('body'),
    }));
  } else if (sel.kind === 'consumer') {
    const c = s.consumers.find((e) => e.name === sel.name);
    if (!c) return h('p', {}, 'gone');
    form.append(h('h3', {}, 'Consumer'),
      field('Name (consumer tag)', input('name', c.name, { required: true })),
      field('Queue', input('queue', c.queue)),
      field('Ack mode', select('ack', c.ack, ['manual', 'auto'])),
      field('Prefetch', input('prefetch', c.prefetch, { type: 'number', min: 0 })),
      field('Processing time (ms)', input('processing', c.processingMs, { type: 'number', min: 0 })),
      field('Then', select('action', c.action, ['ack', 'reject', 'requeue', 'retry-once'])),
      field('Priority (x-priority)', input('priority', c.priority ?? '', { type: 'number' })),
      field('Reply to reply_to (RPC server)', h('input', { type: 'checkbox', name: 'reply', checked: !!c.reply })));
    apply = () => onApply((sc) => Object.assign(sc.consumers.find((e) => e.name === sel.name), {
      name: val('name'), queue: val('queue'), ack: val('ack'), prefetch: Number(val('prefetch')) || 0,
      processingMs: Number(val('processing')) || 0, action: val('action'), priority: num(val('priority')) ?? null, reply: val('reply'),
    }));
  }
  form.append(err, h('div', { class: 'pg-buttons' },
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    h('button', { type: 'button', class: 'danger', onclick: () => onDelete() }, 'Delete')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    try { apply(); } catch (x) { err.textContent = x.message; }
  });
  return form;
}

/** Explains one trace event in words. */
export function explain(e, m) {
  switch (e.event) {
    case 'published': return `Published by ${m?.producer || 'a client'} to ${e.exchange ? `exchange '${e.exchange}'` : 'the default exchange'} with routing key '${e.routing_key}'.`;
    case 'routed': {
      const what = e.destination_type === 'exchange' ? `exchange '${e.destination}'` : `queue '${e.destination}'`;
      if (!e.exchange) return `The default exchange routed it to ${what} (routing key = queue name).`;
      const args = e.arguments && Object.keys(e.arguments).length ? `header match ${JSON.stringify(e.arguments)}` : `binding key '${e.routing_key}'`;
      return `Exchange '${e.exchange}' routed it to ${what}: ${args} matched.`;
    }
    case 'alternate_exchange': return `No binding of '${e.from}' matched, so it went to its alternate exchange '${e.to}'.`;
    case 'unroutable': return `No queue took it: ${e.returned ? 'returned to the publisher (mandatory)' : 'dropped'}.`;
    case 'enqueued': return `Enqueued on '${e.queue}'${e.expires_at != null ? `; it expires at ${secs(e.expires_at)} unless consumed first` : ''}.`;
    case 'overflow': return `Queue '${e.queue}' was full: ${e.mode === 'drop-head' ? 'it was dropped from the head' : 'the publish was refused'} (${e.mode}).`;
    case 'expired': return `Its TTL ran out in '${e.queue}'.`;
    case 'dead_lettered': return `Dead-lettered from '${e.queue}' (reason: ${e.reason}) to ${e.exchange ? `exchange '${e.exchange}'` : 'the default exchange'}, continuing as message ${e.new_message}.`;
    case 'delivered': return `Delivered from '${e.queue}' to ${e.consumer_tag ? `consumer '${e.consumer_tag}'` : 'basic.get'} (delivery tag ${e.delivery_tag}${e.redelivered ? ', redelivered' : ''}).`;
    case 'acked': return `Acknowledged: removed from '${e.queue}'.`;
    case 'rejected': return `Rejected ${e.requeue ? 'with requeue' : 'without requeue'} by its consumer on '${e.queue}'.`;
    case 'requeued': return `Put back on '${e.queue}' for redelivery.`;
    case 'confirmed': return `The publisher got its confirm (${e.acked ? 'ack' : 'nack'}).`;
    default: return e.event;
  }
}

/** The "why" panel of message `id` (following dead-letter links). */
export function whyPanel(tracker, id, { onOpen }) {
  const m = tracker.messages.get(id);
  if (!m) return h('div', { class: 'pg-why' }, h('p', {}, `No trace of message ${id}.`));
  const links = [];
  if (m.parent != null) links.push(h('p', {}, 'Dead-lettered copy of ', h('a', { href: '#', onclick: (e) => { e.preventDefault(); onOpen(m.parent); } }, `message ${m.parent}`), '.'));
  for (const c of m.children) links.push(h('p', {}, 'Continues as ', h('a', { href: '#', onclick: (e) => { e.preventDefault(); onOpen(c); } }, `message ${c}`), '.'));
  return h('div', { class: 'pg-why', 'data-message': id },
    h('h3', {}, `Why: message ${id}`, m.routing_key != null ? ` ('${m.routing_key}')` : ''),
    h('ol', {}, ...m.events.map((e) => h('li', { 'data-event': e.event }, h('span', { class: 'pg-time' }, secs(e.at)), ' ', explain(e, m)))),
    ...links);
}

/** The frame inspector: a connection picker and its decoded frames. */
export class Inspector {
  constructor() {
    this.frames = new Map(); // connection -> [{at, dir, frame}]
    this.names = () => new Map();
    this.pick = h('select', { class: 'pg-inspect-conn', onchange: () => this.render() });
    this.table = h('tbody');
    this.el = h('div', { class: 'pg-inspector' },
      h('label', {}, 'Connection ', this.pick),
      h('table', { class: 'pg-frames' }, h('thead', {}, h('tr', {}, h('th', {}, 'time'), h('th', {}, 'dir'), h('th', {}, 'ch'), h('th', {}, 'frame'), h('th', {}, 'fields'))), this.table));
  }
  clear() { this.frames.clear(); this.render(); }
  add(id, dir, frames, at) {
    let list = this.frames.get(id);
    if (!list) { list = []; this.frames.set(id, list); this.dirty = true; }
    for (const f of frames) list.push({ at, dir, f });
    if (list.length > 400) list.splice(0, list.length - 400);
    this.pendingRender ||= setTimeout(() => { this.pendingRender = null; if (this.el.isConnected) this.render(); }, 200);
  }
  render() {
    const names = this.names();
    const current = this.pick.value;
    const ids = [...this.frames.keys()];
    if (this.dirty || this.pick.options.length !== ids.length) {
      this.pick.replaceChildren(...ids.map((id) => h('option', { value: id, selected: String(id) === current }, names.get(id) || `connection ${id}`)));
      this.dirty = false;
    }
    const list = this.frames.get(Number(this.pick.value)) || [];
    this.table.replaceChildren(...list.slice(-200).map(({ at, dir, f }) => h('tr', { class: `pg-${dir}` },
      h('td', {}, secs(at)), h('td', {}, dir === 'in' ? 'client → broker' : 'broker → client'), h('td', {}, f.channel ?? ''),
      h('td', {}, f.kind === 'method' ? f.name : f.kind),
      h('td', { class: 'pg-fields' }, f.kind === 'method' ? f.fields : f.kind === 'header' ? `body ${f.body_size} B ${JSON.stringify(f.properties)}` : f.kind === 'body' ? JSON.stringify(f.preview) : f.error || ''))));
  }
}

export const SAMPLE_SCRIPT = `// Unmodified @cloudamqp/amqp-client code. \`url\` is tab://playground/script
// in the tab (or the live gateway's ws:// URL); \`log\` prints below.
const amqp = new AMQPWebSocketClient(url)
const conn = await amqp.connect()
const ch = await conn.channel()
await ch.queueDeclare("script.demo", { durable: false, autoDelete: false, exclusive: false })
await ch.basicConsume("script.demo", { noAck: true }, (msg) => log("received: " + msg.bodyToString()))
for (let i = 1; i <= 3; i++) await ch.basicPublish("", "script.demo", "hello from a script #" + i)
await new Promise((r) => setTimeout(r, 100))
await conn.close()
log("done")
`;
