//! `AuthUser` and `AdminUser`: the permission check as a handler argument.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::NaiveDateTime;

use crate::db::models::session::{self, SessionUser};
use crate::db::models::user::now;
use crate::domain::Role;
use crate::error::ApiError;
use crate::startup::AppState;

/// `last_used_at` is written at most this often, so reads stay reads.
const TOUCH_INTERVAL_SECS: i64 = 60;

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
}

impl AuthUser {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
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
    if trust_proxy_headers {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .last()
            .and_then(|v| v.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return Some(ip.to_string());
        }
    }
    req.peer_addr().map(|addr| addr.ip().to_string())
}

pub async fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState missing")))?
        .clone();
    let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
    let (user_id, session_id) = state.jwt.verify(token)?;
    let pool = state.pool.clone();
    let found: Option<SessionUser> = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get()?;
        let now = now();
        let found = session::find_live(&mut conn, session_id, user_id, now)?;
        if let Some(s) = &found {
            if (now - s.last_used_at).num_seconds() >= TOUCH_INTERVAL_SECS {
                session::touch(&mut conn, s.session_id, now)?;
            }
        }
        Ok(found)
    })
    .await??;
    let found = found.ok_or(ApiError::Unauthorized)?;
    crate::observe::set_user(req, found.user_id);
    Ok(AuthUser {
        user_id: found.user_id,
        session_id: found.session_id,
        email: found.email,
        role: Role::from_db(&found.role),
        created_at: found.created_at,
    })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
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
    use actix_web::http::Method;
    use actix_web::ResponseError;
    let guarded = matches!(
        *req.method(),
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if guarded {
        let denied = match authenticate(req.request()).await {
            Ok(user) if user.is_admin() => None,
            Ok(_) => Some(ApiError::Forbidden),
            Err(e) => Some(e),
        };
        if let Some(error) = denied {
            return Ok(req.into_response(error.error_response()));
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
