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

import { WWW, TARGET_DIR, ROOT, serveDir, spawnWarren } from '../support/warren.mjs';

export { WWW, TARGET_DIR, ROOT };

export async function startBroker() {
  if (process.env.WARREN_HTTP_URL) {
    const target = new URL(process.env.WARREN_HTTP_URL);
    const site = await serveWww(WWW, target);
    return { url: site.url, amqpUrl: process.env.AMQP_URL || null, external: true, stderr: () => '', stop: site.close };
  }
  const w = await spawnWarren({ label: 'dashboard', args: ['--www-dir', WWW] });
  return {
    url: w.http,
    amqpUrl: w.amqp ? `amqp://guest:guest@${w.amqp}/%2F` : null,
    external: false,
    stderr: w.stderr,
    stop: w.stop,
  };
}

/** Serves `dir` on 127.0.0.1 and forwards /api/... to `apiTarget` (a URL). */
export const serveWww = (dir, apiTarget) => serveDir(dir, { apiTarget });
