// Landing page: what SecureTodo is and how it protects its users.
import { h, icon } from '../dom.js';

const FEATURES = [
  ['key', 'Tokens stay out of storage', 'The access token lives in memory only. Sessions renew through a rotating, single-use refresh cookie that scripts cannot read (HttpOnly, SameSite=Strict).'],
  ['lock', 'Careful with passwords', 'bcrypt with a pre-hash so long passwords are never truncated, common and breached passwords refused, and repeated failures locked out quietly.'],
  ['shield', 'Your data is yours alone', 'Every query is scoped to the signed-in user. Someone else\u2019s to-do answers exactly like one that does not exist.'],
  ['code', 'Strict Content Security Policy', 'No inline scripts, styles or handlers. Everything you type is displayed as text, never interpreted as HTML.'],
  ['monitor', 'Sessions you control', 'See every device that is signed in and revoke any of them. Changing your password signs out everywhere else.'],
  ['activity', 'Audited and rate limited', 'Sign-ins, failures, role changes and deletions are recorded for administrators, and credential endpoints are throttled.'],
];

const PREVIEW = [
  ['Rotate the API keys', 'high', 'Due today', true],
  ['Review pull request #42', 'normal', 'Due Fri', false],
  ['Book the team offsite', 'low', null, false],
];

function preview() {
  return h('div', { class: 'hero-preview', 'aria-hidden': 'true' },
    h('div', { class: 'preview-card' },
      h('div', { class: 'preview-card__bar' }, h('span'), h('span'), h('span')),
      h('p', { class: 'preview-card__title' }, 'My to-dos'),
      h('ul', { class: 'preview-list' }, PREVIEW.map(([title, priority, due, done]) => h('li', { class: ['preview-item', done && 'is-done'] },
        h('span', { class: 'preview-check' }, done ? icon('check') : null),
        h('span', { class: 'preview-item__title' }, title),
        h('span', { class: `badge badge--${priority}` }, priority),
        due ? h('span', { class: 'badge badge--muted' }, due) : null)))),
    h('div', { class: 'preview-shield' }, icon('shield'), h('span', {}, 'CSP enforced · tokens in memory')));
}

export function landingView({ user, apiDocsUrl }) {
  const ctas = user
    ? [h('a', { class: 'btn btn--primary btn--lg', href: '/dashboard', 'data-link': true }, 'Open your dashboard')]
    : [
      h('a', { class: 'btn btn--primary btn--lg', href: '/register', 'data-link': true }, 'Create a free account'),
      h('a', { class: 'btn btn--lg', href: '/login', 'data-link': true }, 'Sign in'),
    ];

  const node = h('div', { class: 'landing' },
    h('section', { class: 'hero' },
      h('div', { class: 'container hero__inner' },
        h('div', { class: 'hero__copy' },
          h('p', { class: 'eyebrow' }, icon('shield'), 'Secure by construction'),
          h('h1', { class: 'hero__title', tabindex: '-1' }, 'Your to-dos, ', h('span', { class: 'hero__accent' }, 'locked down.')),
          h('p', { class: 'hero__lead' },
            'SecureTodo is a multi-user to-do list built the way security guidance says it should be: '
            + 'short-lived tokens, strict isolation between accounts and a browser app that never runs untrusted markup.'),
          h('div', { class: 'btn-row hero__ctas' }, ctas),
          h('ul', { class: 'hero__facts' },
            h('li', {}, icon('check'), 'OWASP ASVS level 2'),
            h('li', {}, icon('check'), 'Open REST API'),
            h('li', {}, icon('check'), 'Light and dark themes'))),
        preview())),
    h('section', { class: 'container features', 'aria-labelledby': 'features-title' },
      h('div', { class: 'section-head' },
        h('h2', { id: 'features-title' }, 'Security features, built in'),
        h('p', {}, 'Protection that does not depend on you remembering to turn it on.')),
      h('ul', { class: 'feature-grid' }, FEATURES.map(([ic, title, text]) => h('li', { class: 'feature' },
        h('span', { class: 'feature__icon' }, icon(ic)),
        h('h3', {}, title),
        h('p', {}, text))))),
    h('section', { class: 'container' },
      h('div', { class: 'cta-band' },
        h('div', {},
          h('h2', {}, 'Built for people and for developers'),
          h('p', {}, 'Use the app in your browser, or call the same JSON API with curl, Postman or your own client. '
            + 'Every endpoint is documented with OpenAPI.')),
        h('div', { class: 'btn-row' },
          user ? null : h('a', { class: 'btn btn--primary', href: '/register', 'data-link': true }, 'Get started'),
          h('a', { class: 'btn', href: apiDocsUrl }, 'Explore the API')))));

  return { node, title: 'Secure to-dos' };
}
