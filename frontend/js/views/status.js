// Simple status pages: not found and not allowed.
import { h, icon } from '../dom.js';
import { pageHeading } from './ui.js';

function statusPage({ code, title, text, link }) {
  return h('div', { class: 'container status-page' },
    h('div', { class: 'card status-card' },
      h('span', { class: 'status-card__icon' }, icon(code === 404 ? 'search' : 'lock')),
      h('p', { class: 'status-card__code' }, String(code)),
      pageHeading(title),
      h('p', { class: 'muted' }, text),
      h('a', { class: 'btn btn--primary', href: link.href, 'data-link': true }, link.text)));
}

export function notFoundView({ user }) {
  return {
    title: 'Page not found',
    node: statusPage({
      code: 404,
      title: 'Page not found',
      text: 'The page you are looking for does not exist or has moved.',
      link: user ? { href: '/dashboard', text: 'Go to your dashboard' } : { href: '/', text: 'Back to the home page' },
    }),
  };
}

export function forbiddenView() {
  return {
    title: 'Not allowed',
    node: statusPage({
      code: 403,
      title: 'Administrators only',
      text: 'You do not have access to this page. Ask an administrator if you think you should.',
      link: { href: '/dashboard', text: 'Go to your dashboard' },
    }),
  };
}
