// What the Node suites (tests/ws, tests/dashboard, tests/playground) share:
// starting the `warren` under test and serving a directory of static files.
// Node built-ins only, so every suite can import it without a dependency.
//
// The binary: $WARREN_BIN, or `cargo build -p gateway --bin warren` first
// and then target/debug/warren. It listens on loopback ports chosen by the
// OS, keeps its data in a temporary directory, and is ready once it logs
// `warren: ready` on stderr (its `... listening on ADDR` lines give the ports).

import { spawn, execFileSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const WWW = join(ROOT, 'www');
export const TARGET_DIR = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
const STARTUP_MS = 60000;

function warrenBinary(label) {
  if (process.env.WARREN_BIN) return process.env.WARREN_BIN;
  process.stderr.write(`${label} tests: cargo build -p gateway --bin warren\n`);
  execFileSync(process.env.CARGO || 'cargo', ['build', '-p', 'gateway', '--bin', 'warren'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  return join(TARGET_DIR, 'debug', 'warren');
}

/**
 * Starts warren with `args` added (in directory `cwd`, if given); resolves
 * once it is ready with { http: 'http://ADDR', amqp: 'ADDR' or null,
 * stderr(), stop() }.
 */
export async function spawnWarren({ label, args = [], cwd }) {
  const dataDir = mkdtempSync(join(tmpdir(), `warren-${label}-test-`));
  const all = ['--amqp-bind', '127.0.0.1:0', '--http-bind', '127.0.0.1:0', '--prometheus-bind', '127.0.0.1:0', '--data-dir', dataDir, ...args];
  const child = spawn(warrenBinary(label), all, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
  // warren's log (stderr): the startup lines, and its tail for failure reports.
  let stderr = '';
  const lines = createInterface({ input: child.stderr });
  lines.on('line', (line) => {
    stderr = (stderr + line + '\n').slice(-20000);
  });
  const { http, amqp } = await new Promise((ok, reject) => {
    let http = null;
    let amqp = null;
    const timer = setTimeout(() => fail(`no "warren: ready" within ${STARTUP_MS} ms`), STARTUP_MS);
    function fail(why) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${why}; its log:\n${stderr}`));
    }
    child.on('exit', (code) => fail(`warren exited (${code})`));
    lines.on('line', (line) => {
      const h = line.match(/^warren: HTTP listening on (.+)$/);
      if (h && !http) http = `http://${h[1]}`;
      const a = line.match(/^warren: AMQP listening on (.+)$/);
      if (a && !amqp) amqp = a[1];
      if (line === 'warren: ready') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        if (http) ok({ http, amqp });
        else fail('warren is ready but printed no HTTP listening line');
      }
    });
  });
  return {
    http,
    amqp,
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
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml',
  '.ts': 'text/plain', '.md': 'text/plain',
};

/**
 * Serves `dir` on 127.0.0.1 (port $PORT or a free one); with `apiTarget`
 * (a URL) it forwards /api/... there. Resolves to { url, close() }.
 */
export async function serveDir(dir, { apiTarget } = {}) {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (apiTarget && (url.pathname === '/api' || url.pathname.startsWith('/api/'))) {
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
    let file = resolve(root, rel);
    if (file !== root && !file.startsWith(root + sep)) return res.writeHead(403).end();
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((r) => server.listen(Number(process.env.PORT || 0), '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}
