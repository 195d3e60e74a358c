// Sign-in and registration pages.
import { h, icon } from '../dom.js';
import * as api from '../api.js';
import { mfaLoginStep } from './mfa-login.js';
import {
  applyChecks, busy, clearErrors, field, formAlert, pageHeading, setFieldError, showApiError, showFormAlert,
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

/** The error under the email field, with a way to the sign-in form that keeps the address. */
function emailTakenError(form, email) {
  setFieldError(form, 'email', 'An account with this email already exists.');
  const slot = form.querySelector(`#${CSS.escape(form.elements.email.id)}-error`);
  slot?.append(' ', h('a', { href: `/login?email=${encodeURIComponent(email)}`, 'data-link': true }, 'Try signing in instead'));
  form.elements.email.focus();
}

export function loginView({ navigate, next, query, updateQuery }) {
  const submit = h('button', { type: 'submit', class: 'btn btn--primary btn--block btn--lg' }, 'Sign in');
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Sign in' },
    formAlert(),
    field({ label: 'Email', name: 'email', type: 'email', autocomplete: 'username', required: true, maxlength: 254, inputmode: 'email', spellcheck: 'false' }),
    field({ label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX }),
    submit);

  // "Try signing in instead" on the registration form brings the email along; it then
  // leaves the address bar (and the history) again.
  const carried = (query?.get('email') ?? '').trim().slice(0, 254);
  if (carried) {
    form.elements.email.value = carried;
    updateQuery?.({ next: query.get('next') ?? '' });
  }

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
        const result = await api.login({ email, password });
        if (result?.mfaRequired) {
          showSecondStep(result);
          return;
        }
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

  // The password was right and the account has two-factor authentication on: the same
  // card asks for a code. "Start over" (or a dead mfa_token) brings the password back.
  function showSecondStep(challenge) {
    const heading = node.querySelector('h1');
    const subtitle = node.querySelector('.auth__head p');
    const footer = node.querySelector('.auth__footer');
    const saved = { heading: heading.textContent, subtitle: subtitle.textContent, footer: [...footer.childNodes] };
    const startOver = (message) => {
      step.form.replaceWith(form);
      heading.textContent = saved.heading;
      subtitle.textContent = saved.subtitle;
      footer.replaceChildren(...saved.footer);
      if (message) showFormAlert(form, message, 'info');
      form.elements.password.focus();
    };
    const step = mfaLoginStep({
      challenge,
      onSignedIn: () => navigate(next ?? '/dashboard'),
      onExpired: (message) => startOver(message),
    });
    // The password has done its part; it does not wait in the page for the code.
    form.elements.password.value = '';
    form.replaceWith(step.form);
    heading.textContent = 'Two-factor authentication';
    subtitle.textContent = 'Enter the 6-digit code from your authenticator app.';
    const back = h('button', { type: 'button', class: 'btn btn--link' }, 'Start over');
    back.addEventListener('click', () => { step.stop(); startOver(null); });
    footer.replaceChildren('Wrong account? ', back);
    step.focus();
  }

  return { node, title: 'Sign in', focus: carried ? form.elements.password : undefined };
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
        if (err.code === 'email_taken') emailTakenError(form, email);
        else showApiError(form, err);
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
