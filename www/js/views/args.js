// A key/value/type editor for AMQP tables (x-arguments, headers, binding
// arguments). collect() returns a plain object or throws on a bad value.

import { h, select } from '../dom.js';

const TYPES = [['string', 'String'], ['number', 'Number'], ['boolean', 'Boolean'], ['json', 'JSON']];

function convert(type, raw, key) {
  switch (type) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new Error(`${key}: not a number: ${raw}`);
      return n;
    }
    case 'boolean':
      if (!/^(true|false)$/i.test(raw.trim())) throw new Error(`${key}: use true or false`);
      return raw.trim().toLowerCase() === 'true';
    case 'json':
      try {
        return JSON.parse(raw);
      } catch (e) {
        throw new Error(`${key}: invalid JSON (${e.message})`);
      }
    default:
      return raw;
  }
}

export class ArgsEditor {
  constructor({ label = 'Arguments', name = 'args' } = {}) {
    this.rows = h('div', { class: 'args-rows' });
    this.el = h('fieldset', { class: 'args', dataset: { args: name } }, h('legend', null, label), this.rows,
      h('button', { type: 'button', class: 'link', onclick: () => this.add() }, '+ add'));
    this.add();
  }

  /** Adds a row, optionally filled in. */
  add(key = '', value = '', type = 'string') {
    const row = h('div', { class: 'args-row' },
      h('input', { class: 'arg-key', placeholder: 'key', value: key, 'aria-label': 'argument key' }),
      h('span', null, '='),
      h('input', { class: 'arg-value', placeholder: 'value', value, 'aria-label': 'argument value' }),
      select({ class: 'arg-type', 'aria-label': 'argument type' }, TYPES, type),
      h('button', { type: 'button', class: 'link', title: 'remove', onclick: () => row.remove() }, '×'));
    this.rows.appendChild(row);
    return row;
  }

  collect() {
    const out = {};
    for (const row of this.rows.children) {
      const key = row.querySelector('.arg-key').value.trim();
      if (!key) continue;
      out[key] = convert(row.querySelector('.arg-type').value, row.querySelector('.arg-value').value, key);
    }
    return out;
  }

  reset() {
    this.rows.replaceChildren();
    this.add();
  }
}
