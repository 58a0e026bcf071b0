// The six RabbitMQ tutorials, publisher confirms and a few error codes, via amqplib.
//
// The broker comes from $AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F).
// Every test uses uniquely named queues/exchanges so that runs can share a broker.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const amqp = require('amqplib');

const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/%2F';
const TIMEOUT_MS = 15000; // failure guard for any single wait

const unique = (prefix) => `${prefix}-node-${crypto.randomBytes(6).toString('hex')}`;
const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects if `promise` does not settle within TIMEOUT_MS. */
function within(what, promise) {
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
  next(what = 'a message') {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return within(what, new Promise((resolve) => this.waiters.push(resolve)));
  }
}

async function withConnection(fn) {
  const conn = await within('connect', amqp.connect(AMQP_URL));
  try {
    await fn(conn);
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Resolves with the error of the next channel close (e.g. {code: 404}). */
function nextChannelError(ch) {
  return within('channel error', new Promise((resolve) => ch.once('error', resolve)));
}

/** basic.get (auto-ack) until get-empty; returns the bodies in order. */
async function drain(ch, queue) {
  const out = [];
  for (;;) {
    const msg = await within('basic.get', ch.get(queue, { noAck: true }));
    if (msg === false) return out;
    out.push(msg.content.toString());
  }
}

// ---------------------------------------------------------------------------
// Tutorial 1: "Hello World!"
// ---------------------------------------------------------------------------

test('t1 hello world', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const q = unique('hello');
    const ok = await ch.assertQueue(q, { durable: false });
    assert.deepEqual(ok, { queue: q, messageCount: 0, consumerCount: 0 });
    assert.equal(ch.sendToQueue(q, Buffer.from('Hello World!')), true);

    const inbox = new Inbox();
    await ch.consume(q, (msg) => inbox.push(msg), { noAck: true });
    const msg = await inbox.next();
    assert.equal(msg.content.toString(), 'Hello World!');
    assert.equal(msg.fields.exchange, '');
    assert.equal(msg.fields.routingKey, q);
    assert.equal(msg.fields.redelivered, false);
    await ch.deleteQueue(q);
  }));

// ---------------------------------------------------------------------------
// Tutorial 2: work queues (prefetch 1 fair dispatch, manual ack)
// ---------------------------------------------------------------------------

test('t2 work queues: fair dispatch with prefetch 1', () =>
  withConnection(async (conn) => {
    const N = 10;
    const ch = await conn.createChannel();
    const q = unique('task_queue');
    await ch.assertQueue(q, { durable: true });

    const done = new Inbox(); // [worker, body, redelivered] after each ack
    let received = 0;
    const workers = [];
    for (const [name, workMs] of [['slow', 400], ['fast', 0]]) {
      const wch = await conn.createChannel();
      await wch.prefetch(1);
      const { consumerTag } = await wch.consume(
        q,
        async (msg) => {
          received += 1;
          if (workMs) await delay(workMs); // simulated work, as in the tutorial
          wch.ack(msg);
          done.push([name, msg.content.toString(), msg.fields.redelivered]);
        },
        { noAck: false },
      );
      workers.push({ wch, consumerTag });
    }

    for (let i = 0; i < N; i++) {
      ch.sendToQueue(q, Buffer.from(`task ${i}`), { persistent: true });
    }
    const got = [];
    while (got.length < N) got.push(await done.next('a processed task'));
    // After cancel-ok no further deliveries can reach these consumers.
    for (const { wch, consumerTag } of workers) await wch.cancel(consumerTag);
    assert.equal(received, N, 'a task was delivered more than once');

    assert.deepEqual(
      got.map(([, body]) => body).sort(),
      Array.from({ length: N }, (_, i) => `task ${i}`).sort(),
    );
    assert.ok(got.every(([, , redelivered]) => !redelivered), 'no redeliveries');
    const slow = got.filter(([w]) => w === 'slow').length;
    const fast = got.filter(([w]) => w === 'fast').length;
    assert.ok(slow >= 1, `slow worker gets a task: ${JSON.stringify(got)}`);
    assert.ok(slow < fast, `slow worker must get fewer tasks (slow=${slow}, fast=${fast})`);
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.deleteQueue(q);
  }));

// ---------------------------------------------------------------------------
// Tutorial 3: publish/subscribe
// ---------------------------------------------------------------------------

test('t3 publish/subscribe (fanout)', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const ex = unique('logs');
    await ch.assertExchange(ex, 'fanout', { durable: false, autoDelete: true });
    const inboxes = [];
    const names = [];
    for (let i = 0; i < 2; i++) {
      const { queue } = await ch.assertQueue('', { exclusive: true });
      assert.ok(queue.length > 0, 'server must generate a queue name');
      await ch.bindQueue(queue, ex, '');
      const inbox = new Inbox();
      await ch.consume(queue, (msg) => inbox.push(msg), { noAck: true });
      inboxes.push(inbox);
      names.push(queue);
    }
    assert.notEqual(names[0], names[1]);

    const messages = Array.from({ length: 5 }, (_, i) => `log line ${i}`);
    messages.forEach((m, i) => ch.publish(ex, `ignored.${i}`, Buffer.from(m)));
    for (const inbox of inboxes) {
      for (const m of messages) {
        const msg = await inbox.next();
        assert.equal(msg.content.toString(), m);
        assert.equal(msg.fields.exchange, ex);
      }
    }
  }));

// ---------------------------------------------------------------------------
// Tutorial 4: routing
// ---------------------------------------------------------------------------

test('t4 routing (direct)', () =>
  withConnection(async (conn) => {
    // A confirm channel: once all confirms are in, every message is enqueued.
    const ch = await conn.createConfirmChannel();
    const ex = unique('direct_logs');
    await ch.assertExchange(ex, 'direct', { durable: false, autoDelete: true });
    const errorsOnly = (await ch.assertQueue('', { exclusive: true })).queue;
    const everything = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(errorsOnly, ex, 'error');
    for (const sev of ['info', 'warning', 'error']) await ch.bindQueue(everything, ex, sev);

    for (const [sev, text] of [
      ['info', 'info: 1'],
      ['error', 'error: 1'],
      ['warning', 'warning: 1'],
      ['debug', 'debug: nobody listens'],
      ['info', 'info: 2'],
      ['error', 'error: 2'],
    ]) {
      ch.publish(ex, sev, Buffer.from(text));
    }
    await within('confirms', ch.waitForConfirms());

    assert.deepEqual(await drain(ch, errorsOnly), ['error: 1', 'error: 2']);
    assert.deepEqual(await drain(ch, everything), [
      'info: 1',
      'error: 1',
      'warning: 1',
      'info: 2',
      'error: 2',
    ]);
  }));

// ---------------------------------------------------------------------------
// Tutorial 5: topics
// ---------------------------------------------------------------------------

test('t5 topics', () =>
  withConnection(async (conn) => {
    const ch = await conn.createConfirmChannel();
    const ex = unique('topic_logs');
    await ch.assertExchange(ex, 'topic', { durable: false, autoDelete: true });
    const q1 = (await ch.assertQueue('', { exclusive: true })).queue;
    const q2 = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q1, ex, '*.orange.*');
    await ch.bindQueue(q2, ex, '*.*.rabbit');
    await ch.bindQueue(q2, ex, 'lazy.#');

    for (const key of [
      'quick.orange.rabbit',
      'lazy.orange.elephant',
      'quick.orange.fox',
      'lazy.brown.fox',
      'lazy.pink.rabbit',
      'quick.brown.fox',
      'orange',
      'quick.orange.male.rabbit',
      'lazy.orange.male.rabbit',
      'lazy',
    ]) {
      ch.publish(ex, key, Buffer.from(key));
    }
    await within('confirms', ch.waitForConfirms());

    assert.deepEqual(await drain(ch, q1), [
      'quick.orange.rabbit',
      'lazy.orange.elephant',
      'quick.orange.fox',
    ]);
    // lazy.pink.rabbit matches both of q2's bindings but arrives once;
    // "lazy" matches lazy.# because '#' matches zero words.
    assert.deepEqual(await drain(ch, q2), [
      'quick.orange.rabbit',
      'lazy.orange.elephant',
      'lazy.brown.fox',
      'lazy.pink.rabbit',
      'lazy.orange.male.rabbit',
      'lazy',
    ]);
  }));

// ---------------------------------------------------------------------------
// Tutorial 6: RPC
// ---------------------------------------------------------------------------

test('t6 rpc (reply_to + correlation_id)', () =>
  withConnection(async (conn) => {
    const rpcQueue = unique('rpc_queue');
    const server = await conn.createChannel();
    await server.assertQueue(rpcQueue, { durable: false });
    await server.prefetch(1);
    await server.consume(rpcQueue, (msg) => {
      if (msg === null) return; // cancelled by the broker when the queue is deleted
      const n = parseInt(msg.content.toString(), 10);
      server.sendToQueue(msg.properties.replyTo, Buffer.from(String(fib(n))), {
        correlationId: msg.properties.correlationId,
      });
      server.ack(msg);
    });

    const client = await conn.createChannel();
    const { queue: callback } = await client.assertQueue('', { exclusive: true });
    const replies = new Inbox();
    await client.consume(callback, (msg) => replies.push(msg), { noAck: true });
    for (const n of [0, 1, 2, 10, 20, 25]) {
      const corr = crypto.randomUUID();
      client.sendToQueue(rpcQueue, Buffer.from(String(n)), { replyTo: callback, correlationId: corr });
      const reply = await replies.next(`reply to fib(${n})`);
      assert.equal(reply.properties.correlationId, corr);
      assert.equal(reply.content.toString(), String(fib(n)), `fib(${n})`);
    }
    await client.deleteQueue(rpcQueue);
  }));

// ---------------------------------------------------------------------------
// Publisher confirms
// ---------------------------------------------------------------------------

test('publisher confirms, then consume in order', () =>
  withConnection(async (conn) => {
    const N = 200;
    const ch = await conn.createConfirmChannel();
    const q = unique('confirms');
    await ch.assertQueue(q, { durable: true });
    const confirms = [];
    for (let i = 0; i < N; i++) {
      confirms.push(
        new Promise((resolve) =>
          ch.sendToQueue(q, Buffer.from(`message ${i}`), { persistent: true }, (err) => resolve(err)),
        ),
      );
    }
    await within('confirms', ch.waitForConfirms());
    const results = await Promise.all(confirms);
    assert.deepEqual(results, new Array(N).fill(null), 'every message acked (null = ack)');
    assert.equal((await ch.checkQueue(q)).messageCount, N);

    const inbox = new Inbox();
    await ch.consume(q, (msg) => inbox.push(msg), { noAck: false });
    for (let i = 0; i < N; i++) {
      const msg = await inbox.next();
      assert.equal(msg.content.toString(), `message ${i}`);
      assert.equal(msg.properties.deliveryMode, 2);
      assert.equal(msg.fields.redelivered, false);
      ch.ack(msg);
    }
    await ch.deleteQueue(q);
  }));

// ---------------------------------------------------------------------------
// Error behaviour
// ---------------------------------------------------------------------------

test('publish to a missing exchange closes the channel with 404', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const closed = nextChannelError(ch);
    ch.publish(unique('no-such-exchange'), 'key', Buffer.from('x'));
    const err = await closed;
    assert.equal(err.code, 404);
    assert.match(err.message, /NOT_FOUND/);
    // The connection survives a channel error.
    const ch2 = await conn.createChannel();
    assert.ok((await ch2.assertQueue('', { exclusive: true })).queue);
  }));

test('redeclaring a queue with different durability gives 406', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const q = unique('durability');
    await ch.assertQueue(q, { durable: false });
    const closed = nextChannelError(ch);
    await assert.rejects(ch.assertQueue(q, { durable: true }), (err) => {
      assert.equal(err.code, 406);
      assert.match(err.message, /PRECONDITION_FAILED/);
      return true;
    });
    assert.equal((await closed).code, 406);
    const ch2 = await conn.createChannel();
    assert.equal((await ch2.checkQueue(q)).messageCount, 0);
    await ch2.deleteQueue(q);
  }));

test('mandatory unroutable publish is returned with 312 NO_ROUTE', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const ex = unique('no-bindings');
    await ch.assertExchange(ex, 'direct', { durable: false, autoDelete: true });
    const returned = within('basic.return', new Promise((resolve) => ch.once('return', resolve)));
    ch.publish(ex, 'nowhere', Buffer.from('undeliverable'), { mandatory: true, messageId: 'm-1' });
    const msg = await returned;
    assert.equal(msg.fields.replyCode, 312);
    assert.equal(msg.fields.replyText, 'NO_ROUTE');
    assert.equal(msg.fields.exchange, ex);
    assert.equal(msg.fields.routingKey, 'nowhere');
    assert.equal(msg.content.toString(), 'undeliverable');
    assert.equal(msg.properties.messageId, 'm-1');
    // The channel stays usable.
    assert.ok((await ch.assertQueue('', { exclusive: true })).queue);
  }));

test('basic.get on an empty queue', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const q = unique('get');
    await ch.assertQueue(q, { durable: false });
    assert.equal(await ch.get(q), false);
    ch.sendToQueue(q, Buffer.from('one'));
    ch.sendToQueue(q, Buffer.from('two'));
    const msg = await ch.get(q, { noAck: false });
    assert.equal(msg.content.toString(), 'one');
    assert.equal(msg.fields.messageCount, 1);
    assert.equal(msg.fields.redelivered, false);
    ch.ack(msg);
    assert.deepEqual(await drain(ch, q), ['two']);
    assert.equal(await ch.get(q), false);
    await ch.deleteQueue(q);
  }));

test('nack with requeue redelivers with redelivered=true', () =>
  withConnection(async (conn) => {
    const ch = await conn.createChannel();
    const q = unique('nack');
    await ch.assertQueue(q, { durable: false });
    ch.sendToQueue(q, Buffer.from('try again'));
    const inbox = new Inbox();
    await ch.consume(q, (msg) => inbox.push(msg), { noAck: false });
    const first = await inbox.next();
    assert.equal(first.content.toString(), 'try again');
    assert.equal(first.fields.redelivered, false);
    ch.nack(first, false, true);
    const second = await inbox.next();
    assert.equal(second.content.toString(), 'try again');
    assert.equal(second.fields.redelivered, true);
    assert.notEqual(second.fields.deliveryTag, first.fields.deliveryTag);
    ch.ack(second);
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.deleteQueue(q);
  }));
