// Shared by the dashboard tests: the broker (warren.js), Debian's headless
// Chromium, a logged-in page, and a small API client for setting up state.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { TARGET_DIR, startBroker } from './warren.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
export const ARTIFACTS = join(TARGET_DIR, 'test-artifacts', 'dashboard');
export const USER = process.env.WARREN_USER || 'guest';
export const PASSWORD = process.env.WARREN_PASSWORD || 'guest';
export const XSS = '<img src=x onerror=alert(1)>';

export function tag() {
  return randomBytes(4).toString('hex');
}

/** Starts the broker and the browser; call the returned stop() in after(). */
export async function setup() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set $CHROMIUM`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const broker = await startBroker();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const api = apiClient(broker.url);
  return {
    broker,
    browser,
    api,
    async stop() {
      await browser.close();
      await broker.stop();
    },
  };
}

/** fetch-based API client for test setup: api('PUT', 'queues/%2F/q', body). */
export function apiClient(base, user = USER, password = PASSWORD) {
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const call = async (method, path, body) => {
    const res = await fetch(`${base}/api/${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} /api/${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  const e = encodeURIComponent;
  return Object.assign(call, {
    declareQueue: (name, body = {}, vhost = '/') => call('PUT', `queues/${e(vhost)}/${e(name)}`, { durable: false, auto_delete: false, arguments: {}, ...body }),
    deleteQueue: (name, vhost = '/') => call('DELETE', `queues/${e(vhost)}/${e(name)}`),
    queue: (name, vhost = '/') => call('GET', `queues/${e(vhost)}/${e(name)}`),
    declareExchange: (name, type = 'direct', vhost = '/') => call('PUT', `exchanges/${e(vhost)}/${e(name)}`, { type, durable: false }),
    bind: (source, queue, routing_key, args = {}, vhost = '/') => call('POST', `bindings/${e(vhost)}/e/${e(source)}/q/${e(queue)}`, { routing_key, arguments: args }),
    publish: (exchange, routing_key, payload, properties = {}, vhost = '/') => call('POST', `exchanges/${e(vhost)}/${e(exchange || 'amq.default')}/publish`,
      { routing_key, payload, payload_encoding: 'string', properties }),
  });
}

/**
 * A new page (own sessionStorage) logged in as USER, polling every second.
 * `dialogs` collects any alert/confirm the page raises (confirm is accepted).
 */
export async function loggedIn(env, { interval = 1000 } = {}) {
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const log = [];
  const dialogs = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('dialog', async (d) => {
    dialogs.push({ type: d.type(), message: d.message() });
    if (d.type() === 'confirm') await d.accept();
    else await d.dismiss();
  });
  if (interval) await page.addInitScript((ms) => sessionStorage.setItem('warren.pref.interval', String(ms)), interval);
  const res = await page.goto(`${env.broker.url}/`);
  assert.equal(res.status(), 200, 'GET /');
  await page.fill('input[name=username]', USER);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('form.login-form button[type=submit]');
  await page.waitForSelector('header.top .user');
  return { page, context, log, dialogs };
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

export async function go(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

/** The route hash of a queue or exchange page. */
export function objectHash(kind, name, vhost = '/') {
  return `#/${kind}/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`;
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
export async function eventually(fn, ms = 20000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Texts of the cells in the `column`-th column of a data table. */
export async function columnTexts(page, table, column) {
  return page.$$eval(`[data-table="${table}"] tbody tr td:nth-child(${column})`, (tds) => tds.map((td) => td.textContent));
}
