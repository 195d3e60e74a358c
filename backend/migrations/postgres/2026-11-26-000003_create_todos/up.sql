-- Todos (PostgreSQL), always read through their owner. `priority` is stored
-- as its rank (0 low, 1 normal, 2 high) so that sorting by priority is
-- sorting by rank.
--
-- Sort keys compare byte by byte (COLLATE "C"), as SQLite's BINARY
-- collation does, so both backends order and page identically whatever the
-- database's locale.

-- Todos without a due date come after the dated ones in both directions:
-- each direction has its own never-NULL key, '~' sorting after every date
-- and '' before every date (so last when read backwards). `to_char` is
-- only STABLE in general (locale-dependent patterns); with this purely
-- numeric pattern it depends on nothing, which makes the IMMUTABLE
-- declaration (required by a generated column) true.
CREATE FUNCTION todo_due_key(due DATE, missing TEXT) RETURNS TEXT
    LANGUAGE SQL IMMUTABLE PARALLEL SAFE
    RETURN coalesce(to_char(due, 'YYYY-MM-DD'), missing);

-- Case-insensitive literal substring search, as SQLite's registered
-- `contains_folded`: the haystack lower-cased with Unicode rules (ICU's root
-- locale when the server has ICU, else the database's own ctype), the
-- needle already lower-cased by the application. `strpos` has no
-- wildcards, so `%` and `_` are plain characters.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') THEN
        EXECUTE $f$
            CREATE FUNCTION contains_folded(haystack TEXT, needle TEXT) RETURNS BOOLEAN
                LANGUAGE SQL IMMUTABLE PARALLEL SAFE
                RETURN strpos(lower(haystack COLLATE "und-x-icu"), needle) > 0
        $f$;
    ELSE
        EXECUTE $f$
            CREATE FUNCTION contains_folded(haystack TEXT, needle TEXT) RETURNS BOOLEAN
                LANGUAGE SQL IMMUTABLE PARALLEL SAFE
                RETURN strpos(lower(haystack), needle) > 0
        $f$;
    END IF;
END
$do$;

CREATE TABLE todos (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    -- The title's sort key: the trimmed title lower-cased by the application.
    title_sort TEXT COLLATE "C" NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    completed BOOLEAN NOT NULL DEFAULT FALSE,
    priority INTEGER NOT NULL DEFAULT 1 CHECK (priority IN (0, 1, 2)),
    due_date DATE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    -- Bumped by every change; the ETag is "<id>-<version>".
    version BIGINT NOT NULL DEFAULT 1,
    due_sort_asc TEXT COLLATE "C" GENERATED ALWAYS AS (todo_due_key(due_date, '~')) STORED NOT NULL,
    due_sort_desc TEXT COLLATE "C" GENERATED ALWAYS AS (todo_due_key(due_date, '')) STORED NOT NULL
);

-- One index per sort order, each led by the owner and ending in the id
-- tie-breaker: a page of one user's list never touches other users' rows,
-- needs no sort, and a keyset page `(key, id) > ($1, $2)` seeks straight to
-- its position.
CREATE INDEX todos_user_created ON todos (user_id, created_at, id);
CREATE INDEX todos_user_due_asc ON todos (user_id, due_sort_asc, id);
CREATE INDEX todos_user_due_desc ON todos (user_id, due_sort_desc, id);
CREATE INDEX todos_user_priority ON todos (user_id, priority, id);
CREATE INDEX todos_user_title ON todos (user_id, title_sort, id);
-- The SPA's everyday list (open todos, newest first) and clear-completed.
CREATE INDEX todos_user_completed ON todos (user_id, completed, created_at, id);
