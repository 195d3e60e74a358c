-- Todos, always read through their owner. `priority` is stored as its rank
-- (0 low, 1 normal, 2 high) so that sorting by priority is sorting by rank.
CREATE TABLE todos (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    -- The title's sort key: the trimmed title lower-cased by the application
    -- (Unicode-aware; SQLite's own lower() and NOCASE know only ASCII).
    -- Written together with `title`, never on its own.
    title_sort TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    completed BOOLEAN NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 1 CHECK (priority IN (0, 1, 2)),
    -- 'YYYY-MM-DD' text, as Diesel stores a date.
    due_date DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    -- Bumped by every change; the ETag is "<id>-<version>".
    version BIGINT NOT NULL DEFAULT 1,
    -- Todos without a due date come after the dated ones in both directions.
    -- A NULL cannot take part in a keyset comparison, and one key cannot
    -- put NULLs last both ascending and descending, so each direction has
    -- its own never-NULL key: '~' sorts after every date, '' before every
    -- date (so last when read backwards).
    due_sort_asc TEXT GENERATED ALWAYS AS (coalesce(due_date, '~')) VIRTUAL NOT NULL,
    due_sort_desc TEXT GENERATED ALWAYS AS (coalesce(due_date, '')) VIRTUAL NOT NULL,
    -- The id again, as an ordinary column: SQLite cannot seek on the rowid
    -- (`id`) inside a row value, so `(priority, id) > (?, ?)` would seek to
    -- the priority and then read every tied row; `(priority, id_key)` seeks
    -- to the exact position.
    id_key INTEGER GENERATED ALWAYS AS (id) VIRTUAL NOT NULL
);

-- One index per sort order, each led by the owner and ending in the id
-- tie-breaker, so that a page of one user's list never touches other users'
-- rows, needs no sort, and a keyset page seeks straight to its position,
-- however many todos share its sort value: `(key, id_key) > (?, ?)` reading
-- forwards, `< (?, ?)` reading backwards.
CREATE INDEX todos_user_created ON todos (user_id, created_at, id_key);
CREATE INDEX todos_user_due_asc ON todos (user_id, due_sort_asc, id_key);
CREATE INDEX todos_user_due_desc ON todos (user_id, due_sort_desc, id_key);
CREATE INDEX todos_user_priority ON todos (user_id, priority, id_key);
CREATE INDEX todos_user_title ON todos (user_id, title_sort, id_key);
-- The SPA's everyday list (open todos, newest first) and clear-completed.
CREATE INDEX todos_user_completed ON todos (user_id, completed, created_at, id_key);
