// Polling: keeps the latest answer for each tracked resource, refreshed on
// an interval, plus the overview's rate history. Views subscribe and read;
// they never fetch on a timer themselves. `source` is an Api (api.js) or
// anything with the same read methods (the data-layer tests' fakes).

import { MESSAGE_SERIES, RateHistory } from './rates.js';

export class Store {
  constructor(source, { interval = 5000, now = () => Date.now(), historySize = 120 } = {}) {
    this.source = source;
    this.interval = interval;
    this.now = now;
    this.history = new RateHistory(MESSAGE_SERIES.map((s) => s.key), historySize);
    this.tracked = new Map(); // key -> { fetch, refs }
    this.entries = new Map(); // key -> { data, error, at }
    this.listeners = new Set();
    this.errorListeners = new Set();
    this.timer = null;
    this.inflight = null;
    this.running = false;
    this.track('overview', (s) => s.overview());
  }

  /** Polls `fetch(source)` under `key` until the returned function is called. */
  track(key, fetch) {
    const t = this.tracked.get(key);
    if (t) t.refs += 1;
    else this.tracked.set(key, { fetch, refs: 1 });
    if (this.running && !this.entries.has(key)) this.refresh();
    return () => {
      const cur = this.tracked.get(key);
      if (!cur) return;
      cur.refs -= 1;
      if (cur.refs <= 0) {
        this.tracked.delete(key);
        this.entries.delete(key);
      }
    };
  }

  /** `{data, error, at}` or undefined before the first answer. */
  entry(key) {
    return this.entries.get(key);
  }

  data(key) {
    return this.entries.get(key)?.data;
  }

  /** fn(store) after every poll; returns an unsubscribe function. */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** fn(error) when a poll fails (e.g. a 401 after the password changed). */
  onError(fn) {
    this.errorListeners.add(fn);
    return () => this.errorListeners.delete(fn);
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.refresh();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  setInterval(ms) {
    this.interval = ms;
    if (this.running) this.refresh();
  }

  /** Polls now (coalesced with a poll already under way). */
  refresh() {
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    clearTimeout(this.timer);
    this.inflight = this.poll().finally(() => {
      this.inflight = null;
      if (this.again) {
        this.again = false;
        this.refresh();
      } else if (this.running) {
        this.timer = setTimeout(() => this.tick(), this.interval);
      }
    });
    return this.inflight;
  }

  /** A timed poll; skipped (but rescheduled) while the page is hidden. */
  tick() {
    if (globalThis.document?.hidden) {
      this.timer = setTimeout(() => this.tick(), this.interval);
      return;
    }
    this.refresh();
  }

  async poll() {
    const keys = [...this.tracked.keys()];
    const results = await Promise.allSettled(keys.map((k) => this.tracked.get(k).fetch(this.source)));
    const at = this.now();
    keys.forEach((key, i) => {
      if (!this.tracked.has(key)) return; // untracked meanwhile
      const r = results[i];
      const prev = this.entries.get(key);
      if (r.status === 'fulfilled') this.entries.set(key, { data: r.value, error: null, at });
      else this.entries.set(key, { data: prev?.data, error: r.reason, at });
    });
    const overview = results[keys.indexOf('overview')];
    if (overview?.status === 'fulfilled') this.history.push(at, overview.value?.message_stats);
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) for (const fn of this.errorListeners) fn(failure.reason);
    for (const fn of this.listeners) {
      try {
        fn(this);
      } catch (e) {
        console.error(e);
      }
    }
  }
}
