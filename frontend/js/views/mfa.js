// Account page, two-factor authentication card: set up TOTP (QR code shown as an image,
// the secret as text), confirm it, show the recovery codes once (copy, download), then
// regenerate them or turn two-factor authentication off. Its own module, so the account
// page only places the card.
import { h, icon, replace } from '../dom.js';
import * as api from '../api.js';
import {
  alertBox, applyChecks, busy, clearErrors, confirmDialog, field, formAlert, showApiError, toast, PASSWORD_MAX,
} from './ui.js';
import { compactCode, RECOVERY_PATTERN, TOTP_PATTERN } from './mfa-login.js';

const TURN_OFF = {
  title: 'Turn off two-factor authentication?',
  message: 'Signing in then needs only your password. Your recovery codes stop working.',
  confirmLabel: 'Turn off',
  danger: true,
};

const RECOVERY_FILE = 'securetodo-recovery-codes.txt';

// Password managers need the account name next to a password field.
function usernameHint(email) {
  return h('input', { type: 'email', name: 'username', autocomplete: 'username', value: email, readOnly: true, hidden: true, tabIndex: -1 });
}

function passwordField(hint) {
  return field({ label: 'Your password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX, hint });
}

/** The SVG QR code from the API as an image: a data: URL, never markup in the page. */
function qrImage(svg) {
  return h('img', {
    class: 'mfa__qr', src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`,
    alt: 'QR code to scan with your authenticator app', width: 200, height: 200,
  });
}

/** The base32 secret in groups of four, easier to read and type. */
function groupSecret(secret) {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

async function copyText(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied`, 'success');
  } catch {
    toast(`Could not copy. Select the ${what.toLowerCase()} and copy them yourself.`, 'error');
  }
}

function downloadText(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  const link = h('a', { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function validateCode(value, { allowRecovery = false } = {}) {
  const code = compactCode(value);
  if (TOTP_PATTERN.test(code)) return null;
  if (allowRecovery && RECOVERY_PATTERN.test(code)) return null;
  return allowRecovery ? 'Enter the 6-digit code from your app, or a recovery code.' : 'Enter the 6-digit code from your app.';
}

export function mfaCard({ user }) {
  let enabled = Boolean(user.mfa_enabled);
  const status = h('span', { class: 'badge' });
  const body = h('div', { class: 'mfa' });
  const node = h('section', { class: 'card mfa-card', 'aria-labelledby': 'mfa-title' },
    h('div', { class: 'card__header' },
      h('div', {}, h('h2', { id: 'mfa-title' }, 'Two-factor authentication'),
        h('p', { class: 'card__subtitle' }, 'A code from an authenticator app on your phone, on top of your password.')),
      status),
    body);

  function setEnabled(value, { changed = true } = {}) {
    enabled = value;
    status.className = `badge ${enabled ? 'badge--success' : 'badge--muted'}`;
    status.textContent = enabled ? 'On' : 'Off';
    // The session's copy of the user follows the change.
    if (changed) api.getMe().catch(() => {});
  }

  function show(view, focus) {
    replace(body, view);
    (focus ?? body.querySelector('input:not([hidden]), button'))?.focus();
  }

  /* ----- Off: start the set-up with the password ----- */
  function offView() {
    const submit = h('button', { type: 'submit', class: 'btn btn--primary' }, icon('shield'), 'Set up two-factor authentication');
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Set up two-factor authentication' },
      h('p', { class: 'muted' }, 'Two-factor authentication is off. Turn it on so that a stolen password alone cannot open your account.'),
      formAlert(), usernameHint(user.email),
      passwordField('Confirm that it is you.'),
      h('div', { class: 'btn-row' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const password = form.elements.password.value;
      if (!applyChecks(form, { password: password ? null : 'Enter your password.' })) return;
      await busy(submit, async () => {
        try {
          const enrolment = await api.startTotpEnrolment({ password });
          show(enrolView(enrolment));
        } catch (err) {
          form.elements.password.value = '';
          showApiError(form, err);
        }
      });
    });
    return form;
  }

  /* ----- Pending: scan, then confirm with a code ----- */
  function enrolView(enrolment) {
    const submit = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Turn on');
    const cancel = h('button', { type: 'button', class: 'btn' }, 'Cancel');
    const copySecret = h('button', { type: 'button', class: 'btn btn--sm' }, 'Copy key');
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Confirm two-factor authentication' },
      formAlert(),
      field({
        label: 'Code from the app', name: 'code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code',
        required: true, maxlength: 9, spellcheck: 'false', hint: 'Enter the 6-digit code the app shows for SecureTodo.',
      }),
      h('div', { class: 'btn-row' }, submit, cancel));
    copySecret.addEventListener('click', () => copyText(enrolment.secret, 'Key'));
    cancel.addEventListener('click', () => show(offView()));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const code = compactCode(form.elements.code.value);
      if (!applyChecks(form, { code: validateCode(code) })) return;
      await busy(submit, async () => {
        try {
          const { recovery_codes: codes } = await api.confirmTotpEnrolment({ code });
          setEnabled(true);
          toast('Two-factor authentication is on', 'success');
          show(codesView(codes, 'Two-factor authentication is on. Your other sessions were signed out.'));
        } catch (err) {
          form.elements.code.value = '';
          showApiError(form, err);
        }
      });
    });
    return h('div', { class: 'mfa__enrol' },
      h('ol', { class: 'mfa__steps' },
        h('li', {}, 'Open an authenticator app (such as Aegis, Google Authenticator or 1Password) and scan this QR code.'),
        h('li', {}, 'Or type the key below into the app by hand (time-based, 6 digits).'),
        h('li', {}, 'Enter the code the app shows to turn two-factor authentication on.')),
      h('div', { class: 'mfa__setup' },
        qrImage(enrolment.qr_svg),
        h('div', { class: 'mfa__secret' },
          h('p', { class: 'field__label', id: 'mfa-secret-label' }, 'Key for manual entry'),
          h('p', { class: 'mono mfa__key', 'aria-labelledby': 'mfa-secret-label', dataset: { secret: enrolment.secret } }, groupSecret(enrolment.secret)),
          copySecret)),
      form);
  }

  /* ----- Recovery codes, shown once ----- */
  function codesView(codes, message) {
    const text = `SecureTodo recovery codes for ${user.email}\nEach code works once, in place of a code from your app.\n\n${codes.join('\n')}\n`;
    const copy = h('button', { type: 'button', class: 'btn btn--sm' }, 'Copy codes');
    const download = h('button', { type: 'button', class: 'btn btn--sm' }, 'Download');
    const done = h('button', { type: 'button', class: 'btn btn--primary' }, 'I have saved my recovery codes');
    copy.addEventListener('click', () => copyText(codes.join('\n'), 'Recovery codes'));
    download.addEventListener('click', () => downloadText(text, RECOVERY_FILE));
    done.addEventListener('click', () => show(onView()));
    return h('div', { class: 'mfa__codes' },
      alertBox(message, 'success'),
      h('p', {}, h('strong', {}, 'Save these recovery codes now.'),
        ' Each one signs you in once if you lose your phone. They are shown only this once.'),
      h('ol', { class: 'recovery-codes mono', 'aria-label': 'Recovery codes' }, codes.map((c) => h('li', {}, c))),
      h('div', { class: 'btn-row' }, copy, download),
      h('div', { class: 'btn-row' }, done));
  }

  /* ----- On: new recovery codes, or turn it off (password and a code) ----- */
  function onView() {
    const regenerate = h('button', { type: 'submit', class: 'btn', value: 'regenerate' }, 'New recovery codes');
    const turnOff = h('button', { type: 'submit', class: 'btn btn--danger-outline', value: 'disable' }, 'Turn off');
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Manage two-factor authentication' },
      h('p', { class: 'muted' }, 'Two-factor authentication is on: signing in asks for a code from your app.'),
      formAlert(), usernameHint(user.email),
      passwordField(null),
      field({
        label: 'Code from the app, or a recovery code', name: 'code', type: 'text', autocomplete: 'one-time-code',
        required: true, maxlength: 40, spellcheck: 'false', autocapitalize: 'none',
      }),
      h('div', { class: 'btn-row' }, regenerate, turnOff));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearErrors(form);
      const action = event.submitter?.value === 'disable' ? 'disable' : 'regenerate';
      const password = form.elements.password.value;
      const code = compactCode(form.elements.code.value);
      const ok = applyChecks(form, {
        password: password ? null : 'Enter your password.',
        code: validateCode(code, { allowRecovery: true }),
      });
      if (!ok) return;
      if (action === 'disable' && !(await confirmDialog(TURN_OFF))) return;
      const button = action === 'disable' ? turnOff : regenerate;
      await busy(button, async () => {
        try {
          if (action === 'disable') {
            await api.disableMfa({ password, code });
            setEnabled(false);
            toast('Two-factor authentication is off', 'success');
            show(offView());
          } else {
            const { recovery_codes: codes } = await api.regenerateRecoveryCodes({ password, code });
            show(codesView(codes, 'New recovery codes. The old ones no longer work.'));
          }
        } catch (err) {
          form.elements.password.value = '';
          form.elements.code.value = '';
          showApiError(form, err);
        }
      });
    });
    return form;
  }

  setEnabled(enabled, { changed: false });
  replace(body, enabled ? onView() : offView());
  return { node };
}
