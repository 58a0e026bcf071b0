// The dashboard's data layer in plain Node (no browser): the API client,
// rate computation, the polling store and the topology layout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Api, ApiError, path } from '../../www/js/api.js';
import { rateOf, RateHistory } from '../../www/js/rates.js';
import { Store } from '../../www/js/store.js';
import { layout } from '../../www/js/views/topology.js';
import { niceMax } from '../../www/js/views/chart.js';

function fakeFetch(responses) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, ...init });
    const [status, body] = responses.shift() ?? [200, '[]'];
    return { ok: status < 300, status, statusText: '', text: async () => body };
  };
  return { fetch, calls };
}

test('api: paths are percent-encoded, auth is basic, errors carry RabbitMQ reasons', async () => {
  assert.equal(path('/', 'a/b c'), '%2F/a%2Fb%20c');
  const { fetch, calls } = fakeFetch([
    [200, '{"routed":true}'],
    [404, '{"error":"not_found","reason":"NOT_FOUND - no queue \'x\' in vhost \'/\'"}'],
    [204, ''],
  ]);
  const api = new Api({ user: 'gü', password: 'p:w', base: 'http://h/api', fetch });
  assert.deepEqual(await api.publish('/', '', { routing_key: 'q', payload: 'x' }), { routed: true });
  assert.equal(calls[0].url, 'http://h/api/exchanges/%2F/amq.default/publish');
  assert.equal(calls[0].method, 'POST');
  assert.equal(calls[0].headers.authorization, `Basic ${Buffer.from('gü:p:w').toString('base64')}`);
  assert.equal(calls[0].credentials, 'omit');
  assert.deepEqual(JSON.parse(calls[0].body), { routing_key: 'q', payload: 'x', payload_encoding: 'string', properties: {} });
  const err = await api.queue('/', 'x').catch((e) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 404);
  assert.match(err.message, /NOT_FOUND - no queue/);
  assert.equal(await api.unbind({ vhost: '/', source: 'x', destination: 'q', destination_type: 'queue', properties_key: 'a.%23' }), null);
  assert.equal(calls[2].url, 'http://h/api/bindings/%2F/e/x/q/q/a.%23');
  assert.equal(calls[2].method, 'DELETE');
});

test('api: alarms come from the alarms health check, whose 503 lists them', async () => {
  const alarms = [{ node: 'warren@localhost', resource: 'disk space' }];
  const { fetch, calls } = fakeFetch([
    [200, '{"status":"ok"}'],
    [503, JSON.stringify({ status: 'failed', reason: 'There are alarms in effect in the cluster', alarms })],
    [503, '{"status":"failed","reason":"The broker did not answer within 5000 ms"}'],
  ]);
  const api = new Api({ user: 'guest', password: 'guest', base: 'http://h/api', fetch });
  assert.deepEqual(await api.alarms(), []);
  assert.equal(calls[0].url, 'http://h/api/health/checks/alarms');
  assert.deepEqual(await api.alarms(), alarms);
  // A failure that lists no alarms is an error, not "no alarm".
  const err = await api.alarms().catch((e) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 503);
  assert.match(err.message, /did not answer/);
});

test('rates: the API rate when given, else counter deltas; never negative', () => {
  assert.equal(rateOf({ publish: 10, publish_details: { rate: 2.5 } }, 'publish'), 2.5);
  const prev = { t: 1000, stats: { ack: 10 } };
  assert.equal(rateOf({ ack: 30 }, 'ack', prev, 3000), 10);
  assert.equal(rateOf({ ack: 5 }, 'ack', prev, 3000), 0, 'a counter reset');
  assert.equal(rateOf({}, 'ack', prev, 3000), 0);
  const h = new RateHistory(['publish'], 3);
  for (let i = 0; i < 5; i++) h.push(i * 1000, { publish: i * 4 });
  assert.deepEqual(h.series('publish').map((p) => p.v), [4, 4, 4]);
  h.push(5000, []); // RabbitMQ's empty message_stats
  assert.equal(h.latest('publish'), 0);
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(7), 10);
  assert.equal(niceMax(120), 200);
});

test('store: polls tracked resources, keeps history, reports errors, untracks', async () => {
  let n = 0;
  const source = {
    overview: async () => ({ message_stats: { publish: (n += 10), publish_details: { rate: n } } }),
    list: async (kind) => {
      if (kind === 'channels') throw new ApiError(401, 'not_authorized', 'Login failed');
      return [{ kind }];
    },
  };
  let t = 0;
  const store = new Store(source, { now: () => (t += 1000) });
  const untrack = store.track('queues', (s) => s.list('queues'));
  const updates = [];
  const errors = [];
  store.subscribe((s) => updates.push(s.data('queues')));
  store.onError((e) => errors.push(e.status));
  await store.refresh();
  await store.refresh();
  assert.deepEqual(updates, [[{ kind: 'queues' }], [{ kind: 'queues' }]]);
  assert.deepEqual(store.history.series('publish').map((p) => p.v), [10, 20]);
  store.track('channels', (s) => s.list('channels'));
  await store.refresh();
  assert.deepEqual(errors, [401]);
  assert.equal(store.entry('channels').error.status, 401);
  untrack();
  assert.equal(store.entry('queues'), undefined);
  store.stop();
});

test('topology layout: exchanges by e2e depth, queues last, default exchange hidden', () => {
  const exchanges = [
    { vhost: '/', name: '' }, { vhost: '/', name: 'amq.direct' }, { vhost: '/', name: 'in', type: 'topic' },
    { vhost: '/', name: 'mid', type: 'fanout' }, { vhost: 'other', name: 'in' },
  ];
  const queues = [{ vhost: '/', name: 'q1', messages: 3 }, { vhost: '/', name: 'q2' }];
  const bindings = [
    { vhost: '/', source: '', destination: 'q1', destination_type: 'queue', routing_key: 'q1', arguments: {} },
    { vhost: '/', source: 'in', destination: 'mid', destination_type: 'exchange', routing_key: 'a.*', arguments: {} },
    { vhost: '/', source: 'mid', destination: 'q2', destination_type: 'queue', routing_key: '', arguments: {} },
    { vhost: '/', source: 'in', destination: 'q1', destination_type: 'queue', routing_key: 'k1', arguments: {} },
    { vhost: '/', source: 'in', destination: 'q1', destination_type: 'queue', routing_key: 'k2', arguments: {} },
  ];
  const g = layout({ exchanges, queues, bindings }, { vhost: '/' });
  const col = Object.fromEntries(g.nodes.map((n) => [`${n.kind}:${n.name}`, n.col]));
  assert.deepEqual(col, { 'exchange:in': 0, 'exchange:mid': 1, 'queue:q1': 2, 'queue:q2': 2 });
  const labels = Object.fromEntries(g.edges.map((e) => [`${e.source}>${e.destination}`, e.labels]));
  assert.deepEqual(labels, { 'in>mid': ['a.*'], 'mid>q2': [], 'in>q1': ['k1', 'k2'] });
  const withDefault = layout({ exchanges, queues, bindings }, { vhost: '/', showDefault: true, showUnused: true });
  assert.equal(withDefault.edges.length, 4);
  assert.ok(withDefault.nodes.some((n) => n.name === 'amq.direct'));
});
