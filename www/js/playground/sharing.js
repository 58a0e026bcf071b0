// Getting scenarios in and out: the preset menu, the share link, restart,
// and RabbitMQ definitions export (with a download link) and import.

import { $, h } from '../dom.js';
import { PRESETS, preset } from './presets.js';
import { toDefinitions, fromDefinitions } from './model.js';

/** The scenario's topology as definitions, stamped with the tab broker's version. */
export function definitionsOf(app) {
  return toDefinitions(app.scenario, '/', app.engine.rabbitVersion());
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
    try { await app.load(fromDefinitions(JSON.parse(defsText.value), { ...app.scenario, title: 'Imported definitions', preset: null })); app.log('Definitions imported.'); } catch (e) { app.log(`import: ${e.message}`); }
  });
  $('#pg-import-file').addEventListener('change', async (e) => { defsText.value = await e.target.files[0].text(); });
}
