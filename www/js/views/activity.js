// Connections, channels and consumers.

import { h } from '../dom.js';
import { num, rate, bytes, time, statRate, args } from '../format.js';
import { listView } from './list.js';
import { queueLink } from './links.js';
import { attempt } from './notify.js';

export function connections(ctx) {
  return listView(ctx, {
    title: 'Connections', kind: 'connections', rowKey: (c) => c.name, empty: 'No connections.',
    columns: [
      { key: 'name', label: 'Name', value: (c) => c.name },
      { key: 'vhost', label: 'Virtual host', value: (c) => c.vhost },
      { key: 'user', label: 'User', value: (c) => c.user },
      { key: 'client', label: 'Client', value: (c) => [c.client_properties?.product, c.client_properties?.version].filter(Boolean).join(' ') },
      { key: 'protocol', label: 'Protocol', value: (c) => c.protocol },
      { key: 'state', label: 'State', value: (c) => c.state },
      { key: 'channels', label: 'Channels', numeric: true, value: (c) => c.channels, cell: (c) => num(c.channels) },
      { key: 'recv', label: 'From client', numeric: true, value: (c) => c.recv_oct_details?.rate, cell: (c) => (c.recv_oct_details ? `${bytes(c.recv_oct_details.rate)}/s` : '') },
      { key: 'send', label: 'To client', numeric: true, value: (c) => c.send_oct_details?.rate, cell: (c) => (c.send_oct_details ? `${bytes(c.send_oct_details.rate)}/s` : '') },
      { key: 'connected_at', label: 'Connected', numeric: true, value: (c) => c.connected_at, cell: (c) => time(c.connected_at) },
      {
        key: 'close', label: '', value: () => '',
        cell: (c) => h('button', {
          type: 'button', class: 'small danger',
          onclick: async () => {
            if (confirm(`Close connection ${c.name}?`) && await attempt(() => ctx.api.closeConnection(c.name), 'Connection closed')) ctx.store.refresh();
          },
        }, 'Close'),
      },
    ],
  });
}

export function channels(ctx) {
  return listView(ctx, {
    title: 'Channels', kind: 'channels', rowKey: (c) => c.name, empty: 'No channels.',
    columns: [
      { key: 'name', label: 'Channel', value: (c) => c.name },
      { key: 'vhost', label: 'Virtual host', value: (c) => c.vhost },
      { key: 'user', label: 'User', value: (c) => c.user },
      { key: 'mode', label: 'Mode', value: (c) => `${c.confirm ? 'C' : ''}${c.transactional ? 'T' : ''}` },
      { key: 'state', label: 'State', value: (c) => c.state },
      { key: 'consumers', label: 'Consumers', numeric: true, value: (c) => c.consumer_count, cell: (c) => num(c.consumer_count) },
      { key: 'prefetch', label: 'Prefetch', numeric: true, value: (c) => c.prefetch_count, cell: (c) => num(c.prefetch_count) },
      { key: 'unacked', label: 'Unacked', numeric: true, value: (c) => c.messages_unacknowledged, cell: (c) => num(c.messages_unacknowledged) },
      { key: 'publish', label: 'Publish', numeric: true, value: (c) => statRate(c.message_stats, 'publish'), cell: (c) => rate(statRate(c.message_stats, 'publish')) },
      { key: 'deliver', label: 'Deliver / get', numeric: true, value: (c) => statRate(c.message_stats, 'deliver_get'), cell: (c) => rate(statRate(c.message_stats, 'deliver_get')) },
      { key: 'ack', label: 'Ack', numeric: true, value: (c) => statRate(c.message_stats, 'ack'), cell: (c) => rate(statRate(c.message_stats, 'ack')) },
    ],
  });
}

export function consumers(ctx) {
  return listView(ctx, {
    title: 'Consumers', kind: 'consumers', empty: 'No consumers.', vhostOf: (c) => c.queue?.vhost,
    rowKey: (c) => `${c.channel_details?.name}\u0000${c.consumer_tag}`,
    columns: [
      { key: 'vhost', label: 'Virtual host', value: (c) => c.queue?.vhost },
      { key: 'queue', label: 'Queue', value: (c) => c.queue?.name, cell: (c) => queueLink(c.queue?.vhost, c.queue?.name) },
      { key: 'channel', label: 'Channel', value: (c) => c.channel_details?.name },
      { key: 'tag', label: 'Consumer tag', value: (c) => c.consumer_tag },
      { key: 'ack', label: 'Ack required', value: (c) => (c.ack_required ? 'yes' : 'no') },
      { key: 'exclusive', label: 'Exclusive', value: (c) => (c.exclusive ? 'yes' : 'no') },
      { key: 'prefetch', label: 'Prefetch', numeric: true, value: (c) => c.prefetch_count, cell: (c) => num(c.prefetch_count) },
      { key: 'active', label: 'Active', value: (c) => c.activity_status ?? (c.active ? 'up' : 'waiting') },
      { key: 'arguments', label: 'Arguments', value: (c) => args(c.arguments) },
    ],
  });
}
