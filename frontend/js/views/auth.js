// Sign-in and registration pages.
import { h, icon } from '../dom.js';
import * as api from '../api.js';
import {
  applyChecks, busy, clearErrors, field, formAlert, pageHeading, showApiError, showFormAlert,
  toast, validateEmail, validatePassword, PASSWORD_MAX, PASSWORD_MIN,
} from './ui.js';

function authLayout({ title, subtitle, form, footer }) {
  return h('div', { class: 'container auth' },
    h('div', { class: 'auth__card card' },
      h('div', { class: 'auth__head' },
        h('span', { class: 'auth__icon' }, icon('lock')),
        pageHeading(title),
        h('p', { class: 'muted' }, subtitle)),
      form,
      h('p', { class: 'auth__footer' }, footer)),
    h('p', { class: 'auth__note' }, icon('shield'),
      'Your session token is kept in memory only; a secure, HttpOnly cookie keeps you signed in across reloads.'));
}

export function loginView({ navigate, next }) {
  const submit = h('button', { type: 'submit', class: 'btn btn--primary btn--block btn--lg' }, 'Sign in');
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Sign in' },
    formAlert(),
    field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'username', required: true, maxlength: 254, inputmode: 'email', spellcheck: 'false' }),
    field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX }),
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    const ok = applyChecks(form, {
      email: validateEmail(email),
      password: password ? null : 'Enter your password.',
    });
    if (!ok) return;
    await busy(submit, async () => {
      try {
        await api.login({ email, password });
        navigate(next ?? '/dashboard');
      } catch (err) {
        form.elements.password.value = '';
        if (err.code === 'invalid_credentials') {
          showFormAlert(form, 'Incorrect email or password. Check both and try again.');
          form.elements.password.focus();
        } else {
          showApiError(form, err);
        }
      }
    });
  });

  const node = authLayout({
    title: 'Sign in',
    subtitle: 'Welcome back. Sign in to see your to-dos.',
    form,
    footer: ['New to SecureTodo? ', h('a', { href: '/register', 'data-link': true }, 'Create an account')],
  });
  return { node, title: 'Sign in' };
}

export function registerView({ navigate }) {
  const submit = h('button', { type: 'submit', class: 'btn btn--primary btn--block btn--lg' }, 'Create account');
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Create account' },
    formAlert(),
    field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'email', required: true, maxlength: 254, inputmode: 'email', spellcheck: 'false' }),
    field({
      label: 'Password', name: 'password', type: 'password', autocomplete: 'new-password', required: true,
      minlength: PASSWORD_MIN, maxlength: PASSWORD_MAX,
      hint: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters. A long passphrase works best; common passwords are refused.`,
    }),
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    const ok = applyChecks(form, { email: validateEmail(email), password: validatePassword(password) });
    if (!ok) return;
    await busy(submit, async () => {
      try {
        await api.register({ email, password });
      } catch (err) {
        showApiError(form, err, { fieldForCode: { email_taken: 'email' } });
        return;
      }
      // Registered: sign in straight away with the same credentials.
      try {
        await api.login({ email, password });
        toast('Welcome to SecureTodo! Your account is ready.', 'success');
        navigate('/dashboard');
      } catch {
        navigate('/login', { flash: { kind: 'success', text: 'Account created. Please sign in.' } });
      }
    });
  });

  const node = authLayout({
    title: 'Create your account',
    subtitle: 'It takes less than a minute. No credit card, no tracking.',
    form,
    footer: ['Already have an account? ', h('a', { href: '/login', 'data-link': true }, 'Sign in')],
  });
  return { node, title: 'Create account' };
}
