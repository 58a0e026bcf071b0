// One queue: details and rates, consumers, bindings, publish, get (four ack
// modes), browse without consuming, purge and delete.

import { h, replace, field } from '../dom.js';
import { num, rate, statRate, args, exchangeName } from '../format.js';
import { RateHistory } from '../rates.js';
import { go } from '../router.js';
import { list } from '../resources.js';
import { RateChart } from './chart.js';
import { DataTable } from './table.js';
import { bindingColumns, bindingKey } from './bindings.js';
import { bindingForm } from './forms.js';
import { publishForm } from './publish.js';
import { getForm, browseForm } from './messages.js';
import { attempt } from './notify.js';
import { features } from './links.js';
import { tracePanel } from './trace.js';

const SERIES = [
  { key: 'publish', label: 'Publish' },
  { key: 'deliver_get', label: 'Deliver / get' },
  { key: 'ack', label: 'Ack' },
  { key: 'redeliver', label: 'Redeliver' },
];

function section(title, ...body) {
  return h('section', { class: 'panel' }, h('h3', null, title), body);
}

export function mount(ctx, [vhost = '/', name = '']) {
  const key = `queue\u0000${vhost}\u0000${name}`;
  const bkey = `queue-bindings\u0000${vhost}\u0000${name}`;
  const untrack = [
    ctx.store.track(key, (s) => s.queue(vhost, name)),
    ctx.store.track(bkey, (s) => s.queueBindings(vhost, name)),
    ctx.store.track(...list('exchanges')),
  ];
  const history = new RateHistory(SERIES.map((x) => x.key));
  const chart = new RateChart({ series: SERIES, title: 'Message rates (this queue)', windowMs: 120000 });
  let lastAt = 0;
  const details = h('dl', { class: 'about' });
  const status = h('p', { class: 'error', hidden: true });
  const consumers = h('tbody');
  const bindings = new DataTable({ columns: bindingColumns(ctx, ['vhost', 'destination', 'destination_type']), rowKey: bindingKey, name: 'queue-bindings' });
  const names = h('datalist', { id: 'exchange-names' });
  const ifEmpty = h('input', { type: 'checkbox' });
  const ifUnused = h('input', { type: 'checkbox' });
  const target = { vhost, name };
  const trace = tracePanel(ctx, target);

  const purge = async () => {
    if (confirm(`Purge all ready messages from ${name}?`) && await attempt(() => ctx.api.purgeQueue(vhost, name), 'Queue purged')) ctx.store.refresh();
  };
  const del = async () => {
    if (!confirm(`Delete queue ${name}?`)) return;
    if (await attempt(() => ctx.api.deleteQueue(vhost, name, { ifEmpty: ifEmpty.checked, ifUnused: ifUnused.checked }), `Queue ${name} deleted`)) go('queues');
  };

  const el = h('section', { class: 'view queue', dataset: { queue: name, vhost } },
    h('h2', null, 'Queue ', h('span', { class: 'name' }, name), h('small', null, ` in virtual host ${vhost}`)),
    status,
    h('div', { class: 'cols' }, section('Details', details), chart.el),
    section('Consumers', h('table', null, h('thead', null, h('tr', null,
      ['Channel', 'Consumer tag', 'Ack required', 'Exclusive', 'Prefetch', 'Active'].map((t) => h('th', null, t)))), consumers)),
    section('Bindings', bindings.el, names, bindingForm(ctx, { vhost, destination: name, destinationType: 'queue' }).el),
    h('div', { class: 'cols' },
      section('Publish message', publishForm(ctx, { vhost, exchange: '', routingKey: name }).el),
      section('Get messages', getForm(ctx, target).el)),
    h('div', { class: 'cols' },
      section('Browse messages', browseForm(ctx, target).el),
      h('div', null,
        section('Purge', h('button', { type: 'button', class: 'danger', dataset: { action: 'purge' }, onclick: purge }, 'Purge messages')),
        section('Delete', h('div', { class: 'grid2' }, field('Only if empty', ifEmpty), field('Only if unused', ifUnused)),
          h('button', { type: 'button', class: 'danger', dataset: { action: 'delete' }, onclick: del }, 'Delete queue')))),
    section('Trace (live)', trace.el));

  return {
    el,
    update(store) {
      const e = store.entry(key);
      if (e) {
        status.hidden = !e.error;
        status.textContent = e.error ? (e.error.status === 404 ? 'This queue does not exist (any more).' : e.error.message) : '';
      }
      const q = e?.data;
      if (q && e.at !== lastAt && !e.error) {
        lastAt = e.at;
        history.push(e.at, q.message_stats);
        chart.update(history);
      }
      if (q) {
        const ms = q.message_stats && !Array.isArray(q.message_stats) ? q.message_stats : {};
        replace(details, [
          ['Type', q.type], ['Features', features(q)], ['State', q.state], ['Policy', q.policy ?? ''],
          ['Arguments', args(q.arguments)],
          ['Ready', num(q.messages_ready)], ['Unacked', num(q.messages_unacknowledged)], ['Total', num(q.messages)],
          ['Consumers', num(q.consumers)],
          ['Publish', rate(statRate(ms, 'publish'))], ['Deliver / get', rate(statRate(ms, 'deliver_get'))],
          ['Ack', rate(statRate(ms, 'ack'))],
        ].map(([k, v]) => [h('dt', null, k), h('dd', { dataset: { field: k.toLowerCase() } }, v ?? '')]));
        replace(consumers, (q.consumer_details || []).map((c) => h('tr', null,
          h('td', null, c.channel_details?.name ?? ''), h('td', null, c.consumer_tag ?? ''),
          h('td', null, c.ack_required ? 'yes' : 'no'), h('td', null, c.exclusive ? 'yes' : 'no'),
          h('td', null, num(c.prefetch_count)), h('td', null, c.activity_status ?? (c.active ? 'up' : '')))));
      }
      const b = store.data(bkey);
      if (Array.isArray(b)) bindings.update(b);
      const xs = store.data('exchanges');
      if (Array.isArray(xs)) {
        replace(names, xs.filter((x) => x.vhost === vhost && x.name !== '').map((x) => h('option', { value: x.name }, exchangeName(x.name))));
      }
    },
    destroy() {
      untrack.forEach((u) => u());
      trace.destroy();
    },
  };
}
