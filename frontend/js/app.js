// Entry point: wires the API client, the session, the router and the views together.
import * as api from './api.js';
import * as drafts from './drafts.js';
import * as router from './router.js';
import * as session from './session.js';
import { createShell } from './views/shell.js';
import { landingView } from './views/landing.js';
import { loginView, registerView } from './views/auth.js';
import { dashboardView } from './views/dashboard.js';
import { trashView } from './views/trash.js';
import { accountView } from './views/account.js';
import { adminView } from './views/admin.js';
import { forbiddenView, notFoundView } from './views/status.js';
import { toast } from './views/ui.js';

const ROUTES = {
  '/': { view: landingView },
  '/login': { view: loginView, guestOnly: true },
  '/register': { view: registerView, guestOnly: true },
  '/dashboard': { view: dashboardView, auth: true },
  '/trash': { view: trashView, auth: true },
  '/account': { view: accountView, auth: true },
  '/admin': { view: adminView, auth: true, admin: true },
};

const SESSION_ENDED = { kind: 'error', text: 'Your session has ended, please sign in again.' };

let current = { path: null, search: '', controller: null };

/** Navigate, optionally leaving a message for the next page. */
function navigate(path, { flash = null, replace = false } = {}) {
  if (flash) session.setFlash(flash);
  router.navigate(path, { replace });
}

function loginPathFor(path, search) {
  const next = `${path}${search ? `?${search}` : ''}`;
  return next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`;
}

async function signOut() {
  await api.logout();
  navigate('/', { flash: { kind: 'success', text: 'You have signed out.' } });
}

const shell = createShell({ navigate, onSignOut: signOut });

function render(path, query) {
  const route = ROUTES[path];
  if (route?.auth && !session.isAuthenticated()) {
    navigate(loginPathFor(path, query.toString()), { replace: true, flash: session.takeFlash() ?? { kind: 'info', text: 'Please sign in to continue.' } });
    return;
  }
  if (route?.guestOnly && session.isAuthenticated()) {
    navigate('/dashboard', { replace: true });
    return;
  }

  // Abandon the previous view's pending requests before building the next one.
  current.controller?.abort();
  const controller = new AbortController();
  const user = session.getUser();
  current = { path, search: query.toString(), controller, userId: user?.id ?? null, view: null };

  shell.renderNav(user, path);
  shell.showFlash(session.takeFlash());

  const ctx = {
    user,
    query,
    signal: controller.signal,
    navigate,
    updateQuery: router.updateQuery,
    next: query.has('next') ? router.safeInternalPath(query.get('next')) : null,
    apiDocsUrl: api.backendUrl('/swagger-ui/'),
    // What the user had typed here when the session ended, if they signed in again.
    draft: user ? drafts.take(path, user.id) : null,
  };
  let view;
  if (!route) view = notFoundView(ctx);
  else if (route.admin && !session.isAdmin()) view = forbiddenView(ctx);
  else view = route.view(ctx);
  current.view = view;
  shell.mount(view);
}

session.subscribe((reason, user) => {
  if (reason === 'expired') {
    // The server no longer accepts this session (revoked, disabled, expired). Keep what the
    // user typed so the page can give it back after they sign in again.
    drafts.keep(current.path, current.userId, current.view?.saveDraft?.() ?? null);
    const protectedPage = ROUTES[current.path]?.auth;
    navigate(protectedPage ? loginPathFor(current.path, current.search) : '/login', { flash: SESSION_ENDED });
  } else if (reason === 'signout' || reason === 'deleted') {
    drafts.discard();
  } else if (reason === 'user' && current.path) {
    shell.renderNav(user, current.path);
  }
});

async function boot() {
  try {
    api.configure({ base: shell.apiBase() });
  } catch {
    toast('The API address in this page is not a valid URL; using this site instead.', 'error');
  }
  shell.setApiDocsUrl(api.backendUrl('/swagger-ui/'));
  // A reload keeps you signed in: the HttpOnly refresh cookie buys a fresh access token
  // (tried only when this browser signed in and has not signed out since).
  await api.restoreSession();
  router.start(render);
}

boot();
