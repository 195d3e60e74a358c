-- Security events. No foreign keys: events outlive the accounts they name.
-- Never holds a password, hash or token.
CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    type TEXT NOT NULL,
    actor_user_id BIGINT,
    target_user_id BIGINT,
    ip TEXT,
    created_at TIMESTAMP NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_type_id ON audit_events (type, id);
