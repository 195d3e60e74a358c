// Account page: profile, password change, active sessions, account deletion.
import { h, icon, replace } from '../dom.js';
import * as api from '../api.js';
import {
  alertBox, applyChecks, busy, clearErrors, confirmDialog, describeUserAgent, errorMessage, field, formAlert,
  formatDate, isSilent, pageHeading, relativeTime, showApiError, showFormAlert, timeEl, toast, validatePassword,
  PASSWORD_MAX, PASSWORD_MIN,
} from './ui.js';

// Password managers need the account name next to a password field to know which entry to update.
function usernameHint(email) {
  return h('input', { type: 'email', name: 'username', autocomplete: 'username', value: email, readOnly: true, hidden: true, tabIndex: -1 });
}

export function accountView({ user, navigate, signal }) {
  /* ----- Profile ----- */
  const profile = h('section', { class: 'card', 'aria-labelledby': 'profile-title' },
    h('div', { class: 'card__header' }, h('div', {}, h('h2', { id: 'profile-title' }, 'Profile'),
      h('p', { class: 'card__subtitle' }, 'The details of your account.'))),
    h('dl', { class: 'details-list' },
      h('div', {}, h('dt', {}, 'Email'), h('dd', { class: 'user-email' }, user.email)),
      h('div', {}, h('dt', {}, 'Role'), h('dd', {}, h('span', { class: `badge ${user.role === 'admin' ? 'badge--admin' : 'badge--muted'}` }, user.role === 'admin' ? 'Administrator' : 'User'))),
      h('div', {}, h('dt', {}, 'Member since'), h('dd', {}, formatDate(user.created_at)))));

  /* ----- Change password ----- */
  const pwSubmit = h('button', { type: 'submit', class: 'btn btn--primary' }, 'Change password');
  const pwForm = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'password-title' },
    formAlert(),
    usernameHint(user.email),
    field({ label: 'Current password', name: 'current_password', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX }),
    field({ label: 'New password', name: 'new_password', type: 'password', autocomplete: 'new-password', required: true, minlength: PASSWORD_MIN, maxlength: PASSWORD_MAX, hint: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters; common passwords are refused.` }),
    field({ label: 'Confirm new password', name: 'confirm_password', type: 'password', autocomplete: 'new-password', required: true, maxlength: PASSWORD_MAX }),
    h('div', { class: 'btn-row' }, pwSubmit));

  pwForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(pwForm);
    const current = pwForm.elements.current_password.value;
    const next = pwForm.elements.new_password.value;
    const confirm = pwForm.elements.confirm_password.value;
    const ok = applyChecks(pwForm, {
      current_password: current ? null : 'Enter your current password.',
      new_password: validatePassword(next, { label: 'New password' }),
      confirm_password: confirm === next ? null : 'The two new passwords do not match.',
    });
    if (!ok) return;
    await busy(pwSubmit, async () => {
      try {
        await api.changePassword({ currentPassword: current, newPassword: next });
        pwForm.reset();
        showFormAlert(pwForm, 'Password changed. Your other sessions have been signed out.', 'success');
        toast('Password changed', 'success');
        loadSessions();
      } catch (err) {
        // A wrong current password is a 422 naming `current_password`.
        showApiError(pwForm, err);
      }
    });
  });

  const passwordCard = h('section', { class: 'card', 'aria-labelledby': 'password-title' },
    h('div', { class: 'card__header' }, h('div', {}, h('h2', { id: 'password-title' }, 'Change password'),
      h('p', { class: 'card__subtitle' }, 'Changing your password signs out every other session.'))),
    pwForm);

  /* ----- Sessions ----- */
  const sessionsBody = h('div', { class: 'sessions' });
  const sessionsAlert = h('div', { class: 'form-alert', role: 'alert' });
  const signOutAll = h('button', { type: 'button', class: 'btn btn--danger-outline btn--sm' }, icon('logout'), 'Sign out everywhere');

  async function loadSessions() {
    sessionsAlert.replaceChildren();
    try {
      const sessions = await api.listSessions({ signal });
      renderSessions(sessions);
    } catch (err) {
      if (isSilent(err)) return;
      replace(sessionsAlert, alertBox(`Could not load your sessions. ${errorMessage(err)}`));
    }
  }

  function renderSessions(sessions) {
    if (!sessions.length) {
      replace(sessionsBody, h('p', { class: 'muted' }, 'No active sessions.'));
      return;
    }
    const sorted = [...sessions].sort((a, b) => Number(b.current) - Number(a.current));
    replace(sessionsBody, h('ul', { class: 'session-list', 'aria-label': 'Active sessions' }, sorted.map((s) => {
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
    })));
  }

  sessionsBody.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('[data-action="revoke"]') : null;
    if (!button) return;
    const li = button.closest('li[data-id]');
    const current = li.classList.contains('is-current');
    await busy(button, async () => {
      try {
        await api.revokeSession(li.dataset.id);
        if (current) {
          await api.logout();
          navigate('/login', { flash: { kind: 'info', text: 'You signed out of this device.' } });
          return;
        }
        toast('Session revoked', 'success');
        await loadSessions();
      } catch (err) {
        if (!isSilent(err)) replace(sessionsAlert, alertBox(errorMessage(err)));
      }
    });
  });

  signOutAll.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Sign out everywhere?',
      message: 'Every session of your account ends, including this one. You will need to sign in again.',
      confirmLabel: 'Sign out everywhere',
      danger: true,
    });
    if (!ok) return;
    await busy(signOutAll, async () => {
      try {
        await api.logoutAll();
        navigate('/login', { flash: { kind: 'info', text: 'You have been signed out of every session.' } });
      } catch (err) {
        if (!isSilent(err)) replace(sessionsAlert, alertBox(errorMessage(err)));
      }
    });
  });

  const sessionsCard = h('section', { class: 'card', 'aria-labelledby': 'sessions-title' },
    h('div', { class: 'card__header' },
      h('div', {}, h('h2', { id: 'sessions-title' }, 'Active sessions'),
        h('p', { class: 'card__subtitle' }, 'Devices and browsers signed in to your account.')),
      signOutAll),
    sessionsAlert,
    sessionsBody);

  /* ----- Delete account ----- */
  const deleteSubmit = h('button', { type: 'submit', class: 'btn btn--danger' }, icon('trash'), 'Delete my account');
  const deleteForm = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'delete-title' },
    formAlert(),
    usernameHint(user.email),
    field({ label: 'Your password', name: 'password', hint: 'Enter your password to confirm that it is you.', type: 'password', autocomplete: 'current-password', required: true, maxlength: PASSWORD_MAX }),
    h('div', { class: 'btn-row' }, deleteSubmit));

  deleteForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(deleteForm);
    const password = deleteForm.elements.password.value;
    if (!applyChecks(deleteForm, { password: password ? null : 'Enter your password to confirm.' })) return;
    const ok = await confirmDialog({
      title: 'Delete your account?',
      message: 'Your account, all of your todos and every session are deleted permanently. This cannot be undone.',
      confirmLabel: 'Delete account',
      danger: true,
    });
    if (!ok) return;
    await busy(deleteSubmit, async () => {
      try {
        await api.deleteAccount({ password });
        navigate('/', { flash: { kind: 'success', text: 'Your account and all of its data have been deleted.' } });
      } catch (err) {
        deleteForm.elements.password.value = '';
        // A wrong password is a 422 naming `password`.
        showApiError(deleteForm, err);
      }
    });
  });

  const dangerCard = h('section', { class: 'card card--danger', 'aria-labelledby': 'delete-title' },
    h('div', { class: 'card__header' }, h('div', {}, h('h2', { id: 'delete-title' }, 'Delete account'),
      h('p', { class: 'card__subtitle' }, 'Permanently delete your account and all of your todos.'))),
    deleteForm);

  const node = h('div', { class: 'container account' },
    h('header', { class: 'page-header' }, h('div', {}, pageHeading('Account'),
      h('p', { class: 'page-header__welcome' }, 'Signed in as ', h('strong', { class: 'user-email' }, user.email)))),
    h('div', { class: 'account-grid' },
      h('div', { class: 'stack' }, profile, sessionsCard),
      h('div', { class: 'stack' }, passwordCard, dangerCard)));

  replace(sessionsBody, h('div', { class: 'empty' }, h('span', { class: 'spinner' }), h('p', {}, 'Loading sessions…')));
  loadSessions();
  return { node, title: 'Account' };
}
