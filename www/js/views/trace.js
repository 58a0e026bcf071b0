// Warren extension: trace one queue of the live broker. Turns the core's
// trace events on for the queue and shows what happens to each message:
// which binding routed it, where it was delivered, acked, dead-lettered.

import { h, replace } from '../dom.js';
import { attempt } from './notify.js';

const POLL_MS = 1000;
const KEEP = 200;

function describe(e) {
  switch (e.event) {
    case 'published': return `published to '${e.exchange}' with key '${e.routing_key}'`;
    case 'routed': return `routed by ${e.exchange === '' ? 'the default exchange' : `'${e.exchange}'`} to ${e.destination_type} '${e.destination}' (binding '${e.routing_key}')`;
    case 'alternate_exchange': return `unroutable in '${e.from}': sent to alternate exchange '${e.to}'`;
    case 'unroutable': return e.returned ? 'unroutable: returned to the publisher' : 'unroutable: dropped';
    case 'enqueued': return `enqueued in '${e.queue}'${e.expires_at ? ` (expires at ${new Date(e.expires_at).toLocaleTimeString()})` : ''}`;
    case 'overflow': return `overflow (${e.mode}) in '${e.queue}'`;
    case 'expired': return `expired in '${e.queue}'`;
    case 'dead_lettered': return `dead-lettered from '${e.queue}' (${e.reason}) to '${e.exchange}' as message ${e.new_message}`;
    case 'delivered': return `delivered from '${e.queue}' to ${e.consumer_tag ? `consumer '${e.consumer_tag}'` : 'basic.get'} (tag ${e.delivery_tag}${e.redelivered ? ', redelivered' : ''})`;
    case 'acked': return `acked in '${e.queue}'`;
    case 'rejected': return `rejected in '${e.queue}'${e.requeue ? ' (requeue)' : ''}`;
    case 'requeued': return `requeued in '${e.queue}'`;
    case 'confirmed': return e.acked ? 'confirmed to the publisher' : 'nacked to the publisher';
    default: return e.event;
  }
}

/** A panel with start/stop and the latest events, newest last. */
export function tracePanel(ctx, { vhost, name }) {
  const rows = [];
  const body = h('tbody');
  let timer = null;
  const state = h('span', { class: 'muted' }, 'off');
  const render = () => replace(body, rows.map((e) => h('tr', { dataset: { event: e.event } },
    h('td', null, new Date(e.at).toLocaleTimeString()), h('td', null, String(e.message)), h('td', null, describe(e)))));
  const poll = async () => {
    try {
      const events = await ctx.api.get(`queues/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}/trace`);
      if (Array.isArray(events) && events.length) {
        rows.push(...events);
        rows.splice(0, Math.max(0, rows.length - KEEP));
        render();
      }
    } catch { /* a failed poll is retried on the next tick */ }
  };
  const start = async () => {
    if (!await attempt(() => ctx.api.request('PUT', `queues/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}/trace`, {}), 'Tracing on')) return;
    state.textContent = 'on';
    clearInterval(timer);
    timer = setInterval(poll, POLL_MS);
  };
  const stop = async () => {
    clearInterval(timer);
    timer = null;
    state.textContent = 'off';
    await attempt(() => ctx.api.request('DELETE', `queues/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}/trace`), 'Tracing off');
  };
  return {
    el: h('div', { class: 'trace', dataset: { form: 'trace' } },
      h('p', { class: 'muted' }, 'Follows each message through this queue: routing, delivery, acks, dead-lettering. One traced queue at a time.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', dataset: { action: 'trace-start' }, onclick: start }, 'Start tracing'),
        h('button', { type: 'button', dataset: { action: 'trace-stop' }, onclick: stop }, 'Stop'), ' ', state),
      h('table', null, h('thead', null, h('tr', null, ['Time', 'Message', 'What happened'].map((t) => h('th', null, t)))), body)),
    destroy() { clearInterval(timer); },
  };
}
