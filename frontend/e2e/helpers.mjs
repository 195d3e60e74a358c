// Shared helpers for the end-to-end tests: browser launch, problem collection, API shortcuts.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { chromium } from 'playwright-core';

export const BASE_URL = (process.env.E2E_BASE_URL ?? '').replace(/\/+$/, '');
export const ADMIN_EMAIL = process.env.E2E_ADMIN_EMAIL ?? 'admin@example.com';
export const ADMIN_PASSWORD = process.env.E2E_ADMIN_PASSWORD ?? '';
export const ARTIFACTS_DIR = new URL('./artifacts/', import.meta.url);

if (!BASE_URL) {
  throw new Error('E2E_BASE_URL is not set: run the suite through frontend/e2e/run.sh');
}

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

/** A fresh, unguessable address for a test user. */
export function uniqueEmail(prefix = 'user') {
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}@example.com`;
}

export const STRONG_PASSWORD = 'violet-harbor-lantern-42';

/**
 * A page in its own browser context that records everything that would mean a broken
 * page: uncaught errors, console errors (CSP violations are console errors) and any
 * native dialog (alert/confirm/prompt), which the app never opens.
 */
export async function openPage(browser, { width = 1280, height = 900, colorScheme = 'light', ...contextOptions } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme, baseURL: BASE_URL, ...contextOptions });
  return { context, ...await openTab(context) };
}

/** Another tab in an existing browser context (tabs of one context share cookies and storage). */
export async function openTab(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  const dialogs = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const url = msg.location()?.url ?? '';
    // The browser logs every 4xx API answer (e.g. 401 from the refresh probe on page
    // load, 422 from a rejected form). Those are expected answers, not page faults.
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text) && url.includes('/api/v1/')) return;
    problems.push(`console error: ${text} ${url}`.trim());
  });
  page.on('dialog', async (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  return { page, problems, dialogs };
}

export function assertClean({ problems, dialogs }, where = '') {
  assert.deepEqual(problems, [], `console errors, page errors or CSP violations ${where}`);
  assert.deepEqual(dialogs, [], `unexpected native dialogs ${where}`);
}

/** Wait until `fn()` returns a truthy value (polling), or fail with `message`. */
export async function eventually(fn, message = 'condition not met', timeout = 10_000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${message} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/* ---------- Direct API calls (arrange steps that need no browser) ---------- */

export async function apiCall(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(`${BASE_URL}/api/v1${path}`, {
    method,
    headers: {
      Accept: 'application/json',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, body: json };
}

export async function apiRegister(email, password = STRONG_PASSWORD) {
  const res = await apiCall('POST', '/auth/register', { body: { email, password } });
  assert.equal(res.status, 201, `register ${email}: ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function apiLogin(email, password = STRONG_PASSWORD, headers = {}) {
  const res = await apiCall('POST', '/auth/login', { body: { email, password }, headers });
  assert.equal(res.status, 200, `login ${email}: ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

export async function apiCreateTodo(token, todo) {
  const res = await apiCall('POST', '/todos', { token, body: todo });
  assert.equal(res.status, 201, `create todo: ${JSON.stringify(res.body)}`);
  return res.body;
}

/* ---------- UI shortcuts ---------- */

export async function uiLogin(page, email, password = STRONG_PASSWORD) {
  await page.goto('/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL('**/dashboard');
  await page.getByRole('heading', { name: 'My todos' }).waitFor();
}

/** Titles of the todos currently listed, in order. */
export function todoTitles(page) {
  return page.locator('.todo-list .todo__title').allTextContents();
}

export function todoItem(page, title) {
  return page.locator('.todo-list > li').filter({ has: page.locator('.todo__title', { hasText: title }) });
}

/** The navigation's link and button names, in order. */
export async function navNames(page) {
  return page.locator('#site-nav-list').getByRole('link').or(page.locator('#site-nav-list').getByRole('button')).allTextContents();
}

/** Wait until no toast is on screen (so screenshots are not covered). */
export async function waitForToasts(page) {
  await page.locator('.toast').first().waitFor({ state: 'detached', timeout: 8000 }).catch(() => {});
}

/* ---------- TOTP (RFC 6238), for the two-factor tests: test code only ---------- */

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    assert.ok(index >= 0, `not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The 6-digit code of a base32 `secret` at now + `offsetSeconds` (SHA1, 30 s steps). */
export function totpCode(secret, offsetSeconds = 0) {
  const step = Math.floor((Date.now() / 1000 + offsetSeconds) / 30);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

/** Turns two-factor authentication on through the API: `{ secret, recoveryCodes }`. */
export async function apiEnableMfa(token, password = STRONG_PASSWORD) {
  const started = await apiCall('POST', '/users/me/mfa/totp', { token, body: { password } });
  assert.equal(started.status, 200, `start enrolment: ${JSON.stringify(started.body)}`);
  const { secret } = started.body;
  const confirmed = await apiCall('POST', '/users/me/mfa/totp/confirm', { token, body: { code: totpCode(secret) } });
  assert.equal(confirmed.status, 200, `confirm enrolment: ${JSON.stringify(confirmed.body)}`);
  return { secret, recoveryCodes: confirmed.body.recovery_codes };
}
