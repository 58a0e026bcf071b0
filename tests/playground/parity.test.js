// The playground shows exactly what the management API returns. The same
// objects are made in a started warren (over its HTTP API, and one client
// over AMQP) and in a tab broker (the wasm bindings, driven as the
// playground drives them); then the gateway's `GET /api/...` answers are
// compared with the bindings' snapshot, get and browse. Both come from
// broker_core::management::json, so they must be equal; only what differs by
// nature is set aside: rates (each broker's own clock), the listeners (a tab
// has none), and of the client connection its addresses, times, octet
// counts, heartbeat and transport. The same holds for the definitions
// export and import (broker_core::management::definitions), but for the
// users' password hashes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { loadPkg, importWww, startWarren } from './helpers.js';

const pkg = await loadPkg();
const { VirtualClock } = await importWww('js/playground/clock.js');
const { TabNetwork, installTabWebSocket } = await importWww('js/playground/tab-socket.js');
const { AMQPWebSocketClient } = await importWww('vendor/amqp-client/amqp-websocket-client.mjs');

const AUTH = 'Basic ' + Buffer.from('guest:guest').toString('base64');

async function call(warren, method, rel, body) {
  const r = await fetch(`${warren.http}api/${rel}`, {
    method,
    headers: { authorization: AUTH, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} /api/${rel}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Rates are per second of each broker's own clock: compared as 0. */
function noRates(v) {
  if (Array.isArray(v)) return v.map(noRates);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k.endsWith('_details') ? { rate: 0 } : noRates(x)]));
  }
  return v;
}

/** `v` without the fields at these dotted paths. */
function without(v, paths) {
  const out = structuredClone(v);
  for (const p of paths) {
    const keys = p.split('.');
    const last = keys.pop();
    const parent = keys.reduce((o, k) => o?.[k], out);
    if (parent) delete parent[last];
  }
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, f) {
  for (let i = 0; i < 200; i++) {
    if (await f()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const X_ARGS = { 'alternate-exchange': 'amq.fanout' };
const Q_ARGS = { 'x-max-length': 10, 'x-queue-type': 'classic' };
const B_ARGS = { 'x-n': 1, 'x-s': 'text' };
const RICH = {
  content_type: 'text/plain', content_encoding: 'utf-8', delivery_mode: 2, priority: 3, correlation_id: 'c-1', reply_to: 'r',
  expiration: '600000', message_id: 'm-1', timestamp: 1700000000, type: 'kind', user_id: 'guest', app_id: 'parity',
  headers: { n: 1, s: 'x', f: 1.5, b: true, nested: { a: [1, 'two'] } },
};
const MESSAGES = [
  { properties: {}, payload: 'hello' },
  { properties: RICH, payload: 'rich' },
  { properties: { headers: { k: 'v' } }, bytes: [0xff, 0x00, 0x41] },
];

test('the bindings show queues, exchanges, bindings, messages, connections, channels, consumers, the overview and the definitions as the API does, and import definitions as it does', async () => {
  const warren = await startWarren();
  const clock = new VirtualClock({ start: 1_000_000 });
  const net = new TabNetwork(new pkg.TabBroker(clock.now, 42), clock, { FrameDecoder: pkg.FrameDecoder });
  const tab = net.broker;
  const restore = installTabWebSocket(net);
  const clients = [];
  try {
    // The same objects in both.
    await call(warren, 'PUT', 'exchanges/%2F/px', { type: 'topic', durable: true, arguments: X_ARGS });
    tab.execute({ op: 'exchange.declare', name: 'px', type: 'topic', durable: true, arguments: X_ARGS });
    for (const [name, args] of [['pq', Q_ARGS], ['pc', {}]]) {
      await call(warren, 'PUT', `queues/%2F/${name}`, { durable: true, arguments: args });
      tab.execute({ op: 'queue.declare', name, durable: true, arguments: args });
    }
    await call(warren, 'POST', 'bindings/%2F/e/px/q/pq', { routing_key: 'a.*', arguments: B_ARGS });
    tab.execute({ op: 'bind', source: 'px', destination: 'pq', destination_type: 'queue', routing_key: 'a.*', arguments: B_ARGS });
    await call(warren, 'POST', 'bindings/%2F/e/px/e/amq.direct', { routing_key: 'x.#' });
    tab.execute({ op: 'bind', source: 'px', destination: 'amq.direct', destination_type: 'exchange', routing_key: 'x.#' });
    for (const m of MESSAGES) {
      const body = m.bytes ? Buffer.from(m.bytes).toString('base64') : m.payload;
      const r = await call(warren, 'POST', 'exchanges/%2F/px/publish',
        { routing_key: 'a.b', properties: m.properties, payload: body, payload_encoding: m.bytes ? 'base64' : 'string' });
      assert.deepEqual(r, { routed: true });
      assert.equal(tab.publish('px', 'a.b', m.bytes ? new Uint8Array(m.bytes) : new TextEncoder().encode(m.payload), m.properties), true);
    }
    // One client each, consuming from pc: the same client library, over TCP
    // to warren and over the in-tab transport to the tab.
    const live = new AMQPClient(`amqp://guest:guest@${warren.amqp}/%2F?name=parity`);
    const inTab = new AMQPWebSocketClient({ url: 'tab://playground/parity', name: 'parity' });
    for (const client of [live, inTab]) {
      const conn = await client.connect();
      clients.push(conn);
      const ch = await conn.channel();
      await ch.prefetch(5);
      await ch.basicConsume('pc', { tag: 'pc-consumer', noAck: false, args: { 'x-priority': 3 } }, () => {});
    }
    await until('the consumers', async () => (await call(warren, 'GET', 'consumers')).length === 1 && tab.snapshot().consumers.length === 1);

    // Queues, exchanges and bindings of vhost `/`: every one, equal.
    let snap = tab.snapshot();
    assert.deepEqual(noRates(snap.queues), noRates(await call(warren, 'GET', 'queues/%2F')));
    assert.deepEqual(noRates(snap.exchanges), noRates(await call(warren, 'GET', 'exchanges/%2F')));
    assert.deepEqual(snap.bindings, await call(warren, 'GET', 'bindings/%2F'));
    assert.ok(snap.bindings.some((b) => b.source === 'px' && b.properties_key.startsWith('a.%2A~')), 'hashed properties keys');
    const pq = snap.queues.find((q) => q.name === 'pq');
    assert.equal(pq.messages_ready, 3);
    assert.ok(pq.message_stats.publish === 3 && snap.exchanges.find((x) => x.name === 'px').message_stats.publish_in === 3);

    // Messages: browse, get (requeued, so redelivered afterwards), browse again.
    const browse = () => call(warren, 'GET', 'queues/%2F/pq/browse?count=10');
    const first = await browse();
    assert.deepEqual(tab.browse('pq', 10), first);
    assert.deepEqual(first.map((m) => [m.payload_encoding, m.properties]), [['string', []], ['string', RICH], ['base64', { headers: { k: 'v' } }]]);
    const got = await call(warren, 'POST', 'queues/%2F/pq/get', { count: 2, ackmode: 'reject_requeue_true', encoding: 'auto' });
    assert.deepEqual(tab.get('pq', 2, 'reject_requeue_true'), got);
    assert.deepEqual(tab.browse('pq', 10), await browse());
    assert.throws(() => tab.get('pq', 1, 'nack'), /unsupported_ackmode/);
    await assert.rejects(call(warren, 'POST', 'queues/%2F/pq/get', { count: 1, ackmode: 'nack', encoding: 'auto' }), /unsupported_ackmode/);
    assert.throws(() => tab.publish('px', 'a.b', new Uint8Array([1]), { delivery_mode: 300 }), /not_int/);
    await assert.rejects(call(warren, 'POST', 'exchanges/%2F/px/publish',
      { routing_key: 'a.b', properties: { delivery_mode: 300 }, payload: 'x', payload_encoding: 'string' }), /not_int/);

    // The overview, consumers, channels and the connection.
    snap = tab.snapshot();
    const overview = await call(warren, 'GET', 'overview');
    assert.ok(overview.listeners.length > 0 && snap.overview.listeners.length === 0);
    assert.deepEqual(noRates(without(snap.overview, ['listeners'])), noRates(without(overview, ['listeners'])));
    const perClient = ['channel_details.connection_name', 'channel_details.name', 'channel_details.peer_host', 'channel_details.peer_port'];
    const consumers = await call(warren, 'GET', 'consumers');
    assert.deepEqual(snap.consumers.map((c) => without(c, perClient)), consumers.map((c) => without(c, perClient)));
    assert.equal(consumers[0].channel_details.user, 'guest');
    const channels = await call(warren, 'GET', 'channels');
    const ofChannel = ['name', 'connection_details'];
    assert.deepEqual(noRates(snap.channels.map((c) => without(c, ofChannel))), noRates(channels.map((c) => without(c, ofChannel))));
    const connections = await call(warren, 'GET', 'connections');
    const ofConnection = ['name', 'peer_host', 'peer_port', 'host', 'port', 'connected_at', 'recv_oct', 'send_oct', 'timeout', 'protocol', 'type'];
    assert.deepEqual(Object.keys(snap.connections[0]).sort(), Object.keys(connections[0]).sort());
    assert.deepEqual(noRates(without(snap.connections[0], ofConnection)), noRates(without(connections[0], ofConnection)));
    assert.equal(snap.connections[0].user_provided_name, 'parity');
    assert.deepEqual([snap.connections[0].type, connections[0].type], ['direct', 'network']);

    // Definitions (broker_core::management::definitions writes and reads
    // both): the export is the API's, but for the users' password hashes
    // (each broker salts its own).
    const noHashes = (d) => ({ ...d, users: d.users.map((u) => without(u, ['password_hash'])) });
    const exported = tab.definitions();
    assert.deepEqual(noHashes(exported), noHashes(await call(warren, 'GET', 'definitions')));
    assert.deepEqual(exported.users.map((u) => u.name), ['guest']);
    assert.deepEqual(exported.exchanges.map((x) => [x.name, x.type, x.arguments]), [['px', 'topic', X_ARGS]]);
    assert.deepEqual(exported.bindings.map((b) => [b.source, b.destination, b.routing_key]), [['px', 'amq.direct', 'x.#'], ['px', 'pq', 'a.*']]);
    // An import: refused with the API's reason, or taken with the bindings
    // the headers exchange refuses skipped, each with the line warren logs.
    const importReason = async (doc) => {
      const r = await fetch(`${warren.http}api/definitions`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify(doc) });
      if (r.ok) return null;
      assert.equal(r.status, 400);
      const { reason } = await r.json();
      return typeof reason === 'string' ? reason : JSON.stringify(reason);
    };
    const refused = [
      { queues: [{ name: 'pq2', vhost: 'nowhere', durable: true, auto_delete: false, arguments: {} }] },
      { exchanges: [{ name: 'bad', vhost: '/', type: 'no-such-type', durable: true, auto_delete: false, internal: false, arguments: {} }] },
      { bindings: [{ source: 'px', vhost: '/', destination: 'pq', destination_type: 'stream', routing_key: '', arguments: {} }] },
      { queues: [{ vhost: '/', durable: true }] },
      [],
    ];
    for (const doc of refused) {
      const reason = await importReason(doc);
      assert.ok(reason, `the API refuses ${JSON.stringify(doc)}`);
      assert.throws(() => tab.importDefinitions(doc), (e) => e.message === reason, `the tab refuses ${JSON.stringify(doc)} with ${reason}`);
    }
    const badMatch = {
      exchanges: [{ name: 'ph', vhost: '/', type: 'headers', durable: true, auto_delete: false, internal: false, arguments: {} }],
      bindings: [
        { source: 'ph', vhost: '/', destination: 'pq', destination_type: 'queue', routing_key: '', arguments: { 'x-match': 'foo', k: 'v' } },
        { source: 'ph', vhost: '/', destination: 'pc', destination_type: 'queue', routing_key: '', arguments: { 'x-match': 'any', k: 'v' } },
      ],
    };
    assert.equal(await importReason(badMatch), null);
    const skipped = tab.importDefinitions(badMatch);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0], /^binding skipped in vhost '\/': .*Invalid x-match field value <<"foo">>/);
    await until('warren logs the skipped binding', () => warren.stderr().includes(`definitions: ${skipped[0]}`));
    assert.deepEqual(noHashes(tab.definitions()), noHashes(await call(warren, 'GET', 'definitions')));
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    restore();
    await warren.stop();
  }
});
