// Definitions: export (download as JSON) and import (upload a JSON file),
// through GET and POST /api/definitions.

import { h } from '../dom.js';
import { attempt, notify } from './notify.js';

const PARTS = ['vhosts', 'users', 'permissions', 'policies', 'exchanges', 'queues', 'bindings'];

function summarize(defs) {
  return PARTS.filter((k) => Array.isArray(defs?.[k])).map((k) => `${defs[k].length} ${k}`).join(', ');
}

export function mount(ctx) {
  const exportResult = h('output', { class: 'result' });
  const file = h('input', { type: 'file', accept: 'application/json,.json', name: 'file', required: true });
  const importResult = h('output', { class: 'result' });

  const download = async () => {
    const defs = await attempt(() => ctx.api.definitions());
    if (!defs) return;
    const blob = new Blob([`${JSON.stringify(defs, null, 2)}\n`], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, '-');
    const a = h('a', { href: url, download: `warren-definitions-${stamp}.json`, hidden: true });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    exportResult.textContent = `Exported ${summarize(defs)}.`;
  };

  const upload = async (e) => {
    e.preventDefault();
    const f = file.files[0];
    if (!f) return;
    let defs;
    try {
      defs = JSON.parse(await f.text());
    } catch (err) {
      notify(`${f.name} is not valid JSON: ${err.message}`, 'error');
      return;
    }
    importResult.textContent = '';
    if (await attempt(() => ctx.api.importDefinitions(defs), 'Definitions imported')) {
      importResult.textContent = `Imported ${summarize(defs) || 'the file'}.`;
      ctx.store.refresh();
    }
  };

  return {
    el: h('section', { class: 'view definitions' },
      h('h2', null, 'Definitions'),
      h('section', { class: 'panel' }, h('h3', null, 'Export'),
        h('p', { class: 'muted' }, 'Users, virtual hosts, permissions, policies, exchanges, queues and bindings as one JSON file (RabbitMQ format).'),
        h('div', { class: 'actions' }, h('button', { type: 'button', dataset: { action: 'export' }, onclick: download }, 'Download definitions'), exportResult)),
      h('form', { class: 'panel', dataset: { form: 'import' }, onsubmit: upload }, h('h3', null, 'Import'),
        h('p', { class: 'muted' }, 'Definitions from Warren or RabbitMQ are merged into what exists.'),
        file, h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Upload definitions'), importResult))),
    update() {},
  };
}
