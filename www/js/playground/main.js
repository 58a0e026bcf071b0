// The playground page: loads the wasm core and wires the parts around one
// shared `app` (below): the canvas editor (editing.js), the side bar
// (sidebar.js), the clock (clock-controls.js), the status line
// (status.js), presets / share / definitions (sharing.js), the live warren
// (live.js) and the script panel (script.js). window.playground exposes
// the same actions to tests.

import init, { TabBroker, FrameDecoder } from '../../pkg/web.js';
import { AMQPWebSocketClient } from '../../vendor/amqp-client/amqp-websocket-client.mjs';
import { $, h } from '../dom.js';
import { Engine } from './engine.js';
import { preset } from './presets.js';
import { normalize, fromFragment, emptyScenario, clone } from './model.js';
import { Inspector } from './panels.js';
import { loadScenario, changeScenario, updateUrl } from './loading.js';
import { wireCanvas, animate } from './editing.js';
import { wireSidebar, openWhy } from './sidebar.js';
import { wireClock, setPlaying, markSpeed, advance } from './clock-controls.js';
import { startRefreshing } from './status.js';
import { wireSharing, definitionsOf } from './sharing.js';
import { wireLive } from './live.js';
import { wireScript, runScript } from './script.js';

/**
 * The page's state and its engine, shared by every part. The parts read
 * and set the state fields; load, change and updateUrl (loading.js) are
 * here as methods because nearly every part restarts the scenario.
 */
function createApp() {
  const logEl = $('#pg-log');
  const app = {
    scenario: normalize(emptyScenario()),
    selection: null, // {kind, name} or {kind: 'binding', index}
    target: { kind: 'tab' }, // or {kind: 'live', ws, api, user, password}
    speed: 1,
    playing: false,
    busy: false, // an advance of the virtual clock is running
    currentTab: 'edit',
    liveSnapshot: null, // the live target's queues and consumers
    canvas: null, // set by wireCanvas
    api: null, // window.playground
    log(text) {
      logEl.prepend(h('div', {}, text));
      while (logEl.childElementCount > 50) logEl.lastChild.remove();
    },
    load: (s, opts) => loadScenario(app, s, opts),
    change: (mutate) => changeScenario(app, mutate),
    updateUrl: () => updateUrl(app),
  };
  app.inspector = new Inspector();
  app.engine = new Engine({
    pkg: { TabBroker, FrameDecoder },
    Client: AMQPWebSocketClient,
    hooks: {
      onLog: app.log,
      onFrames: (id, dir, frames, at) => app.inspector.add(id, dir, frames, at),
      onTrace: (e, m) => animate(app, e, m),
    },
  });
  app.inspector.names = () => new Map([...(app.engine.network?.names || [])].map(([id, n]) => [id, n.replace(/^tab:playground\//, '')]));
  return app;
}

/** window.playground: what the tests (and the script panel) drive the page with. */
function playgroundApi(app) {
  return {
    engine: app.engine,
    inspector: app.inspector,
    loadPreset: (name) => app.load(preset(name)),
    load: (s) => app.load(s),
    advance: (ms) => advance(app, ms),
    scenario: () => clone(app.scenario),
    deliveries: () => app.engine.tracker.deliveries.slice(),
    messages: () => [...app.engine.tracker.messages.values()],
    snapshot: () => app.engine.snapshot(),
    openWhy: (id) => openWhy(app, id),
    runScript: (src) => runScript(app, src),
    setSpeed: (s) => { app.speed = s; markSpeed(app); },
    setPlaying: (p) => setPlaying(app, p),
    shareUrl: () => { app.updateUrl(); return location.href; },
    definitions: () => definitionsOf(app),
  };
}

/** The scenario of the URL (#s=… or #preset=…, else 'hello'), playing unless ?paused. */
async function start(app) {
  const frag = fromFragment(location.hash);
  app.speed = frag?.scenario?.settings?.speed || 1;
  markSpeed(app);
  await app.load(frag?.scenario || preset(frag?.preset || 'hello') || preset('hello'));
  setPlaying(app, !new URLSearchParams(location.search).has('paused'));
  document.body.dataset.ready = 'true';
}

async function main() {
  await init();
  const app = createApp();
  wireSidebar(app);
  wireCanvas(app);
  wireClock(app);
  startRefreshing(app);
  wireSharing(app);
  wireLive(app);
  wireScript(app);
  app.api = playgroundApi(app);
  window.playground = app.api;
  await start(app);
}

main().catch((e) => {
  console.error(e);
  document.body.dataset.ready = 'error';
  const el = document.querySelector('#pg-log');
  if (el) el.textContent = `The playground could not start: ${e.message}`;
});
