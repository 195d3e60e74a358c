// Administration: users (search, role, enable/disable, revoke sessions, delete) and the audit log.
import { h, icon, replace } from '../dom.js';
import * as api from '../api.js';
import { AUDIT_EVENT_TYPES } from '../audit-types.js';
import {
  alertBox, busy, confirmDialog, debounce, errorMessage, field, formatShortDateTime, isSilent, pageHeading,
  relativeTime, timeEl, toast,
} from './ui.js';

const PAGE_SIZE = 25;

export function adminView({ user, navigate, signal }) {
  const users = { items: [], nextCursor: null, q: '', role: '' };
  const audit = { items: [], nextCursor: null, type: '' };
  const emailById = new Map();

  /* ----- Users ----- */
  const usersAlert = h('div', { class: 'form-alert', role: 'alert' });
  const usersBody = h('tbody');
  const usersStatus = h('div', { class: 'list-status' });
  const usersMore = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more users');

  const search = field({ label: 'Search users by email', name: 'q', type: 'search', placeholder: 'Search by email', hideLabel: true, maxlength: 254, autocomplete: 'off', className: 'toolbar__search' });
  search.querySelector('.input').before(h('span', { class: 'search-icon' }, icon('search')));
  const searchInput = search.querySelector('input');
  const runSearch = debounce(() => {
    users.q = searchInput.value.trim();
    loadUsers();
  }, 300);
  searchInput.addEventListener('input', runSearch);
  searchInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); runSearch.cancel(); users.q = searchInput.value.trim(); loadUsers(); }
  });
  const roleFilter = field({ label: 'Role', name: 'role_filter', control: 'select', inputClass: 'select--sm', options: [['', 'All roles'], ['user', 'Users'], ['admin', 'Admins']], className: 'toolbar__field' });
  roleFilter.querySelector('select').addEventListener('change', (e) => { users.role = e.target.value; loadUsers(); });

  const usersTable = h('table', { class: 'table table--stack users-table' },
    h('caption', { class: 'visually-hidden' }, 'Users'),
    h('thead', {}, h('tr', {},
      ['Email', 'Role', 'Status', 'Todos', 'Last sign-in', 'Joined'].map((t) => h('th', { scope: 'col', class: t === 'Todos' ? 'num' : null }, t)),
      h('th', { scope: 'col', class: 'cell-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    usersBody);

  async function loadUsers({ append = false } = {}) {
    usersAlert.replaceChildren();
    if (!append && !users.items.length) replace(usersStatus, h('div', { class: 'empty' }, h('span', { class: 'spinner' }), h('p', {}, 'Loading users…')));
    try {
      const page = await api.listUsers({ q: users.q, role: users.role, limit: PAGE_SIZE, cursor: append ? users.nextCursor : undefined }, { signal });
      users.items = append ? [...users.items, ...page.items] : page.items;
      users.nextCursor = page.next_cursor ?? null;
      for (const u of users.items) emailById.set(u.id, u.email);
      renderUsers();
      renderAudit();
    } catch (err) {
      if (isSilent(err)) return;
      usersStatus.replaceChildren();
      replace(usersAlert, alertBox(`Could not load users. ${errorMessage(err)}`));
    }
  }

  function renderUsers() {
    replace(usersBody, users.items.map(userRow));
    usersMore.hidden = !users.nextCursor;
    if (!users.items.length) replace(usersStatus, h('div', { class: 'empty' }, icon('users', 'empty__icon'), h('p', { class: 'empty__title' }, 'No users match'), h('p', {}, 'Try another search.')));
    else usersStatus.replaceChildren();
  }

  function userRow(u) {
    const self = u.id === user.id;
    const roleSelect = h('select', { class: 'select select--sm', name: 'role', 'aria-label': `Role of ${u.email}`, 'data-action': 'role' },
      h('option', { value: 'user' }, 'User'), h('option', { value: 'admin' }, 'Admin'));
    roleSelect.value = u.role;
    return h('tr', { dataset: { id: String(u.id) }, class: u.disabled ? 'is-disabled' : null },
      h('td', { class: 'cell-strong cell-primary', 'data-label': 'Email' }, h('span', { class: 'user-cell' }, h('span', { class: 'user-cell__email', title: u.email }, u.email), self ? h('span', { class: 'badge badge--admin' }, 'You') : null)),
      h('td', { 'data-label': 'Role' }, roleSelect),
      h('td', { 'data-label': 'Status' }, u.disabled ? h('span', { class: 'badge badge--danger' }, 'Disabled') : h('span', { class: 'badge badge--success' }, 'Active')),
      h('td', { class: 'num', 'data-label': 'Todos' }, String(u.todo_count ?? 0)),
      h('td', { class: 'cell-muted', 'data-label': 'Last sign-in' }, u.last_login_at ? timeEl(u.last_login_at, relativeTime(u.last_login_at)) : 'Never'),
      h('td', { class: 'cell-muted', 'data-label': 'Joined' }, timeEl(u.created_at, relativeTime(u.created_at))),
      h('td', { class: 'cell-actions', 'data-label': 'Actions' }, h('div', { class: 'btn-row' },
        h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'toggle-disabled', 'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.email}` }, u.disabled ? 'Enable' : 'Disable'),
        h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'revoke', 'aria-label': `Revoke all sessions of ${u.email}` }, 'Revoke sessions'),
        h('button', { type: 'button', class: 'btn btn--sm btn--danger-outline', 'data-action': 'delete', 'aria-label': `Delete ${u.email}` }, 'Delete'))));
  }

  function rowUser(target) {
    const tr = target instanceof Element ? target.closest('tr[data-id]') : null;
    return tr ? users.items.find((u) => String(u.id) === tr.dataset.id) : null;
  }

  function replaceUser(updated) {
    const index = users.items.findIndex((u) => u.id === updated.id);
    if (index === -1) return;
    users.items[index] = { ...users.items[index], ...updated };
    const tr = usersBody.querySelector(`tr[data-id="${CSS.escape(String(updated.id))}"]`);
    tr?.replaceWith(userRow(users.items[index]));
  }

  function showUsersError(err) {
    if (isSilent(err)) return;
    replace(usersAlert, alertBox(errorMessage(err), 'error', err.code === 'last_admin' ? 'Action blocked' : null));
  }

  // After changing our own role or status, the server is the judge of what we may still do.
  async function afterSelfChange() {
    try {
      const me = await api.getMe({ signal });
      if (me.role !== 'admin') navigate('/dashboard', { flash: { kind: 'info', text: 'You are no longer an administrator.' } });
    } catch (err) {
      if (!isSilent(err)) showUsersError(err);
    }
  }

  // A role change is confirmed like every other change here; one's own says what follows.
  function roleChangeDialog(u, role) {
    const self = u.id === user.id;
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

  function disableDialog(u) {
    if (u.id === user.id) {
      return {
        title: 'Disable your own account?',
        message: 'You are signed out at once, on every device, and cannot sign in again until another admin enables your account.',
        confirmLabel: 'Disable my account',
        danger: true,
      };
    }
    return { title: `Disable ${u.email}?`, message: 'They are signed out everywhere and cannot sign in until enabled again.', confirmLabel: 'Disable', danger: true };
  }

  // Event delegation: one listener per event type for the whole table.
  usersBody.addEventListener('change', async (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || select.dataset.action !== 'role') return;
    const u = rowUser(select);
    if (!u) return;
    const role = select.value;
    usersAlert.replaceChildren();
    if (!(await confirmDialog(roleChangeDialog(u, role)))) {
      select.value = u.role;
      return;
    }
    select.disabled = true;
    try {
      const updated = await api.updateUser(u.id, { role });
      replaceUser(updated);
      usersBody.querySelector(`tr[data-id="${CSS.escape(String(u.id))}"] select[data-action="role"]`)?.focus();
      toast(`${updated.email} is now ${updated.role === 'admin' ? 'an admin' : 'a user'}`, 'success');
      if (u.id === user.id) await afterSelfChange();
      loadAudit();
    } catch (err) {
      select.value = u.role;
      select.disabled = false;
      showUsersError(err);
    }
  });

  usersBody.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('button[data-action]') : null;
    if (!button) return;
    const u = rowUser(button);
    if (!u) return;
    usersAlert.replaceChildren();
    const action = button.dataset.action;
    if (action === 'toggle-disabled') {
      const disable = !u.disabled;
      if (disable && !(await confirmDialog(disableDialog(u)))) return;
      await busy(button, async () => {
        try {
          const updated = await api.updateUser(u.id, { disabled: disable });
          replaceUser(updated);
          usersBody.querySelector(`tr[data-id="${CSS.escape(String(u.id))}"] [data-action="toggle-disabled"]`)?.focus();
          toast(`${updated.email} ${updated.disabled ? 'disabled' : 'enabled'}`, 'success');
          if (u.id === user.id) await afterSelfChange();
          loadAudit();
        } catch (err) { showUsersError(err); }
      });
    } else if (action === 'revoke') {
      if (!(await confirmDialog({ title: `Revoke sessions of ${u.email}?`, message: 'Every device signed in to this account is signed out.', confirmLabel: 'Revoke sessions', danger: true }))) return;
      await busy(button, async () => {
        try {
          await api.revokeUserSessions(u.id);
          toast(`Signed ${u.email} out everywhere`, 'success');
          loadAudit();
        } catch (err) { showUsersError(err); }
      });
    } else if (action === 'delete') {
      if (!(await confirmDialog({ title: `Delete ${u.email}?`, message: 'The account, its todos and its sessions are deleted permanently.', confirmLabel: 'Delete user', danger: true }))) return;
      await busy(button, async () => {
        try {
          await api.deleteUser(u.id);
          users.items = users.items.filter((x) => x.id !== u.id);
          renderUsers();
          toast(`Deleted ${u.email}`, 'success');
          searchInput.focus();
          loadAudit();
        } catch (err) { showUsersError(err); }
      });
    }
  });

  usersMore.addEventListener('click', () => busy(usersMore, () => loadUsers({ append: true })));

  /* ----- Audit log ----- */
  const auditAlert = h('div', { class: 'form-alert', role: 'alert' });
  const auditBody = h('tbody');
  const auditStatus = h('div', { class: 'list-status' });
  const auditMore = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more events');
  // The types as a choice (typing "login" into a free-text filter found nothing: the
  // server matches exact types).
  const typeFilter = field({
    label: 'Event type', name: 'type', control: 'select', inputClass: 'select--sm', className: 'toolbar__field',
    options: [['', 'All events']],
  });
  const typeSelect = typeFilter.querySelector('select');
  for (const [group, types] of AUDIT_EVENT_TYPES) {
    typeSelect.append(h('optgroup', { label: group }, types.map(([value, text]) => h('option', { value }, text))));
  }
  const knownTypes = new Set(AUDIT_EVENT_TYPES.flatMap(([, types]) => types.map(([value]) => value)));
  let otherGroup = null;
  // A type the server records that this page does not list yet becomes a choice once seen.
  function offerSeenTypes(events) {
    for (const { type } of events) {
      if (typeof type !== 'string' || knownTypes.has(type)) continue;
      knownTypes.add(type);
      if (!otherGroup) {
        otherGroup = h('optgroup', { label: 'Other' });
        typeSelect.append(otherGroup);
      }
      otherGroup.append(h('option', { value: type }, type));
    }
  }
  typeSelect.addEventListener('change', () => { audit.type = typeSelect.value; loadAudit(); });

  const auditTable = h('table', { class: 'table table--stack audit-table' },
    h('caption', { class: 'visually-hidden' }, 'Audit events'),
    h('thead', {}, h('tr', {}, ['Time', 'Event', 'Actor', 'Target', 'IP address', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
    auditBody);

  function who(id) {
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

  function renderAudit() {
    offerSeenTypes(audit.items);
    replace(auditBody, audit.items.map((e) => h('tr', {},
      h('td', { class: 'cell-muted', 'data-label': 'Time' }, timeEl(e.created_at, formatShortDateTime(e.created_at))),
      h('td', { 'data-label': 'Event', class: 'cell-primary' }, h('span', { class: `badge event-badge ${/fail|reuse|lock|denied/.test(e.type) ? 'badge--danger' : 'badge--muted'}` }, e.type)),
      h('td', { 'data-label': 'Actor' }, who(e.actor_user_id)),
      h('td', { 'data-label': 'Target' }, who(e.target_user_id)),
      h('td', { class: 'mono', 'data-label': 'IP address' }, e.ip || '—'),
      h('td', { class: 'audit-detail', 'data-label': 'Details' }, detailNode(e.detail)))));
    auditMore.hidden = !audit.nextCursor;
    if (!audit.items.length) replace(auditStatus, h('div', { class: 'empty' }, icon('activity', 'empty__icon'), h('p', { class: 'empty__title' }, 'No events'), h('p', {}, audit.type ? 'No events of this type.' : 'Security events will appear here.')));
    else auditStatus.replaceChildren();
  }

  async function loadAudit({ append = false } = {}) {
    auditAlert.replaceChildren();
    try {
      const page = await api.listAuditEvents({ type: audit.type, limit: PAGE_SIZE, cursor: append ? audit.nextCursor : undefined }, { signal });
      audit.items = append ? [...audit.items, ...page.items] : page.items;
      audit.nextCursor = page.next_cursor ?? null;
      renderAudit();
    } catch (err) {
      if (isSilent(err)) return;
      auditStatus.replaceChildren();
      replace(auditAlert, alertBox(`Could not load audit events. ${errorMessage(err)}`));
    }
  }
  auditMore.addEventListener('click', () => busy(auditMore, () => loadAudit({ append: true })));

  const node = h('div', { class: 'container admin' },
    h('header', { class: 'page-header' }, h('div', {}, pageHeading('Administration'),
      h('p', { class: 'page-header__welcome' }, 'Manage users and review security events. Signed in as ', h('strong', { class: 'user-email' }, user.email), '.'))),
    h('section', { class: 'card card--flush', 'aria-labelledby': 'users-title' },
      h('div', { class: 'card-section-head' },
        h('div', {}, h('h2', { id: 'users-title' }, 'Users'), h('p', { class: 'card__subtitle' }, 'Change roles, disable accounts, end sessions.')),
        h('div', { class: 'toolbar__controls' }, search, roleFilter)),
      usersAlert,
      h('div', { class: 'table-wrap' }, usersTable),
      usersStatus,
      h('div', { class: 'load-more' }, usersMore)),
    h('section', { class: 'card card--flush', 'aria-labelledby': 'audit-title' },
      h('div', { class: 'card-section-head' },
        h('div', {}, h('h2', { id: 'audit-title' }, 'Audit log'), h('p', { class: 'card__subtitle' }, 'Security events, newest first.')),
        h('div', { class: 'toolbar__controls' }, typeFilter)),
      auditAlert,
      h('div', { class: 'table-wrap' }, auditTable),
      auditStatus,
      h('div', { class: 'load-more' }, auditMore)));

  loadUsers();
  loadAudit();
  return { node, title: 'Administration' };
}
