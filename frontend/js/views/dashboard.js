// Dashboard: the signed-in user's to-do list (add, inline edit, complete, delete, filter, search, sort).
import { h, icon, replace } from '../dom.js';
import * as api from '../api.js';
import {
  applyChecks, busy, clearErrors, confirmDialog, debounce, errorMessage, field, formAlert, formatDay,
  isSilent, pageHeading, parseDay, relativeTime, showApiError, timeEl, toast, todayIso, validateTitle,
  DESCRIPTION_MAX, TITLE_MAX,
} from './ui.js';

const PAGE_SIZE = 20;
const FILTERS = [['all', 'All'], ['active', 'Active'], ['completed', 'Completed']];
const SORTS = [
  ['-created_at', 'Newest first'], ['created_at', 'Oldest first'],
  ['due_date', 'Due date (soonest)'], ['-due_date', 'Due date (latest)'],
  ['-priority', 'Priority (high first)'], ['priority', 'Priority (low first)'],
  ['title', 'Title (A–Z)'], ['-title', 'Title (Z–A)'],
];
const PRIORITIES = [['low', 'Low'], ['normal', 'Normal'], ['high', 'High']];
const PRIORITY_LABEL = Object.fromEntries(PRIORITIES);

function readState(query) {
  const filter = FILTERS.some(([v]) => v === query.get('filter')) ? query.get('filter') : 'all';
  const sort = SORTS.some(([v]) => v === query.get('sort')) ? query.get('sort') : '-created_at';
  const priority = PRIORITIES.some(([v]) => v === query.get('priority')) ? query.get('priority') : '';
  return { filter, sort, priority, q: (query.get('q') ?? '').slice(0, 200) };
}

export function dashboardView({ user, query, signal, updateQuery, draft }) {
  const state = { ...readState(query), items: [], nextCursor: null, editingId: null };
  let listRequest = null;

  /* ----- Add form ----- */
  const addButton = h('button', { type: 'submit', class: 'btn btn--primary add-form__submit' }, icon('plus'), 'Add');
  const addForm = h('form', { class: 'add-form', novalidate: true, 'aria-label': 'Add a todo' },
    formAlert(),
    h('div', { class: 'add-form__row' },
      field({ label: 'New todo', name: 'title', className: 'add-form__title', placeholder: 'What needs to be done?', required: true, maxlength: TITLE_MAX, autocomplete: 'off' }),
      field({ label: 'Priority', name: 'priority', control: 'select', options: PRIORITIES, value: 'normal', className: 'add-form__priority' }),
      field({ label: 'Due date', name: 'due_date', type: 'date', optional: true, className: 'add-form__due' }),
      addButton),
    h('details', { class: 'add-form__more' },
      h('summary', {}, 'Add a description'),
      field({ label: 'Description', name: 'description', control: 'textarea', optional: true, maxlength: DESCRIPTION_MAX, rows: 3, placeholder: 'Notes, links, details…' })));

  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(addForm);
    const { title, priority, due_date: due, description } = addForm.elements;
    if (!applyChecks(addForm, { title: validateTitle(title.value) })) return;
    const body = { title: title.value.trim(), priority: priority.value };
    if (due.value) body.due_date = due.value;
    if (description.value.trim()) body.description = description.value;
    await busy(addButton, async () => {
      try {
        const todo = await api.createTodo(body);
        addForm.reset();
        addForm.querySelector('details').open = false;
        title.focus();
        toast(`Added \u201c${todo.title}\u201d`, 'success');
        if (state.sort === '-created_at' && matchesFilters(todo)) {
          state.items.unshift(todo);
          renderList();
        } else {
          load();
        }
      } catch (err) {
        showApiError(addForm, err);
      }
    });
  });

  /* ----- Toolbar: filter, search, priority, sort ----- */
  const filterGroup = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Show' },
    FILTERS.map(([value, label]) => h('button', { type: 'button', 'data-filter': value, 'aria-pressed': String(state.filter === value) }, label)));
  filterGroup.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('[data-filter]') : null;
    if (!button || button.dataset.filter === state.filter) return;
    state.filter = button.dataset.filter;
    for (const b of filterGroup.querySelectorAll('[data-filter]')) b.setAttribute('aria-pressed', String(b === button));
    load();
  });

  const search = field({ label: 'Search', name: 'q', type: 'search', hideLabel: true, placeholder: 'Search title or description', value: state.q, maxlength: 200, className: 'toolbar__search', autocomplete: 'off' });
  const searchInput = search.querySelector('input');
  search.querySelector('.input').before(h('span', { class: 'search-icon' }, icon('search')));
  const runSearch = debounce(() => {
    const q = searchInput.value.trim();
    if (q === state.q) return;
    state.q = q;
    load();
  }, 300);
  searchInput.addEventListener('input', runSearch);
  searchInput.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      runSearch.cancel();
      state.q = searchInput.value.trim();
      load();
    }
  });

  const priorityFilter = field({ label: 'Filter by priority', name: 'priority_filter', control: 'select', inputClass: 'select--sm', options: [['', 'Any priority'], ...PRIORITIES], value: state.priority, className: 'toolbar__field' });
  priorityFilter.querySelector('select').addEventListener('change', (event) => {
    state.priority = event.target.value;
    load();
  });

  const sortSelect = field({ label: 'Sort by', name: 'sort', control: 'select', inputClass: 'select--sm', options: SORTS, value: state.sort, className: 'toolbar__field' });
  sortSelect.querySelector('select').addEventListener('change', (event) => {
    state.sort = event.target.value;
    load();
  });

  const toolbar = h('div', { class: 'toolbar' },
    filterGroup,
    h('div', { class: 'toolbar__controls' }, search, priorityFilter, sortSelect));

  /* ----- List ----- */
  const list = h('ul', { class: 'todo-list', 'aria-label': 'Todos', 'aria-describedby': 'todo-summary' });
  const listStatus = h('div', { class: 'list-status' });
  const summary = h('p', { class: 'todo-summary', id: 'todo-summary', 'aria-live': 'polite' });
  const loadMore = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  const clearButton = h('button', { type: 'button', class: 'btn btn--ghost btn--sm', disabled: true }, icon('trash'), 'Clear completed');
  const listAlert = h('div', { class: 'form-alert', role: 'alert' });

  loadMore.addEventListener('click', () => busy(loadMore, () => load({ append: true })));
  clearButton.addEventListener('click', clearCompleted);

  // One set of listeners on the list handles every item (event delegation).
  list.addEventListener('change', onListChange);
  list.addEventListener('click', onListClick);
  list.addEventListener('dblclick', onListDblClick);
  list.addEventListener('submit', onEditSubmit);
  list.addEventListener('keydown', onListKeydown);

  function matchesFilters(todo) {
    if (state.filter === 'active' && todo.completed) return false;
    if (state.filter === 'completed' && !todo.completed) return false;
    if (state.priority && todo.priority !== state.priority) return false;
    if (state.q) {
      const needle = state.q.toLowerCase();
      if (!todo.title.toLowerCase().includes(needle) && !(todo.description ?? '').toLowerCase().includes(needle)) return false;
    }
    return true;
  }

  function params() {
    return {
      completed: state.filter === 'all' ? undefined : String(state.filter === 'completed'),
      q: state.q,
      priority: state.priority,
      sort: state.sort,
      limit: PAGE_SIZE,
    };
  }

  async function load({ append = false } = {}) {
    updateQuery({
      filter: state.filter === 'all' ? '' : state.filter,
      q: state.q,
      priority: state.priority,
      sort: state.sort === '-created_at' ? '' : state.sort,
    });
    listRequest?.abort();
    const controller = new AbortController();
    listRequest = controller;
    signal.addEventListener('abort', () => controller.abort(), { once: true });
    listAlert.replaceChildren();
    if (!append) {
      list.setAttribute('aria-busy', 'true');
      if (!state.items.length) replace(listStatus, h('div', { class: 'empty' }, h('span', { class: 'spinner' }), h('p', {}, 'Loading your todos…')));
    }
    try {
      const page = await api.listTodos({ ...params(), cursor: append ? state.nextCursor : undefined }, { signal: controller.signal });
      state.items = append ? [...state.items, ...page.items] : page.items;
      state.nextCursor = page.next_cursor ?? null;
      state.editingId = null;
      renderList({ focusIndex: append ? state.items.length - page.items.length : null });
      if (!append) {
        restoreEditDraft();
        refreshClearButton();
      }
    } catch (err) {
      if (isSilent(err)) return;
      replace(listAlert, h('div', { class: 'alert alert--error' }, icon('alert'), h('p', {}, `Could not load your todos. ${errorMessage(err)}`)));
      listStatus.replaceChildren();
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function renderList({ focusIndex = null } = {}) {
    replace(list, state.items.map((todo) => (todo.id === state.editingId ? editItem(todo) : todoItem(todo))));
    if (!state.items.length) {
      const filtered = state.filter !== 'all' || state.q || state.priority;
      replace(listStatus, h('div', { class: 'empty' },
        icon('inbox', 'empty__icon'),
        h('p', { class: 'empty__title' }, filtered ? 'No todos match' : 'Nothing to do yet'),
        h('p', {}, filtered ? 'Try another filter or search term.' : 'Add your first todo above. It will show up here.')));
    } else {
      listStatus.replaceChildren();
    }
    const count = state.items.length;
    const noun = count === 1 ? 'todo' : 'todos';
    const shown = state.filter === 'all' ? noun : `${state.filter} ${noun}`;
    summary.textContent = count === 0 ? '' : `Showing ${count} ${shown}${state.nextCursor ? ' (more available)' : ''}`;
    loadMore.hidden = !state.nextCursor;
    if (focusIndex !== null) list.children[focusIndex]?.querySelector('.todo__toggle')?.focus();
  }

  function todoItem(todo) {
    const due = parseDay(todo.due_date);
    const overdue = due && !todo.completed && todo.due_date < todayIso();
    const checkboxId = `todo-${todo.id}-done`;
    return h('li', { class: ['todo', todo.completed && 'is-completed', `todo--${todo.priority}`], dataset: { id: String(todo.id) } },
      h('div', { class: 'todo__check' },
        h('input', {
          type: 'checkbox', id: checkboxId, class: 'todo__toggle', checked: todo.completed,
          'aria-label': `Mark \u201c${todo.title}\u201d as ${todo.completed ? 'not completed' : 'completed'}`,
        })),
      h('div', { class: 'todo__body' },
        h('p', { class: 'todo__title' }, todo.title),
        todo.description ? h('p', { class: 'todo__desc' }, todo.description) : null,
        h('div', { class: 'todo__meta' },
          h('span', { class: `badge badge--${todo.priority}` }, icon('flag'), `${PRIORITY_LABEL[todo.priority] ?? todo.priority} priority`),
          due ? h('span', { class: ['badge', overdue ? 'badge--overdue' : 'badge--muted'] }, icon('calendar'),
            `${overdue ? 'Overdue · ' : 'Due '}${formatDay(todo.due_date)}`) : null,
          h('span', { class: 'todo__time' },
            todo.completed && todo.completed_at ? ['Completed ', timeEl(todo.completed_at, relativeTime(todo.completed_at))]
              : ['Added ', timeEl(todo.created_at, relativeTime(todo.created_at))]))),
      h('div', { class: 'todo__actions' },
        h('button', { type: 'button', class: 'btn btn--ghost btn--sm', 'data-action': 'edit', 'aria-label': `Edit \u201c${todo.title}\u201d` }, icon('edit'), h('span', { class: 'todo__action-text' }, 'Edit')),
        h('button', { type: 'button', class: 'btn btn--ghost btn--sm btn--danger-text', 'data-action': 'delete', 'aria-label': `Delete \u201c${todo.title}\u201d` }, icon('trash'), h('span', { class: 'todo__action-text' }, 'Delete'))));
  }

  function editItem(todo) {
    const form = h('form', { class: 'todo-edit form', novalidate: true, 'aria-label': `Edit \u201c${todo.title}\u201d` },
      formAlert(),
      field({ label: 'Title', name: 'title', value: todo.title, required: true, maxlength: TITLE_MAX, autocomplete: 'off' }),
      field({ label: 'Description', name: 'description', control: 'textarea', optional: true, value: todo.description ?? '', maxlength: DESCRIPTION_MAX, rows: 3 }),
      h('div', { class: 'todo-edit__row' },
        field({ label: 'Priority', name: 'priority', control: 'select', options: PRIORITIES, value: todo.priority }),
        field({ label: 'Due date', name: 'due_date', type: 'date', optional: true, value: todo.due_date ?? '' })),
      h('div', { class: 'btn-row' },
        h('button', { type: 'submit', class: 'btn btn--primary btn--sm' }, 'Save'),
        h('button', { type: 'button', class: 'btn btn--sm', 'data-action': 'cancel-edit' }, 'Cancel'),
        h('span', { class: 'todo-edit__hint muted small' }, 'Press ', h('kbd', {}, 'Esc'), ' to cancel')));
    return h('li', { class: 'todo is-editing', dataset: { id: String(todo.id) } }, form);
  }

  function itemOf(target) {
    const li = target instanceof Element ? target.closest('li[data-id]') : null;
    if (!li) return {};
    const todo = state.items.find((t) => String(t.id) === li.dataset.id);
    return { li, todo };
  }

  function replaceItem(todo) {
    const index = state.items.findIndex((t) => t.id === todo.id);
    if (index === -1) return;
    state.items[index] = todo;
    const li = list.querySelector(`li[data-id="${CSS.escape(String(todo.id))}"]`);
    li?.replaceWith(todo.id === state.editingId ? editItem(todo) : todoItem(todo));
  }

  function startEdit(todo) {
    if (state.editingId !== null && state.editingId !== todo.id) {
      const previous = state.items.find((t) => t.id === state.editingId);
      state.editingId = null;
      if (previous) replaceItem(previous);
    }
    state.editingId = todo.id;
    replaceItem(todo);
    const input = list.querySelector(`li[data-id="${CSS.escape(String(todo.id))}"] input[name="title"]`);
    input?.focus();
    input?.select();
  }

  function stopEdit(todo) {
    state.editingId = null;
    replaceItem(todo);
    list.querySelector(`li[data-id="${CSS.escape(String(todo.id))}"] [data-action="edit"]`)?.focus();
  }

  async function onListChange(event) {
    if (!event.target.classList?.contains('todo__toggle')) return;
    const { todo } = itemOf(event.target);
    if (!todo) return;
    const checkbox = event.target;
    checkbox.disabled = true;
    try {
      const updated = await api.updateTodo(todo.id, { completed: checkbox.checked });
      if (matchesFilters(updated)) {
        replaceItem(updated);
        list.querySelector(`li[data-id="${CSS.escape(String(updated.id))}"] .todo__toggle`)?.focus();
      } else {
        removeItem(updated.id);
      }
      toast(updated.completed ? `Completed \u201c${updated.title}\u201d` : `Marked \u201c${updated.title}\u201d as not completed`);
      refreshClearButton();
    } catch (err) {
      checkbox.checked = !checkbox.checked;
      checkbox.disabled = false;
      if (!isSilent(err)) toast(errorMessage(err), 'error');
      if (err.code === 'not_found') removeItem(todo.id);
    }
  }

  function removeItem(id) {
    const index = state.items.findIndex((t) => t.id === id);
    if (index === -1) return;
    state.items.splice(index, 1);
    renderList();
    // Keep keyboard users in the list: focus the next item, or the add field when empty.
    const next = list.children[Math.min(index, list.children.length - 1)];
    (next?.querySelector('.todo__toggle') ?? addForm.elements.title).focus();
  }

  async function onListClick(event) {
    const button = event.target instanceof Element ? event.target.closest('[data-action]') : null;
    if (!button) return;
    const { todo } = itemOf(button);
    if (!todo) return;
    const action = button.dataset.action;
    if (action === 'edit') startEdit(todo);
    else if (action === 'cancel-edit') stopEdit(todo);
    else if (action === 'delete') {
      await busy(button, async () => {
        try {
          await api.deleteTodo(todo.id);
          toast(`Deleted \u201c${todo.title}\u201d`);
          removeItem(todo.id);
          if (todo.completed) refreshClearButton();
        } catch (err) {
          if (err.code === 'not_found') removeItem(todo.id);
          if (!isSilent(err)) toast(errorMessage(err), 'error');
        }
      });
    }
  }

  function onListDblClick(event) {
    if (!(event.target instanceof Element) || !event.target.closest('.todo__title')) return;
    const { todo } = itemOf(event.target);
    if (todo) startEdit(todo);
  }

  function onListKeydown(event) {
    if (event.key !== 'Escape') return;
    const { todo } = itemOf(event.target);
    if (todo && todo.id === state.editingId) {
      event.preventDefault();
      stopEdit(todo);
    }
  }

  async function onEditSubmit(event) {
    event.preventDefault();
    const form = event.target;
    const { todo } = itemOf(form);
    if (!todo) return;
    clearErrors(form);
    const { title, description, priority, due_date: due } = form.elements;
    if (!applyChecks(form, { title: validateTitle(title.value) })) return;
    const patch = {};
    if (title.value.trim() !== todo.title) patch.title = title.value.trim();
    if (description.value !== (todo.description ?? '')) patch.description = description.value;
    if (priority.value !== todo.priority) patch.priority = priority.value;
    const dueValue = due.value || null;
    if (dueValue !== (todo.due_date ?? null)) patch.due_date = dueValue;
    if (!Object.keys(patch).length) {
      stopEdit(todo);
      return;
    }
    const save = form.querySelector('button[type="submit"]');
    await busy(save, async () => {
      try {
        const updated = await api.updateTodo(todo.id, patch);
        state.editingId = null;
        replaceItem(updated);
        list.querySelector(`li[data-id="${CSS.escape(String(updated.id))}"] [data-action="edit"]`)?.focus();
        toast('Changes saved', 'success');
      } catch (err) {
        showApiError(form, err);
      }
    });
  }

  /* ----- Drafts: unsent input survives a "session ended" sign-in (app.js keeps it in memory) ----- */
  function saveDraft() {
    const { title, priority, due_date: due, description } = addForm.elements;
    const add = { title: title.value, priority: priority.value, due_date: due.value, description: description.value };
    const addTyped = add.title.trim() || add.description.trim() || add.due_date || add.priority !== 'normal';
    const editForm = list.querySelector('li.is-editing form');
    let edit = null;
    if (editForm && state.editingId !== null) {
      const f = editForm.elements;
      edit = { id: state.editingId, title: f.title.value, description: f.description.value, priority: f.priority.value, due_date: f.due_date.value };
    }
    return addTyped || edit ? { add: addTyped ? add : null, edit } : null;
  }

  function restoreAddDraft() {
    const add = draft?.add;
    if (!add) return;
    const { title, priority, due_date: due, description } = addForm.elements;
    title.value = add.title;
    if (PRIORITIES.some(([v]) => v === add.priority)) priority.value = add.priority;
    due.value = add.due_date;
    description.value = add.description;
    if (add.description) addForm.querySelector('details').open = true;
  }

  let editDraft = draft?.edit ?? null;
  function restoreEditDraft() {
    if (!editDraft) return;
    const saved = editDraft;
    editDraft = null;
    const todo = state.items.find((t) => t.id === saved.id);
    if (!todo) return;
    startEdit(todo);
    const form = list.querySelector(`li[data-id="${CSS.escape(String(todo.id))}"] form`);
    if (!form) return;
    form.elements.title.value = saved.title;
    form.elements.description.value = saved.description;
    if (PRIORITIES.some(([v]) => v === saved.priority)) form.elements.priority.value = saved.priority;
    form.elements.due_date.value = saved.due_date;
  }

  /* ----- Clear completed: enabled only while something is completed, and says how much ----- */
  // The list on screen may be filtered or paged, so the server counts the completed todos.
  async function countCompleted({ all = false } = {}) {
    let count = 0;
    let cursor;
    do {
      const page = await api.listTodos({ completed: 'true', limit: 100, cursor }, { signal });
      count += page.items.length;
      cursor = page.next_cursor ?? undefined;
    } while (all && cursor);
    return count;
  }

  async function refreshClearButton() {
    try {
      const count = await countCompleted();
      clearButton.disabled = count === 0;
      clearButton.title = count === 0 ? 'No completed todos to clear' : '';
    } catch (err) {
      // Unknown: leave it usable; the dialog counts again.
      if (!isSilent(err)) clearButton.disabled = false;
    }
  }

  async function clearCompleted() {
    let count;
    try {
      count = await countCompleted({ all: true });
    } catch (err) {
      if (!isSilent(err)) toast(errorMessage(err), 'error');
      return;
    }
    if (count === 0) {
      toast('There are no completed todos to clear');
      await refreshClearButton();
      return;
    }
    const noun = count === 1 ? 'todo' : 'todos';
    const confirmed = await confirmDialog({
      title: 'Clear completed todos?',
      message: `${count} completed ${noun} will be deleted permanently.`,
      confirmLabel: `Clear ${count} completed`,
      danger: true,
    });
    if (!confirmed) return;
    await busy(clearButton, async () => {
      try {
        const result = await api.clearCompleted();
        const n = result?.deleted ?? 0;
        toast(n === 0 ? 'There were no completed todos to clear' : `Cleared ${n} completed ${n === 1 ? 'todo' : 'todos'}`, 'success');
        await load();
      } catch (err) {
        if (!isSilent(err)) toast(errorMessage(err), 'error');
      }
    });
    // busy() re-enabled the button; the count decides.
    await refreshClearButton();
  }

  const node = h('div', { class: 'container dashboard' },
    h('header', { class: 'page-header' },
      h('div', {},
        pageHeading('My todos'),
        h('p', { class: 'page-header__welcome' }, 'Welcome, ', h('strong', { class: 'user-email' }, user.email), '.')),
      h('p', { class: 'page-header__hint page-header__hint--mouse muted small' }, 'Tip: double-click a title to edit it.')),
    h('section', { class: 'card add-card', 'aria-label': 'Add a todo' }, addForm),
    h('section', { class: 'card card--flush list-card', 'aria-label': 'Todo list' },
      toolbar,
      listAlert,
      list,
      listStatus,
      h('footer', { class: 'list-footer' }, summary, h('div', { class: 'btn-row' }, clearButton)),
      h('div', { class: 'load-more' }, loadMore)));

  restoreAddDraft();
  if (draft) toast('Your session had ended; what you typed is back where you left it.', 'info');
  load();
  return { node, title: 'My todos', saveDraft };
}
