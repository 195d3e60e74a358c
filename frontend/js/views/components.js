// Shared view components: the debounced search field and the paged list with "Load more"
// (todos, admin users and audit events all use them).
import { h, icon, replace } from '../dom.js';
import { busy, debounce, field, isSilent } from './ui.js';

/** The "loading" placeholder of a list: a spinner and a sentence. */
export function loadingState(text) {
  return h('div', { class: 'empty' }, h('span', { class: 'spinner' }), h('p', {}, text));
}

/** The "nothing here" placeholder of a list. */
export function emptyState(iconName, title, text) {
  return h('div', { class: 'empty' }, icon(iconName, 'empty__icon'), h('p', { class: 'empty__title' }, title), h('p', {}, text));
}

/**
 * A search box that reports its trimmed value `delay` ms after the last keystroke, or at
 * once on Enter: `onSearch(q, { enter })`. Returns `{ node, input }`.
 */
export function searchField({ label, placeholder, maxlength, value, onSearch, name = 'q', delay = 300 }) {
  const node = field({ label, name, type: 'search', hideLabel: true, placeholder, value, maxlength, className: 'toolbar__search', autocomplete: 'off' });
  const input = node.querySelector('input');
  node.querySelector('.input').before(h('span', { class: 'search-icon' }, icon('search')));
  const run = debounce(() => onSearch(input.value.trim(), { enter: false }), delay);
  input.addEventListener('input', run);
  input.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    run.cancel();
    onSearch(input.value.trim(), { enter: true });
  });
  return { node, input };
}

/**
 * A cursor-paged list rendered into `body` (a <ul> or <tbody>), with its own error slot
 * (`alert`), status slot (`status`: loading / empty) and "Load more" button (`footer`).
 *
 * - `fetchPage({ cursor, signal })` returns `{ items, next_cursor }`;
 * - `renderItem(item)` builds one row; `empty()` the placeholder when there are no items;
 * - `errorNode(err)` what the alert slot shows when a load fails;
 * - `loadingText`: shown while the first page loads (none when null);
 * - `latestOnly`: a new load aborts the one still running, and `body` is aria-busy meanwhile;
 * - `onPage(page, { append })` runs before the render, `onRender({ appendedFrom })` after
 *   each render, `onLoaded({ append })` after a successful load.
 */
export function pagedList({
  body, fetchPage, renderItem, empty, errorNode, signal,
  moreLabel = 'Load more', loadingText = null, latestOnly = false,
  onPage = null, onRender = null, onLoaded = null,
}) {
  const alert = h('div', { class: 'form-alert', role: 'alert' });
  const status = h('div', { class: 'list-status' });
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, moreLabel);
  const footer = h('div', { class: 'load-more' }, more);
  let request = null;

  const list = {
    items: [],
    nextCursor: null,
    body,
    alert,
    status,
    more,
    footer,
    render,
    load,
  };

  function render({ appendedFrom = null } = {}) {
    replace(body, list.items.map(renderItem));
    if (list.items.length) status.replaceChildren();
    else replace(status, empty());
    more.hidden = !list.nextCursor;
    onRender?.({ appendedFrom });
  }

  async function load({ append = false } = {}) {
    let requestSignal = signal;
    if (latestOnly) {
      request?.abort();
      const controller = new AbortController();
      request = controller;
      signal.addEventListener('abort', () => controller.abort(), { once: true });
      requestSignal = controller.signal;
    }
    alert.replaceChildren();
    if (!append) {
      if (latestOnly) body.setAttribute('aria-busy', 'true');
      if (loadingText && !list.items.length) replace(status, loadingState(loadingText));
    }
    try {
      const page = await fetchPage({ cursor: append ? list.nextCursor : undefined, signal: requestSignal });
      list.items = append ? [...list.items, ...page.items] : page.items;
      list.nextCursor = page.next_cursor ?? null;
      onPage?.(page, { append });
      render({ appendedFrom: append ? list.items.length - page.items.length : null });
      onLoaded?.({ append });
    } catch (err) {
      if (isSilent(err)) return;
      status.replaceChildren();
      replace(alert, errorNode(err));
    } finally {
      if (latestOnly) body.removeAttribute('aria-busy');
    }
  }

  more.addEventListener('click', () => busy(more, () => load({ append: true })));
  return list;
}
