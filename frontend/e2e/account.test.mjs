// Account page: profile, change password, active sessions with revoke, delete account.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiCall, apiLogin, apiRegister, assertClean, eventually, launch, openPage, STRONG_PASSWORD, uiLogin, uniqueEmail,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('account page: password, sessions and deletion', async (t) => {
  const tab = await openPage(browser);
  const { page } = tab;
  const email = uniqueEmail('account');
  const newPassword = 'quiet-meadow-copper-77';
  await apiRegister(email);
  await uiLogin(page, email);

  await t.test('profile shows the signed-in user', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
    const profile = page.getByRole('region', { name: 'Profile' });
    await profile.getByText(email).waitFor();
    await profile.getByText('User', { exact: true }).waitFor();
  });

  await t.test('sessions list shows this device and revokes another session', async () => {
    // A second session, as if signed in from another client.
    const otherToken = await apiLogin(email, STRONG_PASSWORD, { 'User-Agent': 'curl/8.5.0' });
    await page.reload();
    const sessions = page.getByRole('list', { name: 'Active sessions' });
    await sessions.getByText('This device').waitFor();
    await eventually(async () => (await sessions.getByRole('listitem').count()) === 2, 'two sessions listed');

    await sessions.getByRole('button', { name: 'Revoke session on curl' }).click();
    await eventually(async () => (await sessions.getByRole('listitem').count()) === 1, 'one session left');
    await sessions.getByText('This device').waitFor();
    const me = await apiCall('GET', '/users/me', { token: otherToken });
    assert.equal(me.status, 401, 'the revoked session no longer works');
  });

  await t.test('change password validates and keeps this session', async () => {
    const form = page.getByRole('form', { name: 'Change password' });
    await form.getByLabel('Current password').fill('wrong-current-password');
    await form.getByLabel('New password', { exact: true }).fill(newPassword);
    await form.getByLabel('Confirm new password').fill('something-different');
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.getByText('The two new passwords do not match.').waitFor();

    await form.getByLabel('Confirm new password').fill(newPassword);
    await form.getByRole('button', { name: 'Change password' }).click();
    const current = form.getByLabel('Current password');
    await eventually(async () => (await current.getAttribute('aria-invalid')) === 'true', 'wrong current password flagged on its field');

    await current.fill(STRONG_PASSWORD);
    await form.getByRole('button', { name: 'Change password' }).click();
    await form.getByText('Password changed.').waitFor();

    // This session continues, also across a reload.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Account' }).waitFor();
    const oldLogin = await apiCall('POST', '/auth/login', { body: { email, password: STRONG_PASSWORD } });
    assert.equal(oldLogin.status, 401, 'old password no longer works');
    await apiLogin(email, newPassword);
  });

  await t.test('delete account needs the right password and confirmation', async () => {
    const form = page.getByRole('form', { name: 'Delete account' });
    await form.getByLabel('Your password').fill('not-my-password');
    await form.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByRole('dialog', { name: 'Delete your account?' }).getByRole('button', { name: 'Delete account' }).click();
    const pw = form.getByLabel('Your password');
    await eventually(async () => (await pw.getAttribute('aria-invalid')) === 'true'
      || (await form.locator('.form-alert').evaluate((el) => el.textContent)).length > 0, 'wrong password is reported');
    assert.ok(page.url().endsWith('/account'));

    // Cancelling the dialog keeps the account.
    await pw.fill(newPassword);
    await form.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByRole('dialog', { name: 'Delete your account?' }).getByRole('button', { name: 'Cancel' }).click();
    assert.ok(page.url().endsWith('/account'));

    await form.getByRole('button', { name: 'Delete my account' }).click();
    await page.getByRole('dialog', { name: 'Delete your account?' }).getByRole('button', { name: 'Delete account' }).click();
    await page.waitForURL((url) => url.pathname === '/');
    await page.getByText('Your account and all of its data have been deleted.').waitFor();
    const login = await apiCall('POST', '/auth/login', { body: { email, password: newPassword } });
    assert.equal(login.status, 401, 'the account is gone');
  });

  assertClean(tab, 'on the account page');
  await tab.context.close();
});

test('a session ended elsewhere sends the user to sign in with a message', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  const email = uniqueEmail('ended');
  await apiRegister(email);
  await uiLogin(page, email);

  // "Sign out everywhere" from another client ends the browser's session too.
  const token = await apiLogin(email);
  assert.equal((await apiCall('POST', '/auth/logout-all', { token })).status, 204);

  // The next request finds the session ended. The SPA may notice first on
  // its own (a background refresh) and leave the page before the click.
  const click = page.getByRole('group', { name: 'Show' }).getByRole('button', { name: 'Active' })
    .click({ timeout: 5000 }).catch(() => {});
  await Promise.race([click, page.waitForURL('**/login**')]);
  await page.waitForURL('**/login**');
  await page.getByText('Your session has ended, please sign in again').waitFor();
  assert.ok(await page.getByRole('link', { name: 'Sign in' }).isVisible());
  assertClean(tab, 'after the session ended');
  await tab.context.close();
});

test('toasts cover neither the footer nor the Delete-account card', async () => {
  const tab = await openPage(browser, { width: 1280, height: 800 });
  const { page } = tab;
  const email = uniqueEmail('toast');
  await apiRegister(email);
  await apiLogin(email, STRONG_PASSWORD, { 'User-Agent': 'curl/8.5.0' });
  await uiLogin(page, email);
  await page.goto('/account');
  const sessions = page.getByRole('list', { name: 'Active sessions' });
  await eventually(async () => (await sessions.getByRole('listitem').count()) === 2, 'two sessions listed');
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));

  await sessions.getByRole('button', { name: 'Revoke session on curl' }).click();
  const toast = page.locator('.toast', { hasText: 'Session revoked' });
  await toast.waitFor();
  const overlaps = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const t = await toast.boundingBox();
  for (const [what, locator] of [['footer', page.locator('.site-footer')], ['Delete-account card', page.getByRole('region', { name: 'Delete account' })]]) {
    const box = await locator.boundingBox();
    assert.ok(!overlaps(t, box), `the toast covers the ${what}: ${JSON.stringify({ toast: t, [what]: box })}`);
  }
  assertClean(tab, 'with a toast on the account page');
  await tab.context.close();
});
