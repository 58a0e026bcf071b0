// Declare forms: queues (with RabbitMQ's x-arguments), exchanges and
// bindings. Each returns { el } and calls `done()` after a success.

import { h, select, field } from '../dom.js';
import { ArgsEditor } from './args.js';
import { attempt } from './notify.js';

function form(title, name, onsubmit, ...body) {
  return h('form', { class: 'declare', dataset: { form: name }, onsubmit: (e) => { e.preventDefault(); onsubmit(e.target); } },
    h('h3', null, title), body, h('div', { class: 'actions' }, h('button', { type: 'submit' }, title)));
}

function vhostSelect(ctx, value) {
  const names = ctx.vhosts();
  return select({ name: 'vhost' }, names.length ? names : ['/'], value ?? ctx.currentVhost() ?? names[0] ?? '/');
}

/** Sets `args[key]` from an input when it is filled in. */
function put(args, key, input, kind = 'string') {
  const raw = input.value.trim();
  if (raw === '') return;
  if (kind === 'number') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${key}: expected a non-negative integer`);
    args[key] = n;
  } else args[key] = raw;
}

export function queueForm(ctx, done = () => {}) {
  const i = {
    vhost: vhostSelect(ctx),
    name: h('input', { name: 'name', required: true, autocomplete: 'off' }),
    type: select({ name: 'type' }, [['classic', 'Classic'], ['quorum', 'Quorum']], 'classic'),
    durable: select({ name: 'durable' }, [['true', 'Durable'], ['false', 'Transient']], 'true'),
    autoDelete: h('input', { type: 'checkbox', name: 'auto_delete' }),
    ttl: h('input', { name: 'x-message-ttl', inputmode: 'numeric', placeholder: 'ms' }),
    expires: h('input', { name: 'x-expires', inputmode: 'numeric', placeholder: 'ms' }),
    maxLength: h('input', { name: 'x-max-length', inputmode: 'numeric' }),
    maxBytes: h('input', { name: 'x-max-length-bytes', inputmode: 'numeric' }),
    overflow: select({ name: 'x-overflow' }, [['', 'default (drop-head)'], 'drop-head', 'reject-publish', 'reject-publish-dlx'], ''),
    dlx: h('input', { name: 'x-dead-letter-exchange' }),
    dlrk: h('input', { name: 'x-dead-letter-routing-key' }),
    maxPriority: h('input', { name: 'x-max-priority', inputmode: 'numeric', placeholder: '1–255' }),
    sac: h('input', { type: 'checkbox', name: 'x-single-active-consumer' }),
  };
  const custom = new ArgsEditor({ label: 'Custom arguments', name: 'queue' });
  const submit = async () => {
    let args;
    try {
      args = custom.collect();
      put(args, 'x-message-ttl', i.ttl, 'number');
      put(args, 'x-expires', i.expires, 'number');
      put(args, 'x-max-length', i.maxLength, 'number');
      put(args, 'x-max-length-bytes', i.maxBytes, 'number');
      put(args, 'x-overflow', i.overflow);
      put(args, 'x-dead-letter-exchange', i.dlx);
      put(args, 'x-dead-letter-routing-key', i.dlrk);
      put(args, 'x-max-priority', i.maxPriority, 'number');
      if (i.sac.checked) args['x-single-active-consumer'] = true;
      if (i.type.value !== 'classic') args['x-queue-type'] = i.type.value;
    } catch (e) {
      return attempt(() => { throw e; });
    }
    const vhost = i.vhost.value;
    const name = i.name.value;
    const ok = await attempt(() => ctx.api.declareQueue(vhost, name, {
      durable: i.durable.value === 'true', auto_delete: i.autoDelete.checked, arguments: args,
    }), `Queue ${name} declared`);
    if (ok) {
      i.name.value = '';
      ctx.store.refresh();
      done({ vhost, name });
    }
  };
  const el = form('Add queue', 'queue', submit,
    h('div', { class: 'grid2' },
      field('Virtual host', i.vhost), field('Name', i.name), field('Type', i.type), field('Durability', i.durable),
      field('Auto delete', i.autoDelete), field('Single active consumer', i.sac)),
    h('details', { open: true }, h('summary', null, 'Arguments'),
      h('div', { class: 'grid2' },
        field('Message TTL', i.ttl, 'x-message-ttl'), field('Auto expire', i.expires, 'x-expires'),
        field('Max length', i.maxLength, 'x-max-length'), field('Max length bytes', i.maxBytes, 'x-max-length-bytes'),
        field('Overflow behaviour', i.overflow, 'x-overflow'), field('Maximum priority', i.maxPriority, 'x-max-priority'),
        field('Dead letter exchange', i.dlx, 'x-dead-letter-exchange'), field('Dead letter routing key', i.dlrk, 'x-dead-letter-routing-key')),
      custom.el));
  return { el };
}

export function exchangeForm(ctx, done = () => {}) {
  const vhost = vhostSelect(ctx);
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const type = select({ name: 'type' }, ctx.exchangeTypes(), 'direct');
  const durable = select({ name: 'durable' }, [['true', 'Durable'], ['false', 'Transient']], 'true');
  const autoDelete = h('input', { type: 'checkbox', name: 'auto_delete' });
  const internal = h('input', { type: 'checkbox', name: 'internal' });
  const ae = h('input', { name: 'alternate-exchange' });
  const custom = new ArgsEditor({ label: 'Arguments', name: 'exchange' });
  const submit = async () => {
    let args;
    try {
      args = custom.collect();
      put(args, 'alternate-exchange', ae);
    } catch (e) {
      return attempt(() => { throw e; });
    }
    const n = name.value;
    const ok = await attempt(() => ctx.api.declareExchange(vhost.value, n, {
      type: type.value, durable: durable.value === 'true', auto_delete: autoDelete.checked, internal: internal.checked, arguments: args,
    }), `Exchange ${n} declared`);
    if (ok) {
      name.value = '';
      ctx.store.refresh();
      done({ vhost: vhost.value, name: n });
    }
  };
  return {
    el: form('Add exchange', 'exchange', submit,
      h('div', { class: 'grid2' }, field('Virtual host', vhost), field('Name', name), field('Type', type),
        field('Durability', durable), field('Auto delete', autoDelete), field('Internal', internal),
        field('Alternate exchange', ae, 'alternate-exchange')),
      custom.el),
  };
}

/**
 * A binding form. `fixed` pins some ends: { vhost, source } on an exchange
 * page, { vhost, destination, destinationType: 'queue' } on a queue page.
 */
export function bindingForm(ctx, fixed = {}, done = () => {}) {
  const vhost = fixed.vhost === undefined ? vhostSelect(ctx) : null;
  const source = h('input', { name: 'source', required: true, list: 'exchange-names', autocomplete: 'off' });
  const dtype = select({ name: 'destination_type' }, [['queue', 'To queue'], ['exchange', 'To exchange']], fixed.destinationType || 'queue');
  const destination = h('input', { name: 'destination', required: true, autocomplete: 'off' });
  const key = h('input', { name: 'routing_key', autocomplete: 'off' });
  const args = new ArgsEditor({ label: 'Arguments (headers exchanges: x-match = all | any, then header values)', name: 'binding' });
  const submit = async () => {
    let a;
    try {
      a = args.collect();
    } catch (e) {
      return attempt(() => { throw e; });
    }
    const vh = fixed.vhost ?? vhost.value;
    const src = fixed.source ?? source.value;
    const dt = fixed.destinationType ?? dtype.value;
    const dst = fixed.destination ?? destination.value;
    const ok = await attempt(() => ctx.api.bind(vh, src, dt, dst, { routing_key: key.value, arguments: a }), `Bound ${src} → ${dst}`);
    if (ok) {
      key.value = '';
      args.reset();
      ctx.store.refresh();
      done();
    }
  };
  const fields = [
    vhost && field('Virtual host', vhost),
    fixed.source === undefined && field('From exchange', source),
    fixed.destination === undefined && field('Destination type', dtype),
    fixed.destination === undefined && field('Destination', destination),
    field('Routing key', key),
  ];
  return { el: form(fixed.source !== undefined ? 'Add binding from this exchange' : fixed.destination !== undefined ? 'Add binding to this queue' : 'Add binding', 'binding', submit, h('div', { class: 'grid2' }, fields), args.el) };
}
