// The broker under test for the dashboard suite.
//
//   cd tests/dashboard && npm ci && node --test
//   WARREN_HTTP_URL=http://127.0.0.1:15672 AMQP_URL=amqp://guest:guest@127.0.0.1:5672 node --test
//
// Default: builds and starts `target/debug/warren` (or $WARREN_BIN, no
// build) with loopback ports chosen by the OS, a temporary data directory
// and `--www-dir www`; the dashboard is then served by warren itself.
//
// With $WARREN_HTTP_URL: uses that broker's API (Warren or, for comparison,
// RabbitMQ's management plugin) and serves this checkout's www/ from a
// local server that proxies /api/ to it. $AMQP_URL then names its AMQP
// port (optional: the AMQP-client test is skipped without it).

import { spawn, execFileSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '../..');
export const WWW = join(ROOT, 'www');
export const TARGET_DIR = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
const STARTUP_MS = 60000;

function warrenBinary() {
  if (process.env.WARREN_BIN) return process.env.WARREN_BIN;
  process.stderr.write('dashboard tests: cargo build -p gateway --bin warren\n');
  execFileSync(process.env.CARGO || 'cargo', ['build', '-p', 'gateway', '--bin', 'warren'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  return join(TARGET_DIR, 'debug', 'warren');
}

/** Resolves to { url, amqpUrl, external, stderr(), stop() }: url is the page origin. */
export async function startBroker() {
  if (process.env.WARREN_HTTP_URL) {
    const target = new URL(process.env.WARREN_HTTP_URL);
    const site = await serveWww(WWW, target);
    return { url: site.url, amqpUrl: process.env.AMQP_URL || null, external: true, stderr: () => '', stop: site.close };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-dashboard-test-'));
  const args = ['--amqp-bind', '127.0.0.1:0', '--http-bind', '127.0.0.1:0', '--prometheus-bind', '127.0.0.1:0', '--data-dir', dataDir, '--www-dir', WWW];
  const child = spawn(warrenBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20000);
  });
  const lines = createInterface({ input: child.stdout });
  const { url, amqp } = await new Promise((ok, reject) => {
    let http = null;
    let amqpAddr = null;
    const seen = [];
    const timer = setTimeout(() => fail(`no "warren: ready" within ${STARTUP_MS} ms`), STARTUP_MS);
    function fail(why) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${why}; stdout: ${JSON.stringify(seen)}; stderr:\n${stderr}`));
    }
    child.on('exit', (code) => fail(`warren exited (${code})`));
    lines.on('line', (line) => {
      seen.push(line);
      const h = line.match(/^warren: HTTP listening on (.+)$/);
      if (h && !http) http = `http://${h[1]}`;
      const a = line.match(/^warren: AMQP listening on (.+)$/);
      if (a && !amqpAddr) amqpAddr = a[1];
      if (line === 'warren: ready') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        if (http) ok({ url: http, amqp: amqpAddr });
        else fail('warren is ready but printed no HTTP listening line');
      }
    });
  });
  return {
    url,
    amqpUrl: amqp ? `amqp://guest:guest@${amqp}/%2F` : null,
    external: false,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.wasm': 'application/wasm',
};

/** Serves `dir` on 127.0.0.1 and forwards /api/... to `apiTarget` (a URL). */
export async function serveWww(dir, apiTarget) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      const upstream = httpRequest({
        host: apiTarget.hostname, port: apiTarget.port, method: req.method, path: req.url,
        headers: { ...req.headers, host: apiTarget.host },
      }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      upstream.on('error', (e) => res.writeHead(502).end(String(e)));
      req.pipe(upstream);
      return;
    }
    const rel = normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, '');
    let file = resolve(dir, rel);
    if (file !== resolve(dir) && !file.startsWith(resolve(dir) + sep)) return res.writeHead(403).end();
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(Number(process.env.PORT || 0), '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}
