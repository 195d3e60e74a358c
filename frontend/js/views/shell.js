// The page frame around every view: navigation, flash messages, link handling, mounting.
import { h, icon, readMeta, replace } from '../dom.js';
import { alertBox } from './ui.js';

export function createShell({ navigate, onSignOut }) {
  const nav = document.getElementById('site-nav');
  const viewRoot = document.getElementById('view');
  const flashRoot = document.getElementById('flash');
  const docsLink = document.getElementById('api-docs-link');
  let firstMount = true;

  // In-app links marked data-link navigate without a page load (one delegated listener).
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = event.target instanceof Element ? event.target.closest('a[data-link]') : null;
    if (!link || link.target) return;
    const url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });

  nav.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (target?.closest('[data-action="sign-out"]')) onSignOut();
    else if (target?.closest('.nav-toggle')) setMenuOpen(nav.dataset.open !== 'true');
  });
  nav.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && nav.dataset.open === 'true') {
      setMenuOpen(false);
      nav.querySelector('.nav-toggle')?.focus();
    }
  });

  // On small screens the signed-in navigation folds into a disclosure menu.
  function setMenuOpen(open) {
    nav.dataset.open = String(open);
    nav.querySelector('.nav-toggle')?.setAttribute('aria-expanded', String(open));
  }

  function navLink(href, text, path, extraClass) {
    return h('li', {}, h('a', {
      href, class: extraClass, 'data-link': true, 'aria-current': href === path ? 'page' : null,
    }, text));
  }

  return {
    apiBase() {
      return readMeta('securetodo-api-base');
    },

    setApiDocsUrl(url) {
      if (docsLink) docsLink.href = url;
    },

    renderNav(user, path) {
      const items = user
        ? [
          navLink('/dashboard', 'Dashboard', path),
          navLink('/account', 'Account', path),
          user.role === 'admin' ? navLink('/admin', 'Admin', path) : null,
          h('li', {}, h('button', { type: 'button', 'data-action': 'sign-out' }, 'Sign out')),
        ]
        : [
          navLink('/login', 'Sign in', path),
          navLink('/register', 'Create account', path, 'nav-cta'),
        ];
      nav.classList.toggle('site-nav--collapsible', Boolean(user));
      nav.dataset.open = 'false';
      const toggle = user
        ? h('button', { type: 'button', class: 'nav-toggle', 'aria-expanded': 'false', 'aria-controls': 'site-nav-list' },
          icon('list'), h('span', {}, 'Menu'))
        : null;
      replace(nav, toggle, h('ul', { id: 'site-nav-list' }, items));
    },

    /** Show a one-off message above the view (e.g. "Your session has ended"). */
    showFlash(message) {
      if (!message) {
        flashRoot.replaceChildren();
        return;
      }
      const box = alertBox(message.text, message.kind ?? 'info', message.title ?? null);
      box.setAttribute('role', message.kind === 'error' ? 'alert' : 'status');
      box.classList.add('flash');
      replace(flashRoot, box);
    },

    /** Swap in a view `{node, title, focus?}` and move focus to its heading. */
    mount(view) {
      replace(viewRoot, view.node);
      viewRoot.setAttribute('aria-busy', 'false');
      document.title = view.title ? `${view.title} · SecureTodo` : 'SecureTodo';
      if (firstMount) {
        firstMount = false;
        return;
      }
      window.scrollTo(0, 0);
      const target = view.focus ?? viewRoot.querySelector('h1');
      target?.focus({ preventScroll: true });
    },
  };
}
