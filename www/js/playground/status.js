// What the page shows of the running scenario, refreshed four times a
// second: the clock, the stats line, the canvas's queue depths and the
// message list. On a live target the depths come from its HTTP API, polled
// once a second.

import { $ } from '../dom.js';
import { renderMessages } from './sidebar.js';

/** Redraws from the engine's snapshot (or the live target's). */
export async function refresh(app) {
  const { engine } = app;
  $('#pg-clock').textContent = `t = ${(engine.clock.now / 1000).toFixed(1)} s`;
  let snap = engine.snapshot();
  if (app.target.kind === 'live') snap = app.liveSnapshot;
  if (snap) app.canvas.render(app.scenario, snap);
  $('#pg-stats').textContent = overviewLine(snap?.overview) + countsLine(engine.counts);
  if (app.currentTab === 'messages') renderMessages(app);
}

function overviewLine(o) {
  if (!o) return '';
  return `publish ${o.message_stats.publish} (${o.message_stats.publish_details.rate}/s) · delivered ${o.message_stats.deliver_get} · ready ${o.queue_totals.messages_ready} · unacked ${o.queue_totals.messages_unacknowledged} — `;
}

function countsLine(counts) {
  return Object.entries(counts).map(([k, c]) => `${k}: ${c.published ? `${c.published} sent` : `${c.received} received`}`).join(' · ');
}

/** Starts the periodic refresh and, while the target is live, its polling. */
export function startRefreshing(app) {
  setInterval(() => refresh(app), 250);
  setInterval(() => pollLive(app), 1000);
}

async function pollLive(app) {
  const { target } = app;
  if (target.kind !== 'live') return;
  try {
    const [queues, consumers] = await Promise.all([target.api.get('queues/%2F'), target.api.get('consumers/%2F')]);
    app.liveSnapshot = { queues, consumers, overview: null };
  } catch (e) { app.log(`live: ${e.message}`); }
}
