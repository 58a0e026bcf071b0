// AMQP 0-9-1 over WebSocket from a real browser: Debian's headless
// Chromium (never a downloaded one) driven by playwright-core loads
// page/index.html, which runs page/scenario.js with the browser build of
// @cloudamqp/amqp-client. The page is served by warren itself (--www-dir),
// or, against an external warren ($WARREN_HTTP_URL), by a tiny local server.
// A screenshot goes to target/test-artifacts/ws-browser.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { HERE, TARGET_DIR, startWarren, serveStatic } from './warren.js';
import { expected } from './page/scenario.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
const ARTIFACTS = join(TARGET_DIR, 'test-artifacts');

let www, warren, pages, browser;
before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set $CHROMIUM`);
  }
  // The page, the scenario it shares with node.test.js, and the client's browser build.
  www = mkdtempSync(join(tmpdir(), 'warren-ws-www-'));
  copyFileSync(join(HERE, 'page/index.html'), join(www, 'index.html'));
  copyFileSync(join(HERE, 'page/scenario.js'), join(www, 'scenario.js'));
  copyFileSync(join(HERE, 'node_modules/@cloudamqp/amqp-client/dist/amqp-websocket-client.mjs'), join(www, 'amqp-websocket-client.mjs'));
  warren = await startWarren({ wwwDir: www });
  pages = warren.external ? await serveStatic(www) : { url: warren.httpUrl, close: async () => {} };
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
});
after(async () => {
  await browser?.close();
  await pages?.close();
  await warren?.stop();
  if (www) rmSync(www, { recursive: true, force: true });
});

async function openPage(path) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  const response = await page.goto(`${pages.url}${path}`);
  assert.equal(response.status(), 200, `GET ${path}`);
  return { page, log };
}

test('the amqp-client browser build runs the scenario in Chromium', async () => {
  const tag = randomBytes(5).toString('hex');
  // Served by warren, the page uses its own origin's /ws/amqp; else say where.
  const ws = warren.external ? `&ws=${encodeURIComponent(warren.wsUrl('/ws/amqp'))}` : '';
  const { page, log } = await openPage(`/?tag=${tag}${ws}`);
  try {
    const results = await page.evaluate(() => window.warrenResults);
    assert.deepEqual(results, expected(tag, 8192), log.join('\n'));
    assert.equal(await page.textContent('#status'), 'all checks pass');
    assert.match(await page.evaluate(() => navigator.userAgent), /HeadlessChrome|Chrome/);
  } finally {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ws-browser.png'), fullPage: true });
    await page.close();
  }
});

test('browser WebSockets: amqp* offers are echoed; no offer needs no protocol', async () => {
  const { page } = await openPage('/');
  try {
    const url = warren.wsUrl('/ws/amqp');
    const outcome = await page.evaluate(async (url) => {
      const open = (protocols) => new Promise((resolve) => {
        const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
        ws.onopen = () => { resolve({ opened: true, protocol: ws.protocol }); ws.close(1000); };
        ws.onclose = (e) => resolve({ opened: false, code: e.code });
      });
      return {
        none: await open(),
        amqp: await open(['amqp']),
        preferred: await open(['mqtt', 'amqpws', 'amqp']),
        other: await open(['mqtt']),
      };
    }, url);
    assert.deepEqual(outcome, {
      none: { opened: true, protocol: '' },
      amqp: { opened: true, protocol: 'amqp' },
      preferred: { opened: true, protocol: 'amqpws' },
      // Chromium itself fails a handshake that picks none of the protocols it
      // offered ("Sent non-empty 'Sec-WebSocket-Protocol' header but no response
      // was received"): warren answers without one, as it must for non-AMQP names.
      other: { opened: false, code: 1006 },
    });
  } finally {
    await page.close();
  }
});
