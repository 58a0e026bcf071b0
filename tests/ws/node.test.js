// AMQP 0-9-1 over WebSocket from Node: @cloudamqp/amqp-client's
// AMQPWebSocketClient against warren's HTTP port, plus raw handshake checks
// of the subprotocol rules and the transport's close behaviour.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import WebSocketImpl from 'ws';
import { AMQPWebSocketClient } from '@cloudamqp/amqp-client';
import { startWarren } from './warren.js';
import { runScenario, expected, within } from './page/scenario.js';

// Node 20 has no WebSocket global (Node 22 does); the client needs one.
globalThis.WebSocket ??= WebSocketImpl;

let warren;
before(async () => {
  warren = await startWarren();
});
after(async () => {
  await warren?.stop();
});

const tag = () => randomBytes(5).toString('hex');

for (const path of ['/ws/amqp', '/']) {
  test(`scenario over ws://…${path}: declare, confirms, consume, topic, RPC, 1 MiB body`, async () => {
    const t = tag();
    const results = await runScenario(AMQPWebSocketClient, warren.wsUrl(path), t);
    assert.deepEqual(results, expected(t, 8192));
  });
}

test('a larger negotiated frame_max (131072) works too', async () => {
  const conn = new AMQPWebSocketClient({ url: warren.wsUrl('/ws'), frameMax: 131072 });
  await within('connect', conn.connect());
  try {
    assert.equal(conn.frameMax, 131072);
    const ch = await conn.channel();
    const q = (await ch.queueDeclare('', { exclusive: true })).name;
    const body = new Uint8Array(3 * 131072 + 17).map((_, i) => i & 0xff);
    await ch.basicPublish('', q, body);
    const msg = await within('basic.get', ch.basicGet(q, { noAck: true }));
    assert.equal(msg.bodySize, body.length);
    assert.deepEqual(Buffer.from(msg.body), Buffer.from(body));
  } finally {
    await conn.close();
  }
});

/** Sends a raw upgrade request; resolves { status, headers } of the answer. */
function handshake(path, extraHeaders = {}) {
  const { hostname, port } = new URL(warren.httpUrl);
  return within('handshake', new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    let buf = '';
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.destroy();
      const [statusLine, ...lines] = buf.slice(0, end).split('\r\n');
      const headers = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).trim().toLowerCase();
        headers[k] = headers[k] === undefined ? l.slice(i + 1).trim() : `${headers[k]}, ${l.slice(i + 1).trim()}`;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers });
    });
    const head = {
      Host: `${hostname}:${port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      'Sec-WebSocket-Version': '13',
      ...extraHeaders,
    };
    sock.write(`GET ${path} HTTP/1.1\r\n${Object.entries(head).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
  }));
}

test('subprotocols: an offered amqp* one is echoed, none is ever invented', async () => {
  const cases = [
    [undefined, undefined],
    ['amqp', 'amqp'],
    ['amqpws', 'amqpws'],
    ['mqtt, amqpws, amqp', 'amqpws'],
    ['mqtt', undefined],
    ['v12.stomp', undefined],
  ];
  for (const path of ['/', '/ws', '/ws/amqp']) {
    for (const [offered, echoed] of cases) {
      const extra = offered === undefined ? {} : { 'Sec-WebSocket-Protocol': offered };
      const r = await handshake(path, extra);
      assert.equal(r.status, 101, `${path} offering ${offered}`);
      assert.equal(r.headers.upgrade?.toLowerCase(), 'websocket');
      assert.equal(r.headers['sec-websocket-protocol'], echoed, `${path} offering ${offered}`);
    }
  }
});

test('/api is not a WebSocket endpoint: 404 JSON', async () => {
  const r = await handshake('/api/ws');
  assert.equal(r.status, 404);
  assert.match(r.headers['content-type'], /^application\/json/);
  const res = await fetch(`${warren.httpUrl}/api/no-such-endpoint`);
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { error: 'Object Not Found', reason: 'Not Found' });
});

/** Opens a raw `ws` client; collects binary messages and the close event. */
function rawSocket(path, protocols) {
  const ws = new WebSocketImpl(warren.wsUrl(path), protocols);
  const messages = [];
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (data, isBinary) => messages.push({ data: Buffer.from(data), isBinary }));
  const opened = within('open', new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  }));
  return { ws, messages, closed, opened };
}

test('a ws client offering "amqp" gets it and a connection.start for the protocol header', async () => {
  const s = rawSocket('/ws/amqp', ['amqp']);
  await s.opened;
  assert.equal(s.ws.protocol, 'amqp');
  // The header in two messages: the core reassembles the byte stream.
  s.ws.send(Buffer.from('AMQP'));
  s.ws.send(Buffer.from([0, 0, 9, 1]));
  await within('connection.start', new Promise((r) => s.ws.once('message', r)));
  const start = s.messages[0];
  assert.equal(start.isBinary, true);
  // Method frame on channel 0: connection.start (class 10, method 10).
  assert.deepEqual([...start.data.subarray(0, 3)], [1, 0, 0]);
  assert.equal(start.data.readUInt32BE(3) + 8, start.data.length);
  assert.deepEqual([start.data.readUInt16BE(7), start.data.readUInt16BE(9)], [10, 10]);
  assert.equal(start.data.at(-1), 0xce);
  s.ws.close(1000);
  assert.equal((await within('close', s.closed)).code, 1000);
});

test('a text message closes the connection with 1003', async () => {
  const s = rawSocket('/ws/amqp');
  await s.opened;
  s.ws.send('AMQP\x00\x00\x09\x01');
  const c = await within('close', s.closed);
  assert.equal(c.code, 1003);
  assert.deepEqual(s.messages, []);
});

test('when the core ends the connection the transport sends a close frame', async () => {
  const s = rawSocket('/');
  await s.opened;
  // An unsupported protocol version: the core answers with its own header and closes.
  s.ws.send(Buffer.from('AMQP\x00\x00\x09\x00', 'latin1'));
  const c = await within('close', s.closed);
  assert.equal(c.code, 1000);
  assert.deepEqual(s.messages.map((m) => m.data.toString('latin1')), ['AMQP\x00\x00\x09\x01']);
});
