// The canvas as an editor: selecting, moving and connecting nodes, the
// add buttons, and messages drawn moving along the routes the core traced.

import { $ } from '../dom.js';
import { Canvas } from './canvas.js';
import { connectNodes, addNode } from './edits.js';
import { renderEdit, showTab, openWhy } from './sidebar.js';

/** Creates the canvas (app.canvas) and wires it and the add buttons to the scenario. */
export function wireCanvas(app) {
  app.canvas = new Canvas($('#pg-canvas'), {
    onSelect: (sel) => select(app, sel),
    onMove: () => app.updateUrl(),
    onConnect: (from, to) => connect(app, from, to),
    onMessage: (id) => openWhy(app, id),
  });
  for (const b of document.querySelectorAll('[data-add]')) {
    b.addEventListener('click', () => app.change((s) => { addNode(s, b.dataset.add); }));
  }
}

function select(app, sel) {
  app.selection = sel;
  app.canvas.select(sel);
  renderEdit(app);
  if (sel) showTab(app, 'edit');
}

function connect(app, from, to) {
  app.change((s) => {
    const { ok, error, selection } = connectNodes(s, from, to);
    if (!ok) app.log(error);
    if (selection) app.selection = selection;
  });
}

/** Draws trace event `e` of message `m` on the canvas (tab target only: a live one is not traced). */
export function animate(app, e, m) {
  if (app.target.kind !== 'tab') return;
  const { canvas, scenario } = app;
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
