// One exchange: details, publish, bindings from it (and to it), delete.

import { h, replace } from '../dom.js';
import { rate, statRate, args, exchangeName } from '../format.js';
import { go } from '../router.js';
import { DataTable } from './table.js';
import { bindingColumns, bindingKey } from './bindings.js';
import { bindingForm } from './forms.js';
import { publishForm } from './publish.js';
import { attempt } from './notify.js';
import { features } from './links.js';

function section(title, ...body) {
  return h('section', { class: 'panel' }, h('h3', null, title), body);
}

export function mount(ctx, [vhost = '/', name = '']) {
  const key = `exchange\u0000${vhost}\u0000${name}`;
  const skey = `exchange-source\u0000${vhost}\u0000${name}`;
  const dkey = `exchange-destination\u0000${vhost}\u0000${name}`;
  const untrack = [
    ctx.store.track(key, (s) => s.exchange(vhost, name)),
    ctx.store.track(skey, (s) => s.exchangeBindings(vhost, name, 'source')),
    ctx.store.track(dkey, (s) => s.exchangeBindings(vhost, name, 'destination')),
  ];
  const details = h('dl', { class: 'about' });
  const status = h('p', { class: 'error', hidden: true });
  const from = new DataTable({ columns: bindingColumns(ctx, ['vhost', 'source']), rowKey: bindingKey, name: 'exchange-source', empty: 'No bindings from this exchange.' });
  const to = new DataTable({ columns: bindingColumns(ctx, ['vhost', 'destination', 'destination_type']), rowKey: bindingKey, name: 'exchange-destination', empty: 'No bindings to this exchange.' });
  const isDefault = name === '';

  const del = async () => {
    if (confirm(`Delete exchange ${name}?`) && await attempt(() => ctx.api.deleteExchange(vhost, name), `Exchange ${name} deleted`)) go('exchanges');
  };

  const el = h('section', { class: 'view exchange', dataset: { exchange: name, vhost } },
    h('h2', null, 'Exchange ', h('span', { class: 'name' }, exchangeName(name)), h('small', null, ` in virtual host ${vhost}`)),
    status,
    section('Details', details),
    section('Bindings from this exchange', isDefault
      ? h('p', { class: 'muted' }, 'The default exchange is bound to every queue by its name.')
      : [from.el, bindingForm(ctx, { vhost, source: name }).el]),
    section('Bindings to this exchange', to.el),
    section('Publish message', publishForm(ctx, { vhost, exchange: name }).el),
    isDefault ? null : section('Delete', h('button', { type: 'button', class: 'danger', dataset: { action: 'delete' }, onclick: del }, 'Delete exchange')));

  return {
    el,
    update(store) {
      const e = store.entry(key);
      if (e) {
        status.hidden = !e.error;
        status.textContent = e.error ? (e.error.status === 404 ? 'This exchange does not exist (any more).' : e.error.message) : '';
      }
      const x = e?.data;
      if (x) {
        const ms = x.message_stats && !Array.isArray(x.message_stats) ? x.message_stats : {};
        replace(details, [
          ['Type', x.type], ['Features', features(x)], ['Policy', x.policy ?? ''], ['Arguments', args(x.arguments)],
          ['Rate in', rate(statRate(ms, 'publish_in'))], ['Rate out', rate(statRate(ms, 'publish_out'))],
        ].map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '')]));
      }
      const s = store.data(skey);
      if (Array.isArray(s)) from.update(s);
      const d = store.data(dkey);
      if (Array.isArray(d)) to.update(d);
    },
    destroy() {
      untrack.forEach((u) => u());
    },
  };
}
