// Loading a scenario: every change restarts the engine on the new scenario
// (a fresh broker in the tab, or the topology redeclared on a live warren),
// redraws the canvas and the edit form, and puts it in the share URL.

import { $ } from '../dom.js';
import { PRESETS } from './presets.js';
import { normalize, toFragment, clone } from './model.js';
import { renderEdit } from './sidebar.js';
import { refresh } from './status.js';

/** Runs scenario `s` on the current target; keepSelection keeps the selected node. */
export async function loadScenario(app, s, { keepSelection = false } = {}) {
  app.scenario = normalize(s);
  if (!keepSelection) app.selection = null;
  $('#pg-title').textContent = app.scenario.title || 'Custom scenario';
  $('#pg-preset').value = app.scenario.preset && PRESETS[app.scenario.preset] ? app.scenario.preset : '';
  app.inspector.clear();
  app.canvas.render(app.scenario, { queues: [], consumers: [] });
  app.canvas.select(app.selection);
  renderEdit(app);
  updateUrl(app);
  await app.engine.start(clone(app.scenario), app.target);
  refresh(app);
}

/** Applies `mutate` to a copy of the scenario and restarts it (fresh broker). */
export async function changeScenario(app, mutate) {
  const next = clone(app.scenario);
  mutate(next);
  await loadScenario(app, normalize(next), { keepSelection: true });
}

/** Puts the scenario, with the current speed, in the URL fragment. */
export function updateUrl(app) {
  const frag = toFragment(withSpeed(app.scenario, app.speed));
  history.replaceState(null, '', `#${frag}`);
}

const withSpeed = (s, speed) => ({ ...s, settings: { ...s.settings, speed } });
