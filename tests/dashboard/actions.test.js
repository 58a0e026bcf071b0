// Operating the broker from the dashboard: publish and get (all four ack
// modes), browse without consuming, purge, delete, the declare forms, an
// exchange's publish and bindings, and definitions export/import.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup, loggedIn, shot, go, objectHash, eventually, tag, ARTIFACTS } from './helpers.js';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.stop(); });

async function ready(name) {
  return (await env.api.queue(name)).messages_ready;
}

/** Queue counters may lag a moment behind (RabbitMQ emits them periodically). */
async function readyBecomes(name, n) {
  await eventually(async () => (await ready(name)) === n, 15000, `${n} ready in ${name}`);
}

/** Publishes `payload` with the queue page's form and waits for the result. */
async function publishFromUi(page, payload) {
  await page.fill('form[data-form="publish"] textarea[name=payload]', payload);
  await page.click('form[data-form="publish"] button[type=submit]');
  await page.waitForFunction(() => document.querySelector('form[data-form="publish"] output').textContent !== '');
  return page.textContent('form[data-form="publish"] output');
}

async function getFromUi(page, ackmode) {
  await page.selectOption('form[data-form="get"] select[name=ackmode]', ackmode);
  await page.evaluate(() => document.querySelector('[data-messages="get"]').replaceChildren());
  await page.click('form[data-form="get"] button[type=submit]');
  await page.waitForSelector('[data-messages="get"] > *');
  return page.$$eval('[data-messages="get"] .message', (ms) => ms.map((m) => ({
    payload: m.querySelector('.payload').textContent,
    text: m.textContent,
  })));
}

test('publish from the queue page, then get it back with each ack mode', async () => {
  const { page, context, log } = await loggedIn(env);
  const name = `dash-pubget-${tag()}`;
  try {
    await env.api.declareQueue(name);
    await go(page, objectHash('queues', name));
    await page.waitForSelector(`.view.queue[data-queue="${name}"]`);
    assert.equal(await publishFromUi(page, 'hello from the dashboard'), 'Message published.');
    await readyBecomes(name, 1);

    // Nack with requeue: the message stays, and comes back redelivered.
    let got = await getFromUi(page, 'ack_requeue_true');
    assert.equal(got.length, 1);
    assert.equal(got[0].payload, 'hello from the dashboard');
    assert.match(got[0].text, /Redelivered\s*false/);
    await readyBecomes(name, 1);
    // Reject with requeue: still there.
    got = await getFromUi(page, 'reject_requeue_true');
    assert.match(got[0].text, /Redelivered\s*true/);
    await readyBecomes(name, 1);
    await shot(page, 'queue-get');
    // Reject without requeue: gone.
    got = await getFromUi(page, 'reject_requeue_false');
    assert.equal(got[0].payload, 'hello from the dashboard');
    await readyBecomes(name, 0);
    // Automatic ack: a second message is taken for good.
    await publishFromUi(page, 'second');
    got = await getFromUi(page, 'ack_requeue_false');
    assert.equal(got[0].payload, 'second');
    await readyBecomes(name, 0);
    // An empty queue says so.
    got = await getFromUi(page, 'ack_requeue_false');
    assert.equal(got.length, 0);
    assert.match(await page.textContent('[data-messages="get"]'), /Queue is empty/);
    // The details panel follows (polled).
    await eventually(async () => (await page.textContent('.view.queue dd[data-field="total"]')) === '0', 10000, 'total 0');
  } finally {
    await env.api.deleteQueue(name).catch(() => {});
    await context.close();
  }
  assert.ok(!log.some((l) => l.startsWith('pageerror')), log.join('\n'));
});

test('browse shows ready messages without consuming them', async (t) => {
  const { page, context } = await loggedIn(env);
  const name = `dash-browse-${tag()}`;
  try {
    const o = await env.api('GET', 'overview');
    if (env.broker.external && o.product_name === 'RabbitMQ') return t.skip('browse is a Warren extension');
    await env.api.declareQueue(name);
    for (const p of ['first', 'second', 'third']) await env.api.publish('', name, p);
    await go(page, objectHash('queues', name));
    await page.fill('form[data-form="browse"] input[name=count]', '2');
    await page.click('form[data-form="browse"] button[type=submit]');
    await page.waitForSelector('[data-messages="browse"] .message');
    const payloads = await page.$$eval('[data-messages="browse"] .payload', (ps) => ps.map((p) => p.textContent));
    assert.deepEqual(payloads, ['first', 'second']);
    await readyBecomes(name, 3);
    await shot(page, 'queue-browse');
  } finally {
    await env.api.deleteQueue(name).catch(() => {});
    await context.close();
  }
});

test('tracing a live queue shows each message\'s route and fate', async (t) => {
  const { page, context } = await loggedIn(env);
  const name = `dash-trace-${tag()}`;
  try {
    const o = await env.api('GET', 'overview');
    if (env.broker.external && o.product_name === 'RabbitMQ') return t.skip('tracing is a Warren extension');
    await env.api.declareQueue(name);
    await go(page, objectHash('queues', name));
    await page.click('button[data-action="trace-start"]');
    await page.waitForFunction(() => document.querySelector('.trace .muted + div span, .trace span')?.textContent === 'on');
    await env.api.publish('', name, 'traced');
    await page.waitForSelector('.trace tr[data-event="enqueued"]', { timeout: 15000 });
    const text = await page.textContent('.trace tbody');
    assert.match(text, /published to '' with key 'dash-trace-/);
    assert.match(text, /routed by the default exchange to queue 'dash-trace-/);
    await page.click('button[data-action="trace-stop"]');
    await shot(page, 'queue-trace');
  } finally {
    await env.api.deleteQueue(name).catch(() => {});
    await context.close();
  }
});

test('purge and delete a queue from its page', async () => {
  const { page, context, dialogs } = await loggedIn(env);
  const name = `dash-purge-${tag()}`;
  try {
    await env.api.declareQueue(name);
    for (let i = 0; i < 4; i++) await env.api.publish('', name, `m${i}`);
    await go(page, objectHash('queues', name));
    await page.waitForSelector(`.view.queue[data-queue="${name}"]`);
    await readyBecomes(name, 4);
    await page.click('[data-action="purge"]');
    await page.waitForSelector('.toast');
    assert.equal(await page.textContent('.toast'), 'Queue purged');
    await readyBecomes(name, 0);
    await page.click('[data-action="delete"]');
    await page.waitForSelector('.view.list-queues');
    await eventually(async () => env.api.queue(name).then(() => false, (e) => /404/.test(e.message)), 10000, 'queue gone');
    assert.deepEqual(dialogs.map((d) => d.type), ['confirm', 'confirm']);
  } finally {
    await env.api.deleteQueue(name).catch(() => {});
    await context.close();
  }
});

test('declare a queue with arguments, an exchange and a binding through the forms', async () => {
  const { page, context } = await loggedIn(env);
  const t = tag();
  const q = `dash-form-q-${t}`;
  const x = `dash-form-x-${t}`;
  try {
    await go(page, '#/queues');
    const f = 'form[data-form="queue"]';
    await page.fill(`${f} input[name=name]`, q);
    await page.selectOption(`${f} select[name=durable]`, 'false');
    await page.fill(`${f} input[name="x-message-ttl"]`, '60000');
    await page.fill(`${f} input[name="x-max-length"]`, '10');
    await page.selectOption(`${f} select[name="x-overflow"]`, 'reject-publish');
    await page.fill(`${f} input[name="x-dead-letter-exchange"]`, 'dlx');
    await page.fill(`${f} input[name="x-dead-letter-routing-key"]`, 'dead');
    await page.fill(`${f} input[name="x-max-priority"]`, '5');
    await page.check(`${f} input[name="x-single-active-consumer"]`);
    await page.fill(`${f} [data-args="queue"] .arg-key`, 'x-custom');
    await page.fill(`${f} [data-args="queue"] .arg-value`, '42');
    await page.selectOption(`${f} [data-args="queue"] .arg-type`, 'number');
    await shot(page, 'declare-queue-form');
    await page.click(`${f} button[type=submit]`);
    await page.locator('[data-table="queues"] a.name', { hasText: q }).waitFor({ timeout: 15000 });
    const declared = await env.api.queue(q);
    assert.equal(declared.durable, false);
    assert.deepEqual(declared.arguments, {
      'x-custom': 42, 'x-message-ttl': 60000, 'x-max-length': 10, 'x-overflow': 'reject-publish',
      'x-dead-letter-exchange': 'dlx', 'x-dead-letter-routing-key': 'dead', 'x-max-priority': 5, 'x-single-active-consumer': true,
    });

    await go(page, '#/exchanges');
    await page.fill('form[data-form="exchange"] input[name=name]', x);
    await page.selectOption('form[data-form="exchange"] select[name=type]', 'headers');
    await page.click('form[data-form="exchange"] button[type=submit]');
    await page.locator('[data-table="exchanges"] a.name', { hasText: x }).click({ timeout: 15000 });
    await page.waitForSelector(`.view.exchange[data-exchange="${x}"]`);
    // A headers binding from the exchange page: x-match plus a header value.
    const b = 'form[data-form="binding"]';
    await page.fill(`${b} input[name=destination]`, q);
    await page.fill(`${b} [data-args="binding"] .arg-key`, 'x-match');
    await page.fill(`${b} [data-args="binding"] .arg-value`, 'all');
    await page.click(`${b} [data-args="binding"] button.link:has-text("add")`);
    await page.locator(`${b} [data-args="binding"] .arg-key`).nth(1).fill('kind');
    await page.locator(`${b} [data-args="binding"] .arg-value`).nth(1).fill('invoice');
    await page.click(`${b} button[type=submit]`);
    await page.locator('[data-table="exchange-source"] tbody tr', { hasText: 'kind: invoice' }).waitFor({ timeout: 15000 });
    const bindings = await env.api('GET', `exchanges/%2F/${x}/bindings/source`);
    assert.deepEqual(bindings.map((bb) => [bb.destination, bb.arguments]), [[q, { 'x-match': 'all', kind: 'invoice' }]]);

    // Publish through the exchange page: routed by header to the queue.
    await page.fill('form[data-form="publish"] input[name=routing_key]', 'ignored');
    await page.click('form[data-form="publish"] summary');
    await page.fill('form[data-form="publish"] [data-args="headers"] .arg-key', 'kind');
    await page.fill('form[data-form="publish"] [data-args="headers"] .arg-value', 'invoice');
    await page.fill('form[data-form="publish"] textarea[name=payload]', 'by header');
    await page.click('form[data-form="publish"] button[type=submit]');
    await page.waitForFunction(() => document.querySelector('form[data-form="publish"] output').textContent === 'Message published.');
    await readyBecomes(q, 1);
    await shot(page, 'exchange-page');

    // Unbind from the table.
    await page.click('[data-table="exchange-source"] button:has-text("Unbind")');
    await eventually(async () => (await env.api('GET', `exchanges/%2F/${x}/bindings/source`)).length === 0, 10000, 'binding removed');
  } finally {
    await env.api.deleteQueue(q).catch(() => {});
    await env.api('DELETE', `exchanges/%2F/${x}`).catch(() => {});
    await context.close();
  }
});

test('definitions: export downloads JSON, import uploads it', async () => {
  const { page, context } = await loggedIn(env);
  const t = tag();
  const kept = `dash-defs-kept-${t}`;
  const imported = `dash-defs-imported-${t}`;
  try {
    await env.api.declareQueue(kept, { durable: true });
    await go(page, '#/definitions');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action="export"]')]);
    assert.match(download.suggestedFilename(), /^warren-definitions-.*\.json$/);
    const file = join(ARTIFACTS, 'exported-definitions.json');
    await download.saveAs(file);
    const defs = JSON.parse(readFileSync(file, 'utf8'));
    assert.ok(defs.queues.some((q) => q.name === kept), 'the export lists the durable queue');

    const upload = join(ARTIFACTS, 'import-definitions.json');
    writeFileSync(upload, JSON.stringify({
      queues: [{ name: imported, vhost: '/', durable: true, auto_delete: false, arguments: { 'x-max-length': 3 } }],
    }));
    await page.setInputFiles('form[data-form="import"] input[type=file]', upload);
    await page.click('form[data-form="import"] button[type=submit]');
    await page.waitForFunction(() => /Imported/.test(document.querySelector('form[data-form="import"] output').textContent));
    const q = await env.api.queue(imported);
    assert.deepEqual(q.arguments, { 'x-max-length': 3 });
    await shot(page, 'definitions');
  } finally {
    await env.api.deleteQueue(kept).catch(() => {});
    await env.api.deleteQueue(imported).catch(() => {});
    await context.close();
  }
});
