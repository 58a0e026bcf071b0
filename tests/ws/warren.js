// Starts the `warren` under test (see tests/support/warren.mjs), or uses the
// one at $WARREN_HTTP_URL.

import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGET_DIR, serveDir, spawnWarren } from '../support/warren.mjs';

export { TARGET_DIR };
export const HERE = dirname(fileURLToPath(import.meta.url));

const wsUrlOf = (httpUrl) => (path) => httpUrl.replace(/^http/, 'ws') + path;

/**
 * Returns { httpUrl, wsUrl(path), external, stop() }. `wwwDir` is passed as
 * --www-dir when warren is started here.
 */
export async function startWarren({ wwwDir } = {}) {
  if (process.env.WARREN_HTTP_URL) {
    const httpUrl = process.env.WARREN_HTTP_URL.replace(/\/+$/, '');
    return { httpUrl, wsUrl: wsUrlOf(httpUrl), external: true, stop: async () => {} };
  }
  const w = await spawnWarren({ label: 'ws', args: wwwDir ? ['--www-dir', wwwDir] : [] });
  return { httpUrl: w.http, wsUrl: wsUrlOf(w.http), external: false, stderr: w.stderr, stop: w.stop };
}

/** A static file server on 127.0.0.1 (for an external warren). */
export const serveStatic = (dir) => serveDir(dir);
