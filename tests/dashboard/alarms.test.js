// The alarm banner: absent on a broker without resource alarms, present
// (naming the resource) on warrens started in a disk alarm
// (--disk-free-limit far above the free space) and in a memory alarm
// (--memory-high-watermark below any resident set). The banner reads the
// alarms health check, which answers 503 with the list during an alarm.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import amqp from 'amqplib';
import { spawnWarren, WWW } from '../support/warren.mjs';
import { setup, loggedIn, shot, go, tag } from './helpers.js';

let env;
before(async () => { env = await setup(); });
after(async () => { await env?.stop(); });

/** Logs in on `url` and waits until the alarms have been polled once. */
async function bannerOn(url) {
  const session = await loggedIn({ browser: env.browser, broker: { url } });
  await session.page.waitForSelector('.alarm-banner[data-alarms]', { state: 'attached' });
  return session;
}

test('no alarm banner without an alarm', async () => {
  const { page, context, log } = await bannerOn(env.broker.url);
  try {
    assert.equal(await page.getAttribute('.alarm-banner', 'data-alarms'), '');
    assert.equal(await page.isVisible('.alarm-banner'), false);
    // Still none after a few more polls.
    await page.waitForTimeout(2500);
    assert.equal(await page.isVisible('.alarm-banner'), false);
    assert.deepEqual(log.filter((l) => l.startsWith('pageerror')), []);
  } finally {
    await context.close();
  }
});

for (const [resource, args] of [
  ['disk space', ['--disk-free-limit', '100000GB']],
  ['memory', ['--memory-high-watermark', '1MiB']],
]) {
  test(`the alarm banner shows a ${resource} alarm`, async (t) => {
    if (env.broker.external) {
      t.skip('needs a warren started in an alarm (not $WARREN_HTTP_URL)');
      return;
    }
    const warren = await spawnWarren({ label: 'dashboard-alarm', args: ['--www-dir', WWW, ...args] });
    const { page, context, log } = await bannerOn(warren.http).catch(async (e) => {
      await warren.stop();
      throw e;
    });
    try {
      await page.waitForSelector('.alarm-banner:not([hidden])');
      assert.equal(await page.getAttribute('.alarm-banner', 'data-alarms'), resource);
      assert.equal(await page.getAttribute('.alarm-banner', 'role'), 'alert');
      assert.match(await page.textContent('.alarm-banner'), new RegExp(`alarm in force: ${resource}\\. Connections that publish are blocked`));
      await shot(page, `alarm-${resource.replace(' ', '-')}`);
      // The 503 of the health check is the alarm, not an API failure.
      assert.equal(await page.getAttribute('.conn-status', 'class'), 'conn-status up');
      // A client that publishes is blocked (no longer read); the
      // connections table says so, as RabbitMQ's does.
      const name = `dash-blocked-${tag()}`;
      const conn = await amqp.connect(`amqp://guest:guest@${warren.amqp}/%2F`, { clientProperties: { connection_name: name } });
      conn.on('error', () => {}); // the 320 when warren stops
      try {
        const ch = await conn.createChannel();
        ch.sendToQueue(name, Buffer.from('x'));
        await go(page, '#/connections');
        const row = page.locator('[data-table="connections"] tbody tr', { hasText: 'amqplib' }).first();
        await row.waitFor({ timeout: 15000 });
        await page.locator('[data-table="connections"] tbody tr', { hasText: 'blocked' }).first().waitFor({ timeout: 15000 });
        await shot(page, `alarm-${resource.replace(' ', '-')}-blocked-connection`);
      } finally {
        // Blocked, it is not read: its close waits for the alarm (as on
        // RabbitMQ). Stopping warren ends it.
        conn.close().catch(() => {});
      }
      assert.deepEqual(log.filter((l) => l.startsWith('pageerror')), []);
    } finally {
      await context.close();
      await warren.stop();
    }
  });
}
