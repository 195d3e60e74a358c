-- Todos, always read through their owner. `priority` is stored as its rank
-- (0 low, 1 normal, 2 high) so that sorting by priority is sorting by rank.
CREATE TABLE todos (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    completed BOOLEAN NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 1 CHECK (priority IN (0, 1, 2)),
    due_date DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    version INTEGER NOT NULL DEFAULT 1
);

-- One index per sort key, each led by the owner, so that a page of one
-- user's list never scans other users' rows and keyset pages seek directly.
CREATE INDEX todos_user_created ON todos (user_id, created_at, id);
CREATE INDEX todos_user_due ON todos (user_id, due_date, id);
CREATE INDEX todos_user_priority ON todos (user_id, priority, id);
CREATE INDEX todos_user_title ON todos (user_id, title, id);
CREATE INDEX todos_user_completed ON todos (user_id, completed, created_at, id);
