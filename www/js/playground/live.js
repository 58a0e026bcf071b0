// A live warren: compare the tab broker's definitions with its own (diff,
// of the exchanges, queues and bindings of vhost /), apply the difference
// through its HTTP API, load its topology, or run the scenario's clients
// on it over AMQP-over-WebSocket (the target menu).

import { $, h } from '../dom.js';
import { Api } from '../api.js';
import { diffDefinitions } from './model.js';
import { loadDefinitions } from './sharing.js';
import { setPlaying } from './clock-controls.js';

const VHOST = '/';

/** An Api for the URL and credentials in the live form. */
function liveApi() {
  const base = $('#pg-live-url').value.replace(/\/*$/, '/');
  return new Api({ user: $('#pg-live-user').value, password: $('#pg-live-pass').value, base: `${base}api/` });
}

const wsUrl = () => $('#pg-live-url').value.replace(/^http/, 'ws').replace(/\/*$/, '/');

/** Wires the live form's Diff, Apply and Load buttons and the target menu. */
export function wireLive(app) {
  let lastDiff = [];
  $('#pg-live-diff').addEventListener('click', async () => {
    try {
      lastDiff = diffDefinitions(app.engine.definitions(), await liveApi().definitions());
      showDiff(lastDiff);
    } catch (e) { app.log(`live diff: ${e.message}`); }
  });
  $('#pg-live-apply').addEventListener('click', async () => {
    const done = await applyDiff(liveApi(), lastDiff, { prune: $('#pg-live-prune').checked, log: app.log });
    app.log(`Applied ${done} change(s) to the live gateway.`);
    $('#pg-live-diff').click();
  });
  $('#pg-live-load').addEventListener('click', async () => {
    try { await loadDefinitions(app, await liveApi().definitions(), 'Loaded from the live gateway'); } catch (e) { app.log(`live load: ${e.message}`); }
  });
  const targetSel = $('#pg-target');
  targetSel.addEventListener('change', () => switchTarget(app, targetSel.value));
  if (location.protocol.startsWith('http')) $('#pg-live-url').value = location.origin + '/';
}

/** Lists `diff`'s changes and enables Apply if there are any. */
function showDiff(diff) {
  const sign = (action) => (action === 'add' ? '+' : action === 'remove' ? '−' : '~');
  $('#pg-diff').replaceChildren(...(diff.length ? diff.map((d) => h('li', { class: `pg-diff-${d.action}` }, `${sign(d.action)} ${d.kind} ${d.name}`)) : [h('li', {}, 'No differences.')]));
  $('#pg-live-apply').disabled = !diff.length;
}

/**
 * Applies `diff` through `api`: exchanges and queues first, then bindings.
 * Removals only with `prune`. Returns how many changes succeeded; each
 * failure is logged and skipped.
 */
async function applyDiff(api, diff, { prune, log }) {
  let done = 0;
  const liveBindings = prune ? await api.get('bindings/%2F') : [];
  for (const d of diff) {
    try {
      if (d.action === 'remove' && !prune) continue;
      if (d.kind === 'exchange') await applyExchange(api, d);
      else if (d.kind === 'queue') await applyQueue(api, d);
      done++;
    } catch (e) { log(`apply ${d.kind} ${d.name}: ${e.message}`); }
  }
  for (const d of diff.filter((x) => x.kind === 'binding')) {
    try {
      if (d.action === 'add') await api.bind(VHOST, d.want.source, d.want.destination_type, d.want.destination, { routing_key: d.want.routing_key, arguments: d.want.arguments });
      else if (prune) await unbindLive(api, liveBindings, d.have);
      done++;
    } catch (e) { log(`apply binding ${d.name}: ${e.message}`); }
  }
  return done;
}

/** A change is a delete then a declare. */
async function applyExchange(api, d) {
  if (d.action !== 'add') await api.deleteExchange(VHOST, d.name);
  if (d.action !== 'remove') await api.declareExchange(VHOST, d.name, { type: d.want.type, durable: d.want.durable, internal: d.want.internal, arguments: d.want.arguments });
}

async function applyQueue(api, d) {
  if (d.action !== 'add') await api.deleteQueue(VHOST, d.name);
  if (d.action !== 'remove') await api.declareQueue(VHOST, d.name, { durable: d.want.durable, arguments: d.want.arguments });
}

/** Unbinds the live binding matching `have` (the live one carries its properties_key). */
async function unbindLive(api, liveBindings, have) {
  const b = liveBindings.find((x) => x.source === have.source && x.destination === have.destination && x.destination_type === have.destination_type && x.routing_key === have.routing_key);
  if (b) await api.unbind(b);
}

/** Runs the scenario in this tab (`tab`) or on the live warren (`live`, playing). */
async function switchTarget(app, kind) {
  app.target = kind === 'live'
    ? { kind: 'live', ws: wsUrl(), api: liveApi(), user: $('#pg-live-user').value, password: $('#pg-live-pass').value }
    : { kind: 'tab' };
  if (app.target.kind === 'live') setPlaying(app, true);
  await app.load(app.scenario, { keepSelection: true });
  app.log(app.target.kind === 'live' ? `Running on the live gateway at ${app.target.ws}` : 'Running in this tab.');
}
