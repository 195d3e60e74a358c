//! Registration, login, refresh rotation, logout.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::problems::{JsonBodyErrors, TooManyAttempts, Unauthenticated};
use crate::api::write_as;
use crate::app::accounts;
use crate::app::mfa::{self, MfaLoginAttempt, MfaLoginOutcome, SecondFactor};
use crate::app::sessions::{self, LoginAttempt, LoginOutcome, NewLogin, RefreshOutcome, SignedIn};
use crate::auth::extract::{authenticate, client_ip, client_key};
use crate::auth::mfa::{RecoveryCode, TotpCode};
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::auth::AuthUser;
use crate::db::models::user::{self, User};
use crate::domain::{Email, Password};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Json, OptionalJson};
use crate::state::AppState;

pub use super::dto::UserResponse;

pub const REFRESH_COOKIE: &str = "securetodo_refresh";
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";
/// The device cookie (OWASP's device-cookie pattern, `app::lockout`).
pub const DEVICE_COOKIE: &str = "securetodo_device";
pub const DEVICE_COOKIE_PATH: &str = "/api/v1/auth/login";
const DEVICE_COOKIE_DAYS: i64 = 180;
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

/// The first step of a login to an account with MFA on: no token yet.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always true: send a code with `mfa_token` to `POST /api/v1/auth/mfa`.
    #[schema(example = true)]
    pub mfa_required: bool,
    /// Single use, for `POST /api/v1/auth/mfa` only (not a bearer token);
    /// it dies after 5 wrong codes.
    #[schema(example = "Jx3m0c...")]
    pub mfa_token: String,
    /// Seconds until `mfa_token` expires.
    #[schema(example = 300)]
    pub expires_in: i64,
}

/// A login's answer: the token pair, or (MFA on) the second step's token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(TokenPairResponse),
    MfaRequired(MfaRequiredResponse),
}

/// The second step of a login: the `mfa_token` and exactly one of `code`
/// and `recovery_code`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaLoginRequest {
    /// From the login's `mfa_required` answer.
    #[schema(example = "Jx3m0c...")]
    pub mfa_token: String,
    /// The 6-digit code the authenticator app shows now.
    #[schema(example = "123456")]
    pub code: Option<String>,
    /// An unused recovery code instead (each works once).
    #[schema(example = "7k2m-q9xd-4hrt-0pzc-3n8w-vy5e")]
    pub recovery_code: Option<String>,
}

pub fn user_agent(req: &HttpRequest) -> Option<String> {
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

pub fn token_pair(
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
        JsonBodyErrors,
        (status = 409, description = "Email already registered (`email_taken`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or password", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
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
    let password = state
        .hasher
        .check_new(password, email.clone().unwrap_or(placeholder))
        .await?
        .map_err(|m| errors.push(FieldError::new("password", m)))
        .ok();
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Validation(errors));
    };

    let hash = state.hasher.hash(&password).await?;
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let created = state
        .db
        .write(move |tx| accounts::register(tx, &email, &hash, ip.as_deref()))
        .await?;
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
        (status = 200, description = "Logged in (the refresh token is also set as an HttpOnly cookie); or, for an account with MFA on, `mfa_required` with the token for `POST /api/v1/auth/mfa` (no access token, no cookie)", body = LoginResponse),
        JsonBodyErrors,
        (status = 401, description = "Invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed email or password", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
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
    let client = client_key(&req, state.settings.trust_proxy_headers)
        .unwrap_or_else(|| "unknown".to_owned());
    let presented_device = presented_device_token(&req);
    let device_hash = presented_device.as_deref().map(hash_refresh_token);

    let lookup_email = email.as_str().to_owned();
    let found = state
        .db
        .read(move |conn| Ok(user::find_by_email(conn, &lookup_email)?))
        .await?;
    // Exactly one bcrypt verification on every path, real or dummy.
    let hash = found.as_ref().map(|u| u.password_hash.clone());
    let verified = state.hasher.verify(&password, hash).await?;

    let (session, secrets) = new_login(&state, &req);
    let mfa_token = new_refresh_token();
    let attempt = LoginAttempt {
        found,
        verified,
        device_hash,
        client_key: client,
        mfa_token_hash: mfa_token.hash,
        session,
    };
    let outcome = state
        .db
        .write(move |tx| sessions::login(tx, attempt))
        .await?;
    crate::metrics::login(match outcome {
        LoginOutcome::SignedIn(_) => "success",
        LoginOutcome::MfaRequired => "mfa_required",
        LoginOutcome::Refused => "failure",
    });
    match outcome {
        LoginOutcome::SignedIn(signed) => signed_in(&state, signed, secrets, presented_device),
        // No cookie of any kind until the second factor is given.
        LoginOutcome::MfaRequired => Ok(HttpResponse::Ok().json(LoginResponse::MfaRequired(
            MfaRequiredResponse {
                mfa_required: true,
                mfa_token: mfa_token.token,
                expires_in: mfa::MFA_TOKEN_TTL_SECS,
            },
        ))),
        LoginOutcome::Refused => Err(ApiError::InvalidCredentials),
    }
}

/// The secrets of a login that only its response carries.
struct LoginSecrets {
    refresh: String,
    /// Set as the device cookie if the client turns out to be a new device.
    device: String,
}

/// What a login opens if it succeeds, for the client of `req`.
fn new_login(state: &AppState, req: &HttpRequest) -> (NewLogin, LoginSecrets) {
    let refresh = new_refresh_token();
    let device = new_refresh_token();
    let session = NewLogin {
        ip: client_ip(req, state.settings.trust_proxy_headers),
        user_agent: user_agent(req),
        refresh_hash: refresh.hash,
        ttl_secs: state.settings.refresh_token_ttl_secs,
        new_device_hash: device.hash,
    };
    let secrets = LoginSecrets {
        refresh: refresh.token,
        device: device.token,
    };
    (session, secrets)
}

/// The token pair of a login that signed in. A new device gets its cookie;
/// a known one keeps its own (`presented_device`), rolled on.
fn signed_in(
    state: &AppState,
    signed: SignedIn,
    secrets: LoginSecrets,
    presented_device: Option<String>,
) -> ApiResult<HttpResponse> {
    let mut response = token_pair(state, &signed.user, signed.session_id, secrets.refresh)?;
    let device_token = if signed.new_device {
        Some(secrets.device)
    } else {
        presented_device
    };
    if let Some(token) = device_token {
        response
            .add_cookie(&device_cookie(&token))
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting the device cookie: {e}")))?;
    }
    Ok(response)
}

/// The longest `mfa_token` worth looking up (issued ones have 43 characters).
const MAX_MFA_TOKEN_CHARS: usize = 256;

/// The second step of a login: the `mfa_token` and a TOTP code (the current
/// step, or the one before or after) or an unused recovery code.
///
/// The token is single use, lives 5 minutes and dies after 5 wrong codes. A
/// TOTP code already accepted for the user is refused. Every failure is 401
/// `invalid_credentials`; a wrong code counts toward the account's lockout
/// like a wrong password (with the device cookie the login presented).
#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa",
    tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Logged in; the refresh token is also set as an HttpOnly cookie", body = TokenPairResponse),
        JsonBodyErrors,
        (status = 401, description = "Unknown, used or expired `mfa_token`, or a wrong or replayed code (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of `code` and `recovery_code`, or a malformed one", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn verify_mfa(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<MfaLoginRequest>,
) -> ApiResult<HttpResponse> {
    let MfaLoginRequest {
        mfa_token,
        code,
        recovery_code,
    } = body.0;
    if mfa_token.is_empty() || mfa_token.chars().count() > MAX_MFA_TOKEN_CHARS {
        return Err(ApiError::validation(
            "mfa_token",
            "must be the mfa_token of the login",
        ));
    }
    let factor = match (code, recovery_code) {
        (Some(code), None) => {
            SecondFactor::Totp(TotpCode::parse(&code).map_err(|m| ApiError::validation("code", m))?)
        }
        (None, Some(code)) => SecondFactor::Recovery(
            RecoveryCode::parse(&code).map_err(|m| ApiError::validation("recovery_code", m))?,
        ),
        _ => {
            return Err(ApiError::validation(
                "code",
                "give exactly one of code and recovery_code",
            ))
        }
    };
    let (session, secrets) = new_login(&state, &req);
    let attempt = MfaLoginAttempt {
        token_hash: hash_refresh_token(&mfa_token),
        factor,
        session,
    };
    let keys = state.clone();
    let outcome = state
        .db
        .write(move |tx| mfa::complete_login(tx, &keys.mfa, attempt, crate::clock::now()))
        .await?;
    let MfaLoginOutcome::SignedIn(signed) = outcome else {
        crate::metrics::login("failure");
        return Err(ApiError::InvalidCredentials);
    };
    crate::metrics::login("success");
    // A known device keeps the cookie it has (this path never sees it).
    signed_in(&state, signed, secrets, None)
}

/// The device cookie's token, if the client sent a plausible one.
fn presented_device_token(req: &HttpRequest) -> Option<String> {
    req.cookie(DEVICE_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

/// OWASP's device cookie: only the login endpoint ever sees it.
fn device_cookie(token: &str) -> Cookie<'static> {
    Cookie::build(DEVICE_COOKIE, token.to_owned())
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path(DEVICE_COOKIE_PATH)
        .max_age(CookieDuration::days(DEVICE_COOKIE_DAYS))
        .finish()
}

fn presented_refresh_token(req: &HttpRequest, body: Option<RefreshRequest>) -> Option<String> {
    body.and_then(|b| b.refresh_token)
        .filter(|t| !t.is_empty())
        .or_else(|| req.cookie(REFRESH_COOKIE).map(|c| c.value().to_owned()))
        .filter(|t| !t.is_empty() && t.len() <= 256)
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
        JsonBodyErrors,
        (status = 401, description = "Missing, unknown, expired or reused refresh token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown fields", body = Problem, content_type = "application/problem+json"),
        TooManyAttempts,
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: OptionalJson<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let token = presented_refresh_token(&req, body.0).ok_or(ApiError::RefreshRejected)?;
    let presented_hash = hash_refresh_token(&token);
    let next = new_refresh_token();
    let ip = client_ip(&req, state.settings.trust_proxy_headers);
    let next_hash = next.hash.clone();
    let outcome = state
        .db
        .write(move |tx| sessions::refresh(tx, &presented_hash, &next_hash, ip.as_deref()))
        .await?;
    match outcome {
        RefreshOutcome::Rotated(user, session_id) => {
            token_pair(&state, &user, session_id, next.token)
        }
        RefreshOutcome::Reused => {
            log::warn!("refresh token reuse detected; session revoked");
            Err(ApiError::RefreshRejected)
        }
        RefreshOutcome::Invalid => Err(ApiError::RefreshRejected),
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
        JsonBodyErrors,
        (status = 401, description = "Neither a valid access token nor a refresh token", body = Problem, content_type = "application/problem+json"),
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
        // An API token cannot sign out a session; a caller over its limit
        // is told so rather than treated as unauthenticated.
        Err(
            e
            @ (ApiError::Internal(_) | ApiError::InsufficientScope | ApiError::RateLimited { .. }),
        ) => return Err(e),
        Err(_) => None,
    };
    let refresh_hash = presented_refresh_token(&req, body.0).map(|t| hash_refresh_token(&t));
    if by_access.is_none() && refresh_hash.is_none() {
        return Err(ApiError::Unauthorized);
    }
    let ended = state
        .db
        .write(move |tx| sessions::logout(tx, by_access, refresh_hash.as_deref(), ip.as_deref()))
        .await?;
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
        Unauthenticated,
    )
)]
pub async fn logout_all(
    user: AuthUser,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    write_as(&state, &req, &user, sessions::logout_all).await?;
    Ok(HttpResponse::NoContent().cookie(removal_cookie()).finish())
}
