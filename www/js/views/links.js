// Links to object pages, shared by the views.

import { h } from '../dom.js';
import { href } from '../router.js';
import { exchangeName } from '../format.js';

export function queueLink(vhost, name) {
  return h('a', { href: href('queues', vhost, name), class: 'name' }, name);
}

export function exchangeLink(vhost, name) {
  return h('a', { href: href('exchanges', vhost, name), class: 'name' }, exchangeName(name));
}

/** A binding end: queue or exchange. */
export function destinationLink(vhost, type, name) {
  return type === 'exchange' ? exchangeLink(vhost, name) : queueLink(vhost, name);
}

/** Feature tags as RabbitMQ abbreviates them (D, AD, TTL, Lim, DLX…). */
const ARG_TAGS = {
  'x-message-ttl': 'TTL', 'x-expires': 'Exp', 'x-max-length': 'Lim', 'x-max-length-bytes': 'Lim B',
  'x-overflow': 'Ovfl', 'x-dead-letter-exchange': 'DLX', 'x-dead-letter-routing-key': 'DLK',
  'x-max-priority': 'Pri', 'x-single-active-consumer': 'SAC', 'alternate-exchange': 'AE',
  'x-delivery-limit': 'DlvLim',
};

export function features(o) {
  const tags = [];
  if (o.durable) tags.push(['D', 'durable']);
  if (o.auto_delete) tags.push(['AD', 'auto-delete']);
  if (o.exclusive) tags.push(['Excl', 'exclusive']);
  if (o.internal) tags.push(['I', 'internal']);
  for (const [k, v] of Object.entries(o.arguments || {})) {
    if (k === 'x-queue-type') continue;
    tags.push([ARG_TAGS[k] || 'Args', `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`]);
  }
  if (o.policy) tags.push([o.policy, 'policy']);
  return h('span', { class: 'features' }, tags.map(([t, title]) => h('abbr', { title }, t)));
}
