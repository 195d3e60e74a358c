//! Registration, login, refresh rotation, logout.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::extract::{authenticate, client_ip};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::auth::AuthUser;
use crate::db::models::audit::{self, kind};
use crate::db::models::session::{self, NewSession};
use crate::db::models::user::{self, now, NewUser, User};
use crate::domain::{Email, Password, Role};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, OptionalJson};
use crate::startup::AppState;

pub const REFRESH_COOKIE: &str = "securetodo_refresh";
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";
/// Failed logins before the account is locked.
pub const MAX_FAILED_LOGINS: i32 = 5;
/// The first lock lasts this long; each further lock doubles it.
const BASE_LOCK_SECS: i64 = 60;
const MAX_LOCK_SECS: i64 = 3600;
const MAX_USER_AGENT_CHARS: usize = 256;

/// Email and password, for registration and login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsRequest {
    /// Compared case-insensitively; stored trimmed and lower-cased.
    #[schema(example = "alice@example.com", max_length = 254)]
    pub email: String,
    /// 8 to 128 characters, not a commonly used password.
    #[schema(example = "correct horse battery staple", min_length = 8, max_length = 128, format = Password)]
    pub password: String,
}

/// A refresh token in the body, for clients that do not keep cookies.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh. Optional when the
    /// refresh cookie is sent.
    #[schema(example = "q3Zl9m2s...")]
    pub refresh_token: Option<String>,
}

/// A user account as its owner and admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "alice@example.com")]
    pub email: String,
    pub role: Role,
    #[schema(example = false)]
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserResponse {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            role: u.role(),
            disabled: u.disabled,
            created_at: u.created_at.and_utc(),
        }
    }
}

impl From<&AuthUser> for UserResponse {
    fn from(u: &AuthUser) -> Self {
        Self {
            id: u.user_id,
            email: u.email.clone(),
            role: u.role,
            disabled: false,
            created_at: u.created_at.and_utc(),
        }
    }
}

/// Tokens issued by login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPairResponse {
    /// HS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Single-use token for `POST /api/v1/auth/refresh`; also set as an
    /// HttpOnly cookie.
    pub refresh_token: String,
    pub user: UserResponse,
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(MAX_USER_AGENT_CHARS).collect())
}

fn refresh_cookie(token: &str, ttl_secs: i64) -> Cookie<'static> {
    Cookie::build(REFRESH_COOKIE, token.to_owned())
        .http_only(true)
        // Browsers treat http://localhost as secure, so this holds in development too.
        .secure(true)
        .same_site(SameSite::Strict)
        .path(REFRESH_COOKIE_PATH)
        .max_age(CookieDuration::seconds(ttl_secs))
        .finish()
}

pub fn removal_cookie() -> Cookie<'static> {
    let mut cookie = refresh_cookie("", 0);
    cookie.make_removal();
    cookie
}

fn token_pair(
    state: &AppState,
    user: &User,
    session_id: i64,
    refresh: String,
) -> ApiResult<HttpResponse> {
    let access_token = state.jwt.issue(user.id, session_id)?;
    let cookie = refresh_cookie(&refresh, state.settings.refresh_token_ttl_secs);
    Ok(HttpResponse::Ok().cookie(cookie).json(TokenPairResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.jwt.ttl_secs,
        refresh_token: refresh,
        user: UserResponse::from(user),
    }))
}

/// Create an account (role `user`).
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = CredentialsRequest,
    responses(
        (status = 201, description = "Account created", body = UserResponse),
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered (`email_taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<CredentialsRequest>,
) -> ApiResult<HttpResponse> {
    let CredentialsRequest { email, password } = body.0;
    let mut errors = Vec::new();
    let email = Email::parse(&email)
        .map_err(|m| errors.push(FieldError::new("email", m)))
        .ok();
    let placeholder = Email::parse("placeholder@invalid.invalid")
        .map_err(|_| anyhow::anyhow!("placeholder email"))?;
    let password = Password::parse(password, email.as_ref().unwrap_or(&placeholder))
        .map_err(|m| errors.push(FieldError::new("password", m)))
        .ok();
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(errors));
    };

    let hash = state.hasher.hash(&password).await?;
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let pool = state.pool.clone();
    let created = web::block(move || -> ApiResult<Option<User>> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            let now = now();
            let created = user::insert(
                conn,
                &NewUser {
                    email: email.as_str(),
                    password_hash: &hash,
                    role: Role::User.as_str(),
                    created_at: now,
                    updated_at: now,
                },
            )?;
            if let Some(u) = &created {
                audit::record(
                    conn,
                    kind::REGISTERED,
                    Some(u.id),
                    Some(u.id),
                    ip.as_deref(),
                    serde_json::json!({}),
                )?;
            }
            Ok(created)
        })
    })
    .await??;
    let created = created.ok_or(ApiError::EmailTaken)?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, "/api/v1/users/me"))
        .json(UserResponse::from(&created)))
}

/// Exchange email and password for a token pair.
///
/// Every failure (unknown email, wrong password, disabled or locked account)
/// gets the same 401 `invalid_credentials` answer in about the same time.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = CredentialsRequest,
    responses(
        (status = 200, description = "Logged in; the refresh token is also set as an HttpOnly cookie", body = TokenPairResponse),
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<CredentialsRequest>,
) -> ApiResult<HttpResponse> {
    let CredentialsRequest { email, password } = body.0;
    let email = Email::parse(&email).map_err(|m| ApiError::validation("email", m))?;
    let password =
        Password::for_verification(password).map_err(|m| ApiError::validation("password", m))?;
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let agent = user_agent(&req);

    let pool = state.pool.clone();
    let lookup_email = email.as_str().to_owned();
    let found = web::block(move || -> ApiResult<Option<User>> {
        let mut conn = pool.get()?;
        Ok(user::find_by_email(&mut conn, &lookup_email)?)
    })
    .await??;
    // Exactly one bcrypt verification on every path, real or dummy.
    let verified = state
        .hasher
        .verify(&password, found.as_ref().map(|u| u.password_hash.clone()))
        .await?;

    let refresh = new_refresh_token();
    let ttl = state.settings.refresh_token_ttl_secs;
    let pool = state.pool.clone();
    let outcome = web::block(move || -> ApiResult<Option<(User, i64)>> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            let now = now();
            let Some(found) = found else {
                audit::record(
                    conn,
                    kind::LOGIN_FAILED,
                    None,
                    None,
                    ip.as_deref(),
                    serde_json::json!({"reason": "unknown_email"}),
                )?;
                return Ok(None);
            };
            // Re-read inside the write transaction so concurrent failures count.
            let Some(current) = user::find(conn, found.id)? else {
                return Ok(None);
            };
            let locked = current.locked_until.is_some_and(|until| until > now);
            if locked || current.disabled {
                let reason = if locked { "locked" } else { "disabled" };
                audit::record(
                    conn,
                    kind::LOGIN_FAILED,
                    None,
                    Some(current.id),
                    ip.as_deref(),
                    serde_json::json!({"reason": reason}),
                )?;
                return Ok(None);
            }
            if !verified {
                record_failure(conn, &current, now, ip.as_deref())?;
                return Ok(None);
            }
            user::record_login(conn, current.id, now)?;
            let session = session::insert(
                conn,
                &NewSession {
                    user_id: current.id,
                    refresh_token_hash: &refresh.hash,
                    created_at: now,
                    last_used_at: now,
                    expires_at: now + chrono::Duration::seconds(ttl),
                    user_agent: agent.as_deref(),
                    ip: ip.as_deref(),
                },
            )?;
            audit::record(
                conn,
                kind::LOGIN_SUCCEEDED,
                Some(current.id),
                Some(current.id),
                ip.as_deref(),
                serde_json::json!({"session_id": session.id}),
            )?;
            Ok(Some((current, session.id)))
        })
    })
    .await??;
    crate::metrics::login(if outcome.is_some() {
        "success"
    } else {
        "failure"
    });
    let (user, session_id) = outcome.ok_or(ApiError::InvalidCredentials)?;
    token_pair(&state, &user, session_id, refresh.token)
}

/// Counts a failed password; the fifth in a row locks the account for a
/// period that doubles with each lock. The response never says so.
fn record_failure(
    conn: &mut diesel::SqliteConnection,
    current: &User,
    now: chrono::NaiveDateTime,
    ip: Option<&str>,
) -> ApiResult<()> {
    audit::record(
        conn,
        kind::LOGIN_FAILED,
        None,
        Some(current.id),
        ip,
        serde_json::json!({"reason": "bad_password"}),
    )?;
    let failures = current.failed_logins + 1;
    if failures >= MAX_FAILED_LOGINS {
        let exponent = u32::try_from(current.lockouts.clamp(0, 6)).unwrap_or(6);
        let secs = (BASE_LOCK_SECS * 2i64.pow(exponent)).min(MAX_LOCK_SECS);
        user::lock(conn, current.id, now + chrono::Duration::seconds(secs))?;
        audit::record(
            conn,
            kind::LOCKED_OUT,
            None,
            Some(current.id),
            ip,
            serde_json::json!({"seconds": secs}),
        )?;
    } else {
        user::set_failed_logins(conn, current.id, failures)?;
    }
    Ok(())
}

fn presented_refresh_token(req: &HttpRequest, body: Option<RefreshRequest>) -> Option<String> {
    body.and_then(|b| b.refresh_token)
        .filter(|t| !t.is_empty())
        .or_else(|| req.cookie(REFRESH_COOKIE).map(|c| c.value().to_owned()))
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

enum RefreshOutcome {
    Rotated(User, i64),
    Reused,
    Invalid,
}

/// Trade a refresh token (body or cookie) for a new pair. The old token
/// stops working; presenting it again ends the whole session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional: the refresh cookie is used when the body has no token"),
    responses(
        (status = 200, description = "New token pair; the old refresh token no longer works", body = TokenPairResponse),
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: OptionalJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let token = presented_refresh_token(&req, body.0).ok_or(ApiError::Unauthorized)?;
    let presented_hash = hash_refresh_token(&token);
    let next = new_refresh_token();
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let pool = state.pool.clone();
    let outcome = web::block(move || -> ApiResult<RefreshOutcome> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            let now = now();
            if let Some(current) = session::find_by_refresh_hash(conn, &presented_hash)? {
                if current.revoked_at.is_some() || current.expires_at <= now {
                    return Ok(RefreshOutcome::Invalid);
                }
                let Some(owner) = user::find(conn, current.user_id)?.filter(|u| !u.disabled) else {
                    return Ok(RefreshOutcome::Invalid);
                };
                session::rotate(conn, &current, &next.hash, now)?;
                return Ok(RefreshOutcome::Rotated(owner, current.id));
            }
            if let Some(session_id) = session::find_by_retired_hash(conn, &presented_hash)? {
                // A used token came back: someone holds a copy. End the session.
                let revoked = session::revoke(conn, session_id, now)?;
                let owner = session::find_owner(conn, session_id)?;
                audit::record(
                    conn,
                    kind::REFRESH_REUSE,
                    None,
                    owner,
                    ip.as_deref(),
                    serde_json::json!({"session_id": session_id, "revoked": revoked > 0}),
                )?;
                return Ok(RefreshOutcome::Reused);
            }
            Ok(RefreshOutcome::Invalid)
        })
    })
    .await??;
    match outcome {
        RefreshOutcome::Rotated(user, session_id) => {
            token_pair(&state, &user, session_id, next.token)
        }
        RefreshOutcome::Reused => {
            log::warn!("refresh token reuse detected; session revoked");
            Err(ApiError::Unauthorized)
        }
        RefreshOutcome::Invalid => Err(ApiError::Unauthorized),
    }
}

/// End the current session (by access token, or by the refresh cookie).
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Optional refresh token when no access token or cookie is sent"),
    security((), ("bearer" = [])),
    responses(
        (status = 204, description = "Session ended; the refresh cookie is cleared"),
        (status = 400, description = "Body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Neither a valid access token nor a refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: OptionalJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let by_access = match authenticate(&req).await {
        Ok(user) => Some((user.user_id, user.session_id)),
        Err(ApiError::Internal(e)) => return Err(ApiError::Internal(e)),
        Err(_) => None,
    };
    let refresh_hash = presented_refresh_token(&req, body.0).map(|t| hash_refresh_token(&t));
    if by_access.is_none() && refresh_hash.is_none() {
        return Err(ApiError::Unauthorized);
    }
    let pool = state.pool.clone();
    let ended = web::block(move || -> ApiResult<bool> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            let now = now();
            let target = match (by_access, refresh_hash) {
                (Some(found), _) => Some(found),
                (None, Some(hash)) => session::find_by_refresh_hash(conn, &hash)?
                    .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
                    .map(|s| (s.user_id, s.id)),
                (None, None) => None,
            };
            let Some((user_id, session_id)) = target else {
                return Ok(false);
            };
            session::revoke(conn, session_id, now)?;
            audit::record(
                conn,
                kind::LOGOUT,
                Some(user_id),
                Some(user_id),
                ip.as_deref(),
                serde_json::json!({"session_id": session_id}),
            )?;
            Ok(true)
        })
    })
    .await??;
    if !ended {
        return Err(ApiError::Unauthorized);
    }
    Ok(HttpResponse::NoContent().cookie(removal_cookie()).finish())
}

/// End every session of the caller, on every device.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout-all",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "All sessions ended; the refresh cookie is cleared"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout_all(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let pool = state.pool.clone();
    web::block(move || -> ApiResult<()> {
        let mut conn = pool.get()?;
        conn.immediate_transaction(|conn| {
            let count = session::revoke_all(conn, user.user_id, None, now())?;
            audit::record(
                conn,
                kind::LOGOUT_ALL,
                Some(user.user_id),
                Some(user.user_id),
                ip.as_deref(),
                serde_json::json!({"sessions": count}),
            )?;
            Ok(())
        })
    })
    .await??;
    Ok(HttpResponse::NoContent().cookie(removal_cookie()).finish())
}
