// Publish a message through the API (POST /api/exchanges/{vh}/{x}/publish).
// On a queue page the exchange is the default one and the routing key the
// queue's name.

import { h, select, field } from '../dom.js';
import { ArgsEditor } from './args.js';
import { attempt } from './notify.js';

const PROPS = ['content_type', 'content_encoding', 'correlation_id', 'reply_to', 'expiration', 'message_id', 'type', 'user_id', 'app_id'];

/** target: { vhost, exchange, routingKey? } — a fixed routing key hides that field. */
export function publishForm(ctx, target) {
  const key = h('input', { name: 'routing_key', autocomplete: 'off' });
  const mode = select({ name: 'delivery_mode' }, [['1', '1 - Non-persistent'], ['2', '2 - Persistent']], '2');
  const priority = h('input', { name: 'priority', inputmode: 'numeric' });
  const headers = new ArgsEditor({ label: 'Headers', name: 'headers' });
  const props = Object.fromEntries(PROPS.map((p) => [p, h('input', { name: p, autocomplete: 'off' })]));
  const payload = h('textarea', { name: 'payload', rows: 4 });
  const encoding = select({ name: 'payload_encoding' }, [['string', 'String'], ['base64', 'Base64']], 'string');
  const result = h('output', { class: 'result' });
  const submit = async (e) => {
    e.preventDefault();
    let properties;
    try {
      properties = { delivery_mode: Number(mode.value) };
      const hd = headers.collect();
      if (Object.keys(hd).length) properties.headers = hd;
      for (const p of PROPS) if (props[p].value !== '') properties[p] = props[p].value;
      if (priority.value.trim() !== '') {
        const n = Number(priority.value);
        if (!Number.isInteger(n) || n < 0 || n > 255) throw new Error('priority: 0–255');
        properties.priority = n;
      }
    } catch (err) {
      return attempt(() => { throw err; });
    }
    const routingKey = target.routingKey ?? key.value;
    result.textContent = '';
    const r = await attempt(() => ctx.api.publish(target.vhost, target.exchange, {
      routing_key: routingKey, payload: payload.value, payload_encoding: encoding.value, properties,
    }));
    if (r) {
      result.textContent = r.routed ? 'Message published.' : 'Message published, but not routed.';
      result.className = r.routed ? 'result ok' : 'result warn';
      ctx.store.refresh();
    }
  };
  return {
    el: h('form', { class: 'publish', dataset: { form: 'publish' }, onsubmit: submit },
      h('div', { class: 'grid2' },
        target.routingKey === undefined && field('Routing key', key),
        field('Delivery mode', mode), field('Priority', priority)),
      h('details', null, h('summary', null, 'Properties and headers'),
        h('div', { class: 'grid2' }, PROPS.map((p) => field(p, props[p]))), headers.el),
      field('Payload', payload), field('Payload encoding', encoding),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Publish message'), result)),
  };
}
