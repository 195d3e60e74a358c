// Administration: users (search, role, enable/disable, revoke sessions, reset two-factor
// authentication, delete) and the audit log.
// State, events and API calls live here; admin-render.js builds the elements.
import { h, replace } from '../dom.js';
import * as api from '../api.js';
import { AUDIT_EVENT_TYPES } from '../audit-types.js';
import { alertBox, busy, confirmDialog, errorMessage, isSilent, toast } from './ui.js';
import { pagedList, searchField } from './components.js';
import {
  adminLayout, auditEmpty, auditRow, auditTableNode, deleteDialog, disableDialog, otherTypesGroup, resetMfaDialog,
  revokeDialog, roleChangeDialog, roleFilterNode, typeFilterNode, typeOption, userRow, usersEmpty, usersTableNode,
} from './admin-render.js';

const PAGE_SIZE = 25;

export function adminView({ user, navigate, signal }) {
  const filters = { q: '', role: '', type: '' };
  const emailById = new Map();
  const isSelf = (u) => u.id === user.id;

  /* ----- Users ----- */
  const users = pagedList({
    body: h('tbody'),
    signal,
    moreLabel: 'Load more users',
    loadingText: 'Loading users…',
    fetchPage: ({ cursor, signal: requestSignal }) => api.listUsers({ q: filters.q, role: filters.role, limit: PAGE_SIZE, cursor }, { signal: requestSignal }),
    renderItem: (u) => userRow(u, isSelf(u)),
    empty: usersEmpty,
    errorNode: (err) => alertBox(`Could not load users. ${errorMessage(err)}`),
    onPage: () => { for (const u of users.items) emailById.set(u.id, u.email); },
    // The audit log names users by email once they are known.
    onLoaded: () => audit.render(),
  });
  const usersBody = users.body;
  const usersAlert = users.alert;

  const search = searchField({
    label: 'Search users by email', placeholder: 'Search by email', maxlength: 254,
    onSearch: (q) => {
      filters.q = q;
      users.load();
    },
  });
  const roleFilter = roleFilterNode();
  roleFilter.querySelector('select').addEventListener('change', (e) => { filters.role = e.target.value; users.load(); });

  function rowUser(target) {
    const tr = target instanceof Element ? target.closest('tr[data-id]') : null;
    return tr ? users.items.find((u) => String(u.id) === tr.dataset.id) : null;
  }

  function rowControl(id, selector) {
    return usersBody.querySelector(`tr[data-id="${CSS.escape(String(id))}"] ${selector}`);
  }

  function replaceUser(updated) {
    const index = users.items.findIndex((u) => u.id === updated.id);
    if (index === -1) return;
    users.items[index] = { ...users.items[index], ...updated };
    const tr = usersBody.querySelector(`tr[data-id="${CSS.escape(String(updated.id))}"]`);
    tr?.replaceWith(userRow(users.items[index], isSelf(users.items[index])));
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

  // Event delegation: one listener per event type for the whole table.
  usersBody.addEventListener('change', async (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement) || select.dataset.action !== 'role') return;
    const u = rowUser(select);
    if (!u) return;
    const role = select.value;
    usersAlert.replaceChildren();
    if (!(await confirmDialog(roleChangeDialog(u, role, isSelf(u))))) {
      select.value = u.role;
      return;
    }
    select.disabled = true;
    try {
      const updated = await api.updateUser(u.id, { role });
      replaceUser(updated);
      rowControl(u.id, 'select[data-action="role"]')?.focus();
      toast(`${updated.email} is now ${updated.role === 'admin' ? 'an admin' : 'a user'}`, 'success');
      if (isSelf(u)) await afterSelfChange();
      audit.load();
    } catch (err) {
      select.value = u.role;
      select.disabled = false;
      showUsersError(err);
    }
  });

  const actions = {
    async 'toggle-disabled'(u, button) {
      const disable = !u.disabled;
      if (disable && !(await confirmDialog(disableDialog(u, isSelf(u))))) return;
      await busy(button, async () => {
        try {
          const updated = await api.updateUser(u.id, { disabled: disable });
          replaceUser(updated);
          rowControl(u.id, '[data-action="toggle-disabled"]')?.focus();
          toast(`${updated.email} ${updated.disabled ? 'disabled' : 'enabled'}`, 'success');
          if (isSelf(u)) await afterSelfChange();
          audit.load();
        } catch (err) { showUsersError(err); }
      });
    },
    async revoke(u, button) {
      if (!(await confirmDialog(revokeDialog(u)))) return;
      await busy(button, async () => {
        try {
          await api.revokeUserSessions(u.id);
          toast(`Signed ${u.email} out everywhere`, 'success');
          audit.load();
        } catch (err) { showUsersError(err); }
      });
    },
    async 'reset-mfa'(u, button) {
      if (!(await confirmDialog(resetMfaDialog(u)))) return;
      await busy(button, async () => {
        try {
          await api.resetUserMfa(u.id);
          replaceUser({ ...u, mfa_enabled: false });
          rowControl(u.id, '[data-action="revoke"]')?.focus();
          toast(`Two-factor authentication of ${u.email} reset`, 'success');
          if (isSelf(u)) await afterSelfChange();
          audit.load();
        } catch (err) { showUsersError(err); }
      });
    },
    async delete(u, button) {
      if (!(await confirmDialog(deleteDialog(u)))) return;
      await busy(button, async () => {
        try {
          await api.deleteUser(u.id);
          users.items = users.items.filter((x) => x.id !== u.id);
          users.render();
          toast(`Deleted ${u.email}`, 'success');
          search.input.focus();
          audit.load();
        } catch (err) { showUsersError(err); }
      });
    },
  };

  usersBody.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('button[data-action]') : null;
    if (!button) return;
    const u = rowUser(button);
    if (!u) return;
    usersAlert.replaceChildren();
    const action = button.dataset.action;
    if (Object.hasOwn(actions, action)) await actions[action](u, button);
  });

  /* ----- Audit log ----- */
  const audit = pagedList({
    body: h('tbody'),
    signal,
    moreLabel: 'Load more events',
    fetchPage: ({ cursor, signal: requestSignal }) => api.listAuditEvents({ type: filters.type, limit: PAGE_SIZE, cursor }, { signal: requestSignal }),
    renderItem: (e) => auditRow(e, emailById),
    empty: () => auditEmpty(Boolean(filters.type)),
    errorNode: (err) => alertBox(`Could not load audit events. ${errorMessage(err)}`),
    onPage: (page) => offerSeenTypes(page.items),
  });

  const typeFilter = typeFilterNode();
  const typeSelect = typeFilter.querySelector('select');
  const knownTypes = new Set(AUDIT_EVENT_TYPES.flatMap(([, types]) => types.map(([value]) => value)));
  let otherGroup = null;
  // A type the server records that this page does not list yet becomes a choice once seen.
  function offerSeenTypes(events) {
    for (const { type } of events) {
      if (typeof type !== 'string' || knownTypes.has(type)) continue;
      knownTypes.add(type);
      if (!otherGroup) {
        otherGroup = otherTypesGroup();
        typeSelect.append(otherGroup);
      }
      otherGroup.append(typeOption(type));
    }
  }
  typeSelect.addEventListener('change', () => { filters.type = typeSelect.value; audit.load(); });

  const node = adminLayout({
    user, search: search.node, roleFilter, usersTable: usersTableNode(usersBody), users,
    typeFilter, auditTable: auditTableNode(audit.body), audit,
  });

  users.load();
  audit.load();
  return { node, title: 'Administration' };
}
