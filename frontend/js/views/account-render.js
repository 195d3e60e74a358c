// Account page render functions: data in, elements out (no state, no API calls, no listeners).
import { h, icon } from '../dom.js';
import {
  describeUserAgent, field, formAlert, formatDate, pageHeading, relativeTime, timeEl, PASSWORD_MAX, PASSWORD_MIN,
} from './ui.js';
import { loadingState } from './components.js';

// Password managers need the account name next to a password field to know which entry to update.
function usernameHint(email) {
  return h('input', { type: 'email', name: 'username', autocomplete: 'username', value: email, readOnly: true, hidden: true, tabIndex: -1 });
}

function cardHeader(id, title, subtitle, ...extra) {
  return h('div', { class: 'card__header' },
    h('div', {}, h('h2', { id }, title), h('p', { class: 'card__subtitle' }, subtitle)),
    ...extra);
}

export function profileCard(user) {
  return h('section', { class: 'card', 'aria-labelledby': 'profile-title' },
    cardHeader('profile-title', 'Profile', 'The details of your account.'),
    h('dl', { class: 'details-list' },
      h('div', {}, h('dt', {}, 'Email'), h('dd', { class: 'user-email' }, user.email)),
      h('div', {}, h('dt', {}, 'Role'), h('dd', {}, h('span', { class: `badge ${user.role === 'admin' ? 'badge--admin' : 'badge--muted'}` }, user.role === 'admin' ? 'Administrator' : 'User'))),
      h('div', {}, h('dt', {}, 'Member since'), h('dd', {}, formatDate(user.created_at)))));
}

export function passwordSubmitNode() {
  return h('button', { type: 'submit', class: 'btn btn--primary' }, 'Change password');
}

export function passwordForm(email, submit) {
  return h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'password-title' },
    formAlert(),
    usernameHint(email),
    field({ label: 'Current password', name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX }),
    field({ label: 'New password', name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, minlength: PASSWORD_MIN, maxlength: PASSWORD_MAX, hint: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters; common passwords are refused.` }),
    field({ label: 'Confirm new password', name: 'confirm_password', type: 'password', autocomplete: 'new-password', required: true, maxlength: PASSWORD_MAX }),
    h('div', { class: 'btn-row' }, submit));
}

export function passwordCard(form) {
  return h('section', { class: 'card', 'aria-labelledby': 'password-title' },
    cardHeader('password-title', 'Change password', 'Changing your password signs out every other session.'),
    form);
}

export function sessionsBodyNode() {
  return h('div', { class: 'sessions' }, loadingState('Loading sessions…'));
}

export function sessionsAlertNode() {
  return h('div', { class: 'form-alert', role: 'alert' });
}

export function signOutAllNode() {
  return h('button', { type: 'button', class: 'btn btn--danger-outline btn--sm' }, icon('logout'), 'Sign out everywhere');
}

function sessionItem(s) {
  const device = describeUserAgent(s.user_agent);
  return h('li', { class: ['session', s.current && 'is-current'], dataset: { id: String(s.id) } },
    h('span', { class: 'session__icon' }, icon('monitor')),
    h('div', { class: 'session__body' },
      h('p', { class: 'session__device', title: s.user_agent ?? '' }, device,
        s.current ? h('span', { class: 'badge badge--success' }, 'This device') : null),
      h('p', { class: 'session__meta muted small' },
        'Signed in ', timeEl(s.created_at, relativeTime(s.created_at)),
        ' · Last active ', timeEl(s.last_used_at, relativeTime(s.last_used_at)))),
    h('button', {
      type: 'button', class: 'btn btn--sm', 'data-action': 'revoke',
      'aria-label': s.current ? 'Sign out of this device' : `Revoke session on ${device}`,
    }, s.current ? 'Sign out' : 'Revoke'));
}

/** The current session first, then the others. */
export function sessionList(sessions) {
  if (!sessions.length) return h('p', { class: 'muted' }, 'No active sessions.');
  const sorted = [...sessions].sort((a, b) => Number(b.current) - Number(a.current));
  return h('ul', { class: 'session-list', 'aria-label': 'Active sessions' }, sorted.map(sessionItem));
}

export function sessionsCard({ signOutAll, alert, body }) {
  return h('section', { class: 'card', 'aria-labelledby': 'sessions-title' },
    cardHeader('sessions-title', 'Active sessions', 'Devices and browsers signed in to your account.', signOutAll),
    alert,
    body);
}

export function deleteSubmitNode() {
  return h('button', { type: 'submit', class: 'btn btn--danger' }, icon('trash'), 'Delete my account');
}

export function deleteForm(email, submit) {
  return h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'delete-title' },
    formAlert(),
    usernameHint(email),
    field({ label: 'Your password', name: 'password', hint: 'Enter your password to confirm that it is you.', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX }),
    h('div', { class: 'btn-row' }, submit));
}

export function dangerCard(form) {
  return h('section', { class: 'card card--danger', 'aria-labelledby': 'delete-title' },
    cardHeader('delete-title', 'Delete account', 'Permanently delete your account and all of your todos.'),
    form);
}

export function accountLayout({ user, profile, sessions, password, mfa, danger, tokens, data }) {
  return h('div', { class: 'container account' },
    h('header', { class: 'page-header' }, h('div', {}, pageHeading('Account'),
      h('p', { class: 'page-header__welcome' }, 'Signed in as ', h('strong', { class: 'user-email' }, user.email)))),
    h('div', { class: 'account-grid' },
      h('div', { class: 'stack' }, profile, sessions, tokens),
      h('div', { class: 'stack' }, password, mfa, data, danger)));
}
