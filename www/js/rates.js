// Message rates: from the API's `*_details.rate` when present, else from
// counter deltas between two samples; and a bounded history for charts.

/** The overview chart's series: message_stats keys. */
export const MESSAGE_SERIES = [
  { key: 'publish', label: 'Publish' },
  { key: 'deliver', label: 'Deliver' },
  { key: 'ack', label: 'Ack' },
  { key: 'confirm', label: 'Confirm' },
  { key: 'redeliver', label: 'Redeliver' },
];

/**
 * Per-second rate of counter `key` in `stats` (a message_stats object).
 * `prev` is the previous sample `{t, stats}` (ms), used when the API gives
 * no rate. Never negative (a counter reset reads as 0).
 */
export function rateOf(stats, key, prev, t) {
  const given = stats?.[`${key}_details`]?.rate;
  if (typeof given === 'number' && Number.isFinite(given)) return Math.max(0, given);
  const now = stats?.[key];
  const before = prev?.stats?.[key];
  const dt = (t - (prev?.t ?? t)) / 1000;
  if (typeof now !== 'number' || typeof before !== 'number' || dt <= 0) return 0;
  return Math.max(0, (now - before) / dt);
}

/** Rates of several counters over time, at most `capacity` points each. */
export class RateHistory {
  constructor(keys, capacity = 120) {
    this.keys = keys;
    this.capacity = capacity;
    this.points = new Map(keys.map((k) => [k, []]));
    this.prev = null;
  }

  /** Adds the sample `stats` (message_stats; may be missing) taken at `t` ms. */
  push(t, stats) {
    // RabbitMQ sends [] instead of {} when there are no stats yet.
    const s = stats && !Array.isArray(stats) ? stats : {};
    for (const k of this.keys) {
      const list = this.points.get(k);
      list.push({ t, v: rateOf(s, k, this.prev, t) });
      if (list.length > this.capacity) list.shift();
    }
    this.prev = { t, stats: s };
  }

  /** [{t, v}] oldest first. */
  series(key) {
    return this.points.get(key) || [];
  }

  latest(key) {
    const s = this.series(key);
    return s.length ? s[s.length - 1].v : 0;
  }

  clear() {
    for (const k of this.keys) this.points.set(k, []);
    this.prev = null;
  }
}
