// Hash routes: #/queues/%2F/orders -> { view: 'queues', params: ['/', 'orders'] }.

export function parse(hash = location.hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter((p, i) => p !== '' || i > 0);
  const [view = 'overview', ...rest] = parts;
  return { view: decodeURIComponent(view) || 'overview', params: rest.map(decodeURIComponent) };
}

/** href for a route: href('queues', vhost, name) */
export function href(view, ...params) {
  return `#/${[view, ...params].map((p) => encodeURIComponent(p)).join('/')}`;
}

export function go(view, ...params) {
  location.hash = href(view, ...params);
}
