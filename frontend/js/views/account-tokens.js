// Account page, API tokens and data export: state, events and API calls.
// account-tokens-render.js builds the elements; account.js places the two cards.
import { h, replace } from '../dom.js';
import * as api from '../api.js';
import {
  alertBox, applyChecks, busy, clearErrors, confirmDialog, errorMessage, isSilent, showApiError, toast,
} from './ui.js';
import {
  exportButton, exportCard, secretPanel, tokenForm, tokenList, tokenListNode, tokensCard, tokenSubmitNode,
  TOKEN_NAME_MAX,
} from './account-tokens-render.js';

function deleteTokenDialog(name) {
  return {
    title: 'Delete this token?',
    message: `Scripts that use “${name}” stop working at once. This cannot be undone.`,
    confirmLabel: 'Delete token',
    danger: true,
  };
}

/** Copy `text`; false when the browser refuses (the secret stays selected to copy by hand). */
async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    input.select();
    return false;
  }
}

/** Hand a downloaded file to the browser as an attachment. */
function saveFile({ blob, filename }) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The API tokens card: create (secret shown once), list with last use, delete. */
export function tokensSection({ user, signal }) {
  const submit = tokenSubmitNode();
  const form = tokenForm(user.email, submit);
  const secret = h('div', { class: 'token-secret-slot' });
  const alert = h('div', { class: 'form-alert', role: 'alert' });
  const list = tokenListNode();

  function showListError(err, prefix = '') {
    if (!isSilent(err)) replace(alert, alertBox(`${prefix}${errorMessage(err)}`));
  }

  async function load() {
    alert.replaceChildren();
    try {
      replace(list, tokenList(await api.listApiTokens({ signal })));
    } catch (err) {
      showListError(err, 'Could not load your tokens. ');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const name = form.elements.name.value.trim();
    const scopes = [...form.querySelectorAll('input[name="scopes"]:checked')].map((box) => box.value);
    const password = form.elements.password.value;
    const ok = applyChecks(form, {
      name: !name ? 'Give the token a name.' : name.length > TOKEN_NAME_MAX ? `At most ${TOKEN_NAME_MAX} characters.` : null,
      scopes: scopes.length ? null : 'Choose what the token may do.',
      password: password ? null : 'Enter your password to confirm.',
    });
    if (!ok) return;
    await busy(submit, async () => {
      try {
        const created = await api.createApiToken({
          name, scopes, expiresInDays: Number(form.elements.expires_in_days.value), password,
        });
        form.reset();
        replace(secret, secretPanel(created));
        secret.querySelector('input')?.focus();
        secret.querySelector('input')?.select();
        toast('Token created', 'success');
        await load();
      } catch (err) {
        form.elements.password.value = '';
        // A wrong password is a 422 naming `password`; 20 tokens is `quota_exceeded`.
        showApiError(form, err);
      }
    });
  });

  secret.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('[data-action]') : null;
    if (!button) return;
    if (button.dataset.action === 'dismiss-token') {
      secret.replaceChildren();
      return;
    }
    const input = secret.querySelector('input');
    const copied = await copyText(input.value, input);
    toast(copied ? 'Token copied' : 'Press Ctrl+C to copy the selected token', copied ? 'success' : 'info');
  });

  list.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('[data-action="delete-token"]') : null;
    if (!button) return;
    const li = button.closest('li[data-id]');
    const name = li.querySelector('.session__device')?.firstChild?.textContent ?? '';
    if (!(await confirmDialog(deleteTokenDialog(name)))) return;
    await busy(button, async () => {
      try {
        await api.deleteApiToken(li.dataset.id);
        toast('Token deleted', 'success');
        await load();
      } catch (err) {
        showListError(err);
      }
    });
  });

  load();
  return tokensCard({ form, secret, alert, list });
}

/** The "Your data" card: one download button per format. */
export function exportSection() {
  const alert = h('div', { class: 'form-alert', role: 'alert' });
  const buttons = [exportButton('json', 'Download JSON'), exportButton('csv', 'Download CSV')];
  for (const button of buttons) {
    button.addEventListener('click', () => busy(button, async () => {
      alert.replaceChildren();
      try {
        saveFile(await api.exportData(button.dataset.format));
      } catch (err) {
        if (!isSilent(err)) replace(alert, alertBox(`Could not download your data. ${errorMessage(err)}`));
      }
    }));
  }
  return exportCard({ alert, buttons });
}
