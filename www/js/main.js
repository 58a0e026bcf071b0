// Entry point of index.html: log in (HTTP basic auth against /api/whoami,
// credentials kept in sessionStorage), then mount the dashboard.

import { Api } from './api.js';
import { mountDashboard } from './app.js';
import { loadCredentials, saveCredentials, clearCredentials } from './session.js';
import { loginView } from './views/login.js';

const root = document.getElementById('root');
let dashboard = null;

async function login(user, password) {
  const api = new Api({ user, password });
  const me = await api.whoami();
  saveCredentials(user, password);
  dashboard = mountDashboard(root, {
    source: api,
    user: me?.name ?? user,
    onLogout: () => logout(),
    onUnauthorized: () => logout('Your session is no longer valid; log in again.'),
  });
}

function logout(message = '') {
  dashboard?.destroy();
  dashboard = null;
  clearCredentials();
  showLogin(message);
}

function showLogin(message) {
  root.replaceChildren(loginView(login, message));
}

const saved = loadCredentials();
if (saved) {
  login(saved.user, saved.password).catch((e) => {
    clearCredentials();
    showLogin(e.status === 401 ? '' : `Could not reach the API: ${e.message}`);
  });
} else {
  showLogin();
}
