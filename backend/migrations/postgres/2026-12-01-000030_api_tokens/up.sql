-- Personal API tokens for scripts and external clients. The secret
-- (`stp_` + 256 random bits) is shown once; only its SHA-256 is kept, and
-- a request finds its token by that hash through the unique index.
CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- SHA-256 (hex) of the secret; the secret itself is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    -- Space-separated, in canonical order: `todos:read`, `todos:write`.
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- Written at most once a minute per token.
    last_used_at TIMESTAMP
);

-- The owner's list (newest first) and the live-token count.
CREATE INDEX api_tokens_user_id ON api_tokens (user_id, id);

-- The data export reads the audit events about one user, oldest first.
CREATE INDEX audit_events_target_id ON audit_events (target_user_id, id);
