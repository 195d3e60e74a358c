// Swagger UI, as a developer meets it: "Try it out" must not invent filters.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertClean, launch, openPage } from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

// Example values used to be pre-filled and sent: `q=milk&priority=normal` hid the
// user's own todos.
const OPERATIONS = [
  ['todos', 'list_todos', ['completed', 'priority', 'q', 'sort', 'limit', 'cursor']],
  ['admin', 'list_users', ['q', 'role', 'limit', 'cursor']],
  ['admin', 'list_audit_events', ['type', 'limit', 'cursor']],
];

test('Swagger UI "Try it out" starts every optional query parameter empty', async () => {
  const tab = await openPage(browser);
  const { page } = tab;
  await page.goto('/swagger-ui/');
  for (const [tag, operationId, params] of OPERATIONS) {
    const block = page.locator(`#operations-${tag}-${operationId}`);
    await block.locator('.opblock-summary').first().click();
    await block.getByRole('button', { name: 'Try it out' }).click();
    for (const name of params) {
      const control = block.locator(`tr[data-param-name="${name}"]`).locator('input, select').first();
      await control.waitFor();
      assert.equal(await control.inputValue(), '', `${operationId}: ${name} is pre-filled`);
    }
  }
  assertClean(tab, 'in Swagger UI');
  await tab.context.close();
});
