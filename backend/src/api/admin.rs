//! Administration: user management, roles, disable, sessions, audit log.
//!
//! Every handler takes `AdminUser` first. Every write runs in one
//! `BEGIN IMMEDIATE` transaction that re-reads the target, applies the
//! last-admin rule and re-checks that the caller is still an active admin,
//! so concurrent requests cannot together break the rule.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::dto::UserResponse;
use crate::api::problems::{
    BadId, JsonBodyErrors, LastAdmin, NoSuchUser, NotAdmin, Unauthenticated,
};
use crate::api::write_as;
use crate::app::{admin, Actor};
use crate::auth::AdminUser;
use crate::db::models::audit::StoredAuditEvent;
use crate::db::models::user::{UserFilter, UserSummary};
use crate::db::Conn;
use crate::domain::{AuditEventType, Role};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Json, PathId, Query};
use crate::pagination::{filter_digest, limit, Page};
use crate::state::AppState;

/// Longest accepted `q` (the longest possible email).
const MAX_Q_CHARS: usize = 254;
/// Longest accepted audit `type` filter.
const MAX_TYPE_CHARS: usize = 64;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Case-insensitive literal substring of the email (`%` and `_` are
    /// plain characters). Empty matches every user.
    #[param(max_length = 254, example = "example.com")]
    pub q: Option<String>,
    /// Only users with this role.
    #[param(inline)]
    pub role: Option<Role>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page, with the same `q` and `role`.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAuditEventsQuery {
    /// Only events of exactly this type, e.g. `admin.role_changed`.
    #[serde(rename = "type")]
    #[param(
        rename = "type",
        min_length = 1,
        max_length = 64,
        example = "auth.login_failed"
    )]
    pub event_type: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page, with the same `type`.
    pub cursor: Option<String>,
}

/// A user as the admin list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserResponse {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "alice@example.com")]
    pub email: String,
    pub role: Role,
    #[schema(example = false)]
    pub disabled: bool,
    /// True when the user signs in with a second factor.
    #[schema(example = false)]
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
    /// How many todos the user holds, trash included (what
    /// `MAX_TODOS_PER_USER` counts).
    #[schema(example = 3)]
    pub todo_count: i64,
    /// The last successful login; null if the user never logged in.
    #[schema(required = true)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl From<UserSummary> for AdminUserResponse {
    fn from(u: UserSummary) -> Self {
        Self {
            id: u.id,
            role: u.role(),
            email: u.email,
            disabled: u.disabled,
            mfa_enabled: u.mfa_enabled,
            created_at: u.created_at.and_utc(),
            todo_count: u.todo_count,
            last_login_at: u.last_login_at.map(|t| t.and_utc()),
        }
    }
}

/// A page of users, newest first (id descending).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserListResponse {
    pub items: Vec<AdminUserResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(value_type = Option<String>, required = true)]
    pub next_cursor: Option<String>,
}

/// The changes to make; an absent field stays as it is.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// The new role.
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false)]
    pub role: Option<Role>,
    /// True disables the account and ends all its sessions; false enables it
    /// again (ended sessions stay ended).
    #[serde(default, deserialize_with = "present")]
    #[schema(nullable = false, example = true)]
    pub disabled: Option<bool>,
}

/// A field that may be absent but, when present, must not be `null`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::custom("must not be null")),
    }
}

/// One security event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    #[schema(example = 42)]
    pub id: i64,
    /// The event type, one of `AuditEventType`.
    #[serde(rename = "type")]
    #[schema(value_type = AuditEventType, example = "admin.role_changed")]
    pub event_type: String,
    /// Who acted; null when anonymous (e.g. a failed login) or the CLI.
    #[schema(example = 1, required = true)]
    pub actor_user_id: Option<i64>,
    /// Whom it concerned; may name a user that no longer exists.
    #[schema(example = 7, required = true)]
    pub target_user_id: Option<i64>,
    /// The client address; null for the CLI.
    #[schema(example = "203.0.113.9", required = true)]
    pub ip: Option<String>,
    pub created_at: DateTime<Utc>,
    /// A small JSON object describing the event; never a password, hash or
    /// token.
    #[schema(example = json!({"from": "user", "to": "admin"}))]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

impl From<StoredAuditEvent> for AuditEventResponse {
    fn from(e: StoredAuditEvent) -> Self {
        // Always written by `audit::record` as an object; anything else is
        // shown as an empty object rather than failing the whole page.
        let detail = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&e.detail)
            .unwrap_or_default();
        Self {
            id: e.id,
            event_type: e.event_type,
            actor_user_id: e.actor_user_id,
            target_user_id: e.target_user_id,
            ip: e.ip,
            created_at: e.created_at.and_utc(),
            detail,
        }
    }
}

/// A page of security events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventListResponse {
    pub items: Vec<AuditEventResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(value_type = Option<String>, required = true)]
    pub next_cursor: Option<String>,
}

/// Runs `action` (a use case of `app::admin`) on the user the path names,
/// in one write transaction: 204 when it is done.
async fn act_on_user(
    caller: &AdminUser,
    state: &AppState,
    req: &HttpRequest,
    path: PathId,
    action: fn(&mut Conn<'_>, &Actor, i64) -> ApiResult<()>,
) -> ApiResult<HttpResponse> {
    let target_id = path.0;
    write_as(state, req, &caller.0, move |tx, actor| {
        action(tx, actor, target_id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List users with their todo count and last login, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    params(ListUsersQuery),
    responses(
        (status = 200, description = "A page of users, newest first (id descending)", body = AdminUserListResponse),
        Unauthenticated,
        NotAdmin,
        (status = 422, description = "Invalid `q`, `role`, `limit` or `cursor`, or an unknown parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_users(
    _admin: AdminUser,
    state: web::Data<AppState>,
    query: Query<ListUsersQuery>,
) -> ApiResult<web::Json<AdminUserListResponse>> {
    let ListUsersQuery {
        q,
        role,
        limit: requested,
        cursor,
    } = query.0;
    let limit = limit(requested)?;
    if q.as_ref().is_some_and(|q| q.chars().count() > MAX_Q_CHARS) {
        return Err(ApiError::validation("q", "must be at most 254 characters"));
    }
    if q.as_ref().is_some_and(|q| q.contains('\0')) {
        return Err(ApiError::validation("q", crate::domain::NUL_REFUSED));
    }
    // Emails are stored lower-cased, so a lower-cased needle is a
    // case-insensitive match (LIKE alone folds ASCII only).
    let q = q.map(|q| q.to_lowercase()).filter(|q| !q.is_empty());
    let digest = filter_digest("admin.users", &[q.as_deref(), role.map(Role::as_str)]);
    let before = state.cursor_key.id_after(cursor.as_deref(), &digest)?;
    let filter = UserFilter {
        email_contains: q,
        role,
    };
    let rows = state
        .db
        .read(move |conn| admin::list_users(conn, &filter, before, limit))
        .await?;
    let page = Page::from_rows(rows, limit, |u| state.cursor_key.id_cursor(&digest, u.id))?
        .map(AdminUserResponse::from);
    Ok(web::Json(AdminUserListResponse {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// Change a user's role and/or disabled flag.
///
/// Disabling ends every session of the user at once; enabling does not bring
/// them back. The last active admin cannot be demoted or disabled (409
/// `last_admin`), also not by themselves. A request that changes nothing
/// records no audit event.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The user after the change", body = UserResponse),
        JsonBodyErrors,
        Unauthenticated,
        NotAdmin,
        NoSuchUser,
        LastAdmin,
        (status = 422, description = "Invalid role or flag, an unknown field, or an id that is not an integer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update_user(
    caller: AdminUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
    body: Json<UpdateUserRequest>,
) -> ApiResult<web::Json<UserResponse>> {
    let target_id = path.0;
    let UpdateUserRequest { role, disabled } = body.0;
    let updated = write_as(&state, &req, &caller.0, move |tx, actor| {
        admin::update_user(tx, actor, target_id, role, disabled)
    })
    .await?;
    Ok(web::Json(UserResponse::from(&updated)))
}

/// Delete a user with their todos and sessions.
///
/// The last active admin cannot be deleted (409 `last_admin`).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "User, todos and sessions deleted"),
        Unauthenticated,
        NotAdmin,
        NoSuchUser,
        LastAdmin,
        BadId,
    )
)]
pub async fn delete_user(
    caller: AdminUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
) -> ApiResult<HttpResponse> {
    act_on_user(&caller, &state, &req, path, admin::delete_user).await
}

/// End every session of a user (on every device).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/sessions",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "Every session of the user ended"),
        Unauthenticated,
        NotAdmin,
        NoSuchUser,
        BadId,
    )
)]
pub async fn revoke_user_sessions(
    caller: AdminUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
) -> ApiResult<HttpResponse> {
    act_on_user(&caller, &state, &req, path, admin::revoke_user_sessions).await
}

/// Turn off a user's MFA (a lost device). Every session of the user ends.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{id}/mfa",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 204, description = "MFA is off for the user; their sessions ended"),
        Unauthenticated,
        NotAdmin,
        NoSuchUser,
        BadId,
    )
)]
pub async fn reset_user_mfa(
    caller: AdminUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: PathId,
) -> ApiResult<HttpResponse> {
    act_on_user(&caller, &state, &req, path, admin::reset_user_mfa).await
}

/// List security events, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/admin/audit-events",
    tag = "admin",
    security(("bearer" = [])),
    params(ListAuditEventsQuery),
    responses(
        (status = 200, description = "A page of events, newest first (id descending)", body = AuditEventListResponse),
        Unauthenticated,
        NotAdmin,
        (status = 422, description = "Invalid `type`, `limit` or `cursor`, or an unknown parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_audit_events(
    _admin: AdminUser,
    state: web::Data<AppState>,
    query: Query<ListAuditEventsQuery>,
) -> ApiResult<web::Json<AuditEventListResponse>> {
    let ListAuditEventsQuery {
        event_type,
        limit: requested,
        cursor,
    } = query.0;
    let limit = limit(requested)?;
    if event_type
        .as_ref()
        .is_some_and(|t| t.is_empty() || t.chars().count() > MAX_TYPE_CHARS)
    {
        return Err(ApiError::validation("type", "must be 1 to 64 characters"));
    }
    let digest = filter_digest("admin.audit_events", &[event_type.as_deref()]);
    let before = state.cursor_key.id_after(cursor.as_deref(), &digest)?;
    let rows = state
        .db
        .read(move |conn| admin::list_audit_events(conn, event_type.as_deref(), before, limit))
        .await?;
    let page = Page::from_rows(rows, limit, |e| state.cursor_key.id_cursor(&digest, e.id))?
        .map(AuditEventResponse::from);
    Ok(web::Json(AuditEventListResponse {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
