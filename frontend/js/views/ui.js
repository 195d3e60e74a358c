// Shared view building blocks: labelled fields, error display, messages, dialogs, formatting.
import { h, icon, replace, uniqueId } from '../dom.js';

/* ---------- Validation mirroring the server ---------- */

// The WHATWG (HTML5) email syntax, as the server checks it: a local part of the allowed
// characters, then host-name labels (internationalised letters allowed), at most 254 characters.
const EMAIL_RE = /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?)*$/iu;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;
export const TITLE_MAX = 200;
export const DESCRIPTION_MAX = 10000;

/** Length in characters (code points), as the server counts them. */
export function charLength(value) {
  return [...value].length;
}

export function validateEmail(value) {
  const email = value.trim();
  if (!email) return 'Enter your email address.';
  if (charLength(email) > 254 || !EMAIL_RE.test(email)) return 'Enter a valid email address, like name@example.com.';
  return null;
}

export function validatePassword(value, { label = 'Password' } = {}) {
  if (!value) return `${label} is required.`;
  const length = charLength(value);
  if (length < PASSWORD_MIN) return `${label} must be at least ${PASSWORD_MIN} characters.`;
  if (length > PASSWORD_MAX) return `${label} must be at most ${PASSWORD_MAX} characters.`;
  return null;
}

export function validateTitle(value) {
  const title = value.trim();
  if (!title) return 'Enter a title.';
  if (charLength(title) > TITLE_MAX) return `Keep the title under ${TITLE_MAX + 1} characters.`;
  return null;
}

/* ---------- Fields ---------- */

/**
 * A labelled control with hint and error slots wired through aria-describedby.
 * `control` is 'input' | 'textarea' | 'select'; `options` for selects: [[value, label], ...].
 */
export function field({ label, name, control = 'input', hint, optional = false, options = [], hideLabel = false, className = '', inputClass = '', ...attrs }) {
  const id = uniqueId(`f-${name}`);
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  const controlClass = control === 'select' ? 'select' : control === 'textarea' ? 'textarea' : 'input';
  const el = h(control, {
    ...attrs,
    id,
    name,
    class: [controlClass, inputClass].filter(Boolean).join(' '),
    'aria-describedby': [hintId, errorId].filter(Boolean).join(' '),
  });
  if (control === 'select') {
    // defaultSelected too, so that form.reset() returns to the intended choice.
    for (const [value, text] of options) {
      el.append(h('option', { value, defaultSelected: attrs.value !== undefined && value === attrs.value }, text));
    }
  }
  let controlNode = el;
  if (control === 'input' && attrs.type === 'password') controlNode = passwordWrap(el);
  return h('div', { class: ['field', className], dataset: { field: name } },
    h('label', { class: ['field__label', hideLabel && 'visually-hidden'], for: id },
      label, optional ? h('span', { class: 'field__optional' }, ' (optional)') : null),
    controlNode,
    hint ? h('p', { class: 'field__hint', id: hintId }, hint) : null,
    h('p', { class: 'field__error', id: errorId }),
  );
}

function passwordWrap(input) {
  const toggle = h('button', {
    type: 'button', class: 'btn btn--ghost btn--sm password-toggle', 'aria-pressed': 'false',
    'aria-label': 'Show password', 'aria-controls': input.id,
  }, 'Show');
  toggle.addEventListener('click', () => {
    const show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    toggle.textContent = show ? 'Hide' : 'Show';
    toggle.setAttribute('aria-pressed', String(show));
    toggle.setAttribute('aria-label', show ? 'Hide password' : 'Show password');
  });
  return h('div', { class: 'password-wrap' }, input, toggle);
}

/** A form-level error slot: a live region announced by screen readers. */
export function formAlert() {
  return h('div', { class: 'form-alert', role: 'alert' });
}

export function setFieldError(form, name, message) {
  const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (!control) return false;
  const slot = form.querySelector(`#${CSS.escape(control.id)}-error`);
  if (message) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
  if (slot) slot.textContent = message ?? '';
  return true;
}

export function clearErrors(form) {
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  for (const slot of form.querySelectorAll('.field__error')) slot.textContent = '';
  for (const alert of form.querySelectorAll('.form-alert')) alert.replaceChildren();
}

export function showFormAlert(form, message, kind = 'error') {
  const slot = form.querySelector('.form-alert');
  if (!slot) return;
  replace(slot, message ? alertBox(message, kind) : null);
}

export function alertBox(message, kind = 'error', title = null) {
  return h('div', { class: `alert alert--${kind}` },
    icon(kind === 'success' ? 'check' : kind === 'error' ? 'alert' : 'shield'),
    h('div', {}, title ? h('p', { class: 'alert__title' }, title) : null, h('p', {}, message)));
}

/**
 * Apply client-side checks: `{name: message|null}`. Marks every failing field, focuses
 * the first one and returns false when anything failed.
 */
export function applyChecks(form, checks) {
  let first = null;
  for (const [name, message] of Object.entries(checks)) {
    setFieldError(form, name, message);
    if (message && !first) first = form.querySelector(`[name="${CSS.escape(name)}"]`);
  }
  if (first) first.focus();
  return first === null;
}

/**
 * Show an API error on a form: each `errors[].field` next to its field, anything else
 * (or fields the form does not have) in the form-level alert. Focuses the first bad field.
 */
export function showApiError(form, err) {
  if (err?.code === 'session_ended' || err?.name === 'AbortError') return;
  const leftovers = [];
  let first = null;
  const fieldErrors = err?.errors?.length ? err.errors : [];
  for (const { field: name, message } of fieldErrors) {
    if (name && setFieldError(form, name, fieldSentence(form, name, message))) {
      first ??= form.querySelector(`[name="${CSS.escape(name)}"]`);
    } else {
      leftovers.push(message);
    }
  }
  if (!fieldErrors.length) leftovers.push(errorMessage(err));
  if (leftovers.length) showFormAlert(form, leftovers.join(' '));
  first?.focus();
}

/**
 * Server field messages may be phrases such as "is incorrect" or "must be at least 8
 * characters"; next to a field they read better as "Current password is incorrect."
 */
export function fieldSentence(form, name, message) {
  const text = String(message ?? '').trim() || 'Check this field.';
  if (!/^[a-z]/.test(text)) return text;
  const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
  const label = control ? form.querySelector(`label[for="${CSS.escape(control.id)}"]`) : null;
  const labelText = label ? [...label.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim() : '';
  const subject = labelText || name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  return `${subject} ${text}${/[.!?]$/.test(text) ? '' : '.'}`;
}

/**
 * A human sentence for an API error. (`invalid_credentials` and `email_taken` come only
 * from sign-in and registration, whose forms word them themselves.)
 */
export function errorMessage(err) {
  if (!err) return 'Something went wrong. Please try again.';
  switch (err.code) {
    case 'rate_limited':
      return err.retryAfter
        ? `Too many attempts. Please wait ${err.retryAfter} seconds and try again.`
        : 'Too many attempts. Please wait a minute and try again.';
    case 'network': return 'Cannot reach the server. Check your connection and try again.';
    case 'forbidden': return 'You do not have permission to do that.';
    case 'not_found': return 'That item no longer exists. It may have been deleted elsewhere.';
    case 'precondition_failed': return 'This item was changed elsewhere. Reload and try again.';
    case 'payload_too_large': return 'That is too much text to save.';
    case 'last_admin': return err.detail || 'This is the last active admin. Make another user an admin first.';
    case 'session_ended': return 'Your session has ended, please sign in again.';
    case 'internal': return 'Something went wrong on our side. Please try again.';
    default: return err.detail || err.title || 'Something went wrong. Please try again.';
  }
}

/** Ignore errors that need no message: aborted loads and sessions that just ended. */
export function isSilent(err) {
  return err?.name === 'AbortError' || err?.code === 'session_ended';
}

/** Mark a button as working (disabled + spinner) until the promise settles. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/* ---------- Toasts and dialogs ---------- */

export function toast(message, kind = 'info') {
  const region = document.getElementById('toasts');
  if (!region) return;
  const node = h('div', { class: `toast toast--${kind}` }, message);
  region.append(node);
  while (region.children.length > 2) region.firstElementChild.remove();
  setTimeout(() => node.remove(), 3500);
}

/**
 * A toast with one action button (e.g. "Undo"), shown longer than a plain toast so that
 * the action can be reached by keyboard too. `onAction` runs once; the toast then goes.
 */
export function actionToast(message, { label, onAction, timeout = 10000 }) {
  const region = document.getElementById('toasts');
  if (!region) return;
  const action = h('button', { type: 'button', class: 'btn btn--sm toast__action' }, label);
  const node = h('div', { class: 'toast toast--info toast--action' }, h('span', {}, message), action);
  action.addEventListener('click', () => {
    node.remove();
    onAction();
  }, { once: true });
  region.append(node);
  while (region.children.length > 2) region.firstElementChild.remove();
  setTimeout(() => node.remove(), timeout);
}

/**
 * A modal confirmation (<dialog>, not window.confirm). Resolves true when confirmed.
 * `details` (an element) is shown under the message.
 */
export function confirmDialog({ title, message, confirmLabel = 'Confirm', cancelLabel = 'Cancel', danger = false, details = null }) {
  return new Promise((resolve) => {
    const titleId = uniqueId('dlg-title');
    const descId = uniqueId('dlg-desc');
    const cancel = h('button', { type: 'button', class: 'btn', value: 'cancel' }, cancelLabel);
    const ok = h('button', { type: 'button', class: `btn ${danger ? 'btn--danger' : 'btn--primary'}`, value: 'ok' }, confirmLabel);
    const dialog = h('dialog', { class: 'dialog', 'aria-labelledby': titleId, 'aria-describedby': descId },
      h('div', { class: 'dialog__body' }, h('h2', { id: titleId }, title), h('p', { id: descId }, message), details),
      h('div', { class: 'dialog__actions' }, cancel, ok));
    const opener = document.activeElement;
    let result = false;
    cancel.addEventListener('click', () => dialog.close());
    ok.addEventListener('click', () => { result = true; dialog.close(); });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/* ---------- Formatting ---------- */

const dateFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const relFmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "YYYY-MM-DD" as a local calendar date (no timezone shift). */
export function parseDay(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value ?? '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

export function todayIso() {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export function formatDay(value) {
  const d = parseDay(value);
  return d ? dateFmt.format(d) : '';
}

export function formatDateTime(value) {
  if (!value) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '—' : dateTimeFmt.format(d);
}

const shortDateTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** "Nov 26, 08:20": for dense tables; the full date is in the tooltip. */
export function formatShortDateTime(value) {
  if (!value) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '—' : shortDateTimeFmt.format(d);
}

export function formatDate(value) {
  if (!value) return '—';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '—' : dateFmt.format(d);
}

export function relativeTime(value) {
  if (!value) return 'never';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '—';
  const seconds = Math.round((d.getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  if (abs < 3600) return relFmt.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return relFmt.format(Math.round(seconds / 3600), 'hour');
  if (abs < 86400 * 30) return relFmt.format(Math.round(seconds / 86400), 'day');
  return formatDate(value);
}

/** A <time> element with a machine-readable datetime and a full tooltip. */
export function timeEl(value, text) {
  return h('time', { datetime: value ?? '', title: formatDateTime(value) }, text);
}

/** A short, human name for a User-Agent string ("Chrome on Linux"). */
export function describeUserAgent(ua) {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge'
    : /OPR\//.test(ua) ? 'Opera'
      : /Firefox\//.test(ua) ? 'Firefox'
        : /(Chrome|Chromium|HeadlessChrome)\//.test(ua) ? 'Chrome'
          : /Safari\//.test(ua) ? 'Safari'
            : /^curl\//.test(ua) ? 'curl'
              : /PostmanRuntime/.test(ua) ? 'Postman'
                : null;
  const os = /Android/.test(ua) ? 'Android'
    : /iPhone|iPad|iPod/.test(ua) ? 'iOS'
      : /Windows/.test(ua) ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
          : /CrOS/.test(ua) ? 'ChromeOS'
            : /Linux/.test(ua) ? 'Linux'
              : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? (ua.length > 40 ? `${ua.slice(0, 40)}…` : ua);
}

/** Page heading that receives focus after navigation so screen readers announce the page. */
export function pageHeading(text, extra = {}) {
  return h('h1', { tabindex: '-1', class: 'page-title', ...extra }, text);
}

/** Trailing-edge debounce for search boxes. */
export function debounce(fn, ms = 250) {
  let timer = null;
  const debounced = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}
