-- TOTP multi-factor authentication (RFC 6238).
--
-- `mfa_secret` is the TOTP secret sealed with XChaCha20-Poly1305 under a key
-- derived from MFA_ENCRYPTION_KEY (base64 of nonce and ciphertext); it is
-- set while an enrolment is pending and `mfa_enabled` turns true only when
-- a code confirms it. `mfa_last_step` is the last TOTP time step accepted
-- for the user: a conditional UPDATE moves it forward, so one code can
-- never be accepted twice, even by two racing requests.
ALTER TABLE users ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN mfa_secret TEXT;
ALTER TABLE users ADD COLUMN mfa_last_step BIGINT;

-- Recovery codes, only as keyed hashes (HMAC-SHA-256 under a key derived
-- from MFA_ENCRYPTION_KEY): a copy of the database alone reveals none.
CREATE TABLE mfa_recovery_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, code_hash)
);

-- The second step of a login: the password was right, a code is due. The
-- client holds a random token; only its SHA-256 is kept. The device hash
-- is the device cookie the login presented (the step spends that budget);
-- the password fingerprint ends the step if the password changes meanwhile.
CREATE TABLE mfa_challenges (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    device_hash TEXT,
    password_fingerprint TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    ip TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id, expires_at);
