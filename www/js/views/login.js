// The login form. onLogin(user, password) resolves, or throws to show why.

import { h } from '../dom.js';

export function loginView(onLogin, message = '') {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password' });
  const error = h('p', { class: 'error', role: 'alert', hidden: !message }, message);
  const button = h('button', { type: 'submit' }, 'Log in');
  const submit = async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      await onLogin(user.value, password.value);
    } catch (err) {
      error.textContent = err.status === 401 ? 'Login failed: wrong username or password, or no management access.' : `Login failed: ${err.message}`;
      error.hidden = false;
      button.disabled = false;
    }
  };
  return h('main', { class: 'login' },
    h('form', { class: 'login-form', onsubmit: submit },
      h('h1', null, 'Warren'),
      h('p', { class: 'muted' }, 'AMQP 0-9-1 broker · management'),
      h('label', { class: 'field' }, h('span', null, 'Username'), user),
      h('label', { class: 'field' }, h('span', null, 'Password'), password),
      error,
      h('div', { class: 'actions' }, button)),
    h('p', { class: 'muted center' }, 'No broker to log in to? ', h('a', { href: 'playground.html' }, 'Try the in-browser playground'), '.'));
}
