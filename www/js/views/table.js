// A sortable, filterable table. Columns:
//   { key, label, value: row => sortable value, cell?: row => Node|string,
//     numeric?: bool }
// update(rows) replaces the body only, so the filter keeps focus.

import { h, replace } from '../dom.js';

const MAX_ROWS = 1000;

export class DataTable {
  constructor({ columns, rowKey, empty = 'Nothing here yet.', filterLabel = 'Filter', sort, name }) {
    this.columns = columns;
    this.rowKey = rowKey;
    this.empty = empty;
    this.rows = [];
    this.filter = '';
    this.sortKey = sort?.key ?? columns[0].key;
    this.sortDir = sort?.dir ?? 1;
    this.filterInput = h('input', {
      type: 'search', placeholder: `${filterLabel}…`, 'aria-label': filterLabel, class: 'filter',
      oninput: () => { this.filter = this.filterInput.value.toLowerCase(); this.render(); },
    });
    this.count = h('span', { class: 'count' });
    this.head = h('tr');
    this.body = h('tbody');
    this.el = h('div', { class: 'table', dataset: { table: name || '' } },
      h('div', { class: 'table-tools' }, this.filterInput, this.count),
      h('div', { class: 'table-scroll' }, h('table', null, h('thead', null, this.head), this.body)));
    this.renderHead();
  }

  renderHead() {
    replace(this.head, this.columns.map((c) => {
      const sorted = c.key === this.sortKey;
      return h('th', {
        class: [c.numeric && 'num', 'sortable'],
        'aria-sort': sorted ? (this.sortDir > 0 ? 'ascending' : 'descending') : 'none',
        tabindex: 0,
        onclick: () => this.sortBy(c.key),
        onkeydown: (e) => { if (e.key === 'Enter') this.sortBy(c.key); },
      }, c.label, sorted ? (this.sortDir > 0 ? ' ▲' : ' ▼') : '');
    }));
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDir = -this.sortDir;
    else {
      this.sortKey = key;
      this.sortDir = this.columns.find((c) => c.key === key)?.numeric ? -1 : 1;
    }
    this.renderHead();
    this.render();
  }

  update(rows) {
    this.rows = rows || [];
    this.render();
  }

  text(c, row) {
    const v = c.value(row);
    return v === undefined || v === null ? '' : String(v);
  }

  render() {
    const col = this.columns.find((c) => c.key === this.sortKey) || this.columns[0];
    const f = this.filter;
    let rows = f ? this.rows.filter((r) => this.columns.some((c) => this.text(c, r).toLowerCase().includes(f))) : this.rows.slice();
    rows.sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      if (typeof x === 'number' || typeof y === 'number') return ((x ?? -Infinity) - (y ?? -Infinity)) * this.sortDir || 0;
      return String(x ?? '').localeCompare(String(y ?? '')) * this.sortDir;
    });
    const total = rows.length;
    rows = rows.slice(0, MAX_ROWS);
    const items = (n) => `${n} item${n === 1 ? '' : 's'}`;
    this.count.textContent = total === this.rows.length ? items(total) : `${total} of ${items(this.rows.length)}`;
    if (total > MAX_ROWS) this.count.textContent += ` (first ${MAX_ROWS} shown)`;
    if (!rows.length) {
      replace(this.body, h('tr', null, h('td', { class: 'empty', colspan: this.columns.length }, this.rows.length ? 'No match.' : this.empty)));
      return;
    }
    replace(this.body, rows.map((r) => h('tr', { dataset: { key: this.rowKey ? this.rowKey(r) : '' } },
      this.columns.map((c) => h('td', { class: c.numeric && 'num' }, c.cell ? c.cell(r) : this.text(c, r))))));
  }
}
