// The exchange list and the "Add exchange" form.

import { rate, statRate } from '../format.js';
import { listView } from './list.js';
import { exchangeLink, features } from './links.js';
import { exchangeForm } from './forms.js';

export function mount(ctx) {
  return listView(ctx, {
    title: 'Exchanges', kind: 'exchanges', rowKey: (x) => `${x.vhost}\u0000${x.name}`,
    columns: [
      { key: 'vhost', label: 'Virtual host', value: (x) => x.vhost },
      { key: 'name', label: 'Name', value: (x) => x.name, cell: (x) => exchangeLink(x.vhost, x.name) },
      { key: 'type', label: 'Type', value: (x) => x.type },
      { key: 'features', label: 'Features', value: (x) => Object.keys(x.arguments || {}).join(' '), cell: features },
      { key: 'in', label: 'Rate in', numeric: true, value: (x) => statRate(x.message_stats, 'publish_in'), cell: (x) => rate(statRate(x.message_stats, 'publish_in')) },
      { key: 'out', label: 'Rate out', numeric: true, value: (x) => statRate(x.message_stats, 'publish_out'), cell: (x) => rate(statRate(x.message_stats, 'publish_out')) },
    ],
    below: [exchangeForm(ctx).el],
  });
}
