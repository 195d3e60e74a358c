// The signed-in state: access token and user, kept in memory only (never in Web Storage).
// Web Storage holds one non-secret hint, "this browser signed in and has not signed out",
// so that anonymous page loads do not probe /auth/refresh for a cookie that cannot exist.

const SESSION_HINT_KEY = 'securetodo.session-hint';

let accessToken = null;
let user = null;
let expiresAt = 0;
let flash = null;
const listeners = new Set();

export function getAccessToken() {
  return accessToken;
}

export function getUser() {
  return user;
}

export function isAuthenticated() {
  return accessToken !== null && user !== null;
}

export function isAdmin() {
  return user?.role === 'admin';
}

/**
 * True when this browser may hold a refresh cookie: it signed in (in any tab) and has
 * not signed out or lost the session since. The hint is '1' or absent, never a token.
 * Without Web Storage (disabled, private mode quirks) every load may have a session.
 */
export function maySignInSilently() {
  try {
    return window.localStorage.getItem(SESSION_HINT_KEY) === '1';
  } catch {
    return true;
  }
}

function setSessionHint(present) {
  try {
    if (present) window.localStorage.setItem(SESSION_HINT_KEY, '1');
    else window.localStorage.removeItem(SESSION_HINT_KEY);
  } catch {
    // No storage: every load then tries the cookie, as before the hint existed.
  }
}

/** Seconds until the access token expires (0 when signed out). */
export function secondsLeft() {
  return accessToken ? Math.max(0, Math.round((expiresAt - Date.now()) / 1000)) : 0;
}

/** Store a token pair from login or refresh: `{access_token, expires_in, user}`. */
export function setTokens(pair) {
  const wasSignedIn = isAuthenticated();
  accessToken = pair.access_token;
  expiresAt = Date.now() + (Number(pair.expires_in) || 0) * 1000;
  if (pair.user) user = pair.user;
  setSessionHint(true);
  emit(wasSignedIn ? 'refresh' : 'signin');
}

export function setUser(next) {
  user = next;
  emit('user');
}

/**
 * Forget the session. `reason` is 'signout', 'expired' (the server no longer accepts it)
 * or 'deleted' (the account is gone); listeners decide where to go next.
 */
export function clear(reason = 'signout') {
  const wasSignedIn = accessToken !== null || user !== null;
  accessToken = null;
  user = null;
  expiresAt = 0;
  setSessionHint(false);
  if (wasSignedIn) emit(reason);
}

/** Subscribe to session changes; returns the unsubscribe function. */
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(reason) {
  for (const fn of [...listeners]) fn(reason, user);
}

/** A one-shot message shown on the next page: `{kind: 'info'|'success'|'error', text}`. */
export function setFlash(message) {
  flash = message;
}

export function takeFlash() {
  const message = flash;
  flash = null;
  return message;
}
