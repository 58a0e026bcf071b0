// Closing a connection while the client is still writing, via amqplib (both
// APIs): publish until sendToQueue says its buffer is full, then close. The
// close must complete, with no socket error: the broker keeps reading (and
// discarding) after close-ok until the client closes its side, as RabbitMQ
// does, instead of resetting a connection whose earlier frames are still
// arriving.
//
// The broker comes from $AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2F).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const amqp = require('amqplib');
const amqpCallback = require('amqplib/callback_api');

const AMQP_URL = process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/%2F';
const TIMEOUT_MS = 15000; // failure guard for any single wait
const ROUNDS = 5;

const unique = (prefix) => `${prefix}-node-${crypto.randomBytes(6).toString('hex')}`;

/** Rejects if `promise` does not settle within TIMEOUT_MS. */
function within(what, promise) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/** Publishes 1 KiB messages until the channel's buffer is full; returns how many. */
function fill(ch, queue) {
  const body = Buffer.alloc(1024, 0x61);
  let n = 0;
  do {
    n += 1;
  } while (ch.sendToQueue(queue, body) && n < 1_000_000);
  return n;
}

/** Deletes the queue on a fresh connection; returns how many messages it held. */
async function cleanUp(queue) {
  const conn = await within('connect', amqp.connect(AMQP_URL));
  try {
    const ch = await conn.createChannel();
    const { messageCount } = await ch.deleteQueue(queue);
    return messageCount;
  } finally {
    await conn.close();
  }
}

test('promise API: close with a full write buffer completes', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const conn = await within('connect', amqp.connect(AMQP_URL));
    const errors = [];
    conn.on('error', (e) => errors.push(e));
    const ch = await conn.createChannel();
    ch.on('error', (e) => errors.push(e));
    const queue = unique('close-promise');
    await ch.assertQueue(queue);
    const sent = fill(ch, queue);
    assert.ok(sent > 1, `the buffer filled after ${sent} publishes`);
    await within(`connection.close after ${sent} publishes`, conn.close());
    assert.deepEqual(errors.map(String), []);
    const held = await cleanUp(queue);
    assert.ok(held <= sent, `${held} queued of ${sent} sent`);
  }
});

test('callback API: close with a full write buffer calls back', async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const conn = await within('connect', new Promise((resolve, reject) => {
      amqpCallback.connect(AMQP_URL, (err, c) => (err ? reject(err) : resolve(c)));
    }));
    const errors = [];
    conn.on('error', (e) => errors.push(e));
    const ch = await within('channel', new Promise((resolve, reject) => {
      conn.createChannel((err, c) => (err ? reject(err) : resolve(c)));
    }));
    ch.on('error', (e) => errors.push(e));
    const queue = unique('close-callback');
    await within('queue.declare', new Promise((resolve, reject) => {
      ch.assertQueue(queue, {}, (err, ok) => (err ? reject(err) : resolve(ok)));
    }));
    const sent = fill(ch, queue);
    assert.ok(sent > 1, `the buffer filled after ${sent} publishes`);
    const closeErr = await within(`close callback after ${sent} publishes`, new Promise((resolve) => {
      conn.close((err) => resolve(err ?? null));
    }));
    assert.equal(closeErr, null);
    assert.deepEqual(errors.map(String), []);
    const held = await cleanUp(queue);
    assert.ok(held <= sent, `${held} queued of ${sent} sent`);
  }
});
