// The binary on its own, as `cargo install` or a package would leave it:
// started from an empty directory, without --www-dir, warren serves the
// dashboard, the playground and its wasm from the copy of www/ built into
// it. `cargo xtask test` runs this suite with the release binary
// ($WARREN_BIN), built after www/pkg.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { spawnWarren } from '../support/warren.mjs';
import { CHROMIUM, CHROMIUM_ARGS, artifacts } from './helpers.js';

let browser, warren, cwd;

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  cwd = mkdtempSync(path.join(tmpdir(), 'warren-packaged-cwd-'));
  warren = await spawnWarren({ label: 'packaged', cwd });
});
after(async () => {
  await browser?.close();
  await warren?.stop();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

async function open(url, ready) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  const res = await page.goto(url);
  assert.equal(res.status(), 200, url);
  await page.waitForFunction(ready, null, { timeout: 30000 });
  return { page, errors };
}

test('the dashboard loads from the binary started in an empty directory', async () => {
  const { page, errors } = await open(`${warren.http}/`, () => document.querySelector('form.login-form'));
  assert.equal(await page.locator('form.login-form h1').textContent(), 'Warren');
  await page.fill('input[name=username]', 'guest');
  await page.fill('input[name=password]', 'guest');
  await page.click('form.login-form button[type=submit]');
  await page.waitForSelector('form.login-form', { state: 'detached', timeout: 15000 });
  await page.screenshot({ path: path.join(artifacts(), 'packaged-dashboard.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the playground and its wasm load from the binary', async () => {
  const { page, errors } = await open(`${warren.http}/playground?paused`, () => document.body.dataset.ready);
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', errors.join('\n'));
  assert.equal(await page.locator('.pg-node').count(), 3, 'hello world: sender, queue, receiver');
  await page.evaluate(() => playground.advance(2000));
  assert.ok((await page.evaluate(() => playground.deliveries().length)) >= 1, 'the core in the tab delivered');
  await page.screenshot({ path: path.join(artifacts(), 'packaged-playground.png') });
  assert.deepEqual(errors, []);
  await page.close();
  const wasm = await fetch(`${warren.http}/pkg/web_bg.wasm`);
  assert.equal(wasm.headers.get('content-type'), 'application/wasm');
  assert.deepEqual([...new Uint8Array(await wasm.arrayBuffer()).slice(0, 4)], [0, 0x61, 0x73, 0x6d]);
});

test('nothing is written to the working directory', () => {
  assert.deepEqual(readdirSync(cwd), []);
});
