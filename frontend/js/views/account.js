// Account page: profile, password change, two-factor authentication (views/mfa.js),
// active sessions, API tokens and data export (views/account-tokens.js), account deletion.
// State, events and API calls live here; account-render.js builds the elements.
import { replace } from '../dom.js';
import * as api from '../api.js';
import {
  alertBox, applyChecks, busy, clearErrors, confirmDialog, errorMessage, isSilent, showApiError, showFormAlert, toast,
  validatePassword,
} from './ui.js';
import {
  accountLayout, dangerCard, deleteForm, deleteSubmitNode, passwordCard, passwordForm, passwordSubmitNode,
  profileCard, sessionList, sessionsAlertNode, sessionsBodyNode, sessionsCard, signOutAllNode,
} from './account-render.js';
import { mfaCard } from './mfa.js';
import { exportSection, tokensSection } from './account-tokens.js';

const SIGN_OUT_EVERYWHERE = {
  title: 'Sign out everywhere?',
  message: 'Every session of your account ends, including this one. You will need to sign in again.',
  confirmLabel: 'Sign out everywhere',
  danger: true,
};

const DELETE_ACCOUNT = {
  title: 'Delete your account?',
  message: 'Your account, all of your todos and every session are deleted permanently. This cannot be undone.',
  confirmLabel: 'Delete account',
  danger: true,
};

export function accountView({ user, navigate, signal }) {
  /* ----- Change password ----- */
  const pwSubmit = passwordSubmitNode();
  const pwForm = passwordForm(user.email, pwSubmit);

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

  /* ----- Sessions ----- */
  const sessionsBody = sessionsBodyNode();
  const sessionsAlert = sessionsAlertNode();
  const signOutAll = signOutAllNode();

  function showSessionsError(err, prefix = '') {
    if (!isSilent(err)) replace(sessionsAlert, alertBox(`${prefix}${errorMessage(err)}`));
  }

  async function loadSessions() {
    sessionsAlert.replaceChildren();
    try {
      replace(sessionsBody, sessionList(await api.listSessions({ signal })));
    } catch (err) {
      showSessionsError(err, 'Could not load your sessions. ');
    }
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
        showSessionsError(err);
      }
    });
  });

  signOutAll.addEventListener('click', async () => {
    if (!(await confirmDialog(SIGN_OUT_EVERYWHERE))) return;
    await busy(signOutAll, async () => {
      try {
        await api.logoutAll();
        navigate('/login', { flash: { kind: 'info', text: 'You have been signed out of every session.' } });
      } catch (err) {
        showSessionsError(err);
      }
    });
  });

  /* ----- Delete account ----- */
  const deleteSubmit = deleteSubmitNode();
  const delForm = deleteForm(user.email, deleteSubmit);

  delForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(delForm);
    const password = delForm.elements.password.value;
    if (!applyChecks(delForm, { password: password ? null : 'Enter your password to confirm.' })) return;
    if (!(await confirmDialog(DELETE_ACCOUNT))) return;
    await busy(deleteSubmit, async () => {
      try {
        await api.deleteAccount({ password });
        navigate('/', { flash: { kind: 'success', text: 'Your account and all of its data have been deleted.' } });
      } catch (err) {
        delForm.elements.password.value = '';
        // A wrong password is a 422 naming `password`.
        showApiError(delForm, err);
      }
    });
  });

  const node = accountLayout({
    user,
    profile: profileCard(user),
    sessions: sessionsCard({ signOutAll, alert: sessionsAlert, body: sessionsBody }),
    password: passwordCard(pwForm),
    mfa: mfaCard({ user }).node,
    danger: dangerCard(delForm),
    tokens: tokensSection({ user, signal }),
    data: exportSection(),
  });

  loadSessions();
  return { node, title: 'Account' };
}
