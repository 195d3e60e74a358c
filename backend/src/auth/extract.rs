//! `AuthUser` and `AdminUser`: the permission check as a handler argument.

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::NaiveDateTime;

use crate::app::sessions;
use crate::domain::Role;
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

pub async fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("AppState missing")))?
        .clone();
    let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
    let (user_id, session_id) = state.jwt.verify(token)?;
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

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
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
    use actix_web::http::Method;
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
