//! Diesel table definitions, mirroring `migrations/`.
//!
//! Written in the shape `diesel print-schema` produces, with one deliberate
//! difference: SQLite's `INTEGER PRIMARY KEY` is 64-bit, so ids and foreign
//! keys are declared `BigInt` (print-schema would say `Integer`).

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        #[sql_name = "type"]
        event_type -> Text,
        actor_user_id -> Nullable<BigInt>,
        target_user_id -> Nullable<BigInt>,
        ip -> Nullable<Text>,
        created_at -> Timestamp,
        detail -> Text,
    }
}

diesel::table! {
    login_devices (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        failed_logins -> Integer,
        lockouts -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
    }
}

diesel::table! {
    mfa_challenges (id) {
        id -> BigInt,
        user_id -> BigInt,
        token_hash -> Text,
        device_hash -> Nullable<Text>,
        password_fingerprint -> Text,
        attempts -> Integer,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    mfa_recovery_codes (id) {
        id -> BigInt,
        user_id -> BigInt,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    retired_refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> BigInt,
        retired_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        refresh_token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        failed_password_checks -> Integer,
    }
}

diesel::table! {
    todos (id) {
        id -> BigInt,
        user_id -> BigInt,
        title -> Text,
        title_sort -> Text,
        description -> Text,
        completed -> Bool,
        priority -> Integer,
        due_date -> Nullable<Date>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        version -> BigInt,
        due_sort_asc -> Text,
        due_sort_desc -> Text,
        id_key -> BigInt,
        deleted_at -> Nullable<Timestamp>,
        change_seq -> BigInt,
    }
}

diesel::table! {
    todo_tombstones (user_id, todo_id) {
        user_id -> BigInt,
        todo_id -> BigInt,
        change_seq -> BigInt,
        purged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    idempotency_keys (user_id, idempotency_key) {
        user_id -> BigInt,
        idempotency_key -> Text,
        fingerprint -> Text,
        status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        response_etag -> Nullable<Text>,
        response_location -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        failed_logins -> Integer,
        lockouts -> Integer,
        locked_until -> Nullable<Timestamp>,
        last_login_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        mfa_enabled -> Bool,
        mfa_secret -> Nullable<Text>,
        mfa_last_step -> Nullable<BigInt>,
        change_seq -> BigInt,
        todo_count -> BigInt,
        sync_floor -> BigInt,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(login_devices -> users (user_id));
diesel::joinable!(mfa_challenges -> users (user_id));
diesel::joinable!(mfa_recovery_codes -> users (user_id));
diesel::joinable!(retired_refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(todos -> users (user_id));
diesel::joinable!(todo_tombstones -> users (user_id));
diesel::joinable!(idempotency_keys -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_tokens,
    audit_events,
    idempotency_keys,
    login_devices,
    mfa_challenges,
    mfa_recovery_codes,
    retired_refresh_tokens,
    sessions,
    todo_tombstones,
    todos,
    users,
);
