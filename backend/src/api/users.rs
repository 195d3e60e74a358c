//! The caller's own account: profile, password, deletion, sessions.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::auth::{removal_cookie, UserResponse};
use crate::app::lockout::MAX_FAILED_LOGINS;
use crate::auth::extract::client_ip;
use crate::auth::AuthUser;
use crate::db::models::audit::{self, kind};
use crate::db::models::session;
use crate::db::models::user::{self, now};
use crate::domain::{Email, Password};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Json;
use crate::startup::AppState;

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
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
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
async fn confirm_password(
    state: &AppState,
    req: &HttpRequest,
    user: &AuthUser,
    raw: String,
    field: &'static str,
) -> ApiResult<()> {
    let password = Password::for_verification(raw).map_err(|m| ApiError::validation(field, m))?;
    let pool = state.pool.clone();
    let id = user.user_id;
    let stored = web::block(move || -> ApiResult<Option<String>> {
        let mut conn = pool.get()?;
        Ok(user::find(&mut conn, id)?.map(|u| u.password_hash))
    })
    .await??;
    if state.hasher.verify(&password, stored).await? {
        return Ok(());
    }
    let ip = client_ip(req, state.settings.trust_proxy_headers);
    let pool = state.pool.clone();
    let (user_id, session_id) = (user.user_id, user.session_id);
    web::block(move || -> ApiResult<()> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            let now = now();
            let failures = session::add_password_failure(conn, session_id)?;
            audit::record(
                conn,
                kind::LOGIN_FAILED,
                Some(user_id),
                Some(user_id),
                ip.as_deref(),
                serde_json::json!({"reason": "bad_current_password", "session_id": session_id}),
            )?;
            if failures >= MAX_FAILED_LOGINS {
                session::revoke(conn, session_id, now)?;
                audit::record(
                    conn,
                    kind::LOCKED_OUT,
                    Some(user_id),
                    Some(user_id),
                    ip.as_deref(),
                    serde_json::json!({"scope": "session", "session_id": session_id}),
                )?;
            }
            Ok(())
        })
    })
    .await??;
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
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password or unacceptable new one", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
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
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let pool = state.pool.clone();
    web::block(move || -> ApiResult<()> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            user::set_password_hash(conn, user.user_id, &hash)?;
            let ended = session::revoke_all(conn, user.user_id, Some(user.session_id), now())?;
            audit::record(
                conn,
                kind::PASSWORD_CHANGED,
                Some(user.user_id),
                Some(user.user_id),
                ip.as_deref(),
                serde_json::json!({"sessions_ended": ended}),
            )?;
            Ok(())
        })
    })
    .await??;
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
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The caller is the last active admin (`last_admin`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_me(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<DeleteAccountRequest>,
) -> ApiResult<HttpResponse> {
    confirm_password(&state, &req, &user, body.0.password, "password").await?;
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let pool = state.pool.clone();
    web::block(move || -> ApiResult<()> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            // Read the role inside the write transaction: two admins deleting
            // themselves at once cannot both pass this check.
            let current = user::find(conn, user.user_id)?.ok_or(ApiError::Unauthorized)?;
            if user::is_last_active_admin(conn, &current)? {
                return Err(ApiError::LastAdmin);
            }
            user::delete(conn, user.user_id)?;
            audit::record(
                conn,
                kind::ACCOUNT_DELETED,
                Some(user.user_id),
                Some(user.user_id),
                ip.as_deref(),
                serde_json::json!({"email_domain": current.email.rsplit('@').next()}),
            )?;
            Ok(())
        })
    })
    .await??;
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
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_sessions(
    user: AuthUser,
    state: web::Data<AppState>,
) -> ApiResult<web::Json<SessionListResponse>> {
    let pool = state.pool.clone();
    let id = user.user_id;
    let sessions = web::block(move || -> ApiResult<_> {
        let mut conn = pool.get()?;
        Ok(session::list_live(&mut conn, id, now())?)
    })
    .await??;
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
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live session of the caller", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not an integer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete_session(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: crate::extract::PathId,
) -> ApiResult<HttpResponse> {
    let session_id = path.0;
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let pool = state.pool.clone();
    web::block(move || -> ApiResult<()> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            if session::revoke_owned(conn, user.user_id, session_id, now())? == 0 {
                return Err(ApiError::NotFound);
            }
            audit::record(
                conn,
                kind::SESSION_REVOKED,
                Some(user.user_id),
                Some(user.user_id),
                ip.as_deref(),
                serde_json::json!({"session_id": session_id}),
            )?;
            Ok(())
        })
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}
