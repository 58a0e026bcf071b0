// The in-tab AMQP transport. TabNetwork carries octets between AMQP client
// code in the page and the broker core compiled to wasm (TabBroker);
// TabSocket is a WebSocket look-alike (binaryType, readyState, send, close,
// onopen/onmessage/onclose/onerror and addEventListener), so an unmodified
// client such as @cloudamqp/amqp-client runs against the tab's broker once
// its URL starts with `tab:` (see installTabWebSocket).
//
// Octets move asynchronously, as over a network: send() queues them and the
// next task hands them to the core; the core's replies are dispatched as
// `message` events with an ArrayBuffer of exactly those octets. The clock is
// the VirtualClock's: advanceTo() runs the core's timers and the virtual
// timers of the page's clients in time order, letting the clients react
// (ack, publish) before time moves on.

const CONNECTING = 0, OPEN = 1, CLOSING = 2, CLOSED = 3;

// A task after the current one (not a microtask): what a real socket's
// events are, so a client's promise chains settle before the reply arrives.
// MessageChannel is not clamped like nested setTimeout(0).
export const nextTask = (() => {
  if (typeof setImmediate === 'function') return setImmediate;
  const ch = new MessageChannel();
  const q = [];
  ch.port1.onmessage = () => { const fn = q.shift(); if (fn) fn(); };
  return (fn) => { q.push(fn); ch.port2.postMessage(0); };
})();

function event(type, fields = {}) {
  const e = new Event(type);
  for (const [k, v] of Object.entries(fields)) Object.defineProperty(e, k, { value: v, enumerable: true });
  return e;
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return new TextEncoder().encode(data);
  throw new TypeError('TabSocket.send: unsupported data type');
}

export class TabSocket extends EventTarget {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;

  constructor(network, url, name) {
    super();
    this.url = String(url);
    this.binaryType = 'blob';
    this.readyState = CONNECTING;
    this.bufferedAmount = 0;
    this.protocol = '';
    this.extensions = '';
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    this.network = network;
    this.id = network.attach(this, name || nameFromUrl(this.url));
    queueMicrotask(() => {
      if (this.readyState !== CONNECTING) return;
      this.readyState = OPEN;
      this._fire('open', event('open'));
    });
  }

  get CONNECTING() { return CONNECTING; }
  get OPEN() { return OPEN; }
  get CLOSING() { return CLOSING; }
  get CLOSED() { return CLOSED; }

  send(data) {
    if (this.readyState === CONNECTING) throw new DOMException('Still in CONNECTING state.', 'InvalidStateError');
    if (this.readyState !== OPEN) return; // as browsers: silently dropped
    this.network.send(this.id, toBytes(data).slice());
  }

  close(code = 1000, reason = '') {
    if (this.readyState >= CLOSING) return;
    this.readyState = CLOSING;
    this.network.detach(this.id);
    queueMicrotask(() => this._closed(code, reason, true));
  }

  /** Octets from the broker. */
  _deliver(bytes) {
    if (this.readyState !== OPEN) return;
    const data = this.binaryType === 'arraybuffer'
      ? bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
      : new Blob([bytes]);
    this._fire('message', event('message', { data }));
  }

  /** The broker finished the connection (after its last octets). */
  _closed(code = 1000, reason = '', wasClean = true) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this._fire('close', event('close', { code, reason, wasClean }));
  }

  _fire(type, e) {
    this.dispatchEvent(e);
    const h = this['on' + type];
    if (typeof h === 'function') h.call(this, e);
  }
}

function nameFromUrl(url) {
  const rest = url.replace(/^tab:\/*/, '').replace(/\/+$/, '');
  return rest ? `tab:${decodeURIComponent(rest)}` : 'tab';
}

/**
 * The tab's network: one TabBroker, its sockets, and an optional frame
 * tap (for the inspector). `clock` is a VirtualClock.
 */
export class TabNetwork {
  constructor(broker, clock, { FrameDecoder } = {}) {
    this.broker = broker;
    this.clock = clock;
    this.FrameDecoder = FrameDecoder;
    this.sockets = new Map(); // connection id -> TabSocket
    this.names = new Map(); // connection id -> name
    this.pending = [];
    this.scheduled = false;
    this.tap = null; // (connectionId, direction 'in'|'out', frames[]) => void
    this.decoders = new Map();
    this.afterPump = new Set();
    this.stats = { octetsIn: 0, octetsOut: 0 };
  }

  /** A TabSocket for `url` (`tab://…`): what `new WebSocket(url)` gives. */
  socket(url, name) { return new TabSocket(this, url, name); }

  attach(socket, name) {
    const id = this.broker.connect(this.clock.now, name);
    this.sockets.set(id, socket);
    this.names.set(id, name);
    return id;
  }

  detach(id) {
    if (!this.sockets.has(id)) return;
    this.sockets.delete(id);
    this.broker.disconnect(id, this.clock.now);
    this.schedule();
  }

  send(id, bytes) {
    this.pending.push([id, bytes]);
    this.stats.octetsIn += bytes.length;
    this.inspect(id, 'in', bytes);
    this.schedule();
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    nextTask(() => this.pump());
  }

  /** Hands queued octets to the core, then its output to the sockets. */
  pump() {
    this.scheduled = false;
    const pending = this.pending;
    this.pending = [];
    const now = this.clock.now;
    for (const [id, bytes] of pending) {
      if (this.sockets.has(id)) this.broker.send(id, now, bytes);
    }
    this.drain();
  }

  drain() {
    for (;;) {
      const out = this.broker.poll();
      if (!out) break;
      const id = out.connection;
      const data = out.takeData();
      out.free();
      this.stats.octetsOut += data.length;
      this.inspect(id, 'out', data);
      this.sockets.get(id)?._deliver(data);
    }
    for (;;) {
      const e = this.broker.pollEvent();
      if (!e) break;
      if (e.type === 'closed') {
        const s = this.sockets.get(e.connection);
        this.sockets.delete(e.connection);
        this.decoders.delete(e.connection);
        if (s) queueMicrotask(() => s._closed(1000, e.reason, true));
      }
    }
    for (const fn of this.afterPump) fn();
  }

  inspect(id, dir, bytes) {
    if (!this.tap || !this.FrameDecoder) return;
    const key = `${id}/${dir}`;
    let d = this.decoders.get(key);
    if (!d) { d = new this.FrameDecoder(dir === 'in'); this.decoders.set(key, d); }
    const frames = d.push(bytes);
    if (frames.length) this.tap(id, dir, frames, this.clock.now);
  }

  /** Lets client code react to what it received (until no octets move). */
  async settle() {
    let idle = 0;
    for (let i = 0; i < 500 && idle < 2; i++) {
      await new Promise((r) => nextTask(r));
      if (this.pending.length || this.scheduled) idle = 0; else idle++;
    }
  }

  /**
   * Moves the virtual clock to `target`, firing the core's timers and the
   * clock's virtual timers in time order, settling after each.
   */
  async advanceTo(target) {
    const clock = this.clock;
    for (let guard = 0; guard < 100000; guard++) {
      const core = this.broker.nextTimeout() ?? Infinity;
      const next = Math.min(core, clock.nextTimer());
      if (next > target) break;
      if (core <= clock.nextTimer()) {
        clock.now = Math.max(clock.now, core);
        this.broker.tick(clock.now);
        this.drain();
      } else {
        const t = clock.takeDue(target);
        if (t) { try { t.fn(); } catch (e) { console.error(e); } }
      }
      await this.settle();
    }
    clock.now = Math.max(clock.now, target);
    this.broker.tick(clock.now);
    this.drain();
    await this.settle();
    clock.changed();
  }

  /** Closes every socket (the broker is being replaced). */
  closeAll() {
    for (const [id, s] of [...this.sockets]) {
      this.sockets.delete(id);
      try { this.broker.disconnect(id, this.clock.now); } catch { /* gone */ }
      queueMicrotask(() => s._closed(1006, 'playground reset', false));
    }
    this.pending = [];
  }
}

/**
 * Makes `new WebSocket('tab://…')` give a TabSocket on `network` (other
 * URLs still reach the real WebSocket), so client code written for a
 * broker's WebSocket endpoint needs only its URL changed. Returns a
 * function that restores the original.
 */
export function installTabWebSocket(network, scope = globalThis) {
  const Native = scope.WebSocket;
  const current = typeof network === 'function' ? network : () => network;
  function WebSocket(url, protocols) {
    if (/^tab:/i.test(String(url))) return current().socket(url);
    if (!Native) throw new Error('no WebSocket in this environment');
    return protocols === undefined ? new Native(url) : new Native(url, protocols);
  }
  Object.assign(WebSocket, { CONNECTING, OPEN, CLOSING, CLOSED });
  if (Native) WebSocket.prototype = Native.prototype;
  scope.WebSocket = WebSocket;
  return () => { scope.WebSocket = Native; };
}
