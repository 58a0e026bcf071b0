// Transient messages (success and error) in one live region.

import { h } from '../dom.js';

let region;

function ensure() {
  if (!region) {
    region = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(region);
  }
  return region;
}

/** kind: 'ok' | 'error' */
export function notify(text, kind = 'ok') {
  const el = h('div', { class: `toast toast-${kind}` }, text);
  ensure().appendChild(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 3500);
  return el;
}

/** Runs an API action, reporting failure as a toast; resolves to its result or undefined. */
export async function attempt(action, okText) {
  try {
    const r = await action();
    if (okText) notify(typeof okText === 'function' ? okText(r) : okText);
    return r ?? true;
  } catch (e) {
    notify(e.message || String(e), 'error');
    return undefined;
  }
}
