//! Use cases: the rules, as synchronous functions over a connection inside
//! the transaction the caller opened. The API, the background tasks and
//! the CLI all call them.

pub mod accounts;
pub mod admin;
pub mod create_queue;
pub mod export;
pub mod idempotency;
pub mod lockout;
pub mod mfa;
pub mod retention;
pub mod sessions;
pub mod sync;
#[cfg(test)]
pub mod testing;
pub mod todos;
pub mod tokens;

use diesel::QueryResult;

use crate::db::models::audit;
use crate::db::Conn;
use crate::domain::AuditEvent;

/// Who acts, for the rules and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    /// The client address as the audit log records it.
    pub ip: Option<String>,
}

impl Actor {
    /// Records `event`, done by the actor to the user `target_user_id`.
    pub fn record(
        &self,
        conn: &mut Conn<'_>,
        event: &AuditEvent,
        target_user_id: i64,
    ) -> QueryResult<()> {
        audit::record(
            conn,
            event,
            Some(self.user_id),
            Some(target_user_id),
            self.ip.as_deref(),
        )
    }

    /// Records `event`, done by the actor to their own account.
    pub fn record_own(&self, conn: &mut Conn<'_>, event: &AuditEvent) -> QueryResult<()> {
        self.record(conn, event, self.user_id)
    }
}
