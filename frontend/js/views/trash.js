// Trash: the signed-in user's deleted todos, most recently deleted first; restore one, or
// empty the trash for good. Todos here are purged automatically after the retention period.
import * as api from '../api.js';
import { h, icon } from '../dom.js';
import { busy, confirmDialog, errorMessage, isSilent, pageHeading, relativeTime, timeEl, toast } from './ui.js';
import { emptyState, pagedList } from './components.js';

const PAGE_SIZE = 20;

function trashItem(todo) {
  return h('li', { class: 'todo trash-item', dataset: { id: String(todo.id) } },
    h('div', { class: 'todo__body' },
      h('p', { class: 'todo__title' }, todo.title),
      h('div', { class: 'todo__meta' },
        h('span', { class: 'todo__time' }, 'Deleted ', timeEl(todo.deleted_at, relativeTime(todo.deleted_at))))),
    h('div', { class: 'todo__actions' },
      h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'restore', 'aria-label': `Restore \u201c${todo.title}\u201d` },
        icon('undo'), h('span', { class: 'todo__action-text' }, 'Restore'))));
}

export function trashView({ signal }) {
  const emptyButton = h('button', { type: 'button', class: 'btn btn--ghost btn--sm btn--danger-text', disabled: true }, icon('trash'), 'Empty trash');
  const trash = pagedList({
    body: h('ul', { class: 'todo-list', 'aria-label': 'Deleted todos' }),
    signal,
    latestOnly: true,
    loadingText: 'Loading the trash…',
    fetchPage: ({ cursor, signal: requestSignal }) => api.listTrash({ limit: PAGE_SIZE, cursor }, { signal: requestSignal }),
    renderItem: trashItem,
    empty: () => emptyState('trash', 'The trash is empty', 'Deleted todos stay here for a while, so you can restore them.'),
    errorNode: (err) => h('div', { class: 'alert alert--error' }, icon('alert'), h('p', {}, `Could not load the trash. ${errorMessage(err)}`)),
    onRender: () => { emptyButton.disabled = trash.items.length === 0; },
  });

  trash.body.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('[data-action="restore"]') : null;
    const li = button?.closest('li[data-id]');
    const todo = li && trash.items.find((t) => String(t.id) === li.dataset.id);
    if (!todo) return;
    await busy(button, async () => {
      try {
        await api.restoreTodo(todo.id);
        toast(`Restored \u201c${todo.title}\u201d`, 'success');
      } catch (err) {
        if (!isSilent(err)) toast(errorMessage(err), 'error');
      }
      trash.items = trash.items.filter((t) => t.id !== todo.id);
      trash.render();
    });
  });

  emptyButton.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Empty the trash?',
      message: 'Every todo in the trash is deleted for good. This cannot be undone.',
      confirmLabel: 'Empty trash',
      danger: true,
    });
    if (!ok) return;
    await busy(emptyButton, async () => {
      try {
        const result = await api.emptyTrash();
        const n = result?.deleted ?? 0;
        toast(`Deleted ${n} ${n === 1 ? 'todo' : 'todos'} for good`, 'success');
      } catch (err) {
        if (!isSilent(err)) toast(errorMessage(err), 'error');
      }
      await trash.load();
    });
    // busy() re-enabled the button; what is left decides.
    emptyButton.disabled = trash.items.length === 0;
  });

  const node = h('div', { class: 'container dashboard' },
    h('header', { class: 'page-header' },
      h('div', {},
        pageHeading('Trash'),
        h('p', { class: 'muted' }, 'Deleted todos, most recent first. Restore one to put it back in your list unchanged.')),
      h('a', { href: '/dashboard', class: 'btn btn--sm', 'data-link': true }, 'Back to my todos')),
    h('section', { class: 'card card--flush list-card', 'aria-label': 'Deleted todos' },
      trash.alert,
      trash.body,
      trash.status,
      h('footer', { class: 'list-footer' }, h('span'), h('div', { class: 'btn-row' }, emptyButton)),
      trash.footer));
  trash.load();
  return { node, title: 'Trash' };
}
