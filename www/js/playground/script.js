// The script panel: unmodified @cloudamqp/amqp-client code run in the page
// against the current target (the tab's broker or the live warren).

import { $ } from '../dom.js';
import { AMQPWebSocketClient } from '../../vendor/amqp-client/amqp-websocket-client.mjs';
import { SAMPLE_SCRIPT } from './panels.js';
import { refresh } from './status.js';

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;

/** Fills the editor with the sample and wires Run. */
export function wireScript(app) {
  $('#pg-code').value = SAMPLE_SCRIPT;
  $('#pg-run').addEventListener('click', () => runScript(app));
}

/**
 * Runs `src` (default: the editor's text) with AMQPWebSocketClient, `url`,
 * `log` and `playground` (the page's API) in scope; resolves to the lines
 * it logged, which also go to the output box.
 */
export async function runScript(app, src = $('#pg-code').value) {
  const out = $('#pg-code-out');
  out.textContent = '';
  const lines = [];
  const say = (...a) => { const s = a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' '); lines.push(s); out.textContent += s + '\n'; };
  const url = app.target.kind === 'tab' ? 'tab://playground/script' : app.target.ws;
  try {
    await new AsyncFunction('AMQPWebSocketClient', 'url', 'log', 'playground', src)(AMQPWebSocketClient, url, say, app.api);
  } catch (e) { say(`error: ${e.message}`); }
  refresh(app);
  return lines;
}
