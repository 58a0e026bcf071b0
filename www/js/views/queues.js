// The queue list and the "Add queue" form.

import { num, rate, statRate } from '../format.js';
import { listView } from './list.js';
import { queueLink, features } from './links.js';
import { queueForm } from './forms.js';

export const QUEUE_COLUMNS = [
  { key: 'vhost', label: 'Virtual host', value: (q) => q.vhost },
  { key: 'name', label: 'Name', value: (q) => q.name, cell: (q) => queueLink(q.vhost, q.name) },
  { key: 'type', label: 'Type', value: (q) => q.type },
  { key: 'features', label: 'Features', value: (q) => Object.keys(q.arguments || {}).join(' '), cell: features },
  { key: 'state', label: 'State', value: (q) => q.state },
  { key: 'ready', label: 'Ready', numeric: true, value: (q) => q.messages_ready, cell: (q) => num(q.messages_ready) },
  { key: 'unacked', label: 'Unacked', numeric: true, value: (q) => q.messages_unacknowledged, cell: (q) => num(q.messages_unacknowledged) },
  { key: 'total', label: 'Total', numeric: true, value: (q) => q.messages, cell: (q) => num(q.messages) },
  { key: 'consumers', label: 'Consumers', numeric: true, value: (q) => q.consumers, cell: (q) => num(q.consumers) },
  { key: 'in', label: 'Incoming', numeric: true, value: (q) => statRate(q.message_stats, 'publish'), cell: (q) => rate(statRate(q.message_stats, 'publish')) },
  { key: 'out', label: 'Deliver / get', numeric: true, value: (q) => statRate(q.message_stats, 'deliver_get'), cell: (q) => rate(statRate(q.message_stats, 'deliver_get')) },
  { key: 'ack', label: 'Ack', numeric: true, value: (q) => statRate(q.message_stats, 'ack'), cell: (q) => rate(statRate(q.message_stats, 'ack')) },
];

export function mount(ctx) {
  return listView(ctx, {
    title: 'Queues', kind: 'queues', columns: QUEUE_COLUMNS, rowKey: (q) => `${q.vhost}\u0000${q.name}`,
    sort: { key: 'name', dir: 1 },
    below: [queueForm(ctx, ({ vhost, name }) => ctx.highlight?.(vhost, name)).el],
  });
}
