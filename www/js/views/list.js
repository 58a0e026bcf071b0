// A list page: one tracked /api collection in a DataTable, filtered by the
// selected vhost, with optional forms underneath.

import { h } from '../dom.js';
import { list } from '../resources.js';
import { DataTable } from './table.js';

/** opts: { title, kind, columns, rowKey, sort, below: [Node] } */
export function listView(ctx, opts) {
  const table = new DataTable({ columns: opts.columns, rowKey: opts.rowKey, sort: opts.sort, name: opts.kind, empty: opts.empty });
  const error = h('p', { class: 'error', hidden: true });
  const untrack = ctx.store.track(...list(opts.kind));
  const el = h('section', { class: `view list list-${opts.kind}` }, h('h2', null, opts.title), error, table.el, opts.below || []);
  return {
    el,
    update(store) {
      const e = store.entry(opts.kind);
      if (!e) return;
      error.hidden = !e.error;
      error.textContent = e.error ? `Could not load ${opts.kind}: ${e.error.message}` : '';
      const rows = Array.isArray(e.data) ? e.data : [];
      table.update(rows.filter((r) => ctx.inVhost(opts.vhostOf ? opts.vhostOf(r) : r.vhost)));
    },
    destroy: untrack,
  };
}
