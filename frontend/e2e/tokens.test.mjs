// Account page: API tokens (create, secret shown once and copied, list, delete) and data export.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import {
  apiCall, apiCreateTodo, apiLogin, apiRegister, assertClean, BASE_URL, eventually, launch, openPage, uiLogin, uniqueEmail,
  STRONG_PASSWORD,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** `curl` as a script would run it: the status and body of GET /api/v1/todos with `token`. */
function curlTodos(token) {
  const out = execFileSync('curl', ['-sS', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${token}`, `${BASE_URL}/api/v1/todos`], { encoding: 'utf8' });
  const cut = out.lastIndexOf('\n');
  return { status: Number(out.slice(cut + 1)), body: JSON.parse(out.slice(0, cut)) };
}

test('account page: an API token made in the SPA lists todos with curl, then is deleted', async (t) => {
  const tab = await openPage(browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  const { page } = tab;
  const email = uniqueEmail('tokens');
  await apiRegister(email);
  await apiCreateTodo(await apiLogin(email), { title: 'Seen by the script' });
  await uiLogin(page, email);
  await page.goto('/account');
  const card = page.getByRole('region', { name: 'API tokens' });
  const form = page.getByRole('form', { name: 'API tokens' });
  await card.getByText('No API tokens yet.').waitFor();
  let secret;

  await t.test('the form checks its fields before sending', async () => {
    await form.getByLabel('Read todos').uncheck();
    await form.getByRole('button', { name: 'Create token' }).click();
    await form.getByText('Give the token a name.').waitFor();
    await form.getByText('Choose what the token may do.').waitFor();
    await form.getByText('Enter your password to confirm.').waitFor();

    await form.getByLabel('Token name').fill('backup script');
    await form.getByLabel('Read todos').check();
    await form.getByLabel('Your password').fill('not-my-password');
    await form.getByRole('button', { name: 'Create token' }).click();
    const password = form.getByLabel('Your password');
    await eventually(async () => (await password.getAttribute('aria-invalid')) === 'true', 'wrong password flagged on its field');
  });

  await t.test('creating shows the secret once, with a copy button', async () => {
    await form.getByLabel('Token name').fill('backup script');
    await form.getByLabel('Change todos').check();
    await form.getByLabel('Expires after').selectOption('7');
    await form.getByLabel('Your password').fill(STRONG_PASSWORD);
    await form.getByRole('button', { name: 'Create token' }).click();
    const value = card.getByLabel('Secret of the token backup script');
    await value.waitFor();
    secret = await value.inputValue();
    assert.match(secret, /^stp_[A-Za-z0-9_-]{43}$/);
    await card.getByRole('button', { name: 'Copy' }).click();
    await eventually(async () => (await page.evaluate(() => navigator.clipboard.readText())) === secret, 'the secret is on the clipboard');
    const row = card.getByRole('list', { name: 'API tokens' }).getByRole('listitem');
    await eventually(async () => (await row.count()) === 1, 'the token is listed');
    await row.getByText('todos:read').waitFor();
    await row.getByText('todos:write').waitFor();
    await row.getByText('Never used').waitFor();
  });

  await t.test('the token lists the todos with curl, and its use shows on the page', async () => {
    const { status, body } = curlTodos(secret);
    assert.equal(status, 200);
    assert.deepEqual(body.items.map((todo) => todo.title), ['Seen by the script']);
    // Write scope: a script can add a todo too.
    const created = await apiCall('POST', '/todos', { token: secret, body: { title: 'Added by the script' } });
    assert.equal(created.status, 201);
    // The account endpoints stay closed to it.
    assert.equal((await apiCall('GET', '/users/me', { token: secret })).status, 403);

    await page.reload();
    const row = card.getByRole('list', { name: 'API tokens' }).getByRole('listitem');
    await row.getByText('Last used').waitFor();
    // After a reload the secret is gone for good.
    assert.equal(await page.getByText(secret).count(), 0);
    assert.equal(await card.getByLabel('Secret of the token backup script').count(), 0);
  });

  await t.test('deleting asks first, then the token stops working', async () => {
    const row = card.getByRole('list', { name: 'API tokens' }).getByRole('listitem');
    await row.getByRole('button', { name: 'Delete token backup script' }).click();
    await page.getByRole('dialog', { name: 'Delete this token?' }).getByRole('button', { name: 'Delete token' }).click();
    await card.getByText('No API tokens yet.').waitFor();
    assert.equal(curlTodos(secret).status, 401);
  });

  assertClean(tab, 'on the account page with tokens');
  await tab.context.close();
});

test('account page: the data export downloads JSON and CSV attachments', async () => {
  const tab = await openPage(browser, { acceptDownloads: true });
  const { page } = tab;
  const email = uniqueEmail('export');
  await apiRegister(email);
  await apiCreateTodo(await apiLogin(email), { title: '=cmd|calc', description: 'exported' });
  await uiLogin(page, email);
  await page.goto('/account');
  const card = page.getByRole('region', { name: 'Your data' });

  const [json] = await Promise.all([page.waitForEvent('download'), card.getByRole('button', { name: 'Download JSON' }).click()]);
  assert.match(json.suggestedFilename(), /^securetodo-export-\d{4}-\d{2}-\d{2}\.json$/);
  const data = JSON.parse(await readFile(await json.path(), 'utf8'));
  assert.equal(data.account.email, email);
  assert.deepEqual(data.todos.map((todo) => todo.title), ['=cmd|calc']);

  const [csv] = await Promise.all([page.waitForEvent('download'), card.getByRole('button', { name: 'Download CSV' }).click()]);
  assert.match(csv.suggestedFilename(), /\.csv$/);
  const lines = (await readFile(await csv.path(), 'utf8')).split('\r\n');
  assert.equal(lines[0], 'id,title,description,completed,priority,due_date,created_at,updated_at,completed_at');
  assert.match(lines[1], /^\d+,'=cmd\|calc,exported,false,normal,,/);

  assertClean(tab, 'after downloading the export');
  await tab.context.close();
});
