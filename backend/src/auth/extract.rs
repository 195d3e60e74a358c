//! `AuthUser` and `AdminUser`: the permission check as a handler argument.

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::NaiveDateTime;

use crate::app::sessions;
use crate::app::tokens::{self, TokenCaller};
use crate::auth::rate_limit::{CredentialLimited, Policy, Verdict};
use crate::auth::tokens::{hash_api_token, is_api_token};
use crate::domain::{Role, Scope, Scopes};
use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated caller: a valid access token whose session is live and
/// whose user is enabled, read from the database on every request so that
/// logout, disable and role changes take effect at once.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i64,
    pub session_id: i64,
    pub email: String,
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub mfa_enabled: bool,
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// How the caller of a todo endpoint proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token (JWT) of a live session.
    Session { session_id: i64 },
    /// A personal API token (`stp_...`).
    ApiToken { token_id: i64, scopes: Scopes },
}

/// The caller of a `/api/v1/todos` endpoint, the only endpoints an API
/// token opens: a live session, or a live token with the scope the method
/// needs (`GET`/`HEAD`: `todos:read`; anything else: `todos:write`).
/// Everywhere else handlers take [`AuthUser`], which refuses tokens.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub credential: Credential,
}

/// An authenticated caller with the admin role; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

/// The token from `Authorization: Bearer <token>`, if well-formed.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The client address: the peer, or with `TRUST_PROXY_HEADERS` the address
/// our proxy appended last to `X-Forwarded-For` (earlier entries are
/// client-supplied and can be forged).
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<String> {
    client_addr(req, trust_proxy_headers).map(|ip| ip.to_string())
}

/// The key that rate limits count a client under: its IPv4 address, or for
/// IPv6 its /64 network (one subscriber usually holds a whole /64, so
/// per-address keys would give it 2^64 budgets). IPv4-mapped IPv6
/// addresses count as the IPv4 address they carry.
pub fn client_key(req: &HttpRequest, trust_proxy_headers: bool) -> Option<String> {
    client_addr(req, trust_proxy_headers).map(network_key)
}

pub fn network_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let network = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{network}/64")
            }
        },
    }
}

fn client_addr(req: &HttpRequest, trust_proxy_headers: bool) -> Option<IpAddr> {
    if trust_proxy_headers {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .last()
            .and_then(|v| v.parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return Some(ip);
        }
    }
    req.peer_addr().map(|addr| addr.ip())
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState missing")))
}

/// The caller of a session-only endpoint (everything but the todos): a
/// valid access token of a live session. A live API token here is 403
/// `insufficient_scope`; an invalid one 401.
pub async fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = app_state(req)?;
    let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
    if is_api_token(token) {
        token_caller(&state, req, token).await?;
        return Err(ApiError::InsufficientScope);
    }
    session_user(&state, req, token).await
}

/// The caller of a todo endpoint: a session, or an API token with the
/// scope the method needs.
pub async fn authenticate_caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = app_state(req)?;
    let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
    if !is_api_token(token) {
        let user = session_user(&state, req, token).await?;
        return Ok(Caller {
            user_id: user.user_id,
            credential: Credential::Session {
                session_id: user.session_id,
            },
        });
    }
    let found = token_caller(&state, req, token).await?;
    let caller = token_in_scope(req.method(), req.path(), found)?;
    count_token_request(req, &state, &caller).await?;
    Ok(caller)
}

/// A live token as the caller of `method` on `path`: a todo path, and the
/// scope the method needs (`GET`/`HEAD`: `todos:read`; anything else:
/// `todos:write`), or 403 `insufficient_scope`.
fn token_in_scope(method: &Method, path: &str, found: TokenCaller) -> Result<Caller, ApiError> {
    let needed = match *method {
        Method::GET | Method::HEAD => Scope::TodosRead,
        _ => Scope::TodosWrite,
    };
    // Defence in depth: `Caller` belongs to the todo handlers only.
    let todo_path = path == "/api/v1/todos" || path.starts_with("/api/v1/todos/");
    if !todo_path || !found.scopes.contains(needed) {
        return Err(ApiError::InsufficientScope);
    }
    Ok(Caller {
        user_id: found.user_id,
        credential: Credential::ApiToken {
            token_id: found.token_id,
            scopes: found.scopes,
        },
    })
}

/// Counts a token's request against the per-token limit.
async fn count_token_request(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
) -> Result<(), ApiError> {
    match caller.credential {
        Credential::ApiToken { token_id, .. } => {
            count_api_request(req, state, || format!("token:{token_id}")).await
        }
        Credential::Session { .. } => Ok(()),
    }
}

/// A JWT: its signature and claims, the per-user limit (before the
/// database, so that a client over its budget costs no query), then the
/// session, live and of an enabled user.
async fn session_user(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<AuthUser, ApiError> {
    let (user_id, session_id) = session_claims(state, req, token).await?;
    let found = state
        .db
        .read(move |conn| sessions::authenticate(conn, session_id, user_id))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    crate::observe::set_user(req, found.user_id);
    Ok(AuthUser {
        user_id: found.user_id,
        session_id: found.session_id,
        email: found.email,
        role: Role::from_db(&found.role),
        created_at: found.created_at,
        mfa_enabled: found.mfa_enabled,
    })
}

/// The part of a JWT's check that needs no database: its signature and
/// claims, then the per-user limit. Gives `(user_id, session_id)`, still
/// to be checked against the session.
async fn session_claims(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<(i64, i64), ApiError> {
    let (user_id, session_id) = state.jwt.verify(token)?;
    count_api_request(req, state, || format!("user:{user_id}")).await?;
    Ok((user_id, session_id))
}

/// An API token: one indexed lookup by the hash of the secret.
async fn token_caller(
    state: &AppState,
    req: &HttpRequest,
    token: &str,
) -> Result<TokenCaller, ApiError> {
    let hash = hash_api_token(token);
    let found = state
        .db
        .read(move |conn| tokens::authenticate(conn, &hash))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    crate::observe::set_user(req, found.user_id);
    Ok(found)
}

/// Counts the request against the per-user (or per-token) API limit,
/// unless the endpoint has a credential limit instead. Its status goes to
/// the request extensions for the `RateLimit` headers. When the store
/// cannot be reached (Redis), the request passes: this limit fails open.
async fn count_api_request(
    req: &HttpRequest,
    state: &AppState,
    key: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    if !state.rate_limits.api_limit_enabled() || req.extensions().contains::<CredentialLimited>() {
        return Ok(());
    }
    match state.rate_limits.check(Policy::Api, &key()).await {
        Verdict::Allowed(status) => {
            req.extensions_mut().insert(status);
            Ok(())
        }
        Verdict::Denied(status) => {
            let retry_after_secs = status.retry_after_secs();
            req.extensions_mut().insert(status);
            Err(ApiError::RateLimited { retry_after_secs })
        }
        Verdict::Unavailable => Ok(()),
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// Reads the token caller that [`api_token_gate`] let through, or
/// authenticates the request itself (a session, or a token the gate did
/// not see).
impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let gated = req.extensions().get::<Caller>().cloned();
        let req = req.clone();
        Box::pin(async move {
            match gated {
                Some(caller) => Ok(caller),
                None => authenticate_caller(&req).await,
            }
        })
    }
}

/// The caller of a todo read whose credential check is deferred into the
/// handler's own database call, so that the read costs one blocking hop
/// and one pooled connection instead of two (`GET /api/v1/todos`, the
/// hottest path). The extractor checks everything that needs no database:
/// a JWT's signature and claims and the per-user limit; an API token is
/// only hashed (the gate leaves this route's tokens to the handler). The
/// handler must check the credential on the connection it reads with:
/// the [`pending_session`](DeferredCaller::pending_session) in the
/// statement that reads, or [`confirm`](DeferredCaller::confirm) before it
/// reads; then [`admit`](DeferredCaller::admit) the confirmed caller. It
/// must confirm and admit before it answers any error of its own, so that
/// a bad credential hears 401, a token without the scope 403 and a token
/// over its limit 429 first, exactly as with [`Caller`] and the gate.
#[derive(Debug, Clone)]
pub struct DeferredCaller(Deferred);

#[derive(Debug, Clone)]
enum Deferred {
    /// A caller the gate has already checked in full.
    Checked(Caller),
    /// A JWT whose signature and claims are good; its session is not yet
    /// checked.
    Session { user_id: i64, session_id: i64 },
    /// An API token not yet looked up (the gate leaves the list's to its
    /// handler): the hash of its secret, and the method and path its scope
    /// is checked against.
    Token {
        hash: String,
        method: Method,
        path: String,
    },
}

impl DeferredCaller {
    /// `(session_id, user_id)` of a JWT whose session is still to be
    /// checked; `None` for a caller already checked in full.
    pub fn pending_session(&self) -> Option<(i64, i64)> {
        match &self.0 {
            Deferred::Checked(_) | Deferred::Token { .. } => None,
            Deferred::Session {
                user_id,
                session_id,
            } => Some((*session_id, *user_id)),
        }
    }

    /// The check [`Caller`] makes, on `conn`: the session (live, of an
    /// enabled user, `last_used_at` touched when stale) or the token (live,
    /// of an enabled user, with the scope), 401 or 403 when it fails. A
    /// token's request is counted against its limit afterwards, by
    /// [`admit`](Self::admit).
    pub fn confirm(&self, conn: &mut crate::db::Conn<'_>) -> Result<Caller, ApiError> {
        match &self.0 {
            Deferred::Checked(caller) => Ok(caller.clone()),
            Deferred::Token { hash, method, path } => {
                let found = tokens::authenticate(conn, hash)?.ok_or(ApiError::Unauthorized)?;
                token_in_scope(method, path, found)
            }
            Deferred::Session {
                user_id,
                session_id,
            } => {
                let found = sessions::authenticate(conn, *session_id, *user_id)?
                    .ok_or(ApiError::Unauthorized)?;
                Ok(Caller {
                    user_id: found.user_id,
                    credential: Credential::Session {
                        session_id: found.session_id,
                    },
                })
            }
        }
    }
}

impl DeferredCaller {
    /// Back from the database with the confirmed caller: a token's request
    /// is counted against the per-token limit (a session's was counted
    /// before the database, by the extractor), and the caller is recorded
    /// for the access log.
    pub async fn admit(&self, req: &HttpRequest, caller: &Caller) -> Result<(), ApiError> {
        crate::observe::set_user(req, caller.user_id);
        if let Deferred::Token { .. } = self.0 {
            let state = app_state(req)?;
            count_token_request(req, &state, caller).await?;
        }
        Ok(())
    }
}

impl FromRequest for DeferredCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let gated = req.extensions().get::<Caller>().cloned();
        let req = req.clone();
        Box::pin(async move {
            if let Some(caller) = gated {
                return Ok(Self(Deferred::Checked(caller)));
            }
            let token = bearer_token(&req).ok_or(ApiError::Unauthorized)?;
            if is_api_token(token) {
                return Ok(Self(Deferred::Token {
                    hash: hash_api_token(token),
                    method: req.method().clone(),
                    path: req.path().to_owned(),
                }));
            }
            let state = app_state(&req)?;
            let (user_id, session_id) = session_claims(&state, &req, token).await?;
            Ok(Self(Deferred::Session {
                user_id,
                session_id,
            }))
        })
    }
}

/// Paths where an `Authorization` header means nothing (credentials travel
/// in the body or a cookie): the gate leaves them alone.
const TOKENLESS_PATHS: [&str; 4] = [
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/mfa",
    "/api/v1/auth/refresh",
];

/// The one route whose handler checks its token itself, in the same
/// database call as its read, and answers 401/403 before any error of its
/// own ([`DeferredCaller`]): the todo list.
fn is_deferred_route(req: &actix_web::dev::ServiceRequest) -> bool {
    req.method() == Method::GET && req.path() == "/api/v1/todos"
}

/// Middleware on `/api/v1`: a request with an API token (`Bearer stp_...`)
/// is judged before routing and before any parameter or body is read, so
/// a token outside its scopes is always 403 `insufficient_scope` (an
/// invalid one 401), never a validation error that would say something
/// about an endpoint it may not use. Access tokens (JWTs) pass straight
/// through: one prefix comparison, no lookup. The todo list's own handler
/// keeps the same promise in one database call ([`is_deferred_route`]).
pub async fn api_token_gate(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::ResponseError;
    let with_token = bearer_token(req.request()).is_some_and(is_api_token)
        && !TOKENLESS_PATHS.contains(&req.path())
        && !is_deferred_route(&req);
    if with_token {
        match authenticate_caller(req.request()).await {
            Ok(caller) => {
                req.extensions_mut().insert(caller);
            }
            Err(error) => return Ok(req.into_response(error.error_response())),
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// Reads the admin that [`require_admin`] authenticated for this request:
/// an admin request looks the session up once. Without the gate (a route
/// that forgot it) it authenticates itself, so a forgotten gate is never a
/// hole.
impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let gated = req.extensions().get::<AdminUser>().cloned();
        let req = req.clone();
        Box::pin(async move {
            if let Some(admin) = gated {
                return Ok(admin);
            }
            let user = authenticate(&req).await?;
            if !user.is_admin() {
                return Err(ApiError::Forbidden);
            }
            Ok(AdminUser(user))
        })
    }
}

/// Middleware for admin resources: authenticates and checks the role before
/// the handler's other extractors run. (Actix polls a handler's extractors
/// together, so a ready validation error would otherwise overtake the
/// pending session lookup and answer 422 to a non-admin.) Methods the
/// resource does not serve pass through to its 405.
pub async fn require_admin(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::ResponseError;
    let guarded = matches!(
        *req.method(),
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if guarded {
        let denied = match authenticate(req.request()).await {
            Ok(user) if user.is_admin() => {
                req.extensions_mut().insert(AdminUser(user));
                None
            }
            Ok(_) => Some(ApiError::Forbidden),
            Err(e) => Some(e),
        };
        if let Some(error) = denied {
            return Ok(req.into_response(error.error_response()));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_network() {
        let key = |s: &str| network_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
    }
}
