// The management API client: RabbitMQ-compatible paths under /api, HTTP
// basic auth, JSON in and out. Data only: no DOM, no polling (see store.js).
// The playground uses it too, to diff and apply definitions on a live warren.

/** An API failure: HTTP status plus RabbitMQ's `{error, reason}` body. */
export class ApiError extends Error {
  constructor(status, error, reason, body = null) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.reason = reason;
    /** The parsed JSON body, if any (a failed health check's details). */
    this.body = body;
  }
}

/** Path segments, each percent-encoded (the vhost "/" becomes %2F). */
export function path(...segments) {
  return segments.map((s) => encodeURIComponent(s)).join('/');
}

/** The API's name for an exchange: "" is the default exchange. */
export function exchangePathName(name) {
  return name === '' ? 'amq.default' : name;
}

function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/** The kinds `list()` knows, as their /api paths. */
export const KINDS = ['queues', 'exchanges', 'bindings', 'connections', 'channels', 'consumers', 'vhosts', 'users', 'policies'];

export class Api {
  /** `base` is the API root URL (default: `api/` next to the page). */
  constructor({ user, password, base = 'api/', fetch = globalThis.fetch.bind(globalThis) }) {
    this.user = user;
    this.base = base.endsWith('/') ? base : `${base}/`;
    this.auth = basic(user, password);
    this.fetch = fetch;
  }

  /** One request; resolves to the parsed JSON body (or null when empty). */
  async request(method, rel, body) {
    // No Accept header: RabbitMQ answers 406 to 'application/json' on
    // DELETE .../contents.
    const headers = { authorization: this.auth };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    // credentials: 'omit' keeps the browser from showing its own login
    // dialog on a 401; the Authorization header is still sent.
    const res = await this.fetch(this.base + rel, init);
    const text = await res.text();
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        if (res.ok) throw new ApiError(res.status, 'bad_response', `not JSON: ${text.slice(0, 120)}`);
      }
    }
    if (!res.ok) throw new ApiError(res.status, json?.error, json?.reason || text.slice(0, 200) || res.statusText, json);
    return json;
  }

  get(rel) { return this.request('GET', rel); }

  whoami() { return this.get('whoami'); }
  overview() { return this.get('overview'); }
  /**
   * The resource alarms in force, `[{node, resource}]` (`[]` when none),
   * from the alarms health check, which any management user may call: it
   * answers 503 with the list while an alarm is in force.
   */
  async alarms() {
    try {
      await this.get('health/checks/alarms');
      return [];
    } catch (e) {
      if (e.status === 503 && Array.isArray(e.body?.alarms)) return e.body.alarms;
      throw e;
    }
  }
  /** All objects of a kind, optionally in one vhost; `columns` picks fields. */
  list(kind, vhost, { columns } = {}) {
    const q = columns ? `?columns=${columns.map(encodeURIComponent).join(',')}` : '';
    return this.get(`${vhost === undefined ? kind : `${kind}/${path(vhost)}`}${q}`);
  }

  queue(vhost, name) { return this.get(`queues/${path(vhost, name)}`); }
  queueBindings(vhost, name) { return this.get(`queues/${path(vhost, name)}/bindings`); }
  declareQueue(vhost, name, { durable = true, auto_delete = false, arguments: args = {} } = {}) {
    return this.request('PUT', `queues/${path(vhost, name)}`, { durable, auto_delete, arguments: args });
  }
  deleteQueue(vhost, name, { ifEmpty = false, ifUnused = false } = {}) {
    const q = [ifEmpty && 'if-empty=true', ifUnused && 'if-unused=true'].filter(Boolean).join('&');
    return this.request('DELETE', `queues/${path(vhost, name)}${q ? `?${q}` : ''}`);
  }
  purgeQueue(vhost, name) { return this.request('DELETE', `queues/${path(vhost, name)}/contents`); }
  /** basic.get through the API; ackmode is one of ACK_MODES. */
  getMessages(vhost, name, { count = 1, ackmode = 'ack_requeue_true', encoding = 'auto', truncate } = {}) {
    const body = { count, ackmode, encoding };
    if (truncate) body.truncate = truncate;
    return this.request('POST', `queues/${path(vhost, name)}/get`, body);
  }
  /** Warren extension: up to `count` ready messages, not consumed. */
  browse(vhost, name, count = 10) { return this.get(`queues/${path(vhost, name)}/browse?count=${count}`); }

  exchange(vhost, name) { return this.get(`exchanges/${path(vhost, exchangePathName(name))}`); }
  /** Bindings where the exchange is the `source` or the `destination`. */
  exchangeBindings(vhost, name, side = 'source') {
    return this.get(`exchanges/${path(vhost, exchangePathName(name))}/bindings/${side}`);
  }
  declareExchange(vhost, name, { type = 'direct', durable = true, auto_delete = false, internal = false, arguments: args = {} } = {}) {
    return this.request('PUT', `exchanges/${path(vhost, name)}`, { type, durable, auto_delete, internal, arguments: args });
  }
  deleteExchange(vhost, name) { return this.request('DELETE', `exchanges/${path(vhost, name)}`); }
  /** Resolves to `{routed}`. */
  publish(vhost, exchange, { routing_key = '', payload = '', payload_encoding = 'string', properties = {} } = {}) {
    return this.request('POST', `exchanges/${path(vhost, exchangePathName(exchange))}/publish`, {
      routing_key, payload, payload_encoding, properties,
    });
  }

  /** dtype is 'queue' or 'exchange'. */
  bind(vhost, source, dtype, destination, { routing_key = '', arguments: args = {} } = {}) {
    return this.request('POST', `bindings/${path(vhost)}/e/${path(source)}/${dtype[0]}/${path(destination)}`, { routing_key, arguments: args });
  }
  /** Removes the binding a /api/bindings entry describes. */
  unbind(b) {
    const d = b.destination_type === 'exchange' ? 'e' : 'q';
    // properties_key is already in its URL form.
    return this.request('DELETE', `bindings/${path(b.vhost)}/e/${path(b.source)}/${d}/${path(b.destination)}/${b.properties_key}`);
  }

  closeConnection(name) { return this.request('DELETE', `connections/${path(name)}`); }

  definitions() { return this.get('definitions'); }
  importDefinitions(defs) { return this.request('POST', 'definitions', defs); }
}

/** basic.get acknowledgement modes, as RabbitMQ's API names them. */
export const ACK_MODES = [
  ['ack_requeue_true', 'Nack message, requeue true'],
  ['ack_requeue_false', 'Automatic ack'],
  ['reject_requeue_true', 'Reject, requeue true'],
  ['reject_requeue_false', 'Reject, requeue false'],
];
