// All access to the SecureTodo REST API: the only module that calls fetch.
import * as session from './session.js';

const API_PREFIX = '/api/v1';

let apiOrigin = '';
let credentials = 'same-origin';

/**
 * Point the client at the API. `base` is an origin such as `https://api.example.com`
 * (empty string = same origin as the page). Cross-origin deployments need the
 * refresh cookie sent along, hence `credentials: 'include'`.
 */
export function configure({ base = '' } = {}) {
  const trimmed = base.trim().replace(/\/+$/, '');
  if (!trimmed) {
    apiOrigin = '';
    credentials = 'same-origin';
    return;
  }
  const url = new URL(trimmed, window.location.href);
  apiOrigin = url.origin + url.pathname.replace(/\/+$/, '');
  credentials = url.origin === window.location.origin ? 'same-origin' : 'include';
}

/** Absolute or root-relative URL of a non-API resource of the backend (e.g. Swagger UI). */
export function backendUrl(path) {
  return `${apiOrigin}${path}`;
}

/** An error answered by the API (problem+json) or a failure to reach it. */
export class ApiError extends Error {
  constructor({ status = 0, code = 'internal', title = '', detail = '', errors = [], retryAfter = null } = {}) {
    super(detail || title || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.errors = Array.isArray(errors) ? errors : [];
    this.retryAfter = retryAfter;
  }
}

function buildUrl(path, query) {
  let url = `${apiOrigin}${API_PREFIX}${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      // Empty parameters are omitted: the API validates every parameter it receives.
      if (value === undefined || value === null || value === '') continue;
      params.set(key, String(value));
    }
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  return url;
}

async function send(method, path, { body, query, token, signal, headers = {} } = {}) {
  const init = {
    method,
    credentials,
    cache: 'no-store',
    signal,
    headers: { Accept: 'application/json, application/problem+json', ...headers },
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (token) init.headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(buildUrl(path, query), init);
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError({ status: 0, code: 'network', title: 'Network error', detail: 'Cannot reach the server.' });
  }
}

async function readBody(res) {
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') ?? '';
  if (!type.includes('json')) return null;
  try {
    return await res.json();
  } catch {
    return null;
  }
}

async function toError(res) {
  const body = (await readBody(res)) ?? {};
  const retry = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
  return new ApiError({
    status: res.status,
    code: typeof body.code === 'string' ? body.code : codeForStatus(res.status),
    title: typeof body.title === 'string' ? body.title : res.statusText,
    detail: typeof body.detail === 'string' ? body.detail : '',
    errors: body.errors,
    retryAfter: Number.isFinite(retry) ? retry : null,
  });
}

function codeForStatus(status) {
  return {
    400: 'validation_failed', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict',
    412: 'precondition_failed', 413: 'payload_too_large', 415: 'unsupported_media_type', 422: 'validation_failed',
    429: 'rate_limited',
  }[status] ?? 'internal';
}

let refreshing = null;

/*
 * Tabs share one session, and a refresh token is single use: two tabs presenting the same
 * cookie at once look like token theft to the server, which then ends the session (reuse
 * detection). So a refresh runs under a Web Lock that every tab of this origin shares, and
 * the tab that refreshed hands the new access token to the others over a BroadcastChannel.
 * A tab that waited for the lock first looks for a token handed over while it waited; only
 * when there is none does it refresh itself, by then with the cookie the other tab renewed.
 */
const REFRESH_LOCK = 'securetodo-refresh';
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('securetodo-session') : null;
// The last token pair another tab handed over: { pair, at } (at: performance.now()).
let handedOver = null;

channel?.addEventListener('message', (event) => {
  const pair = event.data?.type === 'refreshed' ? event.data.pair : null;
  if (!pair || typeof pair.access_token !== 'string') return;
  handedOver = { pair, at: performance.now() };
  // A signed-in tab of the same user takes the newer token too; a signed-out tab does not
  // become signed in behind the user's back.
  if (session.isAuthenticated() && session.getUser()?.id === pair.user?.id) session.setTokens(pair);
});

const BUSY = Symbol('busy');

/**
 * Run `work({ waited })` holding the refresh lock. `waited` is true when another tab held
 * it first: that tab is refreshing right now and is about to hand its token over.
 */
async function withRefreshLock(work) {
  const locks = globalThis.navigator?.locks;
  if (!locks) return work({ waited: false });
  const now = await locks.request(REFRESH_LOCK, { ifAvailable: true }, (lock) => (lock ? work({ waited: false }) : BUSY));
  if (now !== BUSY) return now;
  return locks.request(REFRESH_LOCK, () => work({ waited: true }));
}

// The hand-over message and the lock travel separately: give the message a moment.
async function handedOverSince(askedAt, { wait }) {
  const deadline = performance.now() + (wait ? 500 : 0);
  while (!(handedOver && handedOver.at >= askedAt) && performance.now() < deadline) {
    await new Promise((resolve) => { setTimeout(resolve, 10); });
  }
  return handedOver && handedOver.at >= askedAt ? handedOver.pair : null;
}

async function refreshWithCookie() {
  const res = await send('POST', '/auth/refresh', { body: {} });
  if (!res.ok) {
    if (res.status >= 500 || res.status === 429) throw await toError(res);
    return null;
  }
  const pair = await res.json();
  if (!pair.user) {
    const me = await send('GET', '/users/me', { token: pair.access_token });
    if (me.ok) pair.user = await me.json();
  }
  // The refresh token stays in its HttpOnly cookie: only the access token travels.
  const shared = { access_token: pair.access_token, token_type: pair.token_type, expires_in: pair.expires_in, user: pair.user };
  channel?.postMessage({ type: 'refreshed', pair: shared });
  return shared;
}

/**
 * Exchange the HttpOnly refresh cookie for a new token pair. Concurrent callers in this tab
 * share one request, and tabs take turns (see above). Resolves true on success, false on 401.
 */
export function refreshSession() {
  if (!refreshing) {
    const askedAt = performance.now();
    refreshing = (async () => {
      try {
        const pair = await withRefreshLock(async ({ waited }) => (
          (await handedOverSince(askedAt, { wait: waited })) ?? refreshWithCookie()
        ));
        if (!pair) return false;
        session.setTokens(pair);
        return true;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

// A refresh that cannot reach the server is a network error, not the end of the session.
function tryRefresh() {
  return refreshSession().catch((err) => {
    if (err?.code === 'network' || err?.name === 'AbortError' || err?.status === 429 || err?.status >= 500) throw err;
    return false;
  });
}

/**
 * One API call. Authenticated calls that get a 401 refresh the session once and are
 * retried once; when the refresh fails too the session has ended for good.
 */
async function request(method, path, opts = {}) {
  const { auth = true, endSessionOn401 = true } = opts;
  const token = auth ? session.getAccessToken() : null;
  if (auth && !token && !opts.retried) {
    // No token in memory (e.g. a request raced a sign-out): try the cookie first.
    if (!(await tryRefresh())) return sessionEnded(endSessionOn401);
    return request(method, path, { ...opts, retried: true });
  }
  const res = await send(method, path, { ...opts, token });
  if (res.ok) {
    if (opts.raw) return res;
    const body = await readBody(res);
    // Callers that edit safely need the version tag (If-Match) as well as the body.
    return opts.withEtag ? { body, etag: res.headers.get('ETag') } : body;
  }
  const error = await toError(res);
  // Authenticated endpoints answer a wrong password with 422 on its field, so a 401 here
  // always means the access token: refresh once and retry once.
  if (res.status === 401 && auth) {
    if (opts.retried) return sessionEnded(endSessionOn401);
    const current = session.getAccessToken();
    // Another request may already have refreshed while this one was in flight.
    const renewed = current && current !== token ? true : await tryRefresh();
    if (!renewed) return sessionEnded(endSessionOn401);
    return request(method, path, { ...opts, retried: true });
  }
  throw error;
}

function sessionEnded(notify) {
  if (notify) session.clear('expired');
  else session.clear('signout');
  throw new ApiError({ status: 401, code: 'session_ended', title: 'Session ended', detail: 'Your session has ended, please sign in again.' });
}

/* ---------- Authentication ---------- */

export function register({ email, password }) {
  return request('POST', '/auth/register', { auth: false, body: { email, password } });
}

/**
 * Sign in with email and password. Resolves the user, or, when the account has
 * two-factor authentication on, `{ mfaRequired: true, mfaToken, expiresIn }`: no session
 * exists yet, and `completeMfaLogin` finishes the sign-in with a code.
 */
export async function login({ email, password }) {
  const answer = await request('POST', '/auth/login', { auth: false, body: { email, password } });
  if (answer?.mfa_required === true) {
    return { mfaRequired: true, mfaToken: answer.mfa_token, expiresIn: answer.expires_in };
  }
  session.setTokens(answer);
  return answer.user;
}

/** The second step of a sign-in: a TOTP `code` or a `recoveryCode`. Resolves the user. */
export async function completeMfaLogin({ mfaToken, code, recoveryCode }) {
  const body = recoveryCode ? { mfa_token: mfaToken, recovery_code: recoveryCode } : { mfa_token: mfaToken, code };
  const pair = await request('POST', '/auth/mfa', { auth: false, body });
  session.setTokens(pair);
  return pair.user;
}

/**
 * Restore a session from the refresh cookie on page load. Never throws. Without the hint
 * that this browser signed in, there is no cookie to try: no request, no 401 in the console.
 */
export async function restoreSession() {
  if (!session.maySignInSilently()) return false;
  try {
    const restored = await refreshSession();
    // The cookie is gone or no longer accepted: stop trying on every load.
    if (!restored) session.clear('signout');
    return restored;
  } catch {
    return false;
  }
}

/** End this session on the server (best effort) and forget it locally. */
export async function logout() {
  try {
    await request('POST', '/auth/logout', { endSessionOn401: false });
  } catch {
    // The local session is cleared whatever the server says: the user asked to leave.
  } finally {
    session.clear('signout');
  }
}

export async function logoutAll() {
  await request('POST', '/auth/logout-all');
  session.clear('signout');
}

/* ---------- Current user ---------- */

export async function getMe(opts) {
  const user = await request('GET', '/users/me', opts);
  session.setUser(user);
  return user;
}

export function changePassword({ currentPassword, newPassword }) {
  return request('PUT', '/users/me/password', {
    body: { current_password: currentPassword, new_password: newPassword },
  });
}

export async function deleteAccount({ password }) {
  await request('DELETE', '/users/me', { body: { password } });
  session.clear('deleted');
}

export async function listSessions(opts) {
  const body = await request('GET', '/users/me/sessions', opts);
  return Array.isArray(body) ? body : body?.items ?? [];
}

export function revokeSession(id) {
  return request('DELETE', `/users/me/sessions/${encodeURIComponent(id)}`);
}

/* ---------- Two-factor authentication (TOTP) ---------- */

/** Start (or restart) an enrolment: `{ secret, otpauth_uri, qr_svg }`. */
export function startTotpEnrolment({ password }) {
  return request('POST', '/users/me/mfa/totp', { body: { password } });
}

/** Confirm the enrolment with a code: `{ recovery_codes }`, shown once. */
export function confirmTotpEnrolment({ code }) {
  return request('POST', '/users/me/mfa/totp/confirm', { body: { code } });
}

/** A new set of recovery codes: `{ recovery_codes }`. */
export function regenerateRecoveryCodes({ password, code }) {
  return request('POST', '/users/me/mfa/recovery-codes', { body: { password, code } });
}

export function disableMfa({ password, code }) {
  return request('DELETE', '/users/me/mfa', { body: { password, code } });
}

/* ---------- API tokens and data export ---------- */

export async function listApiTokens(opts) {
  const body = await request('GET', '/users/me/tokens', opts);
  return body?.items ?? [];
}

/** Resolves to the new token, its secret in `token` (shown once). */
export function createApiToken({ name, scopes, expiresInDays, password }) {
  return request('POST', '/users/me/tokens', {
    body: { name, scopes, expires_in_days: expiresInDays, password },
  });
}

export function deleteApiToken(id) {
  return request('DELETE', `/users/me/tokens/${encodeURIComponent(id)}`);
}

/** The export as `{ blob, filename }`; `format` is `json` or `csv`. */
export async function exportData(format) {
  const res = await request('GET', '/users/me/export', { query: { format }, raw: true });
  const disposition = res.headers.get('Content-Disposition') ?? '';
  const filename = /filename="([^"]+)"/.exec(disposition)?.[1] ?? `securetodo-export.${format}`;
  return { blob: await res.blob(), filename };
}

/* ---------- Todos ---------- */

export function listTodos({ completed, q, priority, sort, limit, cursor } = {}, opts = {}) {
  return request('GET', '/todos', { ...opts, query: { completed, q, priority, sort, limit, cursor } });
}

export function createTodo(todo) {
  return request('POST', '/todos', { body: todo });
}

/** One todo with its version tag: `{ body, etag }`. */
export function getTodo(id, opts = {}) {
  return request('GET', `/todos/${encodeURIComponent(id)}`, { ...opts, withEtag: true });
}

/**
 * Changes a todo only if it is still at version `ifMatch` (its ETag): a 412 means someone
 * changed it since. Resolves to `{ body, etag }`.
 */
export function updateTodo(id, patch, { ifMatch } = {}) {
  const headers = ifMatch ? { 'If-Match': ifMatch } : {};
  return request('PATCH', `/todos/${encodeURIComponent(id)}`, { body: patch, headers, withEtag: true });
}

export function deleteTodo(id) {
  return request('DELETE', `/todos/${encodeURIComponent(id)}`);
}

export function clearCompleted() {
  return request('DELETE', '/todos', { query: { completed: true } });
}

/** A fresh Idempotency-Key, so that a retried request never acts twice. */
function idempotencyKey() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export function restoreTodo(id) {
  return request('POST', `/todos/${encodeURIComponent(id)}/restore`, { headers: { 'Idempotency-Key': idempotencyKey() } });
}

export function listTrash({ limit, cursor } = {}, opts = {}) {
  return request('GET', '/todos/trash', { ...opts, query: { limit, cursor } });
}

export function emptyTrash() {
  return request('DELETE', '/todos/trash');
}

/* ---------- Administration ---------- */

export function listUsers({ q, role, limit, cursor } = {}, opts = {}) {
  return request('GET', '/admin/users', { ...opts, query: { q, role, limit, cursor } });
}

export function updateUser(id, patch) {
  return request('PATCH', `/admin/users/${encodeURIComponent(id)}`, { body: patch });
}

export function deleteUser(id) {
  return request('DELETE', `/admin/users/${encodeURIComponent(id)}`);
}

export function revokeUserSessions(id) {
  return request('DELETE', `/admin/users/${encodeURIComponent(id)}/sessions`);
}

export function resetUserMfa(id) {
  return request('DELETE', `/admin/users/${encodeURIComponent(id)}/mfa`);
}

export function listAuditEvents({ type, limit, cursor } = {}, opts = {}) {
  return request('GET', '/admin/audit-events', { ...opts, query: { type, limit, cursor } });
}
