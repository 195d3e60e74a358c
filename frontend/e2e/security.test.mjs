// Safety properties of the SPA: no script injection, no token storage, clean CSP, keyboard use.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, apiRegister, assertClean, BASE_URL, eventually, launch, openPage, todoItem,
  uiLogin, uniqueEmail,
} from './helpers.mjs';

const XSS = '<img src=x onerror=alert(1)>';
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the server sends a CSP without unsafe-inline for the app shell', async () => {
  for (const path of ['/', '/dashboard', '/js/app.js']) {
    const res = await fetch(`${BASE_URL}${path}`);
    assert.equal(res.status, 200, path);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/, `${path} has a CSP`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${path} CSP is strict`);
  }
  const html = await (await fetch(`${BASE_URL}/`)).text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'no inline script in index.html');
  assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=/i, 'no inline styles or handlers in index.html');
});

test('markup in a todo is shown as text and never runs', async () => {
  const tab = await openPage(browser);
  const { page, dialogs } = tab;
  const email = uniqueEmail('xss');
  await apiRegister(email);
  await uiLogin(page, email);

  const form = page.getByRole('form', { name: 'Add a todo' });
  await form.getByLabel('New todo').fill(XSS);
  await form.getByText('Add a description').click();
  await form.getByLabel('Description').fill('<script>alert("d")</script><b>bold</b>');
  await form.getByRole('button', { name: 'Add', exact: true }).click();
  const item = todoItem(page, XSS);
  await item.waitFor();
  assert.equal(await item.locator('.todo__title').textContent(), XSS);
  assert.equal(await item.locator('.todo__desc').textContent(), '<script>alert("d")</script><b>bold</b>');
  assert.equal(await page.locator('.todo-list img, .todo-list script, .todo-list b').count(), 0, 'no elements were created from the text');

  // Still text after a reload, in the inline editor and in the toast.
  await page.reload();
  await todoItem(page, XSS).waitFor();
  await page.getByRole('button', { name: `Edit “${XSS}”` }).click();
  assert.equal(await page.getByRole('form', { name: `Edit “${XSS}”` }).getByLabel('Title').inputValue(), XSS);
  await page.keyboard.press('Escape');
  await page.waitForTimeout(300);
  assert.deepEqual(dialogs, [], 'no alert() ran');
  assertClean(tab, 'with a hostile todo');
  await tab.context.close();
});

test('tokens are never written to Web Storage or readable cookies', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  const email = uniqueEmail('storage');
  await apiRegister(email);
  await uiLogin(page, email);
  const storage = await page.evaluate(() => ({
    local: Object.fromEntries(Object.entries(localStorage)), session: sessionStorage.length, cookie: document.cookie,
  }));
  // One non-secret hint ("this browser signed in"), so anonymous loads skip the refresh probe.
  assert.deepEqual(storage, { local: { 'securetodo.session-hint': '1' }, session: 0, cookie: '' });
  const cookies = await tab.context.cookies();
  for (const c of cookies) assert.equal(c.httpOnly, true, `cookie ${c.name} is HttpOnly`);
  await tab.context.close();
});

test('keyboard only: add a todo and complete it', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  const email = uniqueEmail('keys');
  await apiRegister(email);
  await uiLogin(page, email);
  await page.reload();
  await page.getByRole('heading', { name: 'My todos' }).waitFor();

  const focused = () => page.evaluate(() => {
    const el = document.activeElement;
    return { name: el?.getAttribute('name'), label: el?.getAttribute('aria-label'), tag: el?.tagName };
  });
  const tabUntil = async (predicate, what) => {
    for (let i = 0; i < 40; i += 1) {
      await page.keyboard.press('Tab');
      if (predicate(await focused())) return;
    }
    assert.fail(`could not reach ${what} with Tab`);
  };

  await tabUntil((f) => f.name === 'title', 'the new todo field');
  await page.keyboard.type('Typed without a mouse');
  await page.keyboard.press('Enter');
  await todoItem(page, 'Typed without a mouse').waitFor();
  assert.equal((await focused()).name, 'title', 'focus stays in the new todo field');

  await tabUntil((f) => f.label === 'Mark “Typed without a mouse” as completed', 'the todo checkbox');
  await page.keyboard.press('Space');
  const item = todoItem(page, 'Typed without a mouse');
  await eventually(async () => (await item.getAttribute('class')).includes('is-completed'), 'completed by keyboard');
  assert.equal(await item.getByRole('checkbox').isChecked(), true);

  // The skip link is the first stop on a fresh page.
  await page.reload();
  await page.getByRole('heading', { name: 'My todos' }).waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to main content');
  assertClean(tab, 'during keyboard use');
  await tab.context.close();
});

test('every page loads without console errors or CSP violations', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  const anonymous = [['/', /Your to-dos/], ['/login', /Sign in/], ['/register', /Create your account/], ['/no-such-page', /Page not found/]];
  for (const [path, heading] of anonymous) {
    await page.goto(path);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  }
  await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  for (const [path, heading] of [['/dashboard', /My todos/], ['/account', /Account/], ['/admin', /Administration/]]) {
    await page.goto(path);
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    await page.locator('.spinner, [aria-busy="true"]').first().waitFor({ state: 'detached' });
  }
  assertClean(tab, 'on the pages');
  await tab.context.close();
});
