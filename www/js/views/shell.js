// The page frame: navigation with live counts, vhost filter, refresh
// interval, the signed-in user and log out, and a banner while a resource
// alarm is in force.

import { h, replace, select } from '../dom.js';
import { num } from '../format.js';
import { href } from '../router.js';

export const NAV = [
  ['overview', 'Overview'],
  ['connections', 'Connections'],
  ['channels', 'Channels'],
  ['exchanges', 'Exchanges'],
  ['queues', 'Queues'],
  ['bindings', 'Bindings'],
  ['consumers', 'Consumers'],
  ['topology', 'Topology'],
  ['definitions', 'Definitions'],
];

const INTERVALS = [['1000', 'every 1 s'], ['2000', 'every 2 s'], ['5000', 'every 5 s'], ['10000', 'every 10 s'], ['30000', 'every 30 s']];

export class Shell {
  /** opts: { user, interval, vhost, onInterval(ms), onVhost(name|''), onLogout() } */
  constructor(opts) {
    this.links = new Map();
    this.badges = new Map();
    this.vhostSelect = h('span');
    this.vhost = opts.vhost;
    this.onVhost = opts.onVhost;
    this.main = h('main', { class: 'content', id: 'content' });
    this.status = h('span', { class: 'conn-status', title: 'API status' });
    this.alarm = h('div', { class: 'alarm-banner', role: 'alert', hidden: true });
    const nav = h('nav', { class: 'nav' }, NAV.map(([view, label]) => {
      const badge = h('span', { class: 'badge' });
      const a = h('a', { href: href(view), dataset: { view } }, label, badge);
      this.links.set(view, a);
      this.badges.set(view, badge);
      return a;
    }), h('a', { href: 'playground.html', class: 'playground', dataset: { view: 'playground' } }, 'Playground'));
    this.el = h('div', { class: 'app' },
      h('header', { class: 'top' },
        h('a', { class: 'brand', href: href('overview') }, 'Warren'),
        nav,
        h('div', { class: 'controls' },
          this.vhostSelect,
          select({ 'aria-label': 'Refresh interval', class: 'interval', onchange: (e) => opts.onInterval(Number(e.target.value)) }, INTERVALS, String(opts.interval)),
          this.status,
          h('span', { class: 'user' }, opts.user),
          h('button', { type: 'button', class: 'link', onclick: opts.onLogout }, 'Log out'))),
      this.alarm,
      this.main);
  }

  setActive(view) {
    for (const [v, a] of this.links) {
      if (v === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  /** Refreshes counts, the vhost list and the API status. */
  update(store, vhosts) {
    const o = store.data('overview');
    const t = o?.object_totals || {};
    for (const k of ['connections', 'channels', 'exchanges', 'queues', 'consumers']) {
      this.badges.get(k).textContent = t[k] === undefined ? '' : num(t[k]);
    }
    const err = store.entry('overview')?.error;
    this.status.className = `conn-status ${err ? 'down' : 'up'}`;
    this.status.title = err ? `API error: ${err.message}` : 'API reachable';
    this.showAlarms(store.data('alarms') || []);
    const names = vhosts.join('\u0000');
    if (this.vhostSelect.dataset.names !== names) {
      this.vhostSelect.dataset.names = names;
      replace(this.vhostSelect, select({ 'aria-label': 'Virtual host filter', class: 'vhost', onchange: (e) => { this.vhost = e.target.value; this.onVhost(e.target.value); } },
        [['', 'All virtual hosts'], ...vhosts], this.vhost));
    }
  }

  /** alarms: [{node, resource}] as the alarms health check lists them. */
  showAlarms(alarms) {
    const resources = [...new Set(alarms.map((a) => a.resource))].sort();
    const key = resources.join(',');
    if (this.alarm.dataset.alarms === key) return;
    this.alarm.dataset.alarms = key;
    this.alarm.hidden = resources.length === 0;
    this.alarm.textContent = resources.length === 0 ? ''
      : `Resource alarm in force: ${resources.join(' and ')}. Connections that publish are blocked until it clears.`;
  }
}
