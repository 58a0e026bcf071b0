// Number, rate, byte and time formatting for tables and cards.

const int = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const dec = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export function num(n) {
  return typeof n === 'number' ? int.format(n) : '';
}

/** "12/s", "0.4/s" */
export function rate(r) {
  if (typeof r !== 'number') return '';
  return `${r >= 100 ? int.format(r) : dec.format(r)}/s`;
}

export function bytes(n) {
  if (typeof n !== 'number') return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${i ? dec.format(n) : n} ${units[i]}`;
}

/** Milliseconds since the epoch, or an ISO string, as local time. */
export function time(t) {
  if (t === undefined || t === null || t === '') return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

/** `x-max-length: 10, x-overflow: reject-publish` */
export function args(a) {
  if (!a || typeof a !== 'object') return '';
  return Object.entries(a).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
}

/** A message_stats rate, e.g. rateOf(q.message_stats, 'publish'). */
export function statRate(stats, key) {
  return stats?.[`${key}_details`]?.rate;
}

/** The display name of an exchange ("" is the default exchange). */
export function exchangeName(name) {
  return name === '' ? '(AMQP default)' : name;
}
