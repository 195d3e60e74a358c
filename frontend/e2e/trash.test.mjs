// Undo after delete and clear-completed, the trash view, and safe edits: every edit sends
// If-Match, and a 412 shows the newer version and lets the user choose.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apiCall, apiCreateTodo, apiLogin, apiRegister, assertClean, eventually, launch, openPage,
  todoItem, todoTitles, uiLogin, uniqueEmail,
} from './helpers.mjs';

let browser;

before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A signed-in tab of a fresh user with `titles` created (oldest first), and an API token. */
async function signedIn(titles) {
  const email = uniqueEmail('trash');
  await apiRegister(email);
  const token = await apiLogin(email);
  const todos = {};
  for (const title of titles) todos[title] = await apiCreateTodo(token, { title });
  const tab = await openPage(browser);
  await uiLogin(tab.page, email);
  await eventually(async () => (await todoTitles(tab.page)).length === titles.length, 'the todos are listed');
  return { ...tab, token, todos };
}

test('a deleted todo comes back with Undo', async () => {
  const tab = await signedIn(['Keep me', 'Delete me']);
  const { page } = tab;
  await page.getByRole('button', { name: 'Delete “Delete me”' }).click();
  await todoItem(page, 'Delete me').waitFor({ state: 'detached' });
  const toast = page.locator('.toast', { hasText: 'Moved “Delete me” to the trash' });
  await toast.getByRole('button', { name: 'Undo' }).click();
  await todoItem(page, 'Delete me').waitFor();
  assert.deepEqual(await todoTitles(page), ['Delete me', 'Keep me']);
  const trash = await apiCall('GET', '/todos/trash', { token: tab.token });
  assert.deepEqual(trash.body.items, [], 'nothing left in the trash');
  assertClean(tab, 'undoing a delete');
  await tab.context.close();
});

test('clear completed can be undone as a whole', async () => {
  const tab = await signedIn(['Open', 'Done one', 'Done two']);
  const { page, token, todos } = tab;
  for (const title of ['Done one', 'Done two']) {
    await apiCall('PATCH', `/todos/${todos[title].id}`, { token, body: { completed: true } });
  }
  await page.reload();
  await eventually(async () => (await todoTitles(page)).length === 3, 'listed after reload');
  const clear = page.getByRole('button', { name: 'Clear completed' });
  await eventually(async () => !(await clear.isDisabled()), 'Clear completed is enabled');
  await clear.click();
  await page.getByRole('dialog', { name: 'Clear completed todos?' }).getByRole('button', { name: 'Clear 2 completed' }).click();
  await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(['Open']), 'only the open todo is left');
  await page.locator('.toast', { hasText: 'Cleared 2 completed todos' }).getByRole('button', { name: 'Undo' }).click();
  await eventually(async () => (await todoTitles(page)).length === 3, 'both are back');
  await page.locator('.toast', { hasText: 'Restored 2 todos' }).waitFor();
  assertClean(tab, 'undoing clear completed');
  await tab.context.close();
});

test('the trash view lists deleted todos, restores one and empties the rest', async () => {
  const tab = await signedIn(['Stays', 'First gone', 'Second gone']);
  const { page } = tab;
  for (const title of ['First gone', 'Second gone']) {
    await page.getByRole('button', { name: `Delete “${title}”` }).click();
    await todoItem(page, title).waitFor({ state: 'detached' });
  }
  await page.getByRole('link', { name: 'Trash' }).click();
  await page.waitForURL('**/trash');
  await page.getByRole('heading', { name: 'Trash' }).waitFor();
  const list = page.getByRole('list', { name: 'Deleted todos' });
  await eventually(async () => JSON.stringify(await list.locator('.todo__title').allTextContents())
    === JSON.stringify(['Second gone', 'First gone']), 'most recently deleted first');

  await page.getByRole('button', { name: 'Restore “First gone”' }).click();
  await page.locator('.toast', { hasText: 'Restored “First gone”' }).waitFor();
  await eventually(async () => JSON.stringify(await list.locator('.todo__title').allTextContents())
    === JSON.stringify(['Second gone']), 'restored one leaves the trash');

  await page.getByRole('button', { name: 'Empty trash' }).click();
  const dialog = page.getByRole('dialog', { name: 'Empty the trash?' });
  await dialog.getByRole('button', { name: 'Empty trash' }).click();
  await page.getByText('The trash is empty').waitFor();
  assert.ok(await page.getByRole('button', { name: 'Empty trash' }).isDisabled());

  await page.getByRole('link', { name: 'Back to my todos' }).click();
  await page.waitForURL('**/dashboard');
  await eventually(async () => JSON.stringify((await todoTitles(page)).sort()) === JSON.stringify(['First gone', 'Stays']), 'the restored todo is listed');
  assertClean(tab, 'in the trash view');
  await tab.context.close();
});

test('edits send If-Match, and a conflicting edit shows the newer version and asks', async () => {
  const tab = await signedIn(['Buy milk']);
  const { page, token, todos } = tab;
  const id = todos['Buy milk'].id;
  const ifMatch = [];
  page.on('request', (request) => {
    if (request.method() === 'PATCH') ifMatch.push(request.headers()['if-match'] ?? null);
  });

  // A plain edit: sent with the version's tag.
  await page.getByRole('button', { name: 'Edit “Buy milk”' }).click();
  let form = page.getByRole('form', { name: 'Edit “Buy milk”' });
  await form.getByLabel('Title').fill('Buy oat milk');
  await form.getByRole('button', { name: 'Save' }).click();
  await todoItem(page, 'Buy oat milk').waitFor();
  assert.equal(ifMatch.length, 1);
  assert.match(ifMatch[0], /^"[^"]+"$/, 'PATCH carries If-Match');

  // Another device renames it while this tab edits: the user sees the newer title and keeps it.
  await page.getByRole('button', { name: 'Edit “Buy oat milk”' }).click();
  form = page.getByRole('form', { name: 'Edit “Buy oat milk”' });
  await form.getByLabel('Title').fill('Buy soy milk');
  const other = await apiCall('PATCH', `/todos/${id}`, { token, body: { title: 'Buy almond milk' } });
  assert.equal(other.status, 200);
  await form.getByRole('button', { name: 'Save' }).click();
  let dialog = page.getByRole('dialog', { name: 'This todo was changed elsewhere' });
  await dialog.locator('.conflict__theirs', { hasText: 'Buy almond milk' }).waitFor();
  await dialog.locator('.conflict__mine', { hasText: 'Buy soy milk' }).waitFor();
  await dialog.getByRole('button', { name: 'Keep the newer version' }).click();
  await todoItem(page, 'Buy almond milk').waitFor();
  assert.equal((await apiCall('GET', `/todos/${id}`, { token })).body.title, 'Buy almond milk', 'nothing overwritten');

  // Again, and this time the user applies the change on top of the newer version.
  await apiCall('PATCH', `/todos/${id}`, { token, body: { priority: 'high' } });
  await page.getByRole('button', { name: 'Edit “Buy almond milk”' }).click();
  form = page.getByRole('form', { name: 'Edit “Buy almond milk”' });
  await form.getByLabel('Title').fill('Buy rice milk');
  await form.getByRole('button', { name: 'Save' }).click();
  dialog = page.getByRole('dialog', { name: 'This todo was changed elsewhere' });
  await dialog.getByRole('button', { name: 'Apply my change' }).click();
  await todoItem(page, 'Buy rice milk').waitFor();
  const server = (await apiCall('GET', `/todos/${id}`, { token })).body;
  assert.equal(server.title, 'Buy rice milk');
  assert.equal(server.priority, 'high', 'the other change is kept');
  assert.ok(ifMatch.every((tag) => tag), `every PATCH had If-Match: ${JSON.stringify(ifMatch)}`);
  assertClean(tab, 'resolving edit conflicts');
  await tab.context.close();
});

test('completing a todo changed elsewhere asks before overwriting', async () => {
  const tab = await signedIn(['Water plants']);
  const { page, token, todos } = tab;
  const id = todos['Water plants'].id;
  await apiCall('PATCH', `/todos/${id}`, { token, body: { title: 'Water the plants' } });
  await todoItem(page, 'Water plants').getByRole('checkbox').check();
  const dialog = page.getByRole('dialog', { name: 'This todo was changed elsewhere' });
  await dialog.locator('.conflict__theirs', { hasText: 'No' }).waitFor();
  await dialog.getByRole('button', { name: 'Keep the newer version' }).click();
  await todoItem(page, 'Water the plants').waitFor();
  const server = (await apiCall('GET', `/todos/${id}`, { token })).body;
  assert.equal(server.completed, false, 'not completed behind the user’s back');
  assert.equal(await todoItem(page, 'Water the plants').getByRole('checkbox').isChecked(), false);
  assertClean(tab, 'a conflicting completion');
  await tab.context.close();
});
