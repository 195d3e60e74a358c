// Dashboard render functions: data in, elements out (no state, no API calls, no listeners).
import { h, icon } from '../dom.js';
import { field, formAlert, formatDay, pageHeading, parseDay, relativeTime, timeEl, todayIso, DESCRIPTION_MAX, TITLE_MAX } from './ui.js';
import { emptyState } from './components.js';

export const FILTERS = [['all', 'All'], ['active', 'Active'], ['completed', 'Completed']];
export const SORTS = [
  ['-created_at', 'Newest first'], ['created_at', 'Oldest first'],
  ['due_date', 'Due date (soonest)'], ['-due_date', 'Due date (latest)'],
  ['-priority', 'Priority (high first)'], ['priority', 'Priority (low first)'],
  ['title', 'Title (A–Z)'], ['-title', 'Title (Z–A)'],
];
export const PRIORITIES = [['low', 'Low'], ['normal', 'Normal'], ['high', 'High']];
const PRIORITY_LABEL = Object.fromEntries(PRIORITIES);

export function addFormNode(submit) {
  return h('form', { class: 'add-form', novalidate: true, 'aria-label': 'Add a todo' },
    formAlert(),
    h('div', { class: 'add-form__row' },
      field({ label: 'New todo', name: 'title', className: 'add-form__title', placeholder: 'What needs to be done?', required: true, maxlength: TITLE_MAX, autocomplete: 'off' }),
      field({ label: 'Priority', name: 'priority', control: 'select', options: PRIORITIES, value: 'normal', className: 'add-form__priority' }),
      field({ label: 'Due date', name: 'due_date', type: 'date', optional: true, className: 'add-form__due' }),
      submit),
    h('details', { class: 'add-form__more' },
      h('summary', {}, 'Add a description'),
      field({ label: 'Description', name: 'description', control: 'textarea', optional: true, maxlength: DESCRIPTION_MAX, rows: 3, placeholder: 'Notes, links, details…' })));
}

export function addButtonNode() {
  return h('button', { type: 'submit', class: 'btn btn--primary add-form__submit' }, icon('plus'), 'Add');
}

export function filterGroupNode(current) {
  return h('div', { class: 'segmented', role: 'group', 'aria-label': 'Show' },
    FILTERS.map(([value, label]) => h('button', { type: 'button', 'data-filter': value, 'aria-pressed': String(current === value) }, label)));
}

export function priorityFilterNode(value) {
  return field({ label: 'Filter by priority', name: 'priority_filter', control: 'select', inputClass: 'select--sm', options: [['', 'Any priority'], ...PRIORITIES], value, className: 'toolbar__field' });
}

export function sortSelectNode(value) {
  return field({ label: 'Sort by', name: 'sort', control: 'select', inputClass: 'select--sm', options: SORTS, value, className: 'toolbar__field' });
}

export function toolbarNode({ filterGroup, search, priorityFilter, sortSelect }) {
  return h('div', { class: 'toolbar' },
    filterGroup,
    h('div', { class: 'toolbar__controls' }, search, priorityFilter, sortSelect));
}

export function todoItem(todo) {
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

export function editItem(todo) {
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

export function listEmpty(filtered) {
  return emptyState('inbox', filtered ? 'No todos match' : 'Nothing to do yet',
    filtered ? 'Try another filter or search term.' : 'Add your first todo above. It will show up here.');
}

export function listErrorNode(text) {
  return h('div', { class: 'alert alert--error' }, icon('alert'), h('p', {}, text));
}

export function summaryText(count, filter, more) {
  const noun = count === 1 ? 'todo' : 'todos';
  const shown = filter === 'all' ? noun : `${filter} ${noun}`;
  return count === 0 ? '' : `Showing ${count} ${shown}${more ? ' (more available)' : ''}`;
}

export function clearDialog(count) {
  return {
    title: 'Clear completed todos?',
    message: `${count} completed ${count === 1 ? 'todo' : 'todos'} will move to the trash (you can undo this or restore them from the trash).`,
    confirmLabel: `Clear ${count} completed`,
    danger: true,
  };
}

const FIELD_LABELS = { title: 'Title', description: 'Description', priority: 'Priority', due_date: 'Due date', completed: 'Completed' };

function shown(key, value) {
  if (key === 'completed') return value ? 'Yes' : 'No';
  if (key === 'priority') return PRIORITY_LABEL[value] ?? value;
  if (key === 'due_date') return value ? formatDay(value) : 'None';
  return value === '' ? '(empty)' : String(value);
}

/** The 412 choice: the newer version beside the change the user made. */
export function conflictDialog(newer, patch) {
  const rows = Object.keys(patch).flatMap((key) => [
    h('dt', {}, FIELD_LABELS[key] ?? key),
    h('dd', {}, 'Now: ', h('span', { class: 'conflict__theirs' }, shown(key, newer[key])), ' · Yours: ', h('span', { class: 'conflict__mine' }, shown(key, patch[key]))),
  ]);
  return {
    title: 'This todo was changed elsewhere',
    message: `\u201c${newer.title}\u201d changed since you opened it (in another tab or device). Apply your change on top of the newer version, or keep the newer version?`,
    details: h('dl', { class: 'conflict' }, rows),
    confirmLabel: 'Apply my change',
    cancelLabel: 'Keep the newer version',
  };
}

export function clearedMessage(n) {
  return n === 0 ? 'There were no completed todos to clear' : `Cleared ${n} completed ${n === 1 ? 'todo' : 'todos'}`;
}

export function todoListNode() {
  return h('ul', { class: 'todo-list', 'aria-label': 'Todos', 'aria-describedby': 'todo-summary' });
}

export function summaryNode() {
  return h('p', { class: 'todo-summary', id: 'todo-summary', 'aria-live': 'polite' });
}

export function clearButtonNode() {
  return h('button', { type: 'button', class: 'btn btn--ghost btn--sm', disabled: true }, icon('trash'), 'Clear completed');
}

export function dashboardLayout({ user, addForm, toolbar, list, summary, clearButton }) {
  return h('div', { class: 'container dashboard' },
    h('header', { class: 'page-header' },
      h('div', {},
        pageHeading('My todos'),
        h('p', { class: 'page-header__welcome' }, 'Welcome, ', h('strong', { class: 'user-email' }, user.email), '.')),
      h('p', { class: 'page-header__hint page-header__hint--mouse muted small' }, 'Tip: double-click a title to edit it.')),
    h('section', { class: 'card add-card', 'aria-label': 'Add a todo' }, addForm),
    h('section', { class: 'card card--flush list-card', 'aria-label': 'Todo list' },
      toolbar,
      list.alert,
      list.body,
      list.status,
      h('footer', { class: 'list-footer' }, summary, h('div', { class: 'btn-row' }, clearButton,
        h('a', { href: '/trash', class: 'btn btn--ghost btn--sm', 'data-link': true }, icon('trash'), 'Trash'))),
      list.footer));
}
