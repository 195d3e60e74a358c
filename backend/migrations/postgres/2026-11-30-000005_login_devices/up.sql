-- OWASP's device-cookie pattern: a browser or client that has signed in to
-- an account holds a device cookie; each such device has its own failure
-- budget and lock, so strangers' failures (counted on `users`) never lock
-- the owner out.
CREATE TABLE login_devices (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 (hex) of the cookie's random token; the token is never stored.
    token_hash TEXT NOT NULL UNIQUE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    lockouts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL
);

CREATE INDEX login_devices_user_id ON login_devices (user_id, id);

-- Wrong current passwords given inside a session (password change, account
-- deletion): five end that session.
ALTER TABLE sessions ADD COLUMN failed_password_checks INTEGER NOT NULL DEFAULT 0;

-- Anonymous login failures are coalesced per client and minute; this finds
-- the client's row of the current minute.
CREATE INDEX audit_events_ip_created ON audit_events (ip, created_at);
