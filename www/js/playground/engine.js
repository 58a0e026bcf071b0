// Runs a scenario: declares its topology and starts its producers and
// consumers as real AMQP 0-9-1 clients (@cloudamqp/amqp-client) — against
// the broker core in this tab (through TabSocket, on the virtual clock) or
// against a live warren over AMQP-over-WebSocket (topology through its
// HTTP API). The same client code runs in both cases; only the URL differs.
// In the tab it also collects the core's trace events per message. The
// page's RabbitMQ definitions, out and in, are the core's too (a tab
// broker's definitions and importDefinitions).

import { VirtualClock } from './clock.js';
import { TabNetwork, installTabWebSocket } from './tab-socket.js';

const enc = new TextEncoder();

/** Message histories from trace events: one id follows a message. */
export class Tracker {
  constructor() { this.reset(); }
  reset() {
    this.messages = new Map(); // id -> { id, events: [], parent, children: [] }
    this.order = [];
    this.deliveries = [];
  }
  add(e, names) {
    let m = this.messages.get(e.message);
    if (!m) {
      m = { id: e.message, events: [], parent: null, children: [] };
      this.messages.set(e.message, m);
      this.order.push(e.message);
      if (this.order.length > 2000) this.messages.delete(this.order.shift());
    }
    if (e.event === 'published') {
      m.exchange = e.exchange;
      m.routing_key = e.routing_key;
      m.producer = e.connection != null ? names(e.connection) : 'management';
    }
    m.events.push(e);
    if (e.event === 'dead_lettered') {
      m.children.push(e.new_message);
      const child = this.messages.get(e.new_message) || { id: e.new_message, events: [], children: [] };
      child.parent = e.message;
      this.messages.set(e.new_message, child);
      if (!this.order.includes(e.new_message)) this.order.push(e.new_message);
    }
    if (e.event === 'delivered') {
      this.deliveries.push({ message: e.message, queue: e.queue, consumer: e.consumer_tag, routing_key: m.routing_key, at: e.at, redelivered: e.redelivered });
      if (this.deliveries.length > 5000) this.deliveries.shift();
    }
    m.fate = fate(e, m.fate);
    return m;
  }
}

function fate(e, prev) {
  switch (e.event) {
    case 'published': return 'published';
    case 'enqueued': return prev === 'published' || prev === 'routed' ? 'queued' : prev;
    case 'unroutable': return e.returned ? 'returned' : 'dropped (unroutable)';
    case 'delivered': return 'delivered';
    case 'acked': return 'acked';
    case 'rejected': return e.requeue ? 'requeued' : 'rejected';
    case 'expired': return 'expired';
    case 'dead_lettered': return 'dead-lettered';
    case 'overflow': return `overflow (${e.mode})`;
    default: return prev || e.event;
  }
}

/** Live targets have no core to trace: their clock only paces the clients. */
class LiveDriver {
  constructor(clock) { this.clock = clock; }
  async advanceTo(target) {
    for (;;) {
      const t = this.clock.takeDue(target);
      if (!t) break;
      try { t.fn(); } catch (e) { console.error(e); }
      await null;
    }
    this.clock.now = Math.max(this.clock.now, target);
    this.clock.changed();
  }
  closeAll() {}
}

export class Engine {
  /**
   * pkg: the wasm bindings (TabBroker, FrameDecoder); Client: the
   * AMQPWebSocketClient class; hooks: { onTrace(event, message), onLog(text), onFrames(id, dir, frames, at) }.
   */
  constructor({ pkg, Client, hooks = {} }) {
    this.pkg = pkg;
    this.Client = Client;
    this.hooks = hooks;
    this.tracker = new Tracker();
    this.clients = [];
    this.target = { kind: 'tab' };
    this.network = null;
    this.clock = new VirtualClock();
    this.counts = {}; // node name -> { published, received, replies }
    this.restoreWs = installTabWebSocket(() => this.network);
    this.generation = 0;
  }

  log(text) { this.hooks.onLog?.(text); }

  /** The URL a client of this target connects to. */
  url(name) {
    return this.target.kind === 'tab' ? `tab://playground/${encodeURIComponent(name)}` : this.target.ws;
  }

  async stop() {
    this.generation++;
    this.clock.clear();
    const clients = this.clients;
    this.clients = [];
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    this.network?.closeAll?.();
  }

  /** Starts `scenario` on `target` ({kind: 'tab'} or {kind: 'live', ws, api}). */
  async start(scenario, target = { kind: 'tab' }) {
    await this.stop();
    const gen = this.generation;
    this.scenario = scenario;
    this.target = target;
    this.tracker.reset();
    this.counts = {};
    this.clock = new VirtualClock({ start: 0 });
    this.errors = [];
    if (target.kind === 'tab') {
      // The old broker is not freed here: tasks already queued on the old
      // network may still touch it; the garbage collector frees it.
      this.broker = new this.pkg.TabBroker(0, 42);
      this.broker.setTracing('all');
      this.network = new TabNetwork(this.broker, this.clock, { FrameDecoder: this.pkg.FrameDecoder });
      this.network.tap = (id, dir, frames, at) => this.hooks.onFrames?.(id, dir, frames, at);
      this.network.afterPump.add(() => this.pullTrace());
      this.driver = this.network;
      this.declareInTab(scenario);
    } else {
      this.broker = null;
      this.network = null;
      this.driver = new LiveDriver(this.clock);
      await this.declareLive(scenario, target.api);
    }
    this.pullTrace();
    for (const c of scenario.consumers) await this.startConsumer(c, gen);
    for (const p of scenario.producers) await this.startProducer(p, gen);
    if (this.network) await this.network.settle();
  }

  /** Connection id -> client name (for trace events). */
  nameOf(id) {
    const n = this.network?.names.get(id);
    return n ? n.replace(/^tab:playground\//, '') : `connection ${id}`;
  }

  pullTrace() {
    if (!this.broker) return;
    for (;;) {
      const batch = this.broker.pollTrace(1000);
      if (!batch.length) break;
      for (const e of batch) {
        const m = this.tracker.add(e, (id) => this.nameOf(id));
        this.hooks.onTrace?.(e, m);
      }
    }
  }

  error(where, e) {
    const text = `${where}: ${e?.message || e}`;
    this.errors.push(text);
    this.log(text);
  }

  declareInTab(s) {
    declareTopology(this.broker, s, (what, e) => this.error(what, e));
  }

  async declareLive(s, api) {
    const v = '/';
    const tryIt = async (what, f) => { try { await f(); } catch (e) { this.error(what, e); } };
    for (const x of s.exchanges) await tryIt(`exchange ${x.name}`, () => api.declareExchange(v, x.name, { type: x.type, durable: !!x.durable, internal: !!x.internal, arguments: x.arguments }));
    for (const q of s.queues) await tryIt(`queue ${q.name}`, () => api.declareQueue(v, q.name, { durable: !!q.durable, arguments: q.arguments }));
    for (const b of s.bindings) await tryIt(`binding ${b.source} → ${b.destination}`, () => api.bind(v, b.source, b.destination_type === 'exchange' ? 'e' : 'q', b.destination, { routing_key: b.routing_key, arguments: b.arguments }));
  }

  count(name, key) {
    const c = this.counts[name] || (this.counts[name] = { published: 0, received: 0 });
    c[key] = (c[key] || 0) + 1;
  }

  async connect(name) {
    const client = new this.Client({ url: this.url(name), name, vhost: '/', username: this.target.user || 'guest', password: this.target.password || 'guest' });
    const conn = await client.connect();
    this.clients.push(conn);
    return conn;
  }

  async startProducer(p, gen) {
    let ch;
    try {
      const conn = await this.connect(p.name);
      ch = await conn.channel();
    } catch (e) { this.error(`producer ${p.name}`, e); return; }
    let n = 0;
    const publishOne = async () => {
      const key = p.routingKeys[n % Math.max(1, p.routingKeys.length)] ?? '';
      n++;
      const props = { contentType: 'text/plain', headers: { ...(p.headers || {}) }, messageId: `${p.name}-${n}` };
      if (p.expiration !== '' && p.expiration != null) props.expiration = String(p.expiration);
      if (p.priority != null && p.priority !== '') props.priority = Number(p.priority);
      if (p.replyTo) { props.replyTo = p.replyTo; props.correlationId = `${p.name}-${n}`; }
      const body = p.body || `${p.name} #${n}`;
      try {
        await ch.basicPublish(p.exchange, key, body, props);
        this.count(p.name, 'published');
      } catch (e) { this.error(`publish ${p.name}`, e); }
    };
    this.producers = this.producers || new Map();
    this.producers.set(p.name, publishOne);
    if (!(p.rate > 0)) return;
    const interval = 1000 / p.rate;
    const tick = () => {
      if (gen !== this.generation) return;
      if (p.count > 0 && n >= p.count) return;
      publishOne();
      this.clock.setTimeout(tick, interval);
    };
    this.clock.setTimeout(tick, Math.min(interval, 200));
  }

  /** Publishes one message from producer `name` now. */
  publishFrom(name) { return this.producers?.get(name)?.(); }

  async startConsumer(c, gen) {
    let ch;
    try {
      const conn = await this.connect(c.name);
      ch = await conn.channel();
      if (c.ack === 'manual' && c.prefetch > 0) await ch.prefetch(Number(c.prefetch));
    } catch (e) { this.error(`consumer ${c.name}`, e); return; }
    const manual = c.ack === 'manual';
    const args = {};
    if (c.priority != null && c.priority !== '') args['x-priority'] = Number(c.priority);
    const onMessage = (msg) => {
      this.count(c.name, 'received');
      const finish = async () => {
        if (gen !== this.generation) return;
        try {
          if (c.reply && msg.properties.replyTo) {
            await ch.basicPublish('', msg.properties.replyTo, `reply to ${msg.bodyToString()}`, { correlationId: msg.properties.correlationId });
            this.count(c.name, 'replies');
          }
          if (!manual) return;
          const firstTry = !msg.properties.headers?.['x-death'];
          switch (c.action) {
            case 'reject': await msg.reject(false); break;
            case 'requeue': await msg.reject(true); break;
            case 'retry-once': await (firstTry ? msg.reject(false) : msg.ack()); break;
            default: await msg.ack();
          }
        } catch (e) { this.error(`consumer ${c.name}`, e); }
      };
      if (c.processingMs > 0) this.clock.setTimeout(finish, Number(c.processingMs));
      else finish();
    };
    try {
      await ch.basicConsume(c.queue, { tag: c.name, noAck: !manual, args }, onMessage);
    } catch (e) { this.error(`consume ${c.name} on ${c.queue}`, e); }
  }

  /** Moves the virtual clock (the tab's broker timers and the clients'). */
  advance(ms) { return this.driver.advanceTo(this.clock.now + ms); }

  snapshot() { return this.broker ? this.broker.snapshot() : null; }

  /**
   * RabbitMQ's definitions document of the tab's broker, exactly as the
   * gateway's `GET /api/definitions` returns it (the core writes both):
   * everything the broker has, also what the scenario does not model
   * (the guest user, queues a script declared). On a live target, that of
   * a fresh tab broker holding the scenario's topology.
   */
  definitions() {
    if (this.broker) return this.broker.definitions();
    return this.withScratchBroker((b) => {
      declareTopology(b, this.scenario || { exchanges: [], queues: [], bindings: [] }, () => {});
      return b.definitions();
    });
  }

  /**
   * Reads a definitions document as the gateway's `POST /api/definitions`
   * does, by importing it into a fresh tab broker: throws the reason the
   * API would refuse it with; else `{definitions, skipped}`, what that
   * broker then has (as `definitions()` writes it) and the bindings the
   * import skipped, each with why (the lines warren logs for them).
   */
  readDefinitions(doc) {
    return this.withScratchBroker((b) => {
      const skipped = b.importDefinitions(doc);
      return { definitions: b.definitions(), skipped };
    });
  }

  /** Runs `f` with a fresh tab broker, freed afterwards. */
  withScratchBroker(f) {
    const b = new this.pkg.TabBroker(0, 42);
    try { return f(b); } finally { b.free(); }
  }
}

/** Declares scenario `s`'s exchanges, queues and bindings in tab broker `broker`; each failure goes to `onError(what, error)`. */
function declareTopology(broker, s, onError) {
  const run = (op) => { try { broker.execute(op); } catch (e) { onError(`${op.op} ${op.name || op.destination}`, e); } };
  for (const x of s.exchanges) run({ op: 'exchange.declare', name: x.name, type: x.type, durable: !!x.durable, internal: !!x.internal, arguments: x.arguments });
  for (const q of s.queues) run({ op: 'queue.declare', name: q.name, durable: !!q.durable, arguments: q.arguments });
  for (const b of s.bindings) run({ op: 'bind', ...b });
}

export { enc };
