// Getting scenarios in and out: the preset menu, the share link, restart,
// and RabbitMQ definitions export (with a download link) and import. The
// core writes and reads the definitions (through the engine), so export
// and import behave as the gateway's /api/definitions.

import { $, h } from '../dom.js';
import { PRESETS, preset } from './presets.js';
import { fromDefinitions } from './model.js';

/** The tab broker's definitions, as `GET /api/definitions` of a warren with the same objects. */
export function definitionsOf(app) {
  return app.engine.definitions();
}

/**
 * Loads the topology of definitions document `doc` (clients kept), read
 * as `POST /api/definitions` reads it: throws the reason the API would
 * refuse it with; the bindings it would skip are logged and left out.
 */
export async function loadDefinitions(app, doc, title) {
  const { definitions, skipped } = app.engine.readDefinitions(doc);
  for (const why of skipped) app.log(`import: ${why}`);
  await app.load(fromDefinitions(definitions, { ...app.scenario, title, preset: null }));
}

/** Wires the preset menu, Share, Reset, and definitions export and import. */
export function wireSharing(app) {
  wirePresets(app);
  $('#pg-share').addEventListener('click', () => share(app));
  $('#pg-reset').addEventListener('click', () => app.load(app.scenario, { keepSelection: true }));
  wireDefinitions(app);
}

function wirePresets(app) {
  const presetSel = $('#pg-preset');
  presetSel.append(...Object.entries(PRESETS).map(([k, p]) => h('option', { value: k }, p.title)));
  presetSel.addEventListener('change', () => { if (presetSel.value) app.load(preset(presetSel.value)); });
}

async function share(app) {
  app.updateUrl();
  const url = location.href;
  $('#pg-share-url').value = url;
  try { await navigator.clipboard.writeText(url); app.log('Share link copied to the clipboard.'); } catch { app.log('Share link is in the box next to the button.'); }
}

function wireDefinitions(app) {
  const defsText = $('#pg-defs');
  $('#pg-export').addEventListener('click', () => {
    defsText.value = JSON.stringify(definitionsOf(app), null, 2);
    const a = $('#pg-download');
    a.href = URL.createObjectURL(new Blob([defsText.value], { type: 'application/json' }));
    a.hidden = false;
  });
  $('#pg-import').addEventListener('click', async () => {
    try { await loadDefinitions(app, JSON.parse(defsText.value), 'Imported definitions'); app.log('Definitions imported.'); } catch (e) { app.log(`import: ${e.message}`); }
  });
  $('#pg-import-file').addEventListener('change', async (e) => { defsText.value = await e.target.files[0].text(); });
}
