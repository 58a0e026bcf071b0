// Shared helpers: paths, the wasm package (built by `cargo xtask test` into
// www/pkg), a static file server for www/ (no gateway), and starting warren.

import { readFileSync, existsSync, mkdirSync, createReadStream, statSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const WWW = path.join(ROOT, 'www');
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

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml',
  '.ts': 'text/plain', '.md': 'text/plain',
};

/** Any static file server will do; this one serves www/ on 127.0.0.1. */
export function serveWww() {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let p = path.normalize(path.join(WWW, decodeURIComponent(url.pathname)));
    if (!p.startsWith(WWW)) { res.writeHead(403).end(); return; }
    try { if (statSync(p).isDirectory()) p = path.join(p, 'index.html'); } catch { /* 404 below */ }
    if (!existsSync(p)) { res.writeHead(404).end('not found'); return; }
    res.writeHead(200, { 'content-type': TYPES[path.extname(p)] || 'application/octet-stream' });
    createReadStream(p).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    resolve({ url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) });
  }));
}

/** Starts $WARREN_BIN on free ports, serving www/; resolves once ready. */
export async function startWarren() {
  const bin = process.env.WARREN_BIN || path.join(ROOT, 'target/debug/warren');
  const data = mkdtempSync(path.join(tmpdir(), 'warren-playground-'));
  const child = spawn(bin, ['--amqp-bind', '127.0.0.1:0', '--http-bind', '127.0.0.1:0', '--prometheus-bind', '127.0.0.1:0',
    '--data-dir', data, '--www-dir', WWW], { stdio: ['ignore', 'pipe', 'pipe'] });
  let http = null;
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`warren did not start:\n${log}`)), 60000);
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (const line of buf.split('\n')) {
        const m = /HTTP listening on (\S+)/.exec(line);
        if (m) http = m[1];
        if (line.trim() === 'warren: ready') { clearTimeout(timer); resolve(); }
      }
    });
    child.on('exit', (code) => reject(new Error(`warren exited (${code}):\n${log}`)));
  });
  if (!http) throw new Error('warren printed no HTTP listening line');
  const port = http.split(':').pop();
  return {
    http: `http://127.0.0.1:${port}/`,
    ws: `ws://127.0.0.1:${port}/`,
    async api(rel) {
      const r = await fetch(`http://127.0.0.1:${port}/api/${rel}`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
      if (!r.ok) throw new Error(`GET /api/${rel}: ${r.status}`);
      return r.json();
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => { if (child.exitCode !== null) r(); else child.on('exit', r); });
      rmSync(data, { recursive: true, force: true });
    },
  };
}

export function artifacts() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return ARTIFACTS;
}
