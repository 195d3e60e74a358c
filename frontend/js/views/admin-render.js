// Administration render functions: data in, elements out (no state, no API calls, no listeners).
import { h } from '../dom.js';
import { AUDIT_EVENT_TYPES } from '../audit-types.js';
import { field, formatShortDateTime, pageHeading, relativeTime, timeEl } from './ui.js';
import { emptyState } from './components.js';

export function roleFilterNode() {
  return field({ label: 'Role', name: 'role_filter', control: 'select', inputClass: 'select--sm', options: [['', 'All roles'], ['user', 'Users'], ['admin', 'Admins']], className: 'toolbar__field' });
}

export function usersTableNode(body) {
  return h('table', { class: 'table table--stack users-table' },
    h('caption', { class: 'visually-hidden' }, 'Users'),
    h('thead', {}, h('tr', {},
      ['Email', 'Role', 'Status', 'Todos', 'Last sign-in', 'Joined'].map((t) => h('th', { scope: 'col', class: t === 'Todos' ? 'num' : null }, t)),
      h('th', { scope: 'col', class: 'cell-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    body);
}

export function usersEmpty() {
  return emptyState('users', 'No users match', 'Try another search.');
}

export function userRow(u, self) {
  const roleSelect = h('select', { class: 'select select--sm', name: 'role', 'aria-label': `Role of ${u.email}`, 'data-action': 'role' },
    h('option', { value: 'user' }, 'User'), h('option', { value: 'admin' }, 'Admin'));
  roleSelect.value = u.role;
  return h('tr', { dataset: { id: String(u.id) }, class: u.disabled ? 'is-disabled' : null },
    h('td', { class: 'cell-strong cell-primary', 'data-label': 'Email' }, h('span', { class: 'user-cell' }, h('span', { class: 'user-cell__email', title: u.email }, u.email), self ? h('span', { class: 'badge badge--admin' }, 'You') : null)),
    h('td', { 'data-label': 'Role' }, roleSelect),
    h('td', { 'data-label': 'Status' }, h('span', { class: 'status-badges' },
      u.disabled ? h('span', { class: 'badge badge--danger' }, 'Disabled') : h('span', { class: 'badge badge--success' }, 'Active'),
      u.mfa_enabled
        ? h('span', { class: 'badge badge--muted', title: 'Two-factor authentication is on' }, '2FA', h('span', { class: 'visually-hidden' }, ' on'))
        : null)),
    h('td', { class: 'num', 'data-label': 'Todos' }, String(u.todo_count ?? 0)),
    h('td', { class: 'cell-muted', 'data-label': 'Last sign-in' }, u.last_login_at ? timeEl(u.last_login_at, relativeTime(u.last_login_at)) : 'Never'),
    h('td', { class: 'cell-muted', 'data-label': 'Joined' }, timeEl(u.created_at, relativeTime(u.created_at))),
    h('td', { class: 'cell-actions', 'data-label': 'Actions' }, h('div', { class: 'btn-row' },
      h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'toggle-disabled', 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.email}` }, u.disabled ? 'Enable' : 'Disable'),
      h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'revoke', 'aria-label': `Revoke all sessions of ${u.email}` }, 'Revoke sessions'),
      u.mfa_enabled
        ? h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'reset-mfa', 'aria-label': `Reset two-factor authentication of ${u.email}` }, 'Reset 2FA')
        : null,
      h('button', { type: 'button', class: 'btn btn--sm btn--danger-outline', 'data-action': 'delete', 'aria-label': `Delete ${u.email}` }, 'Delete'))));
}

// A role change is confirmed like every other change here; one's own says what follows.
export function roleChangeDialog(u, role, self) {
  if (self && role !== 'admin') {
    return {
      title: 'Remove your own admin role?',
      message: 'You become a regular user at once: this admin page closes for you, and only another admin can give the role back.',
      confirmLabel: 'Remove my admin role',
      danger: true,
    };
  }
  if (role === 'admin') {
    return {
      title: `Make ${u.email} an admin?`,
      message: 'They can then manage every account, including yours, and read the audit log.',
      confirmLabel: 'Make admin',
    };
  }
  return {
    title: `Make ${u.email} a regular user?`,
    message: 'They lose the admin page and every admin action at their next request.',
    confirmLabel: 'Make regular user',
    danger: true,
  };
}

export function disableDialog(u, self) {
  if (self) {
    return {
      title: 'Disable your own account?',
      message: 'You are signed out at once, on every device, and cannot sign in again until another admin enables your account.',
      confirmLabel: 'Disable my account',
      danger: true,
    };
  }
  return { title: `Disable ${u.email}?`, message: 'They are signed out everywhere and cannot sign in until enabled again.', confirmLabel: 'Disable', danger: true };
}

export function revokeDialog(u) {
  return { title: `Revoke sessions of ${u.email}?`, message: 'Every device signed in to this account is signed out.', confirmLabel: 'Revoke sessions', danger: true };
}

export function resetMfaDialog(u) {
  return {
    title: `Reset two-factor authentication of ${u.email}?`,
    message: 'For a lost phone, once you have checked that the request really comes from them. Their two-factor authentication turns off and every session of theirs ends; they sign in with their password alone and can set it up again.',
    confirmLabel: 'Reset 2FA',
    danger: true,
  };
}

export function deleteDialog(u) {
  return { title: `Delete ${u.email}?`, message: 'The account, its todos and its sessions are deleted permanently.', confirmLabel: 'Delete user', danger: true };
}

// The types as a choice (typing "login" into a free-text filter found nothing: the
// server matches exact types).
export function typeFilterNode() {
  const node = field({
    label: 'Event type', name: 'type', control: 'select', inputClass: 'select--sm', className: 'toolbar__field',
    options: [['', 'All events']],
  });
  const select = node.querySelector('select');
  for (const [group, types] of AUDIT_EVENT_TYPES) {
    select.append(h('optgroup', { label: group }, types.map(([value, text]) => h('option', { value }, text))));
  }
  return node;
}

export function otherTypesGroup() {
  return h('optgroup', { label: 'Other' });
}

export function typeOption(type) {
  return h('option', { value: type }, type);
}

export function auditTableNode(body) {
  return h('table', { class: 'table table--stack audit-table' },
    h('caption', { class: 'visually-hidden' }, 'Audit events'),
    h('thead', {}, h('tr', {}, ['Time', 'Event', 'Actor', 'Target', 'IP address', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    body);
}

export function auditEmpty(filtered) {
  return emptyState('activity', 'No events', filtered ? 'No events of this type.' : 'Security events will appear here.');
}

function who(id, emailById) {
  if (id === null || id === undefined) return h('span', { class: 'muted' }, '—');
  const email = emailById.get(id);
  return email ? h('span', { title: `User #${id}` }, email) : h('span', { class: 'muted' }, `User #${id}`);
}

// Event details are small JSON objects ({"from": "user", "to": "admin"}): show them as
// key/value pairs rather than raw JSON.
function detailNode(detail) {
  if (detail === null || detail === undefined || detail === '') return h('span', { class: 'muted' }, '—');
  if (typeof detail !== 'object') return String(detail);
  const entries = Object.entries(detail);
  if (!entries.length) return h('span', { class: 'muted' }, '—');
  return h('dl', { class: 'kv' }, entries.map(([key, value]) => h('div', {},
    h('dt', {}, key.replace(/_/g, ' ')),
    h('dd', {}, typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)))));
}

export function auditRow(e, emailById) {
  return h('tr', {},
    h('td', { class: 'cell-muted', 'data-label': 'Time' }, timeEl(e.created_at, formatShortDateTime(e.created_at))),
    h('td', { 'data-label': 'Event', class: 'cell-primary' }, h('span', { class: `badge event-badge ${/fail|reuse|lock|denied/.test(e.type) ? 'badge--danger' : 'badge--muted'}` }, e.type)),
    h('td', { 'data-label': 'Actor' }, who(e.actor_user_id, emailById)),
    h('td', { 'data-label': 'Target' }, who(e.target_user_id, emailById)),
    h('td', { class: 'mono', 'data-label': 'IP address' }, e.ip || '—'),
    h('td', { class: 'audit-detail', 'data-label': 'Details' }, detailNode(e.detail)));
}

export function adminLayout({ user, search, roleFilter, usersTable, users, typeFilter, auditTable, audit }) {
  return h('div', { class: 'container admin' },
    h('header', { class: 'page-header' }, h('div', {}, pageHeading('Administration'),
      h('p', { class: 'page-header__welcome' }, 'Manage users and review security events. Signed in as ', h('strong', { class: 'user-email' }, user.email), '.'))),
    h('section', { class: 'card card--flush', 'aria-labelledby': 'users-title' },
      h('div', { class: 'card-section-head' },
        h('div', {}, h('h2', { id: 'users-title' }, 'Users'), h('p', { class: 'card__subtitle' }, 'Change roles, disable accounts, end sessions, reset two-factor authentication.')),
        h('div', { class: 'toolbar__controls' }, search, roleFilter)),
      users.alert,
      h('div', { class: 'table-wrap' }, usersTable),
      users.status,
      users.footer),
    h('section', { class: 'card card--flush', 'aria-labelledby': 'audit-title' },
      h('div', { class: 'card-section-head' },
        h('div', {}, h('h2', { id: 'audit-title' }, 'Audit log'), h('p', { class: 'card__subtitle' }, 'Security events, newest first.')),
        h('div', { class: 'toolbar__controls' }, typeFilter)),
      audit.alert,
      h('div', { class: 'table-wrap' }, auditTable),
      audit.status,
      audit.footer));
}
