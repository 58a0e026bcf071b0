// The side bar's tabs: the edit form of the selection, a message's "why",
// the latest messages and the frame inspector. The panels themselves are
// built by panels.js; this shows them and wires their callbacks.

import { $, h } from '../dom.js';
import { editForm, whyPanel } from './panels.js';
import { removeSelected } from './edits.js';

/** Makes the tab buttons switch panes and puts the inspector in its pane. */
export function wireSidebar(app) {
  for (const b of document.querySelectorAll('[data-tab]')) {
    b.addEventListener('click', () => showTab(app, b.dataset.tab));
  }
  $('[data-pane="frames"]').append(app.inspector.el);
}

/** Shows pane `name` (edit, why, messages, frames, ...). */
export function showTab(app, name) {
  app.currentTab = name;
  for (const b of document.querySelectorAll('[data-tab]')) b.classList.toggle('active', b.dataset.tab === name);
  for (const p of $('#pg-side').querySelectorAll('.pg-pane')) p.hidden = p.dataset.pane !== name;
  if (name === 'frames') app.inspector.render();
  if (name === 'messages') renderMessages(app);
}

/** The edit form of the current selection; applying or deleting restarts the scenario. */
export function renderEdit(app) {
  $('[data-pane="edit"]').replaceChildren(editForm(app.scenario, app.selection, {
    onApply: (mutate) => app.change((s) => mutate(s)),
    onDelete: () => app.change((s) => { removeSelected(s, app.selection); app.selection = null; }),
  }));
}

/** The "why" of message `id`, shown in its tab. */
export function openWhy(app, id) {
  $('[data-pane="why"]').replaceChildren(whyPanel(app.engine.tracker, id, { onOpen: (other) => openWhy(app, other) }));
  showTab(app, 'why');
}

/** The latest traced messages, newest first; each opens its why. */
export function renderMessages(app) {
  const t = app.engine.tracker;
  const ids = t.order.slice(-60).reverse();
  $('[data-pane="messages"]').replaceChildren(
    h('p', { class: 'muted' }, app.target.kind === 'tab' ? 'The latest messages the core traced (click for why):' : 'A live gateway is not traced; the canvas shows its queue depths.'),
    h('ul', { class: 'pg-messages' }, ...ids.map((id) => messageItem(app, id, t.messages.get(id)))));
}

function messageItem(app, id, m) {
  const open = (e) => { e.preventDefault(); openWhy(app, id); };
  return h('li', {}, h('a', { href: '#', 'data-message': id, onclick: open }, `#${id} ${m.routing_key ?? ''}`), ` — ${m.fate || ''}`);
}
