// Account page, API tokens and data export: render functions (data in, elements out).
import { h, icon } from '../dom.js';
import { field, formAlert, formatDate, relativeTime, timeEl, PASSWORD_MAX } from './ui.js';
import { loadingState } from './components.js';

export const TOKEN_NAME_MAX = 100;
export const TOKEN_LIFETIMES = [['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['365', '1 year']];
const SCOPE_LABELS = { 'todos:read': 'Read todos', 'todos:write': 'Change todos' };

function cardHeader(id, title, subtitle) {
  return h('div', { class: 'card__header' },
    h('div', {}, h('h2', { id }, title), h('p', { class: 'card__subtitle' }, subtitle)));
}

function scopeCheckbox(scope, checked, id) {
  return h('label', { class: 'checkbox' },
    h('input', { type: 'checkbox', name: 'scopes', value: scope, defaultChecked: checked, id }),
    `${SCOPE_LABELS[scope]} (`, h('code', {}, scope), ')');
}

export function tokenSubmitNode() {
  return h('button', { type: 'submit', class: 'btn btn--primary' }, icon('key'), 'Create token');
}

export function tokenForm(email, submit) {
  return h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'tokens-title' },
    formAlert(),
    h('input', { type: 'email', name: 'username', autocomplete: 'username', value: email, readOnly: true, hidden: true, tabIndex: -1 }),
    field({ label: 'Token name', name: 'name', required: true, maxlength: TOKEN_NAME_MAX, autocomplete: 'off', hint: 'What the token is for, e.g. "backup script".' }),
    h('fieldset', { class: 'field token-scopes', dataset: { field: 'scopes' }, 'aria-describedby': 'token-scopes-error' },
      h('legend', { class: 'field__label' }, 'Access'),
      // The first box carries the id that names the error slot below.
      scopeCheckbox('todos:read', true, 'token-scopes'),
      scopeCheckbox('todos:write', false),
      // The server names the field `scopes`: its error goes here.
      h('p', { class: 'field__error', id: 'token-scopes-error' })),
    field({ label: 'Expires after', name: 'expires_in_days', control: 'select', options: TOKEN_LIFETIMES, value: '30' }),
    field({ label: 'Your password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX, hint: 'Enter your password to confirm that it is you.' }),
    h('div', { class: 'btn-row' }, submit));
}

/** The new secret, shown once, with a copy button. */
export function secretPanel(created) {
  const input = h('input', { class: 'input token-secret__value', type: 'text', readOnly: true, value: created.token, 'aria-label': `Secret of the token ${created.name}`, spellcheck: false, autocomplete: 'off' });
  return h('div', { class: 'token-secret', role: 'status' },
    h('p', { class: 'alert__title' }, `Your new token “${created.name}”`),
    h('p', {}, 'Copy it now: it is shown only this once. Send it as ', h('code', {}, 'Authorization: Bearer <token>'), '.'),
    h('div', { class: 'token-secret__row' },
      input,
      h('button', { type: 'button', class: 'btn', 'data-action': 'copy-token' }, 'Copy'),
      h('button', { type: 'button', class: 'btn btn--ghost', 'data-action': 'dismiss-token' }, 'Done')));
}

function tokenItem(t) {
  return h('li', { class: 'session token', dataset: { id: String(t.id) } },
    h('span', { class: 'session__icon' }, icon('key')),
    h('div', { class: 'session__body' },
      h('p', { class: 'session__device' }, t.name,
        t.scopes.map((s) => h('span', { class: 'badge badge--muted' }, s))),
      h('p', { class: 'session__meta muted small' },
        'Created ', timeEl(t.created_at, formatDate(t.created_at)),
        ' · Expires ', timeEl(t.expires_at, formatDate(t.expires_at)),
        ' · ', t.last_used_at ? ['Last used ', timeEl(t.last_used_at, relativeTime(t.last_used_at))] : 'Never used')),
    h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'delete-token', 'aria-label': `Delete token ${t.name}` }, 'Delete'));
}

export function tokenList(tokens) {
  if (!tokens.length) return h('p', { class: 'muted' }, 'No API tokens yet.');
  return h('ul', { class: 'session-list', 'aria-label': 'API tokens' }, tokens.map(tokenItem));
}

export function tokenListNode() {
  return h('div', { class: 'tokens' }, loadingState('Loading tokens…'));
}

export function tokensCard({ form, secret, alert, list }) {
  return h('section', { class: 'card', 'aria-labelledby': 'tokens-title' },
    cardHeader('tokens-title', 'API tokens', 'For scripts and other apps: a token can read or change your todos, nothing else.'),
    secret,
    alert,
    list,
    h('h3', { class: 'card__subheading' }, 'New token'),
    form);
}

export function exportCard({ alert, buttons }) {
  return h('section', { class: 'card', 'aria-labelledby': 'export-title' },
    cardHeader('export-title', 'Your data', 'Download a copy of your data.'),
    h('p', { class: 'muted small' }, 'JSON has your account, todos, sessions, token details and security events; CSV has your todos for a spreadsheet.'),
    alert,
    h('div', { class: 'btn-row' }, buttons));
}

export function exportButton(format, label) {
  return h('button', { type: 'button', class: 'btn', dataset: { format } }, icon('inbox'), label);
}
