// Overview: live message-rate chart, totals and listeners.

import { h, replace } from '../dom.js';
import { num } from '../format.js';
import { MESSAGE_SERIES } from '../rates.js';
import { RateChart } from './chart.js';

function stat(label, value, key) {
  return h('div', { class: 'stat', dataset: { stat: key } }, h('span', { class: 'stat-value' }, value), h('span', { class: 'stat-label' }, label));
}

export function mount(ctx) {
  const chart = new RateChart({ series: MESSAGE_SERIES });
  const queued = h('div', { class: 'stats' });
  const objects = h('div', { class: 'stats' });
  const about = h('dl', { class: 'about' });
  const listeners = h('tbody');
  const el = h('section', { class: 'view overview' },
    h('h2', null, 'Overview'),
    chart.el,
    h('h3', null, 'Queued messages'), queued,
    h('h3', null, 'Totals'), objects,
    h('div', { class: 'cols' },
      h('div', null, h('h3', null, 'Node'), about),
      h('div', null, h('h3', null, 'Listeners'), h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Protocol'), h('th', null, 'Address'), h('th', { class: 'num' }, 'Port'))), listeners))));

  return {
    el,
    update(store) {
      chart.update(store.history);
      const o = store.data('overview');
      if (!o) return;
      const q = o.queue_totals || {};
      replace(queued, stat('Ready', num(q.messages_ready ?? 0), 'ready'), stat('Unacked', num(q.messages_unacknowledged ?? 0), 'unacked'),
        stat('Total', num(q.messages ?? 0), 'messages'));
      const t = o.object_totals || {};
      replace(objects, ['connections', 'channels', 'exchanges', 'queues', 'consumers'].map((k) => stat(k[0].toUpperCase() + k.slice(1), num(t[k] ?? 0), k)));
      const ms = o.message_stats && !Array.isArray(o.message_stats) ? o.message_stats : {};
      replace(about, [
        ['Product', `${o.product_name ?? ''} ${o.product_version ?? ''}`],
        ['Compatible with', o.rabbitmq_version ? `RabbitMQ ${o.rabbitmq_version}` : ''],
        ['Node', o.node ?? ''],
        ['Cluster', o.cluster_name ?? ''],
        ['Messages published', num(ms.publish ?? 0)],
        ['Messages delivered', num(ms.deliver_get ?? 0)],
      ].map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
      replace(listeners, (o.listeners || []).map((l) => h('tr', null, h('td', null, l.protocol ?? ''), h('td', null, l.ip_address ?? ''), h('td', { class: 'num' }, String(l.port ?? '')))));
    },
  };
}
