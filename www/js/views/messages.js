// Get messages (basic.get with one of four ack modes) and browse them
// without consuming (Warren's /browse extension); both render the same list.

import { h, replace, select, field } from '../dom.js';
import { ACK_MODES } from '../api.js';
import { args as fmtArgs } from '../format.js';
import { attempt } from './notify.js';

function messageCard(m, i) {
  const props = m.properties && !Array.isArray(m.properties) ? m.properties : {};
  const { headers, ...rest } = props;
  const rows = [
    ['Exchange', m.exchange === '' ? '(AMQP default)' : m.exchange],
    ['Routing key', m.routing_key],
    ['Redelivered', String(Boolean(m.redelivered))],
    m.message_count !== undefined && ['Remaining in queue', String(m.message_count)],
    ['Properties', fmtArgs(rest)],
    headers && ['Headers', fmtArgs(headers)],
    ['Payload', `${m.payload_bytes ?? ''} bytes, encoding: ${m.payload_encoding ?? ''}`],
  ].filter(Boolean);
  return h('article', { class: 'message', dataset: { index: i } },
    h('h4', null, `Message ${i + 1}`),
    h('dl', null, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v ?? '')])),
    h('pre', { class: 'payload' }, m.payload ?? ''));
}

export function renderMessages(list, container, emptyText) {
  if (!Array.isArray(list) || !list.length) return replace(container, h('p', { class: 'muted' }, emptyText));
  return replace(container, list.map(messageCard));
}

/** The "Get messages" form for queue `{vhost, name}`. */
export function getForm(ctx, queue) {
  const ackmode = select({ name: 'ackmode' }, ACK_MODES, 'ack_requeue_true');
  const encoding = select({ name: 'encoding' }, [['auto', 'Auto string / base64'], ['base64', 'base64']], 'auto');
  const count = h('input', { name: 'count', type: 'number', min: 1, value: 1 });
  const truncate = h('input', { name: 'truncate', type: 'number', min: 1, value: 50000 });
  const out = h('div', { class: 'messages', dataset: { messages: 'get' } });
  const submit = async (e) => {
    e.preventDefault();
    const list = await attempt(() => ctx.api.getMessages(queue.vhost, queue.name, {
      count: Number(count.value) || 1, ackmode: ackmode.value, encoding: encoding.value, truncate: Number(truncate.value) || undefined,
    }));
    if (list) {
      renderMessages(list, out, 'Queue is empty.');
      ctx.store.refresh();
    }
  };
  return {
    el: h('form', { class: 'get', dataset: { form: 'get' }, onsubmit: submit },
      h('p', { class: 'warn' }, 'Getting messages is a destructive action unless they are requeued.'),
      h('div', { class: 'grid2' }, field('Ack mode', ackmode), field('Encoding', encoding), field('Messages', count), field('Truncate (bytes)', truncate)),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Get message(s)')), out),
  };
}

/** "Browse" (Warren extension): shows ready messages, leaves them queued. */
export function browseForm(ctx, queue) {
  const count = h('input', { name: 'count', type: 'number', min: 1, value: 10 });
  const out = h('div', { class: 'messages', dataset: { messages: 'browse' } });
  const submit = async (e) => {
    e.preventDefault();
    const list = await attempt(() => ctx.api.browse(queue.vhost, queue.name, Number(count.value) || 10));
    if (list) renderMessages(list, out, 'No ready messages.');
  };
  return {
    el: h('form', { class: 'browse', dataset: { form: 'browse' }, onsubmit: submit },
      h('p', { class: 'muted' }, 'Shows ready messages in delivery order without consuming them.'),
      h('div', { class: 'grid2' }, field('Messages', count)),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Browse')), out),
  };
}
