// The playground in Debian's headless Chromium: served from www/ by a plain
// static file server (no gateway), and from a started warren (/playground)
// for the live-gateway run. Screenshots go to target/test-artifacts/playground/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, serveWww, startWarren, artifacts } from './helpers.js';

let browser, server;
const dir = artifacts();

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  server = await serveWww();
});
after(async () => { await browser?.close(); await server?.close(); });

/** Opens the playground paused, failing on console errors. */
async function open(url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 30000 });
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', errors.join('\n'));
  return { page, errors };
}
const pgUrl = (frag = '') => `${server.url}playground.html?paused${frag}`;

test('the playground loads from a static file server without console errors', async () => {
  const { page, errors } = await open(pgUrl());
  assert.equal(await page.locator('.pg-node').count(), 3, 'hello world: sender, queue, receiver');
  await page.evaluate(() => playground.advance(2000));
  assert.ok((await page.evaluate(() => playground.deliveries().length)) >= 1);
  await page.screenshot({ path: path.join(dir, 'hello.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

const EXPECT = {
  hello: (d) => d.some((x) => x.queue === 'hello' && x.consumer === 'receiver'),
  'work-queues': (d) => new Set(d.map((x) => x.consumer)).size === 2,
  pubsub: (d) => ['console', 'file'].every((c) => d.some((x) => x.consumer === c && x.message === d[0].message)),
  routing: (d) => d.some((x) => x.routing_key === 'error' && x.queue === 'errors') && !d.some((x) => x.routing_key === 'info' && x.queue === 'errors'),
  topics: (d) => {
    const qor = [...new Set(d.filter((x) => x.routing_key === 'quick.orange.rabbit').map((x) => x.queue))].sort();
    const lbf = [...new Set(d.filter((x) => x.routing_key === 'lazy.brown.fox').map((x) => x.queue))];
    return JSON.stringify(qor) === '["Q1","Q2"]' && JSON.stringify(lbf) === '["Q2"]' && !d.some((x) => x.routing_key === 'quick.brown.fox');
  },
  rpc: (d) => d.some((x) => x.queue === 'rpc_queue' && x.consumer === 'rpc_server') && d.some((x) => x.queue === 'rpc.replies' && x.consumer === 'rpc_client.replies'),
  'retry-dlx-ttl': (d) => d.some((x) => x.queue === 'work' && x.redelivered === false) && d.filter((x) => x.queue === 'work').length >= 2,
  priority: (d) => d.some((x) => x.consumer === 'slow worker'),
  sac: (d) => d.length > 2 && new Set(d.map((x) => x.consumer)).size === 1,
  'alternate-exchange': (d) => d.some((x) => x.routing_key === 'typo' && x.queue === 'unrouted') && d.some((x) => x.routing_key === 'order' && x.queue === 'orders'),
};

test('each preset delivers what the core routes', async () => {
  const { page, errors } = await open(pgUrl());
  const names = await page.evaluate(() => [...document.querySelectorAll('#pg-preset option')].map((o) => o.value).filter(Boolean));
  assert.deepEqual(names.sort(), Object.keys(EXPECT).sort());
  for (const name of names) {
    await page.evaluate((n) => playground.loadPreset(n), name);
    await page.evaluate(() => playground.advance(12000));
    const d = await page.evaluate(() => playground.deliveries());
    assert.ok(EXPECT[name](d), `${name}: ${JSON.stringify(d.slice(0, 12))}`);
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(dir, `preset-${name}.png`) });
  }
  // Priority: an urgent message overtakes the bulk ones waiting.
  await page.evaluate(() => playground.loadPreset('priority'));
  await page.evaluate(() => playground.advance(8000));
  const order = await page.evaluate(() => playground.deliveries().map((x) => playground.engine.tracker.messages.get(x.message)?.producer));
  const firstUrgent = order.indexOf('urgent');
  assert.ok(firstUrgent > 0 && firstUrgent < 6, `urgent delivered early: ${order.join(',')}`);
  // Single active consumer: the standby is shown waiting.
  await page.evaluate(() => playground.loadPreset('sac'));
  const sac = await page.evaluate(() => playground.snapshot().consumers.map((c) => [c.consumer_tag, c.active]));
  assert.deepEqual(sac.sort(), [['primary', true], ['standby', false]]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the virtual clock expires a TTL message into the dead-letter path; its why panel says so', async () => {
  const { page, errors } = await open(pgUrl('#preset=retry-dlx-ttl'));
  await page.evaluate(() => playground.advance(1000));
  // The worker rejected the first try: it waits in retry.wait with a TTL.
  const waiting = await page.evaluate(() => playground.snapshot().queues.find((q) => q.name === 'retry.wait').messages_ready);
  assert.equal(waiting, 1);
  await page.evaluate(() => playground.advance(4000));
  assert.equal(await page.evaluate(() => playground.messages().filter((m) => m.events.some((e) => e.event === 'expired')).length), 0, 'not yet');
  await page.evaluate(() => playground.advance(1500));
  const expired = await page.evaluate(() => playground.messages().find((m) => m.events.some((e) => e.event === 'expired')));
  assert.ok(expired, 'a message expired');
  const dl = expired.events.find((e) => e.event === 'dead_lettered');
  assert.equal(dl.reason, 'expired');
  assert.equal(dl.exchange, 'work');
  const enq = expired.events.find((e) => e.event === 'enqueued');
  assert.equal(dl.at - enq.at >= 5000, true);
  // Open the why panel from the Messages list.
  await page.click('[data-tab="messages"]');
  await page.click(`.pg-messages a[data-message="${expired.id}"]`);
  const why = page.locator('.pg-why');
  await why.waitFor();
  const text = await why.innerText();
  assert.match(text, /expires at t=/);
  assert.match(text, /Its TTL ran out in 'retry.wait'/);
  assert.match(text, /Dead-lettered from 'retry.wait' \(reason: expired\) to exchange 'work'/);
  await page.click('.pg-why a');
  assert.match(await page.locator('.pg-why').innerText(), /Dead-lettered copy of message|Continues as/);
  await page.screenshot({ path: path.join(dir, 'why-ttl.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a moving message can be clicked to open its why panel', async () => {
  const { page, errors } = await open(pgUrl('#preset=topics'));
  await page.evaluate(() => playground.advance(250));
  const dot = page.locator('circle.pg-msg').first();
  await dot.waitFor();
  await dot.dispatchEvent('click');
  const text = await page.locator('.pg-why').innerText();
  assert.match(text, /Published by emit_log_topic to exchange 'topic_logs' with routing key 'quick.orange.rabbit'/);
  assert.match(text, /binding key '\*\.orange\.\*' matched/);
  assert.match(text, /binding key '\*\.\*\.rabbit' matched/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('share by URL round-trips the topology and settings', async () => {
  const { page, errors } = await open(pgUrl('#preset=alternate-exchange'));
  // Edit through the form: a max-length on "orders".
  await page.locator('[data-node="queue:orders"]').click();
  await page.fill('form[data-kind="queue"] input[name="maxlen"]', '7');
  await page.click('form[data-kind="queue"] button[type="submit"]');
  await page.waitForFunction(() => playground.scenario().queues.find((q) => q.name === 'orders').arguments['x-max-length'] === 7);
  await page.click('[data-speed="10"]');
  const url = await page.evaluate(() => playground.shareUrl());
  const before = await page.evaluate(() => playground.scenario());
  const { page: other, errors: errors2 } = await open(url);
  const after = await other.evaluate(() => playground.scenario());
  assert.deepEqual(after.queues, before.queues);
  assert.deepEqual(after.exchanges, before.exchanges);
  assert.deepEqual(after.bindings, before.bindings);
  assert.equal(after.settings.speed, 10);
  const snap = await other.evaluate(() => playground.snapshot());
  assert.deepEqual(snap.queues.find((q) => q.name === 'orders').arguments, { 'x-max-length': 7 });
  assert.deepEqual([...errors, ...errors2], []);
  await page.close();
  await other.close();
});

test('definitions export and import', async () => {
  const { page, errors } = await open(pgUrl('#preset=routing'));
  await page.click('[data-tab="definitions"]');
  await page.click('#pg-export');
  const defs = JSON.parse(await page.inputValue('#pg-defs'));
  assert.deepEqual(defs.exchanges.map((x) => [x.name, x.type]), [['direct_logs', 'direct']]);
  assert.equal(defs.bindings.length, 4);
  defs.queues.push({ name: 'audit', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic' } });
  defs.bindings.push({ source: 'direct_logs', vhost: '/', destination: 'audit', destination_type: 'queue', routing_key: 'error', arguments: {} });
  await page.fill('#pg-defs', JSON.stringify(defs));
  await page.click('#pg-import');
  await page.waitForFunction(() => playground.snapshot()?.queues.some((q) => q.name === 'audit'));
  await page.evaluate(() => playground.advance(3000));
  const d = await page.evaluate(() => playground.deliveries());
  assert.ok(d.some((x) => x.routing_key === 'error' && x.queue === 'errors'), 'producers and consumers kept');
  // The core reads the document as POST /api/definitions does: a binding
  // the headers exchange refuses is skipped and logged with warren's line;
  // a document the API refuses is refused with the API's reason.
  const withHeaders = {
    ...defs,
    exchanges: [...defs.exchanges, { name: 'hx', vhost: '/', type: 'headers', durable: false, auto_delete: false, internal: false, arguments: {} }],
    bindings: [...defs.bindings, { source: 'hx', vhost: '/', destination: 'audit', destination_type: 'queue', routing_key: '', arguments: { 'x-match': 'foo' } }],
  };
  await page.fill('#pg-defs', JSON.stringify(withHeaders));
  await page.click('#pg-import');
  await page.waitForFunction(() => playground.scenario().exchanges.some((x) => x.name === 'hx'));
  assert.match(await page.textContent('#pg-log'), /import: binding skipped in vhost '\/': PRECONDITION_FAILED - Invalid x-match field value <<"foo">>/);
  assert.ok(!(await page.evaluate(() => playground.scenario().bindings.some((b) => b.source === 'hx'))), 'the skipped binding is left out');
  await page.fill('#pg-defs', JSON.stringify({ queues: [{ name: 'q', vhost: 'nowhere', durable: true, auto_delete: false, arguments: {} }] }));
  await page.click('#pg-import');
  await page.waitForFunction(() => document.querySelector('#pg-log').textContent.includes('import: ["no_such_vhost","nowhere"]'));
  assert.ok(await page.evaluate(() => playground.scenario().exchanges.some((x) => x.name === 'hx')), 'a refused document changes nothing');
  assert.deepEqual(errors, []);
  await page.close();
});

test('an amqp-client script runs in the tab through the in-tab transport; the frame inspector decodes it', async () => {
  const { page, errors } = await open(pgUrl());
  await page.click('[data-tab="script"]');
  await page.click('#pg-run');
  await page.waitForFunction(() => document.querySelector('#pg-code-out').textContent.includes('done'), null, { timeout: 10000 });
  const out = await page.textContent('#pg-code-out');
  assert.match(out, /received: hello from a script #1\nreceived: hello from a script #2\nreceived: hello from a script #3/);
  const traced = await page.evaluate(() => playground.deliveries().filter((d) => d.queue === 'script.demo').length);
  assert.equal(traced, 3, 'the core traced the script\'s deliveries');
  await page.click('[data-tab="frames"]');
  await page.selectOption('.pg-inspect-conn', { label: 'script' });
  await page.waitForFunction(() => document.querySelectorAll('.pg-frames tbody tr').length > 10);
  const rows = await page.$$eval('.pg-frames tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const names = rows.map((r) => `${r[1]} ${r[3]}`);
  assert.ok(names.includes('client → broker protocol-header'));
  assert.ok(names.includes('broker → client connection.start'));
  assert.ok(names.includes('client → broker basic.publish'));
  assert.ok(rows.some((r) => r[3] === 'basic.deliver' && r[4].includes('script.demo')));
  assert.ok(rows.some((r) => r[3] === 'body' && r[4].includes('hello from a script')));
  await page.screenshot({ path: path.join(dir, 'script-and-frames.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the same preset against a started warren over WebSocket; diff and apply definitions through its HTTP API', async () => {
  const warren = await startWarren();
  try {
    const { page, errors } = await open(`${warren.http}playground?paused#preset=topics`);
    await page.click('[data-tab="definitions"]');
    await page.fill('#pg-live-url', warren.http);
    // The diff against the gateway's definitions, then apply it.
    await page.click('#pg-live-diff');
    await page.waitForSelector('#pg-diff li');
    const diff = await page.$$eval('#pg-diff li', (lis) => lis.map((l) => l.textContent));
    assert.ok(diff.includes('+ exchange topic_logs') && diff.includes('+ queue Q1') && diff.some((d) => d.startsWith('+ binding topic_logs → Q2 [lazy.#]')), diff.join('\n'));
    await page.click('#pg-live-apply');
    await page.waitForFunction(() => [...document.querySelectorAll('#pg-diff li')].some((l) => l.textContent === 'No differences.'));
    const bindings = await warren.api('bindings/%2F');
    assert.ok(bindings.some((b) => b.source === 'topic_logs' && b.destination === 'Q1' && b.routing_key === '*.orange.*'));
    // The playground's export is now the gateway's GET /api/definitions,
    // but for the users' password hashes (each broker salts its own).
    const noHashes = (d) => ({ ...d, users: d.users.map(({ password_hash: _, ...u }) => u) });
    assert.deepEqual(noHashes(await page.evaluate(() => playground.definitions())), noHashes(await warren.api('definitions')));
    // Run the scenario's clients on the gateway.
    await page.selectOption('#pg-target', 'live');
    let q1, q2;
    for (let i = 0; i < 100; i++) {
      [q1, q2] = await Promise.all([warren.api('queues/%2F/Q1'), warren.api('queues/%2F/Q2')]);
      if ((q1.message_stats?.publish ?? 0) >= 3 && (q2.message_stats?.publish ?? 0) >= 3) break;
      await page.waitForTimeout(200);
    }
    assert.ok(q1.message_stats.publish >= 3 && q2.message_stats.publish >= 3, JSON.stringify([q1.message_stats, q2.message_stats]));
    const conns = await warren.api('connections');
    assert.ok(conns.length >= 3, 'producer and two consumers are connected over WebSocket');
    const consumers = await warren.api('consumers/%2F');
    assert.deepEqual(consumers.map((c) => c.consumer_tag).sort(), ['C1', 'C2']);
    await page.waitForTimeout(1200);
    await page.screenshot({ path: path.join(dir, 'live-gateway.png') });
    // Load from live brings the gateway's topology back.
    await page.evaluate(() => playground.load({ title: 'empty' }));
    await page.click('#pg-live-load');
    await page.waitForFunction(() => playground.scenario().bindings.length === 3);
    assert.deepEqual(errors.filter((e) => !/WebSocket/.test(e)), []);
    await page.close();
  } finally {
    await warren.stop();
  }
});
