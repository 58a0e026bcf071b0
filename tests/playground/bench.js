// Routing benchmark, on demand (not part of `cargo xtask test`):
//   cargo xtask build-web && (cd tests/playground && npm ci && node bench.js [--bindings N] [--messages M] [--batch B] [--size S])
// Runs web/examples/bench.rs natively (release) and the same TabBroker calls
// with the same client octets (web::bench) in headless Chromium, then prints
// both rates and their ratio. One connection publishes SIZE-byte messages to
// a topic exchange with N bindings (one matches); another consumes no-ack.

import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, ROOT, serveWww } from './helpers.js';

const arg = (name, d) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : d; };
const opts = { bindings: arg('--bindings', 100), messages: arg('--messages', 1_000_000), batch: arg('--batch', 1000), size: arg('--size', 16) };
const flags = ['--bindings', opts.bindings, '--messages', opts.messages, '--batch', opts.batch, '--size', opts.size].map(String);

const nativeOut = execFileSync('cargo', ['run', '-q', '--release', '-p', 'web', '--example', 'bench', '--', ...flags], { cwd: ROOT, encoding: 'utf8' });
process.stdout.write(nativeOut);
const native = JSON.parse(nativeOut.trim().split('\n').pop()).native_msgs_per_sec;

const server = await serveWww();
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  // The playground page: its CSP allows compiling wasm (index.html does not).
  await page.goto(`${server.url}playground.html?paused`);
  await page.waitForFunction(() => document.body.dataset.ready);
  const r = await page.evaluate(async (o) => {
    const pkg = await import('./pkg/web.js');
    await pkg.default();
    const tb = new pkg.TabBroker(0, 1);
    const drain = () => { let n = 0; for (let out; (out = tb.poll());) { n += out.takeData().length; out.free(); } return n; };
    const p = tb.connect(0, 'bench publisher');
    const c = tb.connect(0, 'bench consumer');
    tb.send(p, 0, pkg.benchOctets('handshake', 0, 0));
    tb.send(c, 0, pkg.benchOctets('handshake', 0, 0));
    tb.send(p, 0, pkg.benchOctets('setup', o.bindings, 0));
    tb.send(c, 0, pkg.benchOctets('consume', 0, 0));
    drain();
    const octets = pkg.benchOctets('publishes', o.batch, o.size);
    for (let i = 0; i < Math.max(1, Math.floor(20000 / o.batch)); i++) { tb.send(p, 0, octets); drain(); }
    const before = tb.snapshot().overview.message_stats.deliver_no_ack;
    const rounds = Math.max(1, Math.floor(o.messages / o.batch));
    const t0 = performance.now();
    let out = 0;
    for (let i = 0; i < rounds; i++) { tb.send(p, 0, octets); out += drain(); }
    const secs = (performance.now() - t0) / 1000;
    const delivered = tb.snapshot().overview.message_stats.deliver_no_ack - before;
    return { delivered, secs, out, rate: delivered / secs, expected: rounds * o.batch };
  }, opts);
  if (r.delivered !== r.expected) throw new Error(`delivered ${r.delivered} of ${r.expected}`);
  console.log(`wasm (Chromium ${browser.version()}): ${r.delivered} messages in ${r.secs.toFixed(3)} s: ${Math.round(r.rate)} msgs/s (${r.out} octets out)`);
  const ratio = r.rate / native;
  console.log(`ratio wasm/native: ${ratio.toFixed(2)} (goal: at least 0.5)`);
  console.log(JSON.stringify({ native_msgs_per_sec: Math.round(native), wasm_msgs_per_sec: Math.round(r.rate), ratio: Number(ratio.toFixed(3)), ...opts }));
} finally {
  await browser.close();
  await server.close();
}
