// The second step of a sign-in with two-factor authentication: a code from the
// authenticator app, or a recovery code instead.
import { h } from '../dom.js';
import * as api from '../api.js';
import { applyChecks, busy, clearErrors, field, formAlert, showApiError, showFormAlert } from './ui.js';

/** What the server accepts: six digits (spaces allowed), or a 24-character recovery code. */
export const TOTP_PATTERN = /^\d{6}$/;
export const RECOVERY_PATTERN = /^[0-9a-z]{24}$/i;

/** A code as typed, without the spaces and dashes people add while copying it. */
export function compactCode(value) {
  return String(value ?? '').replace(/[\s-]/g, '');
}

// The server allows five codes per mfa_token; after that every answer is the same 401.
const MAX_ATTEMPTS = 5;

/**
 * The form of the second step. `onSignedIn` runs after a good code; `onExpired(message)`
 * when the step can no longer succeed (five minutes passed, or five wrong codes).
 */
export function mfaLoginStep({ challenge, onSignedIn, onExpired }) {
  let useRecovery = false;
  let attempts = 0;
  const submit = h('button', { type: 'submit', class: 'btn btn--primary btn--block btn--lg' }, 'Verify');
  const codeField = field({
    label: 'Authentication code', name: 'code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code',
    required: true, maxlength: 9, spellcheck: 'false', hint: 'The 6-digit code your authenticator app shows now.',
  });
  const recoveryField = field({
    label: 'Recovery code', name: 'recovery_code', type: 'text', autocomplete: 'off', required: true, maxlength: 40,
    spellcheck: 'false', autocapitalize: 'none', hint: 'One of the recovery codes you saved. Each works once.',
  });
  recoveryField.hidden = true;
  const toggle = h('button', { type: 'button', class: 'btn btn--link', 'aria-controls': recoveryField.querySelector('input').id },
    'Use a recovery code instead');
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Two-factor authentication' },
    formAlert(), codeField, recoveryField, submit, h('p', { class: 'form__aside' }, toggle));

  const input = () => form.elements[useRecovery ? 'recovery_code' : 'code'];
  toggle.addEventListener('click', () => {
    useRecovery = !useRecovery;
    clearErrors(form);
    codeField.hidden = useRecovery;
    recoveryField.hidden = !useRecovery;
    toggle.textContent = useRecovery ? 'Use the authenticator app instead' : 'Use a recovery code instead';
    input().focus();
  });

  const ttl = Number.isFinite(challenge.expiresIn) ? challenge.expiresIn : 300;
  const timer = setTimeout(() => {
    if (form.isConnected) onExpired('That sign-in expired. Enter your password again.');
  }, ttl * 1000);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const value = compactCode(input().value);
    const name = useRecovery ? 'recovery_code' : 'code';
    const ok = applyChecks(form, {
      [name]: useRecovery
        ? (RECOVERY_PATTERN.test(value) ? null : 'Enter a recovery code: 24 letters and digits.')
        : (TOTP_PATTERN.test(value) ? null : 'Enter the 6-digit code from your app.'),
    });
    if (!ok) return;
    await busy(submit, async () => {
      try {
        await api.completeMfaLogin(useRecovery
          ? { mfaToken: challenge.mfaToken, recoveryCode: value }
          : { mfaToken: challenge.mfaToken, code: value });
        clearTimeout(timer);
        onSignedIn();
      } catch (err) {
        input().value = '';
        if (err.code !== 'invalid_credentials') {
          showApiError(form, err);
          return;
        }
        attempts += 1;
        if (attempts >= MAX_ATTEMPTS) {
          clearTimeout(timer);
          onExpired('Too many wrong codes. Enter your password again to get a new try.');
          return;
        }
        showFormAlert(form, useRecovery
          ? 'That recovery code did not work. Check it, or use another one.'
          : 'That code did not work. Wait for the next code and try again.');
        input().focus();
      }
    });
  });

  return {
    form,
    focus: () => input().focus(),
    stop: () => clearTimeout(timer),
  };
}
