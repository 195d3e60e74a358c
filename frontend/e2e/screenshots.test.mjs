// Screenshots of every page in light and dark themes at desktop and phone widths.
// Saved under e2e/artifacts/; with UPDATE_DOCS_SCREENSHOTS=1 the light ones of the
// landing, register, dashboard and admin pages, the two-factor set-up (account page) and
// the sign-in's second step are also copied to docs/screenshots/.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, apiCall, apiCreateTodo, apiEnableMfa, apiLogin, ARTIFACTS_DIR, assertClean, launch,
  openPage, STRONG_PASSWORD, uiLogin, waitForToasts,
} from './helpers.mjs';

const DOCS_DIR = new URL('../../docs/screenshots/', import.meta.url);
const DOCS_PAGES = new Set(['landing', 'register', 'dashboard', 'admin', 'mfa-setup', 'mfa-login']);
// Signs in with two-factor authentication (for the picture of the second step).
const MFA_EMAIL = 'li.wei@example.com';
const WIDTHS = [1280, 390];
const SCHEMES = ['light', 'dark'];

function day(offset) {
  const d = new Date();
  d.setDate(d.getDate() + offset);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

let browser;
before(async () => {
  browser = await launch();
  await fs.mkdir(ARTIFACTS_DIR, { recursive: true });
  // Realistic data for the pictures (tolerates an already seeded server).
  for (const email of ['maria.garcia@example.com', 'sam.taylor@example.com', 'li.wei@example.com']) {
    const res = await apiCall('POST', '/auth/register', { body: { email, password: STRONG_PASSWORD } });
    assert.ok([201, 409].includes(res.status), `seed ${email}: ${res.status}`);
    if (res.status === 201) {
      const token = await apiLogin(email);
      await apiCreateTodo(token, { title: 'Water the plants' });
      if (email === MFA_EMAIL) await apiEnableMfa(token);
    }
  }
  const token = await apiLogin(ADMIN_EMAIL, ADMIN_PASSWORD);
  const existing = await apiCall('GET', '/todos?limit=1', { token });
  if (existing.body.items.length === 0) {
    const seed = [
      { title: 'Plan the Q3 roadmap', priority: 'low', completed: true },
      { title: 'Update the security runbook', completed: true },
      { title: 'Book the team offsite', priority: 'low' },
      { title: 'Renew the TLS certificate', priority: 'high', due_date: day(-1) },
      { title: 'Review pull request #42: session revocation', due_date: day(3), description: 'Check refresh-token reuse detection and the new audit events.' },
      { title: 'Rotate the production API keys', priority: 'high', due_date: day(1) },
    ];
    for (const todo of seed) await apiCreateTodo(token, todo);
  }
});
after(async () => { await browser?.close(); });

async function shoot(page, name, width, scheme) {
  // Loaded: no spinner left (lists and tables show their data or an empty state).
  await page.locator('.spinner, [aria-busy="true"]').first().waitFor({ state: 'detached' });
  await waitForToasts(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  const file = new URL(`${name}-${width}-${scheme}.png`, ARTIFACTS_DIR);
  if (width < 600) {
    // Playwright's fullPage capture drops Chromium's touch emulation for the moment of the
    // capture, which would draw phone pages with their mouse-only details (the double-click
    // tip): grow the viewport to the whole page instead.
    const viewport = page.viewportSize();
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.setViewportSize({ width: viewport.width, height: Math.max(height, viewport.height) });
    await page.screenshot({ path: fileURLToPath(file), animations: 'disabled', caret: 'hide' });
    await page.setViewportSize(viewport);
  } else {
    await page.screenshot({ path: fileURLToPath(file), fullPage: true, animations: 'disabled', caret: 'hide' });
  }
  if (process.env.UPDATE_DOCS_SCREENSHOTS === '1' && scheme === 'light' && DOCS_PAGES.has(name)) {
    await fs.mkdir(DOCS_DIR, { recursive: true });
    await fs.copyFile(file, new URL(`${name}-${width}.png`, DOCS_DIR));
  }
}

for (const scheme of SCHEMES) {
  for (const width of WIDTHS) {
    test(`screenshots: ${scheme} theme at ${width}px`, async () => {
      // Phones are touch screens (no hover, coarse pointer), as the CSS expects.
      const phone = width < 600 ? { isMobile: true, hasTouch: true } : {};
      const tab = await openPage(browser, { width, height: width > 600 ? 900 : 844, colorScheme: scheme, ...phone });
      const { page } = tab;
      const dark = await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches);
      assert.equal(dark, scheme === 'dark');

      await page.goto('/');
      await page.getByRole('heading', { level: 1, name: /Your to-dos/ }).waitFor();
      await shoot(page, 'landing', width, scheme);

      await page.goto('/register');
      await page.getByRole('heading', { level: 1, name: 'Create your account' }).waitFor();
      await shoot(page, 'register', width, scheme);

      await page.goto('/login');
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await shoot(page, 'login', width, scheme);

      await page.getByLabel('Email').fill(MFA_EMAIL);
      await page.getByLabel('Password', { exact: true }).fill(STRONG_PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('heading', { level: 1, name: 'Two-factor authentication' }).waitFor();
      await shoot(page, 'mfa-login', width, scheme);

      await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);
      await page.getByText('Rotate the production API keys').waitFor();
      await shoot(page, 'dashboard', width, scheme);

      await page.goto('/account');
      await page.getByRole('list', { name: 'Active sessions' }).getByText('This device').waitFor();
      await shoot(page, 'account', width, scheme);

      // The set-up stays pending (never confirmed): the admin keeps signing in with the password.
      const mfa = page.locator('section.mfa-card');
      await mfa.getByLabel('Your password').fill(ADMIN_PASSWORD);
      await mfa.getByRole('button', { name: 'Set up two-factor authentication' }).click();
      await mfa.getByRole('img', { name: 'QR code to scan with your authenticator app' }).waitFor();
      await shoot(page, 'mfa-setup', width, scheme);
      await mfa.getByRole('button', { name: 'Cancel' }).click();

      await page.goto('/admin');
      await page.getByRole('table', { name: 'Users' }).getByText('maria.garcia@example.com').waitFor();
      await shoot(page, 'admin', width, scheme);

      // Nothing may overflow sideways at phone width.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);

      assertClean(tab, `in the ${scheme} theme at ${width}px`);
      await tab.context.close();
    });
  }
}
