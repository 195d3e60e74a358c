//! The caller's own account: profile, password, deletion, sessions.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::removal_cookie;
use crate::api::dto::UserResponse;
use crate::api::problems::{BadId, JsonBodyErrors, TooManyAttempts, Unauthenticated};
use crate::api::write_as;
use crate::app::{accounts, sessions};
use crate::auth::AuthUser;
use crate::domain::{Email, Password};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    #[schema(example = "correct horse battery staple", format = Password)]
    pub current_password: String,
    /// 8 to 128 characters, not a commonly used password.
    #[schema(example = "a new and long passphrase", min_length = 8, max_length = 128, format = Password)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    /// The current password, to confirm.
    #[schema(example = "correct horse battery staple", format = Password)]
    pub password: String,
}

/// One login of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    #[schema(example = 7)]
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    #[schema(example = "Mozilla/5.0 (X11; Linux x86_64)")]
    pub user_agent: Option<String>,
    /// True for the session of the access token making this request.
    pub current: bool,
}

/// The caller's live sessions, newest first. Never more than 20, so there
/// is never a next page (`next_cursor` is always null).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionListResponse {
    pub items: Vec<SessionResponse>,
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<String>,
}

/// The caller's account.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = UserResponse),
        Unauthenticated,
    )
)]
pub async fn get_me(user: AuthUser) -> ApiResult<web::Json<UserResponse>> {
    Ok(web::Json(UserResponse::from(&user)))
}

/// Verifies the caller's password; a wrong one is a 422 on `field`, not a
/// 401, so that a typo does not look like an ended session. Wrong passwords
/// count as failed sign-ins against the session's own budget: the fifth
/// ends the session, so a stolen token cannot be used to guess the password
/// (and strangers' failures never block the owner here).
pub(super) async fn confirm_password(
    state: &AppState,
    req: &HttpRequest,
    user: &AuthUser,
    raw: String,
    field: &'static str,
) -> ApiResult<()> {
    let password = Password::for_verification(raw).map_err(|m| ApiError::validation(field, m))?;
    let id = user.user_id;
    let stored = state
        .db
        .read(move |conn| accounts::password_hash(conn, id))
        .await?;
    if state.hasher.verify(&password, stored).await? {
        return Ok(());
    }
    let session_id = user.session_id;
    write_as(state, req, user, move |tx, actor| {
        accounts::record_wrong_password(tx, actor, session_id)
    })
    .await?;
    Err(ApiError::validation(field, "is incorrect"))
}

/// Change the password. Every other session ends; this one continues.
#[utoipa::path(
    put,
    path = "/api/v1/users/me/password",
    tag = "users",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed; other sessions ended"),
        JsonBodyErrors,
        Unauthenticated,
        (status = 422, description = "Wrong current password or unacceptable new one", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn change_password(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.0;
    let email =
        Email::parse(&user.email).map_err(|m| anyhow::anyhow!("stored email invalid: {m}"))?;
    if new_password == current_password {
        return Err(ApiError::validation(
            "new_password",
            "must differ from the current password",
        ));
    }
    let new_password = state
        .hasher
        .check_new(new_password, email)
        .await?
        .map_err(|m| ApiError::validation("new_password", m))?;
    confirm_password(&state, &req, &user, current_password, "current_password").await?;
    let hash = state.hasher.hash(&new_password).await?;
    let keep = user.session_id;
    write_as(&state, &req, &user, move |tx, actor| {
        accounts::change_password(tx, actor, keep, &hash)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Delete the caller's account with its todos and sessions.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "Account, todos and sessions deleted"),
        JsonBodyErrors,
        Unauthenticated,
        (status = 409, description = "The caller is the last active admin (`last_admin`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn delete_me(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<DeleteAccountRequest>,
) -> ApiResult<HttpResponse> {
    confirm_password(&state, &req, &user, body.0.password, "password").await?;
    write_as(&state, &req, &user, accounts::delete_account).await?;
    Ok(HttpResponse::NoContent().cookie(removal_cookie()).finish())
}

/// The caller's live sessions.
#[utoipa::path(
    get,
    path = "/api/v1/users/me/sessions",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions, newest first", body = SessionListResponse),
        Unauthenticated,
    )
)]
pub async fn list_sessions(
    user: AuthUser,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<SessionListResponse>> {
    let id = user.user_id;
    let sessions = state.db.read(move |conn| sessions::list(conn, id)).await?;
    let items = sessions
        .into_iter()
        .map(|s| SessionResponse {
            id: s.id,
            created_at: s.created_at.and_utc(),
            last_used_at: s.last_used_at.and_utc(),
            user_agent: s.user_agent,
            current: s.id == user.session_id,
        })
        .collect();
    Ok(web::Json(SessionListResponse {
        items,
        next_cursor: None,
    }))
}

/// End one of the caller's sessions.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/sessions/{id}",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Session id")),
    responses(
        (status = 204, description = "Session ended"),
        Unauthenticated,
        (status = 404, description = "No such live session of the caller", body = Problem, content_type = "application/problem+json"),
        BadId,
    )
)]
pub async fn delete_session(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: crate::extract::PathId,
) -> ApiResult<HttpResponse> {
    let session_id = path.0;
    write_as(&state, &req, &user, move |tx, actor| {
        sessions::revoke(tx, actor, session_id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
