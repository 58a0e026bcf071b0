// The dashboard in Debian's headless Chromium: login, live tables, the
// rate chart, escaping of hostile names, and the topology graph.
// Screenshots go to target/test-artifacts/dashboard/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setup, loggedIn, shot, go, objectHash, eventually, tag, USER, XSS } from './helpers.js';

const amqp = createRequire(import.meta.url)('amqplib');

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.stop(); });

test('log in: a wrong password is refused in the page, the right one shows the overview', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.type()); d.dismiss(); });
  try {
    await page.goto(`${env.broker.url}/`);
    await page.fill('input[name=username]', USER);
    await page.fill('input[name=password]', 'certainly-not-the-password');
    await page.click('form.login-form button[type=submit]');
    await page.waitForSelector('.login-form .error:not([hidden])');
    assert.match(await page.textContent('.login-form .error'), /Login failed/);
    await shot(page, 'login-failed');

    await page.fill('input[name=password]', process.env.WARREN_PASSWORD || 'guest');
    await page.click('form.login-form button[type=submit]');
    await page.waitForSelector('.view.overview [data-chart="rates"]');
    assert.equal(await page.textContent('header.top .user'), USER);
    // Queue totals and object totals come from /api/overview.
    await page.waitForSelector('[data-stat="exchanges"] .stat-value');
    assert.match(await page.textContent('[data-stat="exchanges"] .stat-value'), /^\d+$/);
    // Credentials live in sessionStorage: a reload stays logged in.
    await page.reload();
    await page.waitForSelector('header.top .user');
    assert.deepEqual(dialogs, [], 'no browser dialog (e.g. a native basic-auth prompt)');
    await shot(page, 'overview');
    // Log out returns to the form and forgets the password.
    await page.click('header.top button.link');
    await page.waitForSelector('form.login-form');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('warren.credentials')), null);
  } finally {
    await context.close();
  }
});

test('a queue declared over AMQP (or the API) appears in the queue table', async () => {
  const { page, context, log } = await loggedIn(env);
  const name = `dash-appears-${tag()}`;
  let conn;
  try {
    await go(page, '#/queues');
    await page.waitForSelector('[data-table="queues"] tbody tr');
    if (env.broker.amqpUrl) {
      conn = await amqp.connect(env.broker.amqpUrl);
      const ch = await conn.createChannel();
      await ch.assertQueue(name, { durable: false, arguments: { 'x-max-length': 5 } });
    } else {
      await env.api.declareQueue(name, { arguments: { 'x-max-length': 5 } });
    }
    const row = page.locator('[data-table="queues"] tbody tr', { has: page.locator('a.name', { hasText: name }) });
    await row.waitFor({ timeout: 15000 });
    assert.match(await row.textContent(), /Lim/, 'x-max-length shows as a feature');
    // The filter narrows the table to the one queue.
    await page.fill('[data-table="queues"] input.filter', name);
    assert.equal(await page.locator('[data-table="queues"] tbody tr').count(), 1);
    // Sorting: clicking a header sets aria-sort.
    await page.click('[data-table="queues"] th:has-text("Ready")');
    assert.equal(await page.getAttribute('[data-table="queues"] th:has-text("Ready")', 'aria-sort'), 'descending');
    await shot(page, 'queue-appears');
  } finally {
    await conn?.close();
    await env.api.deleteQueue(name).catch(() => {});
    await context.close();
  }
  assert.ok(!log.some((l) => l.startsWith('pageerror')), log.join('\n'));
});

test('the message-rate chart moves when messages are published', async () => {
  const { page, context } = await loggedIn(env);
  const name = `dash-rates-${tag()}`;
  try {
    await env.api.declareQueue(name);
    await page.waitForSelector('[data-chart="rates"] polyline[data-series="publish"]', { state: 'attached' });
    const points = () => page.getAttribute('[data-chart="rates"] polyline[data-series="publish"]', 'points');
    // Wait for a couple of idle samples to be drawn first.
    await eventually(async () => (await points()).split(' ').length >= 2, 15000, 'two samples');
    const before = await points();
    const maxBefore = Number(await page.getAttribute('[data-chart="rates"] svg', 'data-max'));
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        await Promise.all(Array.from({ length: 10 }, (_, i) => env.api.publish('', name, `m${i}`)));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await eventually(async () => Number(await page.getAttribute('[data-chart="rates"] svg', 'data-max')) > maxBefore, 30000, 'a publish rate above the idle maximum');
    } finally {
      stop = true;
      await traffic;
    }
    const after = await points();
    assert.notEqual(after, before, 'the publish series was redrawn');
    // The newest point sits above the baseline: y is smaller than the x axis.
    const ys = after.trim().split(' ').map((p) => Number(p.split(',')[1]));
    assert.ok(Math.min(...ys) < Math.max(...ys), `publish series is not flat: ${after}`);
    assert.notEqual(await page.textContent('[data-chart="rates"] li[data-series="publish"] .value'), '0/s');
    await shot(page, 'rates-chart');
  } finally {
    await env.api.deleteQueue(name).catch(() => {});
    await context.close();
  }
});

test(`a queue named ${XSS} renders as text everywhere`, async () => {
  const { page, context, dialogs, log } = await loggedIn(env);
  try {
    await env.api.deleteQueue(XSS).catch(() => {});
    await env.api.declareQueue(XSS, { arguments: { 'x-dead-letter-exchange': '<b>dlx</b>' } });
    await env.api.publish('', XSS, '<script>alert(2)</script>', { headers: { '<i>h</i>': '<img src=y onerror=alert(3)>' } });
    await go(page, '#/queues');
    await page.locator('[data-table="queues"] a.name', { hasText: XSS }).waitFor({ timeout: 15000 });
    await shot(page, 'xss-queues');

    await page.click(`[data-table="queues"] a.name:text-is("${XSS}")`);
    await page.waitForSelector('.view.queue h2 .name');
    assert.equal(await page.textContent('.view.queue h2 .name'), XSS);
    await page.selectOption('form[data-form="get"] select[name=ackmode]', 'ack_requeue_true');
    await page.click('form[data-form="get"] button[type=submit]');
    await page.waitForSelector('[data-messages="get"] .message');
    assert.equal(await page.textContent('[data-messages="get"] .payload'), '<script>alert(2)</script>');
    assert.match(await page.textContent('[data-messages="get"] .message'), /<img src=y onerror=alert\(3\)>/);
    await shot(page, 'xss-queue-page');

    await go(page, '#/topology');
    await page.waitForSelector('.topology-svg .node-queue');
    const titles = await page.$$eval('.topology-svg .node-queue title', (ts) => ts.map((t) => t.textContent));
    assert.ok(titles.includes(`queue ${XSS}`), titles.join('\n'));
    await go(page, '#/bindings');
    await page.locator('[data-table="bindings"] a.name', { hasText: XSS }).first().waitFor();

    // Nothing ran, and no element was made from the names.
    await page.waitForTimeout(500);
    assert.deepEqual(dialogs, [], 'no alert dialog');
    assert.equal(await page.locator('img').count(), 0, 'no <img> element');
    assert.equal(await page.locator('#root script, #root b, #root i').count(), 0);
    assert.ok(!log.some((l) => l.startsWith('pageerror')), log.join('\n'));
  } finally {
    await env.api.deleteQueue(XSS).catch(() => {});
    await context.close();
  }
});

test('the topology graph shows a binding and updates live', async () => {
  const { page, context } = await loggedIn(env);
  const t = tag();
  const x = `dash-topo-x-${t}`;
  const q1 = `dash-topo-q1-${t}`;
  const q2 = `dash-topo-q2-${t}`;
  try {
    await env.api.declareExchange(x, 'topic');
    await env.api.declareQueue(q1);
    await env.api.declareQueue(q2);
    await env.api.bind(x, q1, 'orders.*.created');
    await go(page, '#/topology');
    const edge = (q) => page.locator(`.topology-svg g.edge[data-source="${x}"][data-destination="${q}"]`);
    const label = (q) => page.locator(`.topology-svg .edge-label[data-source="${x}"][data-destination="${q}"] tspan`);
    await edge(q1).waitFor({ state: 'attached', timeout: 15000 });
    assert.equal(await label(q1).textContent(), 'orders.*.created');
    assert.equal(await edge(q1).getAttribute('data-destination-type'), 'queue');
    assert.equal(await page.locator(`.topology-svg .node-exchange[data-name="${x}"]`).count(), 1);
    // A new binding shows up without reloading the page.
    await env.api.bind(x, q2, 'orders.#');
    await edge(q2).waitFor({ state: 'attached', timeout: 15000 });
    assert.equal(await label(q2).textContent(), 'orders.#');
    await shot(page, 'topology');
    // Nodes link to their pages.
    await page.click(`.topology-svg .node-queue[data-name="${q2}"]`);
    await page.waitForSelector(`.view.queue[data-queue="${q2}"]`);
  } finally {
    for (const q of [q1, q2]) await env.api.deleteQueue(q).catch(() => {});
    await env.api('DELETE', `exchanges/%2F/${x}`).catch(() => {});
    await context.close();
  }
});

test('connections, channels and consumers of an AMQP client are listed', async (t) => {
  if (!env.broker.amqpUrl) return t.skip('no AMQP URL for the external broker (set AMQP_URL)');
  const { page, context } = await loggedIn(env);
  const name = `dash-consumed-${tag()}`;
  const conn = await amqp.connect(env.broker.amqpUrl, { clientProperties: { connection_name: `dash-${name}` } });
  try {
    const ch = await conn.createChannel();
    await ch.assertQueue(name, { durable: false });
    await ch.prefetch(7);
    const { consumerTag } = await ch.consume(name, () => {}, { noAck: false });
    await go(page, '#/connections');
    await page.locator('[data-table="connections"] tbody tr', { hasText: 'amqplib' }).first().waitFor({ timeout: 15000 });
    await shot(page, 'connections');
    await go(page, '#/channels');
    await page.locator('[data-table="channels"] tbody tr', { hasText: USER }).first().waitFor({ timeout: 15000 });
    await go(page, '#/consumers');
    const row = page.locator('[data-table="consumers"] tbody tr', { hasText: consumerTag });
    await row.waitFor({ timeout: 15000 });
    assert.match(await row.textContent(), new RegExp(name));
    await shot(page, 'consumers');
    await page.click(`[data-table="consumers"] a.name:text-is("${name}")`);
    await page.waitForSelector(`.view.queue[data-queue="${name}"]`);
    await page.locator('.view.queue tbody tr', { hasText: consumerTag }).waitFor({ timeout: 15000 });
  } finally {
    await conn.close();
    await env.api.deleteQueue(name).catch(() => {});
    await context.close();
  }
});
