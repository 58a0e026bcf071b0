// Login credentials for this tab (sessionStorage: gone when the tab closes).

const KEY = 'warren.credentials';

export function loadCredentials(storage = globalThis.sessionStorage) {
  try {
    const c = JSON.parse(storage.getItem(KEY) || 'null');
    return c && typeof c.user === 'string' && typeof c.password === 'string' ? c : null;
  } catch {
    return null;
  }
}

export function saveCredentials(user, password, storage = globalThis.sessionStorage) {
  storage.setItem(KEY, JSON.stringify({ user, password }));
}

export function clearCredentials(storage = globalThis.sessionStorage) {
  storage.removeItem(KEY);
}

/** Small UI preferences (refresh interval, vhost filter), also per tab. */
export function pref(name, fallback, storage = globalThis.sessionStorage) {
  const v = storage.getItem(`warren.pref.${name}`);
  return v === null ? fallback : v;
}

export function setPref(name, value, storage = globalThis.sessionStorage) {
  storage.setItem(`warren.pref.${name}`, String(value));
}
