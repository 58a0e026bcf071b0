// Shared helpers: paths, the wasm package (built by `cargo xtask test` into
// www/pkg), a static file server for www/ (no gateway), and starting warren
// (both from tests/support/warren.mjs).

import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, WWW, serveDir, spawnWarren } from '../support/warren.mjs';

export { ROOT, WWW };
export const ARTIFACTS = path.join(ROOT, 'target/test-artifacts/playground');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

/** The wasm bindings (www/pkg, --target web) initialised in Node. */
export async function loadPkg() {
  const js = path.join(WWW, 'pkg/web.js');
  if (!existsSync(js)) throw new Error('www/pkg is missing: run `cargo xtask build-web` (or `cargo xtask test`) first');
  const pkg = await import(pathToFileURL(js).href);
  pkg.initSync({ module: readFileSync(path.join(WWW, 'pkg/web_bg.wasm')) });
  return pkg;
}

export function importWww(rel) {
  return import(pathToFileURL(path.join(WWW, rel)).href);
}

/** Any static file server will do; this one serves www/ on 127.0.0.1. */
export async function serveWww() {
  const site = await serveDir(WWW);
  return { url: `${site.url}/`, close: site.close };
}

/** Starts warren on free ports, serving www/; resolves once ready. */
export async function startWarren() {
  const w = await spawnWarren({ label: 'playground', args: ['--www-dir', WWW] });
  const port = new URL(w.http).port;
  return {
    http: `http://127.0.0.1:${port}/`,
    ws: `ws://127.0.0.1:${port}/`,
    amqp: w.amqp,
    async api(rel) {
      const r = await fetch(`http://127.0.0.1:${port}/api/${rel}`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
      if (!r.ok) throw new Error(`GET /api/${rel}: ${r.status}`);
      return r.json();
    },
    stderr: w.stderr,
    stop: w.stop,
  };
}

export function artifacts() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}
