// The AMQP-over-WebSocket scenario, shared by the Node tests and the
// browser page: the same code runs under Node (with a WebSocket global)
// and in Chromium. It returns plain data; the tests assert it exactly.
//
// `Client` is @cloudamqp/amqp-client's AMQPWebSocketClient (injected, so
// this file imports nothing and loads the same way in both places).

const TIMEOUT_MS = 15000;

/** Rejects if `promise` does not settle within TIMEOUT_MS. */
export function within(what, promise) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** A queue of values that can be awaited one at a time. */
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
  }
  push(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  next(what) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return within(what, new Promise((resolve) => this.waiters.push(resolve)));
  }
}

const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));

/** basic.get (auto-ack) until empty; the bodies in order. */
async function drain(ch, queue) {
  const out = [];
  for (;;) {
    const msg = await within('basic.get', ch.basicGet(queue, { noAck: true }));
    if (!msg) return out;
    out.push(msg.bodyString());
  }
}

/** Bytes 0..n-1 of a repeating pattern, and a cheap checksum over them. */
function pattern(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}
function checksum(bytes) {
  let h = 0;
  for (let i = 0; i < bytes.length; i++) h = (Math.imul(h, 31) + bytes[i]) | 0;
  return h;
}

/**
 * Runs the whole scenario over `url` with a unique name prefix `tag`.
 * Returns { steps, results } where results are plain JSON values.
 */
export async function runScenario(Client, url, tag) {
  const results = {};
  const conn = new Client({ url, vhost: '/', username: 'guest', password: 'guest', name: `ws-${tag}` });
  await within('connect', conn.connect());
  results.connected = !conn.closed;
  results.frameMax = conn.frameMax;
  try {
    const ch = await within('channel', conn.channel());

    // Declare a queue.
    const q = `ws-basic-${tag}`;
    const ok = await within('queue.declare', ch.queueDeclare(q, { durable: false, autoDelete: false }));
    results.declare = { name: ok.name, messageCount: ok.messageCount, consumerCount: ok.consumerCount };

    // Publish with confirms: each publish resolves with its delivery tag once acked.
    await within('confirm.select', ch.confirmSelect());
    const tags = [];
    for (const body of ['m1', 'm2', 'm3']) {
      tags.push(await within('confirm', ch.basicPublish('', q, body, { contentType: 'text/plain', headers: { n: body } })));
    }
    results.confirmTags = tags;

    // Consume them back, in order, with properties.
    const inbox = new Inbox();
    const consumer = await within('basic.consume', ch.basicConsume(q, { noAck: false }, (msg) => {
      inbox.push({ body: msg.bodyString(), contentType: msg.properties.contentType, n: msg.properties.headers?.n, redelivered: msg.redelivered });
      msg.ack();
    }));
    results.consumed = [];
    for (let i = 0; i < 3; i++) results.consumed.push(await inbox.next('delivery'));
    await within('basic.cancel', consumer.cancel());

    // Topic routing (RabbitMQ tutorial 5): Q1 gets *.orange.*, Q2 gets *.*.rabbit and lazy.#.
    const ex = `ws-topic-${tag}`;
    await within('exchange.declare', ch.exchangeDeclare(ex, 'topic', { durable: false, autoDelete: false }));
    const q1 = (await ch.queueDeclare('', { exclusive: true })).name;
    const q2 = (await ch.queueDeclare('', { exclusive: true })).name;
    await within('bind', ch.queueBind(q1, ex, '*.orange.*'));
    await within('bind', ch.queueBind(q2, ex, '*.*.rabbit'));
    await within('bind', ch.queueBind(q2, ex, 'lazy.#'));
    const keys = [
      'quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox', 'lazy.brown.fox',
      'lazy.pink.rabbit', 'quick.brown.fox', 'orange', 'quick.orange.new.rabbit', 'lazy.orange.new.rabbit', 'lazy',
    ];
    for (const key of keys) await within('topic publish', ch.basicPublish(ex, key, key));
    results.topic = { q1: await drain(ch, q1), q2: await drain(ch, q2) };

    // RPC: a server consumer answers fib(n) to reply_to with the correlation id.
    const rpcQueue = `ws-rpc-${tag}`;
    const server = await within('rpc server channel', conn.channel());
    await server.queueDeclare(rpcQueue, { durable: false, autoDelete: true });
    await server.basicConsume(rpcQueue, { noAck: false }, async (msg) => {
      const n = Number(msg.bodyString());
      await server.basicPublish('', msg.properties.replyTo, String(fib(n)), { correlationId: msg.properties.correlationId });
      await msg.ack();
    });
    const replyQueue = (await ch.queueDeclare('', { exclusive: true })).name;
    const replies = new Inbox();
    await ch.basicConsume(replyQueue, { noAck: true }, (msg) =>
      replies.push({ body: msg.bodyString(), correlationId: msg.properties.correlationId }));
    results.rpc = [];
    for (const n of [10, 20]) {
      const correlationId = `${tag}-${n}`;
      await ch.basicPublish('', rpcQueue, String(n), { replyTo: replyQueue, correlationId });
      results.rpc.push(await replies.next('rpc reply'));
    }

    // A 1 MiB body: many body frames, delivered in few WebSocket messages.
    const big = pattern(1 << 20);
    const bigQueue = (await ch.queueDeclare('', { exclusive: true })).name;
    await within('big publish', ch.basicPublish('', bigQueue, big));
    const got = await within('big get', ch.basicGet(bigQueue, { noAck: true }));
    results.big = { size: got.bodySize, same: got.body.length === big.length && checksum(got.body) === checksum(big) };

    await ch.exchangeDelete(ex);
    await ch.queueDelete(q);
  } finally {
    await within('connection.close', conn.close());
  }
  results.closed = conn.closed;
  return results;
}

/** What runScenario must return, exactly, for `tag` and frame_max `frameMax`. */
export function expected(tag, frameMax) {
  return {
    connected: true,
    frameMax,
    declare: { name: `ws-basic-${tag}`, messageCount: 0, consumerCount: 0 },
    confirmTags: [1, 2, 3],
    consumed: ['m1', 'm2', 'm3'].map((body) => ({ body, contentType: 'text/plain', n: body, redelivered: false })),
    topic: {
      q1: ['quick.orange.rabbit', 'lazy.orange.elephant', 'quick.orange.fox'],
      q2: ['quick.orange.rabbit', 'lazy.orange.elephant', 'lazy.brown.fox', 'lazy.pink.rabbit', 'lazy.orange.new.rabbit', 'lazy'],
    },
    rpc: [
      { body: '55', correlationId: `${tag}-10` },
      { body: '6765', correlationId: `${tag}-20` },
    ],
    big: { size: 1 << 20, same: true },
    closed: true,
  };
}
