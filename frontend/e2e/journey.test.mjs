// The full journey of a new user: register, sign in, manage todos, reload, sign out.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiCreateTodo, apiLogin, apiRegister, assertClean, eventually, launch, navNames, openPage, STRONG_PASSWORD,
  todoItem, todoTitles, uiLogin, uniqueEmail,
} from './helpers.mjs';

let browser;
let tab;
const email = uniqueEmail('journey');

before(async () => {
  browser = await launch();
  tab = await openPage(browser);
});
after(async () => {
  await browser?.close();
});

test('the full journey of a new user', async (t) => {
  const { page } = tab;

  await t.test('landing page introduces the app with logo and navigation', async () => {
    await page.goto('/');
    await page.getByRole('heading', { level: 1, name: /Your to-dos, locked down/ }).waitFor();
    await page.getByRole('heading', { name: 'Security features, built in' }).waitFor();
    assert.ok(await page.locator('header .brand img[src="/img/logo.svg"]').isVisible(), 'logo is shown');
    assert.deepEqual(await navNames(page), ['Sign in', 'Create account']);
    const logoBox = await page.locator('header .brand').boundingBox();
    const navBox = await page.locator('#site-nav').boundingBox();
    assert.ok(logoBox.x < navBox.x, 'logo is left of the navigation');
  });

  await t.test('registration rejects a bad email next to the field, then accepts a good one', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Create account' }).click();
    await page.waitForURL('**/register');
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();

    const emailInput = page.getByLabel('Email');
    await emailInput.fill('not-an-email');
    await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Enter a valid email address').waitFor();
    assert.equal(await emailInput.getAttribute('aria-invalid'), 'true');
    const describedBy = await emailInput.getAttribute('aria-describedby');
    const errorId = describedBy.split(' ').find((id) => id.endsWith('-error'));
    assert.match(await page.locator(`#${errorId}`).textContent(), /valid email/);
    assert.ok(page.url().endsWith('/register'));

    // A common password passes the client checks and is refused by the server, next to the field.
    await emailInput.fill(email);
    const password = page.getByLabel('Password', { exact: true });
    await password.fill('password123');
    await page.getByRole('button', { name: 'Create account' }).click();
    await eventually(async () => (await password.getAttribute('aria-invalid')) === 'true', 'server rejects a common password');
    assert.equal(await emailInput.getAttribute('aria-invalid'), null, 'the email is fine now');
    const pwErrorId = (await password.getAttribute('aria-describedby')).split(' ').find((id) => id.endsWith('-error'));
    assert.ok((await page.locator(`#${pwErrorId}`).textContent()).trim().length > 0, 'server message shown next to password');

    await password.fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL('**/dashboard');
    await page.getByText(`Welcome, ${email}`).waitFor();
    assert.deepEqual(await navNames(page), ['Dashboard', 'Account', 'Sign out']);
  });

  await t.test('signing out changes the navigation and protects the dashboard', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === '/');
    await page.getByText('You have signed out.').waitFor();
    assert.deepEqual(await navNames(page), ['Sign in', 'Create account']);
    await page.goto('/dashboard');
    await page.waitForURL('**/login?next=%2Fdashboard');
    await page.getByText('Please sign in to continue.').waitFor();
  });

  await t.test('a taken email offers "Try signing in instead", which carries the email to the sign-in form', async () => {
    await page.goto('/register');
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    await page.getByLabel('Email').fill(email.toUpperCase());
    await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    const link = page.getByRole('link', { name: 'Try signing in instead' });
    await link.click();
    await page.waitForURL((url) => url.pathname === '/login');
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(await page.getByLabel('Email').inputValue(), email.toUpperCase());
    assert.ok(!page.url().includes('example.com'), `the email left the address bar: ${page.url()}`);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('name')), 'password', 'the password is next');
  });

  await t.test('a wrong password shows a login failure, the right one signs in', async () => {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password', { exact: true }).fill('not-the-right-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Incorrect email or password' }).waitFor();
    assert.ok(page.url().includes('/login'));

    await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL('**/dashboard');
    await page.getByText(`Welcome, ${email}`).waitFor();
    await page.getByText('Nothing to do yet').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Clear completed' }).isDisabled(), 'nothing to clear yet');
  });

  await t.test('add todos with priority, due date and description', async () => {
    const form = page.getByRole('form', { name: 'Add a todo' });
    const add = async (title, { priority, due, description } = {}) => {
      await form.getByLabel('New todo').fill(title);
      if (priority) await form.getByLabel('Priority').selectOption(priority);
      if (due) await form.getByLabel('Due date').fill(due);
      if (description) {
        await form.getByText('Add a description').click();
        await form.getByLabel('Description').fill(description);
      }
      await form.getByRole('button', { name: 'Add', exact: true }).click();
      await todoItem(page, title).waitFor();
    };
    // An empty title is refused on the client.
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    await page.getByText('Enter a title.').waitFor();

    await add('Buy milk', { priority: 'low' });
    await add('Write report', { priority: 'high', due: '2030-01-15' });
    await add('Call mom', { description: 'About the weekend plans' });
    assert.deepEqual(await todoTitles(page), ['Call mom', 'Write report', 'Buy milk']);
    const report = todoItem(page, 'Write report');
    await report.getByText('High priority').waitFor();
    await report.getByText(/Due .*2030/).waitFor();
    await todoItem(page, 'Call mom').getByText('About the weekend plans').waitFor();
    assert.equal(await form.getByLabel('Priority').inputValue(), 'normal', 'form resets to normal priority');
  });

  await t.test('complete a todo and filter all / active / completed', async () => {
    const milk = todoItem(page, 'Buy milk');
    const clear = page.getByRole('button', { name: 'Clear completed' });
    assert.ok(await clear.isDisabled(), 'Clear completed is disabled while nothing is completed');
    await milk.getByRole('checkbox').check();
    await eventually(async () => (await milk.getAttribute('class')).includes('is-completed'), 'todo shown as completed');
    await eventually(() => clear.isEnabled(), 'Clear completed is enabled once a todo is completed');

    const filters = page.getByRole('group', { name: 'Show' });
    await filters.getByRole('button', { name: 'Active' }).click();
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Call mom', 'Write report']), 'active filter');
    assert.equal(await filters.getByRole('button', { name: 'Active' }).getAttribute('aria-pressed'), 'true');

    await filters.getByRole('button', { name: 'Completed' }).click();
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Buy milk']), 'completed filter');

    await filters.getByRole('button', { name: 'All' }).click();
    await eventually(async () => (await todoTitles(page)).length === 3, 'all filter');
  });

  await t.test('search matches title and description', async () => {
    const search = page.getByRole('searchbox', { name: 'Search' });
    await search.fill('REPORT');
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Write report']), 'search by title');
    await search.fill('weekend');
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Call mom']), 'search by description');
    await search.fill('zzz-nothing');
    await page.getByText('No todos match').waitFor();
    await search.fill('');
    await eventually(async () => (await todoTitles(page)).length === 3, 'search cleared');
  });

  await t.test('sort and filter by priority', async () => {
    const sort = page.getByLabel('Sort by');
    await sort.selectOption('title');
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Buy milk', 'Call mom', 'Write report']), 'title A-Z');
    await sort.selectOption('-priority');
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Write report', 'Call mom', 'Buy milk']), 'priority high first');
    await sort.selectOption('due_date');
    await eventually(async () => (await todoTitles(page))[0] === 'Write report', 'due date soonest first');
    assert.match(page.url(), /sort=due_date/, 'the sort is kept in the address');

    await page.getByLabel('Filter by priority').selectOption('low');
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Buy milk']), 'priority filter');
    await page.getByLabel('Filter by priority').selectOption('');
    await sort.selectOption('-created_at');
    await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Call mom', 'Write report', 'Buy milk']), 'back to newest first');
  });

  await t.test('edit a todo inline, and cancel an edit with Escape', async () => {
    await page.getByRole('button', { name: 'Edit “Call mom”' }).click();
    const form = page.getByRole('form', { name: 'Edit “Call mom”' });
    await form.getByLabel('Title').fill('Call mom and dad');
    await form.getByLabel('Priority').selectOption('high');
    await form.getByLabel('Due date').fill('2031-02-03');
    await form.getByRole('button', { name: 'Save' }).click();
    const edited = todoItem(page, 'Call mom and dad');
    await edited.getByText('High priority').waitFor();
    await edited.getByText(/Due .*2031/).waitFor();
    await form.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Edit “Buy milk”' }).click();
    const milkForm = page.getByRole('form', { name: 'Edit “Buy milk”' });
    await milkForm.getByLabel('Title').fill('Something else');
    await page.keyboard.press('Escape');
    await milkForm.waitFor({ state: 'detached' });
    await todoItem(page, 'Buy milk').waitFor();
  });

  await t.test('delete a todo and clear completed ones', async () => {
    await page.getByRole('button', { name: 'Delete “Write report”' }).click();
    await todoItem(page, 'Write report').waitFor({ state: 'detached' });

    const clear = page.getByRole('button', { name: 'Clear completed' });
    await clear.click();
    const dialog = page.getByRole('dialog', { name: 'Clear completed todos?' });
    await dialog.getByText('1 completed todo will move to the trash (you can undo this or restore them from the trash).').waitFor();
    await dialog.getByRole('button', { name: 'Clear 1 completed' }).click();
    await todoItem(page, 'Buy milk').waitFor({ state: 'detached' });
    assert.deepEqual(await todoTitles(page), ['Call mom and dad']);
    await eventually(() => clear.isDisabled(), 'Clear completed is disabled again once nothing is completed');
  });

  await t.test('a reload keeps the session, and load more fetches the next page', async () => {
    const token = await apiLogin(email);
    for (let i = 1; i <= 24; i += 1) await apiCreateTodo(token, { title: `Bulk task ${String(i).padStart(2, '0')}` });

    await page.reload();
    await page.getByText(`Welcome, ${email}`).waitFor();
    assert.ok(page.url().endsWith('/dashboard'));
    await eventually(async () => (await todoTitles(page)).length === 20, 'first page of 20');
    const more = page.getByRole('button', { name: 'Load more' });
    await more.click();
    await eventually(async () => (await todoTitles(page)).length === 25, 'second page appended');
    await more.waitFor({ state: 'hidden' });
    const titles = await todoTitles(page);
    assert.equal(new Set(titles).size, 25, 'no duplicates across pages');
    assert.equal(titles.at(-1), 'Call mom and dad');
  });

  await t.test('sign out from the navigation', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === '/');
    assert.deepEqual(await navNames(page), ['Sign in', 'Create account']);
    // The refresh cookie is gone too: a reload stays signed out.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: /Your to-dos/ }).waitFor();
    assert.deepEqual(await navNames(page), ['Sign in', 'Create account']);
  });

  assertClean(tab, 'during the journey');
});

test('the double-click tip shows with a mouse and not on touch screens', async () => {
  const email = uniqueEmail('touch');
  const desktop = await openPage(browser);
  await apiRegister(email);
  await uiLogin(desktop.page, email);
  assert.ok(await desktop.page.getByText('Tip: double-click a title to edit it.').isVisible(), 'shown with a mouse');
  await desktop.context.close();

  const phone = await openPage(browser, { width: 390, height: 844, isMobile: true, hasTouch: true });
  await uiLogin(phone.page, email);
  assert.ok(await phone.page.evaluate(() => matchMedia('(pointer: coarse)').matches), 'the phone has a coarse pointer');
  assert.equal(await phone.page.getByText('Tip: double-click a title to edit it.').isVisible(), false, 'hidden on touch');
  assertClean(phone, 'on a touch screen');
  await phone.context.close();
});
