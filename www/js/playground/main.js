// The playground page: wires the wasm core, the engine, the canvas and the
// panels. window.playground exposes the same actions to tests.

import init, { TabBroker, FrameDecoder } from '../../pkg/web.js';
import { AMQPWebSocketClient } from '../../vendor/amqp-client/amqp-websocket-client.mjs';
import { Api } from '../api.js';
import { Engine } from './engine.js';
import { Canvas } from './canvas.js';
import { PRESETS, preset } from './presets.js';
import { normalize, toFragment, fromFragment, toDefinitions, fromDefinitions, diffDefinitions, emptyScenario } from './model.js';
import { h } from '../dom.js';
import { editForm, whyPanel, Inspector, SAMPLE_SCRIPT } from './panels.js';

const $ = (sel) => document.querySelector(sel);
const clone = (x) => JSON.parse(JSON.stringify(x));

async function main() {
  await init();
  const pkg = { TabBroker, FrameDecoder };
  const inspector = new Inspector();
  const logEl = $('#pg-log');
  const log = (text) => {
    logEl.prepend(h('div', {}, text));
    while (logEl.childElementCount > 50) logEl.lastChild.remove();
  };
  let canvas;
  const engine = new Engine({
    pkg,
    Client: AMQPWebSocketClient,
    hooks: {
      onLog: log,
      onFrames: (id, dir, frames, at) => inspector.add(id, dir, frames, at),
      onTrace: (e, m) => animate(e, m),
    },
  });
  inspector.names = () => new Map([...(engine.network?.names || [])].map(([id, n]) => [id, n.replace(/^tab:playground\//, '')]));

  let scenario = normalize(emptyScenario());
  let selection = null;
  let target = { kind: 'tab' };
  let speed = 1;
  let playing = false;

  // --- canvas and panels ---------------------------------------------------
  const side = $('#pg-side');
  const tabs = {};
  for (const b of document.querySelectorAll('[data-tab]')) {
    tabs[b.dataset.tab] = b;
    b.addEventListener('click', () => showTab(b.dataset.tab));
  }
  let currentTab = 'edit';
  function showTab(name) {
    currentTab = name;
    for (const [k, b] of Object.entries(tabs)) b.classList.toggle('active', k === name);
    for (const p of side.querySelectorAll('.pg-pane')) p.hidden = p.dataset.pane !== name;
    if (name === 'frames') inspector.render();
    if (name === 'messages') renderMessages();
  }
  $('[data-pane="frames"]').append(inspector.el);

  canvas = new Canvas($('#pg-canvas'), {
    onSelect: (sel) => { selection = sel; canvas.select(sel); renderEdit(); if (sel) showTab('edit'); },
    onMove: () => updateUrl(),
    onConnect: (from, to) => connect(from, to),
    onMessage: (id) => openWhy(id),
  });

  function renderEdit() {
    $('[data-pane="edit"]').replaceChildren(editForm(scenario, selection, {
      onApply: (mutate) => change((s) => mutate(s)),
      onDelete: () => change((s) => remove(s, selection)),
    }));
  }

  function remove(s, sel) {
    if (sel.kind === 'binding') s.bindings.splice(sel.index, 1);
    if (sel.kind === 'exchange') { s.exchanges = s.exchanges.filter((x) => x.name !== sel.name); s.bindings = s.bindings.filter((b) => b.source !== sel.name && !(b.destination_type === 'exchange' && b.destination === sel.name)); }
    if (sel.kind === 'queue') { s.queues = s.queues.filter((x) => x.name !== sel.name); s.bindings = s.bindings.filter((b) => !(b.destination_type === 'queue' && b.destination === sel.name)); }
    if (sel.kind === 'producer') s.producers = s.producers.filter((x) => x.name !== sel.name);
    if (sel.kind === 'consumer') s.consumers = s.consumers.filter((x) => x.name !== sel.name);
    selection = null;
  }

  function connect(from, to) {
    const [fk, fn] = split(from), [tk, tn] = split(to);
    change((s) => {
      if (fk === 'producer' && tk === 'exchange') Object.assign(s.producers.find((p) => p.name === fn), { exchange: tn });
      else if (fk === 'producer' && tk === 'queue') Object.assign(s.producers.find((p) => p.name === fn), { exchange: '', routingKeys: [tn] });
      else if (fk === 'exchange' && (tk === 'queue' || tk === 'exchange')) {
        const type = s.exchanges.find((x) => x.name === fn)?.type;
        const routing_key = type === 'topic' ? '#' : type === 'direct' ? (tk === 'queue' ? tn : '') : '';
        const args = type === 'headers' ? { 'x-match': 'all' } : {};
        s.bindings.push({ source: fn, destination: tn, destination_type: tk, routing_key, arguments: args });
        selection = { kind: 'binding', index: s.bindings.length - 1 };
      } else if (fk === 'queue' && tk === 'consumer') Object.assign(s.consumers.find((c) => c.name === tn), { queue: fn });
      else if (fk === 'queue' && tk === 'exchange') Object.assign(s.queues.find((q) => q.name === fn).arguments, { 'x-dead-letter-exchange': tn });
      else log(`cannot connect ${fk} to ${tk}`);
    });
  }
  const split = (id) => { const i = id.indexOf(':'); return [id.slice(0, i), id.slice(i + 1)]; };

  function unique(list, base) {
    let i = 1;
    while (list.some((x) => x.name === `${base}${i}`)) i++;
    return `${base}${i}`;
  }
  const adders = {
    producer: (s) => s.producers.push({ name: unique(s.producers, 'producer'), exchange: '', routingKeys: [s.queues[0]?.name || ''], rate: 1 }),
    exchange: (s) => s.exchanges.push({ name: unique(s.exchanges, 'exchange'), type: 'direct' }),
    queue: (s) => s.queues.push({ name: unique(s.queues, 'queue') }),
    consumer: (s) => s.consumers.push({ name: unique(s.consumers, 'consumer'), queue: s.queues[0]?.name || '' }),
  };
  for (const b of document.querySelectorAll('[data-add]')) b.addEventListener('click', () => change((s) => { adders[b.dataset.add](s); }));

  /** Applies a change to the scenario and restarts it (fresh broker). */
  async function change(mutate) {
    const next = clone(scenario);
    mutate(next);
    await load(normalize(next), { keepSelection: true });
  }

  async function load(s, { keepSelection = false } = {}) {
    scenario = normalize(s);
    if (!keepSelection) selection = null;
    $('#pg-title').textContent = scenario.title || 'Custom scenario';
    $('#pg-preset').value = scenario.preset && PRESETS[scenario.preset] ? scenario.preset : '';
    inspector.clear();
    canvas.render(scenario, { queues: [], consumers: [] });
    canvas.select(selection);
    renderEdit();
    updateUrl();
    await engine.start(clone(scenario), target);
    refresh();
  }

  function updateUrl() {
    const frag = toFragment(stripRuntime(scenario));
    history.replaceState(null, '', `#${frag}`);
  }
  const stripRuntime = (s) => ({ ...s, settings: { ...s.settings, speed } });

  // --- messages on the canvas ----------------------------------------------
  function animate(e, m) {
    if (target.kind !== 'tab') return;
    const consumer = (tag) => scenario.consumers.find((c) => c.name === tag);
    switch (e.event) {
      case 'published':
        if (e.exchange) canvas.fly(e.message, `producer:${m.producer}`, `exchange:${e.exchange}`);
        break;
      case 'routed': {
        const to = `${e.destination_type}:${e.destination}`;
        const from = e.exchange ? `exchange:${e.exchange}` : `producer:${m.producer}`;
        canvas.fly(e.message, from, to);
        break;
      }
      case 'alternate_exchange': canvas.fly(e.message, `exchange:${e.from}`, `exchange:${e.to}`, { cls: 'pg-msg-ae' }); break;
      case 'unroutable': canvas.flash(`exchange:${m.exchange}`, 'pg-flash-bad'); break;
      case 'dead_lettered':
        if (e.exchange) canvas.fly(e.message, `queue:${e.queue}`, `exchange:${e.exchange}`, { cls: 'pg-msg-dlx' });
        else canvas.flash(`queue:${e.queue}`, 'pg-flash-bad');
        break;
      case 'expired': case 'overflow': canvas.flash(`queue:${e.queue}`, 'pg-flash-bad'); break;
      case 'delivered': canvas.fly(e.message, `queue:${e.queue}`, `consumer:${e.consumer_tag}`, { linger: consumer(e.consumer_tag)?.ack === 'manual' }); break;
      case 'acked': canvas.settle(e.message); break;
      case 'rejected': canvas.settle(e.message, 'pg-msg-rejected'); break;
      default: break;
    }
  }

  function openWhy(id) {
    $('[data-pane="why"]').replaceChildren(whyPanel(engine.tracker, id, { onOpen: openWhy }));
    showTab('why');
  }

  function renderMessages() {
    const t = engine.tracker;
    const ids = t.order.slice(-60).reverse();
    $('[data-pane="messages"]').replaceChildren(
      h('p', { class: 'muted' }, target.kind === 'tab' ? 'The latest messages the core traced (click for why):' : 'A live gateway is not traced; the canvas shows its queue depths.'),
      h('ul', { class: 'pg-messages' }, ...ids.map((id) => {
        const m = t.messages.get(id);
        return h('li', {}, h('a', { href: '#', 'data-message': id, onclick: (e) => { e.preventDefault(); openWhy(id); } },
          `#${id} ${m.routing_key ?? ''}`), ` — ${m.fate || ''}`);
      })));
  }

  // --- the clock -------------------------------------------------------------
  const clockEl = $('#pg-clock');
  let busy = false;
  let last = performance.now();
  async function frame(now) {
    const dt = Math.min(250, now - last);
    last = now;
    if (playing && !busy) {
      busy = true;
      try { await engine.driver.advanceTo(engine.clock.now + dt * speed); } finally { busy = false; }
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);
  function setPlaying(p) {
    playing = p;
    $('#pg-play').textContent = p ? 'Pause' : 'Play';
    $('#pg-play').setAttribute('aria-pressed', String(p));
  }
  $('#pg-play').addEventListener('click', () => setPlaying(!playing));
  for (const b of document.querySelectorAll('[data-speed]')) {
    b.addEventListener('click', () => { speed = Number(b.dataset.speed); markSpeed(); updateUrl(); });
  }
  function markSpeed() { for (const b of document.querySelectorAll('[data-speed]')) b.classList.toggle('active', Number(b.dataset.speed) === speed); }
  for (const b of document.querySelectorAll('[data-step]')) {
    b.addEventListener('click', async () => { setPlaying(false); await advance(Number(b.dataset.step)); });
  }
  async function advance(ms) {
    while (busy) await new Promise((r) => setTimeout(r, 5));
    busy = true;
    try { await engine.advance(ms); } finally { busy = false; }
    refresh();
  }

  // --- periodic refresh --------------------------------------------------------
  let liveSnapshot = null;
  async function refresh() {
    clockEl.textContent = `t = ${(engine.clock.now / 1000).toFixed(1)} s`;
    let snap = engine.snapshot();
    if (target.kind === 'live') snap = liveSnapshot;
    if (snap) canvas.render(scenario, snap);
    const o = snap?.overview;
    const counts = Object.entries(engine.counts).map(([k, c]) => `${k}: ${c.published ? `${c.published} sent` : `${c.received} received`}`).join(' · ');
    $('#pg-stats').textContent = (o ? `publish ${o.message_stats.publish} (${o.message_stats.publish_details.rate}/s) · delivered ${o.message_stats.deliver_get} · ready ${o.queue_totals.messages_ready} · unacked ${o.queue_totals.messages_unacknowledged} — ` : '') + counts;
    if (currentTab === 'messages') renderMessages();
  }
  setInterval(refresh, 250);
  setInterval(async () => {
    if (target.kind !== 'live') return;
    try {
      const [queues, consumers] = await Promise.all([target.api.get('queues/%2F'), target.api.get('consumers/%2F')]);
      liveSnapshot = { queues, consumers, overview: null };
    } catch (e) { log(`live: ${e.message}`); }
  }, 1000);

  // --- presets, share, definitions, live ---------------------------------------
  const presetSel = $('#pg-preset');
  presetSel.append(...Object.entries(PRESETS).map(([k, p]) => h('option', { value: k }, p.title)));
  presetSel.addEventListener('change', () => { if (presetSel.value) load(preset(presetSel.value)); });
  $('#pg-share').addEventListener('click', async () => {
    updateUrl();
    const url = location.href;
    $('#pg-share-url').value = url;
    try { await navigator.clipboard.writeText(url); log('Share link copied to the clipboard.'); } catch { log('Share link is in the box next to the button.'); }
  });
  $('#pg-reset').addEventListener('click', () => load(scenario, { keepSelection: true }));

  // Stamped with the tab broker's version; a live target has none.
  const definitions = () => toDefinitions(scenario, '/', engine.rabbitVersion());
  const defsText = $('#pg-defs');
  $('#pg-export').addEventListener('click', () => {
    defsText.value = JSON.stringify(definitions(), null, 2);
    const a = $('#pg-download');
    a.href = URL.createObjectURL(new Blob([defsText.value], { type: 'application/json' }));
    a.hidden = false;
  });
  $('#pg-import').addEventListener('click', async () => {
    try { await load(fromDefinitions(JSON.parse(defsText.value), { ...scenario, title: 'Imported definitions', preset: null })); log('Definitions imported.'); } catch (e) { log(`import: ${e.message}`); }
  });
  $('#pg-import-file').addEventListener('change', async (e) => { defsText.value = await e.target.files[0].text(); });

  const liveApi = () => {
    const base = $('#pg-live-url').value.replace(/\/*$/, '/');
    return new Api({ user: $('#pg-live-user').value, password: $('#pg-live-pass').value, base: `${base}api/` });
  };
  const wsUrl = () => $('#pg-live-url').value.replace(/^http/, 'ws').replace(/\/*$/, '/');
  const diffEl = $('#pg-diff');
  let lastDiff = [];
  $('#pg-live-diff').addEventListener('click', async () => {
    try {
      lastDiff = diffDefinitions(toDefinitions(scenario), await liveApi().definitions());
      diffEl.replaceChildren(...(lastDiff.length ? lastDiff.map((d) => h('li', { class: `pg-diff-${d.action}` }, `${d.action === 'add' ? '+' : d.action === 'remove' ? '−' : '~'} ${d.kind} ${d.name}`)) : [h('li', {}, 'No differences.')]));
      $('#pg-live-apply').disabled = !lastDiff.length;
    } catch (e) { log(`live diff: ${e.message}`); }
  });
  $('#pg-live-apply').addEventListener('click', async () => {
    const api = liveApi();
    const prune = $('#pg-live-prune').checked;
    const v = '/';
    let done = 0;
    const liveBindings = prune ? await api.get('bindings/%2F') : [];
    for (const d of lastDiff) {
      try {
        if (d.action === 'remove' && !prune) continue;
        if (d.kind === 'exchange') {
          if (d.action !== 'add') await api.deleteExchange(v, d.name);
          if (d.action !== 'remove') await api.declareExchange(v, d.name, { type: d.want.type, durable: d.want.durable, internal: d.want.internal, arguments: d.want.arguments });
        } else if (d.kind === 'queue') {
          if (d.action !== 'add') await api.deleteQueue(v, d.name);
          if (d.action !== 'remove') await api.declareQueue(v, d.name, { durable: d.want.durable, arguments: d.want.arguments });
        }
        done++;
      } catch (e) { log(`apply ${d.kind} ${d.name}: ${e.message}`); }
    }
    for (const d of lastDiff.filter((x) => x.kind === 'binding')) {
      try {
        if (d.action === 'add') await api.bind(v, d.want.source, d.want.destination_type, d.want.destination, { routing_key: d.want.routing_key, arguments: d.want.arguments });
        else if (prune) {
          const b = liveBindings.find((x) => x.source === d.have.source && x.destination === d.have.destination && x.destination_type === d.have.destination_type && x.routing_key === d.have.routing_key);
          if (b) await api.unbind(b);
        }
        done++;
      } catch (e) { log(`apply binding ${d.name}: ${e.message}`); }
    }
    log(`Applied ${done} change(s) to the live gateway.`);
    $('#pg-live-diff').click();
  });
  $('#pg-live-load').addEventListener('click', async () => {
    try { await load(fromDefinitions(await liveApi().definitions(), { ...scenario, title: 'Loaded from the live gateway', preset: null })); } catch (e) { log(`live load: ${e.message}`); }
  });
  const targetSel = $('#pg-target');
  targetSel.addEventListener('change', async () => {
    target = targetSel.value === 'live'
      ? { kind: 'live', ws: wsUrl(), api: liveApi(), user: $('#pg-live-user').value, password: $('#pg-live-pass').value }
      : { kind: 'tab' };
    if (target.kind === 'live') setPlaying(true);
    await load(scenario, { keepSelection: true });
    log(target.kind === 'live' ? `Running on the live gateway at ${target.ws}` : 'Running in this tab.');
  });
  if (location.protocol.startsWith('http')) $('#pg-live-url').value = location.origin + '/';

  // --- script panel --------------------------------------------------------------
  const code = $('#pg-code');
  code.value = SAMPLE_SCRIPT;
  const out = $('#pg-code-out');
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
  async function runScript(src = code.value) {
    out.textContent = '';
    const lines = [];
    const say = (...a) => { const s = a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' '); lines.push(s); out.textContent += s + '\n'; };
    const url = target.kind === 'tab' ? 'tab://playground/script' : target.ws;
    try {
      await new AsyncFunction('AMQPWebSocketClient', 'url', 'log', 'playground', src)(AMQPWebSocketClient, url, say, api);
    } catch (e) { say(`error: ${e.message}`); }
    refresh();
    return lines;
  }
  $('#pg-run').addEventListener('click', () => runScript());

  // --- start ---------------------------------------------------------------------
  const api = {
    engine, inspector,
    loadPreset: (name) => load(preset(name)),
    load: (s) => load(s),
    advance,
    scenario: () => clone(scenario),
    deliveries: () => engine.tracker.deliveries.slice(),
    messages: () => [...engine.tracker.messages.values()],
    snapshot: () => engine.snapshot(),
    openWhy,
    runScript,
    setSpeed: (s) => { speed = s; markSpeed(); },
    setPlaying,
    shareUrl: () => { updateUrl(); return location.href; },
    definitions,
  };
  window.playground = api;
  const frag = fromFragment(location.hash);
  speed = frag?.scenario?.settings?.speed || 1;
  markSpeed();
  await load(frag?.scenario || preset(frag?.preset || 'hello') || preset('hello'));
  setPlaying(!new URLSearchParams(location.search).has('paused'));
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  console.error(e);
  document.body.dataset.ready = 'error';
  const el = document.querySelector('#pg-log');
  if (el) el.textContent = `The playground could not start: ${e.message}`;
});
