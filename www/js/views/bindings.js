// All bindings, with unbind and the "Add binding" form.

import { h } from '../dom.js';
import { args } from '../format.js';
import { listView } from './list.js';
import { exchangeLink, destinationLink } from './links.js';
import { bindingForm } from './forms.js';
import { attempt } from './notify.js';

/** The columns of a bindings table; `omit` drops some (e.g. 'source'). */
export function bindingColumns(ctx, omit = []) {
  return [
    { key: 'vhost', label: 'Virtual host', value: (b) => b.vhost },
    { key: 'source', label: 'Source', value: (b) => b.source, cell: (b) => exchangeLink(b.vhost, b.source) },
    { key: 'destination_type', label: 'Type', value: (b) => b.destination_type },
    { key: 'destination', label: 'Destination', value: (b) => b.destination, cell: (b) => destinationLink(b.vhost, b.destination_type, b.destination) },
    { key: 'routing_key', label: 'Routing key', value: (b) => b.routing_key, cell: (b) => h('code', null, b.routing_key) },
    { key: 'arguments', label: 'Arguments', value: (b) => args(b.arguments) },
    {
      key: 'action', label: '', value: () => '',
      cell: (b) => (b.source === '' ? '' : h('button', {
        class: 'small danger', type: 'button',
        onclick: async () => { if (await attempt(() => ctx.api.unbind(b), 'Binding removed')) ctx.store.refresh(); },
      }, 'Unbind')),
    },
  ].filter((c) => !omit.includes(c.key));
}

export function bindingKey(b) {
  return [b.vhost, b.source, b.destination_type, b.destination, b.properties_key].join('\u0000');
}

export function mount(ctx) {
  return listView(ctx, {
    title: 'Bindings', kind: 'bindings', columns: bindingColumns(ctx), rowKey: bindingKey,
    sort: { key: 'source', dir: 1 },
    below: [bindingForm(ctx).el],
  });
}
