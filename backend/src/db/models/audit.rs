//! The `audit_events` table: security events, never secrets.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::audit_events;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
pub struct AuditEvent {
    pub id: i64,
    pub event_type: String,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub ip: Option<String>,
    pub created_at: NaiveDateTime,
    pub detail: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent<'a> {
    pub event_type: &'a str,
    pub actor_user_id: Option<i64>,
    pub target_user_id: Option<i64>,
    pub ip: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub detail: String,
}

/// Event types; the admin API filters on these strings.
pub mod kind {
    pub const REGISTERED: &str = "user.registered";
    pub const LOGIN_SUCCEEDED: &str = "auth.login_succeeded";
    pub const LOGIN_FAILED: &str = "auth.login_failed";
    pub const LOCKED_OUT: &str = "auth.locked_out";
    pub const REFRESH_REUSE: &str = "auth.refresh_reuse_detected";
    pub const LOGOUT: &str = "auth.logout";
    pub const LOGOUT_ALL: &str = "auth.logout_all";
    pub const SESSION_REVOKED: &str = "auth.session_revoked";
    pub const PASSWORD_CHANGED: &str = "user.password_changed";
    pub const ACCOUNT_DELETED: &str = "user.deleted";
    pub const ADMIN_CREATED: &str = "admin.created";
    pub const ROLE_CHANGED: &str = "admin.role_changed";
    pub const USER_DISABLED: &str = "admin.user_disabled";
    pub const USER_ENABLED: &str = "admin.user_enabled";
    pub const USER_DELETED: &str = "admin.user_deleted";
    pub const SESSIONS_REVOKED: &str = "admin.sessions_revoked";
}

pub fn record(
    conn: &mut SqliteConnection,
    event_type: &str,
    actor_user_id: Option<i64>,
    target_user_id: Option<i64>,
    ip: Option<&str>,
    detail: serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(NewAuditEvent {
            event_type,
            actor_user_id,
            target_user_id,
            ip,
            created_at: super::user::now(),
            detail: detail.to_string(),
        })
        .execute(conn)
        .map(|_| ())
}
