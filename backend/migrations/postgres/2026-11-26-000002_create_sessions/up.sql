-- One row per login. The access token names the session (`sid`), so every
-- authenticated request can check it is still live.
CREATE TABLE sessions (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 (hex) of the current refresh token; the token itself is never stored.
    refresh_token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    user_agent TEXT,
    ip TEXT,
    revoked_at TIMESTAMP
);

CREATE INDEX sessions_user_id ON sessions (user_id, id);

-- Refresh tokens that were rotated away. Presenting one again is reuse:
-- the whole session is revoked.
CREATE TABLE retired_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    retired_at TIMESTAMP NOT NULL
);

CREATE INDEX retired_refresh_tokens_session_id ON retired_refresh_tokens (session_id);
