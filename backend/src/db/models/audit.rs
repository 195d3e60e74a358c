//! The `audit_events` table: security events, never secrets.

use chrono::NaiveDateTime;
use diesel::dsl::AsSelect;
use diesel::prelude::*;

use crate::db::{dispatch, Conn};

use crate::db::schema::audit_events;
use crate::domain::{AuditEvent, AuditEventType, LoginFailure};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct StoredAuditEvent {
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

/// Records `event` (its type and detail, `domain::AuditEvent`).
pub fn record(
    conn: &mut Conn<'_>,
    event: &crate::domain::AuditEvent,
    actor_user_id: Option<i64>,
    target_user_id: Option<i64>,
    ip: Option<&str>,
) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::insert_into(audit_events::table)
            .values(NewAuditEvent {
                event_type: event.event_type().as_str(),
                actor_user_id,
                target_user_id,
                ip,
                created_at: crate::clock::now(),
                detail: event.detail(),
            })
            .execute(conn)
            .map(|_| ())
    })
}

/// Records a failed login for an unknown email. These cost an attacker
/// nothing, so they are coalesced: one row per client (IPv4 address or
/// IPv6 /64, [`crate::auth::extract::client_key`]) and minute, counting the
/// attempts, so they can never grow the table faster than one row per
/// client and minute, well under the credential rate limit.
pub fn record_anonymous_login_failure(
    conn: &mut Conn<'_>,
    client_key: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let recent: Option<(i64, String)> = dispatch!(conn, conn => audit_events::table
        .filter(audit_events::ip.eq(client_key))
        .filter(audit_events::created_at.ge(now - chrono::Duration::seconds(60)))
        .filter(audit_events::event_type.eq(AuditEventType::LoginFailed.as_str()))
        .filter(audit_events::target_user_id.is_null())
        .order(audit_events::id.desc())
        .select((audit_events::id, audit_events::detail))
        .first(conn)
        .optional())?;
    let event = |attempts| AuditEvent::LoginFailed {
        reason: LoginFailure::UnknownEmail,
        known_device: None,
        session_id: None,
        attempts: Some(attempts),
    };
    let Some((id, detail)) = recent else {
        return record(conn, &event(1), None, None, Some(client_key));
    };
    let attempts = serde_json::from_str::<serde_json::Value>(&detail)
        .ok()
        .and_then(|d| d["attempts"].as_i64())
        .unwrap_or(1);
    dispatch!(conn, conn => diesel::update(audit_events::table.find(id))
        .set(audit_events::detail.eq(event(attempts + 1).detail()))
        .execute(conn)
        .map(|_| ()))
}

/// The statement behind [`page`], for the backend `$db`.
macro_rules! page_query {
    ($db:ty, $event_type:expr, $before:expr, $limit:expr) => {{
        let (event_type, before, limit): (Option<&str>, Option<i64>, i64) =
            ($event_type, $before, $limit);
        let mut query: audit_events::BoxedQuery<'static, $db, AsSelect<StoredAuditEvent, $db>> =
            audit_events::table
                .select(StoredAuditEvent::as_select())
                .order(audit_events::id.desc())
                .limit(limit)
                .into_boxed();
        if let Some(event_type) = event_type {
            query = query.filter(audit_events::event_type.eq(event_type.to_owned()));
        }
        if let Some(before) = before {
            query = query.filter(audit_events::id.lt(before));
        }
        query
    }};
}

/// A page of events, newest first (id descending), optionally of one type,
/// starting after `before`. Served by the primary key, or by
/// `audit_events_type_id` when filtering by type; never sorted.
pub fn page(
    conn: &mut Conn<'_>,
    event_type: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<StoredAuditEvent>> {
    dispatch!(conn, conn, DB => page_query!(DB, event_type, before, limit).load(conn))
}

/// The statement behind [`about_user_page`], for backend `$db`.
macro_rules! about_user_query {
    ($db:ty, $user_id:expr, $after:expr, $limit:expr) => {{
        let (user_id, after, limit): (i64, i64, i64) = ($user_id, $after, $limit);
        let query: audit_events::BoxedQuery<'static, $db, AsSelect<StoredAuditEvent, $db>> =
            audit_events::table
                .filter(audit_events::target_user_id.eq(user_id))
                .filter(audit_events::id.gt(after))
                .order(audit_events::id.asc())
                .limit(limit)
                .select(StoredAuditEvent::as_select())
                .into_boxed();
        query
    }};
}

/// Events about `user_id`, oldest first, after event `after`: a seek in
/// `audit_events_target_id`, for the user's data export.
pub fn about_user_page(
    conn: &mut Conn<'_>,
    user_id: i64,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<StoredAuditEvent>> {
    dispatch!(conn, conn, DB => about_user_query!(DB, user_id, after, limit).load(conn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query_plan;
    use diesel::sqlite::Sqlite;

    #[test]
    fn a_users_events_are_read_from_their_index_without_sorting() {
        let plan = query_plan(&about_user_query!(Sqlite, 7, 100, 500));
        assert!(
            plan.iter()
                .any(|step| step.contains("INDEX audit_events_target_id")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }

    #[test]
    fn audit_pages_walk_an_index_and_never_sort() {
        for event_type in [None, Some("auth.login_failed")] {
            for before in [None, Some(100)] {
                let plan = query_plan(&page_query!(Sqlite, event_type, before, 21));
                assert!(
                    !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                    "{plan:?}"
                );
                if event_type.is_some() {
                    assert!(
                        plan.iter()
                            .any(|step| step.contains("INDEX audit_events_type_id")),
                        "{plan:?}"
                    );
                }
            }
        }
    }
}
