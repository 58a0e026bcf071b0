// Starts the `warren` under test, or uses the one at $WARREN_HTTP_URL.
//
// Started here: `target/debug/warren` (or $WARREN_BIN; when neither is set
// explicitly we run `cargo build -p gateway --bin warren` first) with
// loopback ports chosen by the OS and a temporary data directory; the
// `warren: HTTP listening on ADDR` line gives the HTTP port.

import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '../..');
export const TARGET_DIR = process.env.CARGO_TARGET_DIR ? resolve(ROOT, process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
const STARTUP_MS = 60000;

function warrenBinary() {
  if (process.env.WARREN_BIN) return process.env.WARREN_BIN;
  process.stderr.write('ws tests: cargo build -p gateway --bin warren\n');
  execFileSync(process.env.CARGO || 'cargo', ['build', '-p', 'gateway', '--bin', 'warren'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  return join(TARGET_DIR, 'debug', 'warren');
}

/**
 * Returns { httpUrl, wsUrl(path), external, stop() }. `wwwDir` is passed as
 * --www-dir when warren is started here.
 */
export async function startWarren({ wwwDir } = {}) {
  if (process.env.WARREN_HTTP_URL) {
    const httpUrl = process.env.WARREN_HTTP_URL.replace(/\/+$/, '');
    return { httpUrl, wsUrl: (path) => httpUrl.replace(/^http/, 'ws') + path, external: true, stop: async () => {} };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-ws-test-'));
  const args = ['--amqp-bind', '127.0.0.1:0', '--http-bind', '127.0.0.1:0', '--prometheus-bind', '127.0.0.1:0', '--data-dir', dataDir];
  if (wwwDir) args.push('--www-dir', wwwDir);
  const child = spawn(warrenBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20000);
  });
  const lines = createInterface({ input: child.stdout });
  const httpUrl = await new Promise((resolvePort, reject) => {
    let url = null;
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
      const m = line.match(/^warren: HTTP listening on (.+)$/);
      if (m && !url) url = `http://${m[1]}`;
      if (line === 'warren: ready') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        if (url) resolvePort(url);
        else fail('warren is ready but printed no HTTP listening line');
      }
    });
  });
  return {
    httpUrl,
    wsUrl: (path) => httpUrl.replace(/^http/, 'ws') + path,
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

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.map': 'application/json' };

/** A tiny static file server on 127.0.0.1 (for an external warren). */
export async function serveStatic(dir) {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(dir, path);
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}
