// Dashboard: the signed-in user's to-do list (add, inline edit, complete, delete with undo,
// filter, search, sort). Edits send If-Match; a 412 shows the newer version and asks.
// State, events and API calls live here; dashboard-render.js builds the elements.
import * as api from '../api.js';
import {
  actionToast, applyChecks, busy, clearErrors, confirmDialog, errorMessage, isSilent, showApiError, toast, validateTitle,
} from './ui.js';
import { pagedList, searchField } from './components.js';
import {
  addButtonNode, addFormNode, clearButtonNode, clearDialog, clearedMessage, conflictDialog, dashboardLayout, editItem, filterGroupNode, listEmpty, listErrorNode,
  priorityFilterNode, sortSelectNode, summaryNode, summaryText, todoItem, todoListNode, toolbarNode,
  FILTERS, PRIORITIES, SORTS,
} from './dashboard-render.js';

/** Someone changed the todo since it was shown: `newer` is its current version. */
class EditConflict extends Error {
  constructor(newer, etag) {
    super('changed elsewhere');
    this.newer = newer;
    this.etag = etag;
  }
}

const PAGE_SIZE = 20;

function readState(query) {
  const filter = FILTERS.some(([v]) => v === query.get('filter')) ? query.get('filter') : 'all';
  const sort = SORTS.some(([v]) => v === query.get('sort')) ? query.get('sort') : '-created_at';
  const priority = PRIORITIES.some(([v]) => v === query.get('priority')) ? query.get('priority') : '';
  return { filter, sort, priority, q: (query.get('q') ?? '').slice(0, 200) };
}

function matchesFilters(state, todo) {
  if (state.filter === 'active' && todo.completed) return false;
  if (state.filter === 'completed' && !todo.completed) return false;
  if (state.priority && todo.priority !== state.priority) return false;
  if (state.q) {
    const needle = state.q.toLowerCase();
    if (!todo.title.toLowerCase().includes(needle) && !(todo.description ?? '').toLowerCase().includes(needle)) return false;
  }
  return true;
}

// The changed fields of an edit form, as a PATCH body ({} when nothing changed).
function editPatch(todo, { title, description, priority, due_date: due }) {
  const patch = {};
  if (title.value.trim() !== todo.title) patch.title = title.value.trim();
  if (description.value !== (todo.description ?? '')) patch.description = description.value;
  if (priority.value !== todo.priority) patch.priority = priority.value;
  const dueValue = due.value || null;
  if (dueValue !== (todo.due_date ?? null)) patch.due_date = dueValue;
  return patch;
}

const byId = (id) => `li[data-id="${CSS.escape(String(id))}"]`;

// The list request for the current filters, and the same filters as they show in the address.
function listParams(state) {
  return {
    completed: state.filter === 'all' ? undefined : String(state.filter === 'completed'),
    q: state.q,
    priority: state.priority,
    sort: state.sort,
    limit: PAGE_SIZE,
  };
}

function addressQuery(state) {
  return {
    filter: state.filter === 'all' ? '' : state.filter,
    q: state.q,
    priority: state.priority,
    sort: state.sort === '-created_at' ? '' : state.sort,
  };
}

// The create body of the add form (its title already checked).
function newTodo({ title, priority, due_date: due, description }) {
  const body = { title: title.value.trim(), priority: priority.value };
  if (due.value) body.due_date = due.value;
  if (description.value.trim()) body.description = description.value;
  return body;
}

// The list on screen may be filtered or paged, so the server counts the completed todos.
async function countCompleted(signal, { all = false } = {}) {
  let count = 0;
  let cursor;
  do {
    const page = await api.listTodos({ completed: 'true', limit: 100, cursor }, { signal });
    count += page.items.length;
    cursor = page.next_cursor ?? undefined;
  } while (all && cursor);
  return count;
}

/* ----- Drafts: unsent input survives a "session ended" sign-in (app.js keeps it in memory) ----- */
function readDraft(addForm, editForm, editingId) {
  const { title, priority, due_date: due, description } = addForm.elements;
  const add = { title: title.value, priority: priority.value, due_date: due.value, description: description.value };
  const addTyped = add.title.trim() || add.description.trim() || add.due_date || add.priority !== 'normal';
  let edit = null;
  if (editForm && editingId !== null) {
    const f = editForm.elements;
    edit = { id: editingId, title: f.title.value, description: f.description.value, priority: f.priority.value, due_date: f.due_date.value };
  }
  return addTyped || edit ? { add: addTyped ? add : null, edit } : null;
}

function fillAddForm(addForm, add) {
  const { title, priority, due_date: due, description } = addForm.elements;
  title.value = add.title;
  if (PRIORITIES.some(([v]) => v === add.priority)) priority.value = add.priority;
  due.value = add.due_date;
  description.value = add.description;
  if (add.description) addForm.querySelector('details').open = true;
}

function fillEditForm(form, saved) {
  form.elements.title.value = saved.title;
  form.elements.description.value = saved.description;
  if (PRIORITIES.some(([v]) => v === saved.priority)) form.elements.priority.value = saved.priority;
  form.elements.due_date.value = saved.due_date;
}

export function dashboardView({ user, query, signal, updateQuery, draft }) {
  const state = { ...readState(query), editingId: null };

  /* ----- Elements ----- */
  const addButton = addButtonNode();
  const addForm = addFormNode(addButton);
  const filterGroup = filterGroupNode(state.filter);
  const search = searchField({
    label: 'Search', placeholder: 'Search title or description', value: state.q, maxlength: 200,
    onSearch: (q, { enter }) => {
      if (!enter && q === state.q) return;
      state.q = q;
      load();
    },
  });
  const priorityFilter = priorityFilterNode(state.priority);
  const sortSelect = sortSelectNode(state.sort);
  const summary = summaryNode();
  const clearButton = clearButtonNode();
  const todos = pagedList({
    body: todoListNode(),
    signal,
    latestOnly: true,
    loadingText: 'Loading your todos…',
    fetchPage: ({ cursor, signal: requestSignal }) => api.listTodos({ ...listParams(state), cursor }, { signal: requestSignal }),
    renderItem: (todo) => (todo.id === state.editingId ? editItem(todo) : todoItem(todo)),
    empty: () => listEmpty(state.filter !== 'all' || state.q || state.priority),
    errorNode: (err) => listErrorNode(`Could not load your todos. ${errorMessage(err)}`),
    onPage: () => { state.editingId = null; },
    onRender: ({ appendedFrom }) => {
      summary.textContent = summaryText(todos.items.length, state.filter, todos.nextCursor);
      if (appendedFrom !== null) list.children[appendedFrom]?.querySelector('.todo__toggle')?.focus();
    },
    onLoaded: ({ append }) => {
      if (!append) {
        restoreEditDraft();
        refreshClearButton();
      }
    },
  });
  const list = todos.body;

  /* ----- Add form ----- */
  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(addForm);
    const { title } = addForm.elements;
    if (!applyChecks(addForm, { title: validateTitle(title.value) })) return;
    const body = newTodo(addForm.elements);
    await busy(addButton, async () => {
      try {
        const todo = await api.createTodo(body);
        addForm.reset();
        addForm.querySelector('details').open = false;
        title.focus();
        toast(`Added \u201c${todo.title}\u201d`, 'success');
        if (state.sort === '-created_at' && matchesFilters(state, todo)) {
          todos.items.unshift(todo);
          todos.render();
        } else {
          load();
        }
      } catch (err) {
        showApiError(addForm, err);
      }
    });
  });

  /* ----- Toolbar: filter, search, priority, sort ----- */
  filterGroup.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('[data-filter]') : null;
    if (!button || button.dataset.filter === state.filter) return;
    state.filter = button.dataset.filter;
    for (const b of filterGroup.querySelectorAll('[data-filter]')) b.setAttribute('aria-pressed', String(b === button));
    load();
  });
  priorityFilter.querySelector('select').addEventListener('change', (event) => {
    state.priority = event.target.value;
    load();
  });
  sortSelect.querySelector('select').addEventListener('change', (event) => {
    state.sort = event.target.value;
    load();
  });

  /* ----- List ----- */
  clearButton.addEventListener('click', clearCompleted);

  // One set of listeners on the list handles every item (event delegation).
  list.addEventListener('change', onListChange);
  list.addEventListener('click', onListClick);
  list.addEventListener('dblclick', onListDblClick);
  list.addEventListener('submit', onEditSubmit);
  list.addEventListener('keydown', onListKeydown);

  function load() {
    updateQuery(addressQuery(state));
    return todos.load();
  }

  /* ----- Safe edits: the version tag of what the user saw ----- */
  // id -> { etag, updatedAt } of versions this view has seen with their tag.
  const versions = new Map();
  const remember = (todo, etag) => { if (etag) versions.set(todo.id, { etag, updatedAt: todo.updated_at }); };

  // The ETag of the version on screen. Lists carry no tags, so it is read once; if the
  // todo has moved on meanwhile, that is already a conflict.
  async function tagOf(todo) {
    const known = versions.get(todo.id);
    if (known && known.updatedAt === todo.updated_at) return known.etag;
    const { body, etag } = await api.getTodo(todo.id, { signal });
    remember(body, etag);
    if (body.updated_at !== todo.updated_at) throw new EditConflict(body, etag);
    return etag;
  }

  // PATCH only the version on screen; when it changed elsewhere, show the newer version
  // and let the user choose: apply this change on top of it, or keep it as it is.
  // Resolves to the todo as it ends up.
  async function safeUpdate(todo, patch) {
    let base = todo;
    for (;;) {
      try {
        const etag = await tagOf(base);
        const { body, etag: next } = await api.updateTodo(todo.id, patch, { ifMatch: etag });
        remember(body, next);
        return body;
      } catch (err) {
        let conflict = err instanceof EditConflict ? err : null;
        if (!conflict && err.code === 'precondition_failed') {
          const { body, etag } = await api.getTodo(todo.id, { signal });
          remember(body, etag);
          conflict = new EditConflict(body, etag);
        }
        if (!conflict) throw err;
        const apply = await confirmDialog(conflictDialog(conflict.newer, patch));
        if (!apply) return conflict.newer;
        base = conflict.newer;
      }
    }
  }

  function itemOf(target) {
    const li = target instanceof Element ? target.closest('li[data-id]') : null;
    if (!li) return {};
    const todo = todos.items.find((t) => String(t.id) === li.dataset.id);
    return { li, todo };
  }

  function replaceItem(todo) {
    const index = todos.items.findIndex((t) => t.id === todo.id);
    if (index === -1) return;
    todos.items[index] = todo;
    list.querySelector(byId(todo.id))?.replaceWith(todo.id === state.editingId ? editItem(todo) : todoItem(todo));
  }

  function startEdit(todo) {
    if (state.editingId !== null && state.editingId !== todo.id) {
      const previous = todos.items.find((t) => t.id === state.editingId);
      state.editingId = null;
      if (previous) replaceItem(previous);
    }
    state.editingId = todo.id;
    replaceItem(todo);
    const input = list.querySelector(`${byId(todo.id)} input[name="title"]`);
    input?.focus();
    input?.select();
  }

  function stopEdit(todo) {
    state.editingId = null;
    replaceItem(todo);
    list.querySelector(`${byId(todo.id)} [data-action="edit"]`)?.focus();
  }

  function removeItem(id) {
    const index = todos.items.findIndex((t) => t.id === id);
    if (index === -1) return;
    todos.items.splice(index, 1);
    todos.render();
    // Keep keyboard users in the list: focus the next item, or the add field when empty.
    const next = list.children[Math.min(index, list.children.length - 1)];
    (next?.querySelector('.todo__toggle') ?? addForm.elements.title).focus();
  }

  async function onListChange(event) {
    if (!event.target.classList?.contains('todo__toggle')) return;
    const { todo } = itemOf(event.target);
    if (!todo) return;
    const checkbox = event.target;
    checkbox.disabled = true;
    try {
      const updated = await safeUpdate(todo, { completed: checkbox.checked });
      if (matchesFilters(state, updated)) {
        replaceItem(updated);
        list.querySelector(`${byId(updated.id)} .todo__toggle`)?.focus();
      } else {
        removeItem(updated.id);
      }
      if (updated.completed === checkbox.checked) {
        toast(updated.completed ? `Completed \u201c${updated.title}\u201d` : `Marked \u201c${updated.title}\u201d as not completed`);
      }
      refreshClearButton();
    } catch (err) {
      checkbox.checked = !checkbox.checked;
      checkbox.disabled = false;
      if (!isSilent(err)) toast(errorMessage(err), 'error');
      if (err.code === 'not_found') removeItem(todo.id);
    }
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
          removeItem(todo.id);
          actionToast(`Moved \u201c${todo.title}\u201d to the trash`, { label: 'Undo', onAction: () => undo([todo.id]) });
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
    if (!applyChecks(form, { title: validateTitle(form.elements.title.value) })) return;
    const patch = editPatch(todo, form.elements);
    if (!Object.keys(patch).length) {
      stopEdit(todo);
      return;
    }
    const save = form.querySelector('button[type="submit"]');
    await busy(save, async () => {
      try {
        const updated = await safeUpdate(todo, patch);
        const saved = Object.entries(patch).every(([k, v]) => updated[k] === v);
        state.editingId = null;
        replaceItem(updated);
        list.querySelector(`${byId(updated.id)} [data-action="edit"]`)?.focus();
        toast(saved ? 'Changes saved' : 'Kept the newer version', saved ? 'success' : 'info');
      } catch (err) {
        showApiError(form, err);
      }
    });
  }

  /* ----- Undo: bring deleted todos back from the trash ----- */
  async function undo(ids) {
    try {
      await Promise.all(ids.map((id) => api.restoreTodo(id)));
      toast(ids.length === 1 ? 'Restored' : `Restored ${ids.length} todos`, 'success');
    } catch (err) {
      if (!isSilent(err)) toast(errorMessage(err), 'error');
    }
    await load();
  }

  /* ----- Drafts ----- */
  const saveDraft = () => readDraft(addForm, list.querySelector('li.is-editing form'), state.editingId);

  let editDraft = draft?.edit ?? null;
  function restoreEditDraft() {
    if (!editDraft) return;
    const saved = editDraft;
    editDraft = null;
    const todo = todos.items.find((t) => t.id === saved.id);
    if (!todo) return;
    startEdit(todo);
    const form = list.querySelector(`${byId(todo.id)} form`);
    if (form) fillEditForm(form, saved);
  }

  /* ----- Clear completed: enabled only while something is completed, and says how much ----- */
  async function refreshClearButton() {
    try {
      const count = await countCompleted(signal);
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
      count = await countCompleted(signal, { all: true });
    } catch (err) {
      if (!isSilent(err)) toast(errorMessage(err), 'error');
      return;
    }
    if (count === 0) {
      toast('There are no completed todos to clear');
      await refreshClearButton();
      return;
    }
    if (!(await confirmDialog(clearDialog(count)))) return;
    await busy(clearButton, async () => {
      try {
        const result = await api.clearCompleted();
        const ids = result?.ids ?? [];
        if (ids.length) actionToast(clearedMessage(ids.length), { label: 'Undo', onAction: () => undo(ids) });
        else toast(clearedMessage(0));
        await load();
      } catch (err) {
        if (!isSilent(err)) toast(errorMessage(err), 'error');
      }
    });
    // busy() re-enabled the button; the count decides.
    await refreshClearButton();
  }

  const toolbar = toolbarNode({ filterGroup, search: search.node, priorityFilter, sortSelect });
  const node = dashboardLayout({ user, addForm, toolbar, list: todos, summary, clearButton });

  if (draft?.add) fillAddForm(addForm, draft.add);
  if (draft) toast('Your session had ended; what you typed is back where you left it.', 'info');
  load();
  return { node, title: 'My todos', saveDraft };
}
