// The dashboard: a Shell plus one view per route, all fed by one Store.
// mountDashboard() reads everything through `source`: the Api that main.js
// logged in with.

import { EXCHANGE_TYPES } from './amqp.js';
import { Store } from './store.js';
import { parse } from './router.js';
import { list } from './resources.js';
import { pref, setPref } from './session.js';
import { Shell } from './views/shell.js';
import * as overview from './views/overview.js';
import * as queues from './views/queues.js';
import * as queue from './views/queue.js';
import * as exchanges from './views/exchanges.js';
import * as exchange from './views/exchange.js';
import * as bindings from './views/bindings.js';
import * as activity from './views/activity.js';
import * as topology from './views/topology.js';
import * as definitions from './views/definitions.js';

function viewFor(route) {
  const { view, params } = route;
  if (view === 'queues' && params.length >= 2) return queue.mount;
  if (view === 'exchanges' && params.length >= 2) return exchange.mount;
  return {
    overview: overview.mount, queues: queues.mount, exchanges: exchanges.mount, bindings: bindings.mount,
    connections: activity.connections, channels: activity.channels, consumers: activity.consumers,
    topology: topology.mount, definitions: definitions.mount,
  }[view] || overview.mount;
}

/**
 * Mounts the dashboard into `root`. opts: { source, user, onLogout,
 * onUnauthorized(error) }. Returns { store, destroy() }.
 */
export function mountDashboard(root, { source, user, onLogout, onUnauthorized }) {
  const interval = Number(pref('interval', '5000')) || 5000;
  const store = new Store(source, { interval });
  let vhostFilter = pref('vhost', '');
  const untrackVhosts = store.track(...list('vhosts'));
  // For the alarm banner; a source without alarms() has none.
  const untrackAlarms = store.track('alarms', (s) => (s.alarms ? s.alarms() : []));
  const vhosts = () => (store.data('vhosts') || []).map((v) => v.name).sort();
  const ctx = {
    api: source,
    store,
    vhosts,
    currentVhost: () => vhostFilter || null,
    inVhost: (v) => !vhostFilter || v === vhostFilter,
    exchangeTypes: () => store.data('overview')?.exchange_types?.map((t) => t.name) || EXCHANGE_TYPES,
  };
  const shell = new Shell({
    user,
    interval,
    vhost: vhostFilter,
    onInterval: (ms) => { setPref('interval', ms); store.setInterval(ms); },
    onVhost: (v) => { vhostFilter = v; setPref('vhost', v); current?.update(store); },
    onLogout,
  });
  root.replaceChildren(shell.el);

  let current = null;
  function route() {
    current?.destroy?.();
    const r = parse();
    shell.setActive(r.view);
    current = viewFor(r)(ctx, r.params);
    shell.main.replaceChildren(current.el);
    current.update(store);
    store.refresh();
  }
  const unsubscribe = store.subscribe(() => {
    shell.update(store, vhosts());
    current?.update(store);
  });
  const unError = store.onError((e) => {
    if (e?.status === 401) onUnauthorized?.(e);
  });
  const onVisible = () => { if (!document.hidden) store.refresh(); };
  addEventListener('hashchange', route);
  document.addEventListener('visibilitychange', onVisible);
  route();
  store.start();

  return {
    store,
    destroy() {
      removeEventListener('hashchange', route);
      document.removeEventListener('visibilitychange', onVisible);
      unsubscribe();
      unError();
      untrackVhosts();
      untrackAlarms();
      current?.destroy?.();
      store.stop();
    },
  };
}
