// The session across reloads and tabs: one shared refresh, no probe without a session,
// and typed text that survives a "session ended" sign-in.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, apiCall, apiLogin, apiRegister, assertClean, BASE_URL, eventually, launch, openPage,
  openTab, STRONG_PASSWORD, todoTitles, uiLogin, uniqueEmail,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

function isRefresh(url) {
  return new URL(url).pathname === '/api/v1/auth/refresh';
}

async function reuseEventsFor(userId) {
  const token = await apiLogin(ADMIN_EMAIL, ADMIN_PASSWORD);
  const res = await apiCall('GET', '/admin/audit-events?type=auth.refresh_reuse_detected&limit=100', { token });
  assert.equal(res.status, 200);
  return res.body.items.filter((e) => e.target_user_id === userId);
}

test('two tabs reloading at once stay signed in', async () => {
  const email = uniqueEmail('tabs');
  const user = await apiRegister(email);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: BASE_URL });
  const first = await openTab(context);
  await uiLogin(first.page, email);
  const second = await openTab(context);
  await second.page.goto('/dashboard');
  await second.page.getByRole('heading', { name: 'My todos' }).waitFor();

  // Both reloads race for the refresh cookie. To make "at the same moment" exact rather
  // than a matter of luck, each refresh request is held until the other tab has sent one
  // too (or 1.5 s passed), then both go out together, as in the reported incident.
  let held = [];
  let refreshes = 0;
  await context.route((url) => isRefresh(url.href), async (route) => {
    refreshes += 1;
    await new Promise((resolve) => {
      held.push(resolve);
      if (held.length === 2) {
        for (const release of held) release();
        held = [];
      } else {
        setTimeout(() => { held = held.filter((r) => r !== resolve); resolve(); }, 1500);
      }
    });
    await route.continue();
  });
  await Promise.all([first.page.reload(), second.page.reload()]);
  for (const { page } of [first, second]) {
    await page.getByText(`Welcome, ${email}`).waitFor();
    assert.ok(page.url().endsWith('/dashboard'), `${page.url()} is still the dashboard`);
  }
  await context.unrouteAll();
  assert.equal(refreshes, 1, 'one tab refreshed, the other took its token');

  // The session is still valid: both tabs can use the API, and a later reload restores it.
  const form = second.page.getByRole('form', { name: 'Add a todo' });
  await form.getByLabel('New todo').fill('Written in the second tab');
  await form.getByRole('button', { name: 'Add', exact: true }).click();
  await second.page.locator('.todo-list .todo__title', { hasText: 'Written in the second tab' }).waitFor();
  await first.page.getByRole('group', { name: 'Show' }).getByRole('button', { name: 'Active' }).click();
  await eventually(async () => (await todoTitles(first.page)).includes('Written in the second tab'), 'the first tab reads it');
  await first.page.reload();
  await first.page.getByText(`Welcome, ${email}`).waitFor();
  assert.deepEqual(await reuseEventsFor(user.id), [], 'no refresh token was presented twice');

  assertClean(first, 'in the first tab');
  assertClean(second, 'in the second tab');
  await context.close();
});

test('an anonymous page load does not ask for a refresh', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  const refreshes = [];
  const consoleErrors = [];
  page.on('request', (request) => { if (isRefresh(request.url())) refreshes.push(request.url()); });
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });

  for (const [path, heading] of [['/', /Your to-dos/], ['/login', /Sign in/], ['/register', /Create your account/]]) {
    await page.goto(path);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  }
  await page.goto('/dashboard');
  await page.waitForURL('**/login?next=%2Fdashboard');
  assert.deepEqual(refreshes, [], 'no /auth/refresh without a session');
  assert.deepEqual(consoleErrors, [], 'no red 401 in the console');

  // Signed in, a reload restores the session through the cookie...
  const email = uniqueEmail('hint');
  await apiRegister(email);
  await uiLogin(page, email);
  await page.reload();
  await page.getByText(`Welcome, ${email}`).waitFor();
  assert.equal(refreshes.length, 1, 'a signed-in reload refreshes once');
  // ...and after signing out, loads are anonymous again.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((url) => url.pathname === '/');
  await page.reload();
  await page.getByRole('heading', { level: 1, name: /Your to-dos/ }).waitFor();
  assert.equal(refreshes.length, 1, 'no refresh after signing out');
  assertClean(tab, 'on anonymous loads');
  await tab.context.close();
});

test('text typed before a "session ended" sign-in is restored after it', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  const email = uniqueEmail('draft');
  await apiRegister(email);
  await uiLogin(page, email);

  const form = page.getByRole('form', { name: 'Add a todo' });
  await form.getByLabel('New todo').fill('Call the plumber about the leak');
  await form.getByLabel('Priority').selectOption('high');
  await form.getByText('Add a description').click();
  await form.getByLabel('Description').fill('Before Friday; the kitchen tap too.');

  // The session ends elsewhere while the user is typing; then they press Add.
  const token = await apiLogin(email);
  assert.equal((await apiCall('POST', '/auth/logout-all', { token })).status, 204);
  await form.getByRole('button', { name: 'Add', exact: true }).click();
  await page.waitForURL('**/login**');
  await page.getByText('Your session has ended, please sign in again').waitFor();

  // Sign in again on that page (no reload: the draft lives in memory only).
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard');
  const restored = page.getByRole('form', { name: 'Add a todo' });
  assert.equal(await restored.getByLabel('New todo').inputValue(), 'Call the plumber about the leak');
  assert.equal(await restored.getByLabel('Priority').inputValue(), 'high');
  assert.equal(await restored.getByLabel('Description').inputValue(), 'Before Friday; the kitchen tap too.');
  await page.getByText('Nothing to do yet').waitFor();

  // Sent now, it is saved once.
  await restored.getByRole('button', { name: 'Add', exact: true }).click();
  await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Call the plumber about the leak']), 'saved after sign-in');
  assertClean(tab, 'around the restored draft');
  await tab.context.close();
});
