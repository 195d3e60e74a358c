// Admin page: only for admins; users table with role change, disable, revoke, delete; audit log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, apiCall, apiCreateTodo, apiLogin, apiRegister, assertClean, eventually, launch,
  navNames, openPage, uiLogin, uniqueEmail,
} from './helpers.mjs';

let browser;
const member = uniqueEmail('member');
const spare = uniqueEmail('spare');

before(async () => {
  browser = await launch();
  await apiRegister(member);
  await apiRegister(spare);
  const token = await apiLogin(member);
  await apiCreateTodo(token, { title: 'Member task' });
});
after(async () => { await browser?.close(); });

function userRow(page, email) {
  return page.getByRole('table', { name: 'Users' }).locator('tbody tr').filter({ has: page.getByText(email, { exact: true }) });
}

test('a regular user sees no admin link and is refused the admin page', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  await uiLogin(page, member);
  assert.deepEqual(await navNames(page), ['Dashboard', 'Account', 'Sign out']);
  await page.goto('/admin');
  await page.getByRole('heading', { level: 1, name: 'Administrators only' }).waitFor();
  assert.equal(await page.getByRole('table').count(), 0, 'no users table for a regular user');
  assertClean(tab, 'on the refused admin page');
  await tab.context.close();
});

test('an admin manages users through the admin page', async (t) => {
  const tab = await openPage(browser);
  const { page } = tab;
  await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);

  await t.test('the navigation offers Admin and the page lists users', async () => {
    assert.deepEqual(await navNames(page), ['Dashboard', 'Account', 'Admin', 'Sign out']);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
    await page.waitForURL('**/admin');
    await page.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
    const row = userRow(page, member);
    await row.waitFor();
    assert.equal(await row.getByRole('cell').nth(3).textContent(), '1', 'todo count shown');
    await userRow(page, ADMIN_EMAIL).getByText('You').waitFor();
  });

  await t.test('search filters users by email', async () => {
    const search = page.getByRole('searchbox', { name: 'Search users by email' });
    await search.fill(member.slice(0, 14));
    await eventually(async () => (await page.getByRole('table', { name: 'Users' }).locator('tbody tr').count()) === 1 && (await userRow(page, member).count()) === 1, 'only the member matches');
    await search.fill('');
    await userRow(page, spare).waitFor();
  });

  await t.test('a role change asks first; cancelling changes nothing', async () => {
    const select = page.getByLabel(`Role of ${member}`);
    await select.selectOption('admin');
    const dialog = page.getByRole('dialog', { name: `Make ${member} an admin?` });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    await eventually(async () => (await select.inputValue()) === 'user', 'the select shows the real role again');
    assert.equal((await apiCall('GET', '/users/me', { token: await apiLogin(member) })).body.role, 'user');
  });

  await t.test('promote a user to admin; they then see the admin page', async () => {
    await page.getByLabel(`Role of ${member}`).selectOption('admin');
    await page.getByRole('dialog', { name: `Make ${member} an admin?` }).getByRole('button', { name: 'Make admin' }).click();
    await page.getByText(`${member} is now an admin`).waitFor();
    assert.equal((await apiCall('GET', '/users/me', { token: await apiLogin(member) })).body.role, 'admin');

    const other = await openPage(browser);
    await uiLogin(other.page, member);
    assert.deepEqual(await navNames(other.page), ['Dashboard', 'Account', 'Admin', 'Sign out']);
    await other.page.goto('/admin');
    await other.page.getByRole('heading', { level: 1, name: 'Administration' }).waitFor();
    assertClean(other, 'for the promoted admin');
    await other.context.close();

    await page.getByLabel(`Role of ${member}`).selectOption('user');
    await page.getByRole('dialog', { name: `Make ${member} a regular user?` }).getByRole('button', { name: 'Make regular user' }).click();
    await page.getByText(`${member} is now a user`).waitFor();
  });

  await t.test('changing one\'s own role says that the admin page goes; the last admin cannot', async () => {
    const own = page.getByLabel(`Role of ${ADMIN_EMAIL}`);
    await own.selectOption('user');
    const dialog = page.getByRole('dialog', { name: 'Remove your own admin role?' });
    await dialog.getByText(/this admin page closes for you/).waitFor();
    await dialog.getByRole('button', { name: 'Remove my admin role' }).click();
    await page.getByRole('alert').filter({ hasText: /admin/i }).waitFor();
    await eventually(async () => (await own.inputValue()) === 'admin', 'the role select reverts');
    assert.equal((await apiCall('GET', '/users/me', { token: await apiLogin(ADMIN_EMAIL, ADMIN_PASSWORD) })).body.role, 'admin');
  });

  await t.test('disabling yourself is described as what happens to you', async () => {
    await userRow(page, ADMIN_EMAIL).getByRole('button', { name: `Disable ${ADMIN_EMAIL}` }).click();
    const dialog = page.getByRole('dialog', { name: 'Disable your own account?' });
    const text = await dialog.textContent();
    assert.doesNotMatch(text, /They are signed out/);
    assert.match(text, /You are signed out/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  await t.test('disable and enable a user, revoke their sessions', async () => {
    const row = userRow(page, spare);
    await row.getByRole('button', { name: `Disable ${spare}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await row.getByText('Disabled', { exact: true }).waitFor();
    const refused = await apiCall('POST', '/auth/login', { body: { email: spare, password: 'violet-harbor-lantern-42' } });
    assert.equal(refused.status, 401, 'a disabled user cannot sign in');

    await row.getByRole('button', { name: `Enable ${spare}` }).click();
    await row.getByText('Active', { exact: true }).waitFor();

    const token = await apiLogin(spare);
    await row.getByRole('button', { name: `Revoke all sessions of ${spare}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke sessions' }).click();
    await page.getByText(`Signed ${spare} out everywhere`).waitFor();
    assert.equal((await apiCall('GET', '/users/me', { token })).status, 401, 'their session ended');
  });

  await t.test('delete a user', async () => {
    await userRow(page, spare).getByRole('button', { name: `Delete ${spare}` }).click();
    await page.getByRole('dialog', { name: `Delete ${spare}?` }).getByRole('button', { name: 'Delete user' }).click();
    await userRow(page, spare).waitFor({ state: 'detached' });
  });

  await t.test('the audit log lists security events and filters them by a chosen type', async () => {
    await page.reload();
    const audit = page.getByRole('table', { name: 'Audit events' });
    await eventually(async () => (await audit.locator('tbody tr').count()) > 0, 'audit events are listed');
    const type = page.getByLabel('Event type');
    assert.equal(await type.evaluate((el) => el.tagName), 'SELECT', 'the types are a choice, not free text');
    await type.selectOption({ label: 'Role changed' });
    await eventually(async () => {
      const types = await audit.locator('tbody .event-badge').allTextContents();
      return types.length > 0 && types.every((t) => t === 'admin.role_changed');
    }, 'only role changes are listed');
    await type.selectOption('');
    await eventually(async () => new Set(await audit.locator('tbody .event-badge').allTextContents()).size > 1, 'all events again');
  });

  assertClean(tab, 'on the admin page');
  await tab.context.close();
});

// 48 + 12 = 60 characters: the long address of the issue.
const longEmail = `${uniqueEmail('w').split('@')[0].padEnd(48, 'x')}@example.com`;

for (const width of [1280, 1440]) {
  test(`at ${width} px no user action is clipped, even next to a 60-character email`, async () => {
    assert.equal(longEmail.length, 60);
    if (width === 1280) await apiRegister(longEmail);
    const tab = await openPage(browser, { width });
    const { page } = tab;
    await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.goto('/admin');
    const row = userRow(page, longEmail);
    await row.waitFor();

    const wrap = page.locator('.table-wrap').first();
    const box = await wrap.boundingBox();
    const buttons = row.getByRole('button');
    assert.equal(await buttons.count(), 3);
    for (const button of await buttons.all()) {
      const b = await button.boundingBox();
      const name = await button.textContent();
      assert.ok(b.x >= box.x && b.x + b.width <= box.x + box.width + 0.5, `${name} is inside the table (${b.x + b.width} > ${box.x + box.width})`);
    }
    const overflow = await wrap.evaluate((el) => el.scrollWidth - el.clientWidth);
    assert.ok(overflow <= 0, `the users table scrolls sideways by ${overflow}px`);
    assert.equal(await row.locator('.user-cell__email').getAttribute('title'), longEmail, 'the full email is available');
    assertClean(tab, `on the admin page at ${width}px`);
    await tab.context.close();
  });
}
