-- Issue 16 (PostgreSQL): the trash, delta sync, idempotency keys and the todo
-- quota. As the SQLite migration, with `id` where SQLite has `id_key`.

-- The per-user change sequence: every write to a user's todos takes the
-- next value in the same transaction (a conditional `UPDATE users ...
-- RETURNING`, which also row-locks the user, so values are handed out and
-- committed in order). `todo_count` counts live plus trashed todos, for
-- `MAX_TODOS_PER_USER`; the same UPDATE checks and bumps it on create.
-- `sync_floor`: the newest change whose tombstones may have been pruned; a
-- sync token that has not seen every change up to it is answered 410
-- `sync_expired`.
ALTER TABLE users ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN todo_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN sync_floor BIGINT NOT NULL DEFAULT 0;
UPDATE users SET todo_count = (SELECT count(*) FROM todos WHERE todos.user_id = users.id);

-- NULL while the todo is live; when it moved to the trash otherwise.
ALTER TABLE todos ADD COLUMN deleted_at TIMESTAMP;
-- The owner's change sequence at this todo's last change (0: before sync).
ALTER TABLE todos ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;

-- The list indexes cover live todos only (every list, search and lookup
-- says `deleted_at IS NULL`), so the trash never slows the hot path.
DROP INDEX IF EXISTS todos_user_created;
DROP INDEX IF EXISTS todos_user_due_asc;
DROP INDEX IF EXISTS todos_user_due_desc;
DROP INDEX IF EXISTS todos_user_priority;
DROP INDEX IF EXISTS todos_user_title;
DROP INDEX IF EXISTS todos_user_completed;
CREATE INDEX todos_user_created ON todos (user_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX todos_user_due_asc ON todos (user_id, due_sort_asc, id) WHERE deleted_at IS NULL;
CREATE INDEX todos_user_due_desc ON todos (user_id, due_sort_desc, id) WHERE deleted_at IS NULL;
CREATE INDEX todos_user_priority ON todos (user_id, priority, id) WHERE deleted_at IS NULL;
CREATE INDEX todos_user_title ON todos (user_id, title_sort, id) WHERE deleted_at IS NULL;
CREATE INDEX todos_user_completed ON todos (user_id, completed, created_at, id) WHERE deleted_at IS NULL;
-- Delta sync walks live todos in change order.
CREATE INDEX todos_user_changes ON todos (user_id, change_seq, id) WHERE deleted_at IS NULL;
-- The trash view, most recently deleted first, and the retention pass.
CREATE INDEX todos_user_trash ON todos (user_id, deleted_at, id) WHERE deleted_at IS NOT NULL;
CREATE INDEX todos_trash_age ON todos (deleted_at) WHERE deleted_at IS NOT NULL;

-- One row per todo that left the list (trashed or purged), for delta sync.
-- A restore removes the row; a purge moves it to the purge's sequence.
-- Rows of purged todos are pruned after the retention period (raising
-- `users.sync_floor`).
CREATE TABLE todo_tombstones (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    todo_id BIGINT NOT NULL,
    change_seq BIGINT NOT NULL,
    -- NULL while the todo is in the trash.
    purged_at TIMESTAMP,
    PRIMARY KEY (user_id, todo_id)
);
CREATE INDEX todo_tombstones_user_changes ON todo_tombstones (user_id, change_seq, todo_id);
CREATE INDEX todo_tombstones_purged ON todo_tombstones (purged_at) WHERE purged_at IS NOT NULL;

-- Idempotency-Key records (draft-ietf-httpapi-idempotency-key-header), per
-- user. `status` is NULL while the first request is in flight; the final
-- response is written in the same transaction as the todo it reports.
CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    -- SHA-256 (base64url) of the method, path and body bytes.
    fingerprint TEXT NOT NULL,
    status INTEGER,
    response_body TEXT,
    response_etag TEXT,
    response_location TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
