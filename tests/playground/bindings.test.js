// The wasm bindings and the in-tab transport in Node: the same www/pkg
// (--target web) the page loads, driven by the vendored
// @cloudamqp/amqp-client through TabSocket.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadPkg, importWww, WWW, ROOT } from './helpers.js';

const pkg = await loadPkg();
const { VirtualClock } = await importWww('js/playground/clock.js');
const { TabNetwork, installTabWebSocket } = await importWww('js/playground/tab-socket.js');
const { AMQPWebSocketClient } = await importWww('vendor/amqp-client/amqp-websocket-client.mjs');

function network() {
  const clock = new VirtualClock({ start: 1_000_000 });
  const broker = new pkg.TabBroker(clock.now, 42);
  return new TabNetwork(broker, clock, { FrameDecoder: pkg.FrameDecoder });
}

test('the wasm module imports nothing but wasm-bindgen glue', async () => {
  const mod = await WebAssembly.compile(readFileSync(path.join(WWW, 'pkg/web_bg.wasm')));
  const modules = new Set(WebAssembly.Module.imports(mod).map((i) => i.module));
  assert.deepEqual([...modules], ['./web_bg.js']);
  const names = WebAssembly.Module.imports(mod).map((i) => i.name);
  assert.ok(names.every((n) => n.startsWith('__wbg') || n.startsWith('__wbindgen')), names.join(' '));
});

test('the vendored amqp-client is the npm package, unmodified, with its license', () => {
  const npm = path.join(ROOT, 'tests/playground/node_modules/@cloudamqp/amqp-client');
  for (const f of ['dist/amqp-websocket-client.mjs', 'LICENSE']) {
    const vendored = readFileSync(path.join(WWW, 'vendor/amqp-client', path.basename(f)));
    assert.ok(vendored.equals(readFileSync(path.join(npm, f))), f);
  }
});

test('management operations, snapshots and AMQP errors', () => {
  const b = new pkg.TabBroker(0, 1);
  b.execute({ op: 'exchange.declare', name: 'logs', type: 'fanout' });
  const r = b.execute({ op: 'queue.declare', name: 'q', arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
  assert.equal(r.method, 'queue.declare-ok');
  b.execute({ op: 'bind', source: 'logs', destination: 'q' });
  assert.throws(() => b.execute({ op: 'queue.declare', name: 'q' }), /PRECONDITION_FAILED/);
  assert.throws(() => b.execute({ op: 'exchange.declare', name: 'x', type: 'nope' }), /COMMAND_INVALID|invalid/i);
  for (let i = 0; i < 3; i++) b.publish('logs', '', new TextEncoder().encode(`m${i}`), { headers: { n: i } });
  const s = b.snapshot();
  const q = s.queues.find((q) => q.name === 'q');
  assert.equal(q.messages_ready, 2, 'max-length with reject-publish keeps two');
  assert.deepEqual(q.arguments, { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
  assert.equal(s.overview.message_stats.publish, 3);
  const got = b.get('q', 5, 'ack_requeue_false');
  assert.deepEqual(got.map((m) => m.payload), ['m0', 'm1']);
  assert.deepEqual(got[0].properties.headers, { n: 0 });
  b.free();
});

test('trace events follow the virtual clock: TTL expiry dead-letters', () => {
  const b = new pkg.TabBroker(0, 1);
  b.setTracing('all');
  b.execute({ op: 'queue.declare', name: 'dlq' });
  b.execute({ op: 'queue.declare', name: 'work', arguments: { 'x-message-ttl': 5000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'dlq' } });
  b.publish('', 'work', new Uint8Array([1]), {});
  b.tick(4999);
  assert.deepEqual(b.pollTrace(100).map((e) => e.event), ['published', 'routed', 'enqueued']);
  b.tick(5001);
  const ev = b.pollTrace(100);
  assert.deepEqual(ev.map((e) => e.event), ['expired', 'dead_lettered', 'published', 'routed', 'enqueued']);
  assert.equal(ev[1].reason, 'expired');
  assert.equal(ev[1].new_message, ev[2].message);
  b.free();
});

test('@cloudamqp/amqp-client runs unmodified against the tab broker via tab:// URLs', async () => {
  const net = network();
  const frames = [];
  net.tap = (id, dir, fs) => frames.push(...fs.map((f) => ({ dir, ...f })));
  const restore = installTabWebSocket(net);
  try {
    const amqp = new AMQPWebSocketClient('tab://playground/script');
    const conn = await amqp.connect();
    const ch = await conn.channel();
    await ch.queueDeclare('hello', { durable: false, autoDelete: false, exclusive: false });
    const got = [];
    await ch.basicConsume('hello', { noAck: false }, async (msg) => { got.push(msg.bodyToString()); await msg.ack(); });
    await ch.basicPublish('', 'hello', 'Hello World!', { contentType: 'text/plain' });
    await ch.basicPublish('', 'hello', 'second');
    const acked = () => net.broker.snapshot().queues.find((x) => x.name === 'hello').message_stats.ack;
    for (let i = 0; i < 100 && (got.length < 2 || acked() < 2); i++) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, ['Hello World!', 'second']);
    const snap = net.broker.snapshot();
    assert.equal(snap.connections.length, 1);
    assert.equal(snap.connections[0].name, 'tab:playground/script');
    assert.equal(snap.queues.find((x) => x.name === 'hello').message_stats.ack, 2);
    await conn.close();
    for (let i = 0; i < 20 && net.broker.snapshot().connections.length; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(net.broker.snapshot().connections.length, 0, 'closed cleanly');
    const names = frames.map((f) => `${f.dir} ${f.kind === 'method' ? f.name : f.kind}`);
    assert.equal(names[0], 'in protocol-header');
    assert.ok(names.includes('out connection.start'));
    assert.ok(names.includes('in basic.publish') && names.includes('in header') && names.includes('out basic.deliver'));
    assert.ok(names.includes('out connection.close-ok'));
    const body = frames.find((f) => f.kind === 'body' && f.dir === 'out');
    assert.equal(body.preview, 'Hello World!');
  } finally {
    restore();
  }
});

test('virtual timers and the core timers run in time order', async () => {
  const net = network();
  const b = net.broker;
  b.setTracing('all');
  b.execute({ op: 'queue.declare', name: 'q', arguments: { 'x-message-ttl': 1000 } });
  const seen = [];
  net.clock.setTimeout(() => seen.push(['timer', net.clock.now - 1_000_000, b.snapshot().queues[0].messages_ready]), 500);
  net.clock.setTimeout(() => seen.push(['timer', net.clock.now - 1_000_000, b.snapshot().queues[0].messages_ready]), 1500);
  b.publish('', 'q', new Uint8Array([1]), {});
  await net.advanceTo(net.clock.now + 2000);
  assert.deepEqual(seen, [['timer', 500, 1], ['timer', 1500, 0]]);
  assert.equal(net.clock.now, 1_002_000);
});
