//! The user's data export (GDPR right of access): the account, its
//! sessions and API token metadata at once, then the todos (live, then the
//! trash) and the audit events about the user page by page, so that a large
//! account is never held in memory whole.

use crate::db::Conn;
use chrono::NaiveDateTime;

use crate::db::models::api_token::{self, ApiToken};
use crate::db::models::audit::{self, StoredAuditEvent};
use crate::db::models::session::{self, Session};
use crate::db::models::todo::{self, ListFilter, SortValue, Todo};
use crate::db::models::user::{self, User};
use crate::domain::TodoSort;
use crate::error::{ApiError, ApiResult};

/// Rows read per page: one short query each, with the pooled connection
/// given back in between.
pub const PAGE_SIZE: i64 = 500;

/// What the export starts with.
pub struct AccountExport {
    pub user: User,
    pub sessions: Vec<Session>,
    pub tokens: Vec<ApiToken>,
}

pub fn account(conn: &mut Conn<'_>, user_id: i64) -> ApiResult<AccountExport> {
    let user = user::find(conn, user_id)?.ok_or(ApiError::Unauthorized)?;
    Ok(AccountExport {
        user,
        sessions: session::list_all(conn, user_id)?,
        tokens: api_token::list_all(conn, user_id)?,
    })
}

/// Where the previous page of todos ended: `(created_at, id)`.
pub type TodoPosition = (NaiveDateTime, i64);

/// The next page of the owner's todos, oldest first (the `created_at`
/// index, keyset-paged, so every page costs the same).
pub fn todos_page(
    conn: &mut Conn<'_>,
    owner: i64,
    after: Option<TodoPosition>,
) -> ApiResult<Vec<Todo>> {
    let filter = ListFilter::default();
    let after = after.map(|(at, id)| (SortValue::Time(at), id));
    let page = todo::list(
        conn,
        owner,
        &filter,
        TodoSort::CreatedAt,
        after.as_ref().map(|(value, id)| (value, *id)),
        PAGE_SIZE,
    )
    .map_err(|_| ApiError::Internal(anyhow::anyhow!("export cursor of the wrong kind")))?;
    Ok(page?)
}

/// The next page of the owner's trash, most recently deleted first, after
/// `(deleted_at, id)` of the previous page.
pub fn trash_page(
    conn: &mut Conn<'_>,
    owner: i64,
    after: Option<TodoPosition>,
) -> ApiResult<Vec<Todo>> {
    Ok(todo::trash_page(conn, owner, after, PAGE_SIZE)?)
}

/// The next page of the audit events about the user, oldest first.
pub fn audit_page(
    conn: &mut Conn<'_>,
    user_id: i64,
    after: i64,
) -> ApiResult<Vec<StoredAuditEvent>> {
    Ok(audit::about_user_page(conn, user_id, after, PAGE_SIZE)?)
}
