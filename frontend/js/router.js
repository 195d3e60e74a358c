// History-API router: maps real paths (/dashboard, /account, ...) to a handler.

let handler = () => {};

function normalise(path) {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

function dispatch() {
  handler(normalise(window.location.pathname), new URLSearchParams(window.location.search));
}

/** Start routing: `onRoute(path, query)` runs now and on every navigation. */
export function start(onRoute) {
  handler = onRoute;
  window.addEventListener('popstate', dispatch);
  dispatch();
}

/** Go to an in-app path ("/dashboard?filter=active"). */
export function navigate(path, { replace = false } = {}) {
  const method = replace ? 'replaceState' : 'pushState';
  window.history[method](null, '', path);
  dispatch();
}

/** Reflect view state in the query string without a navigation (shareable filters). */
export function updateQuery(params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
  }
  const qs = query.toString();
  const url = `${window.location.pathname}${qs ? `?${qs}` : ''}`;
  window.history.replaceState(null, '', url);
}

/** Only same-app absolute paths are followed after sign-in (no open redirects). */
export function safeInternalPath(candidate, fallback = '/dashboard') {
  if (typeof candidate !== 'string' || !candidate.startsWith('/') || candidate.startsWith('//') || candidate.includes('\\')) {
    return fallback;
  }
  return candidate;
}
