//! Security headers on every response, and problem+json for every error
//! status, including the ones framework components produce themselves.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use crate::auth::rate_limit;

use crate::error::{problem_for_status, ApiError, PROBLEM_JSON};
use crate::state::AppState;

/// The app's policy: no inline script or style, nothing from other origins.
pub const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// Swagger UI sets inline styles from its bundle; only its pages get that.
pub const SWAGGER_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), geolocation=(), \
    gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.path().to_owned();
    let state = req.app_data::<web::Data<AppState>>();
    let trust_proxy = state.is_some_and(|state| state.settings.trust_proxy_headers);
    // actix-cors still adds `Allow-Credentials` and `Expose-Headers` for an
    // origin it refuses; such an origin must get no CORS headers at all.
    let refused_origin = req.headers().get(header::ORIGIN).is_some_and(|origin| {
        !state.is_some_and(|state| {
            state
                .settings
                .cors_allowed_origins
                .iter()
                .any(|allowed| allowed.as_bytes() == origin.as_bytes())
        })
    });
    let preflight = req.method() == actix_web::http::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let https = req.app_config().secure()
        || (trust_proxy
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")));

    // The request must not be cloned before routing (actix needs sole
    // ownership), so an error from inner middleware (a CORS refusal) is
    // answered by an error whose response already carries the headers.
    match next.call(req).await {
        Ok(res) => {
            let mut res = res.map_into_boxed_body();
            if preflight && res.status().is_client_error() {
                // actix-cors answers a refused preflight with a bare 400.
                res = res.into_response(ApiError::Forbidden.error_response());
            } else if let Some(problem) = replacement_problem(res.response()) {
                res = res.into_response(problem);
            }
            harden(res.headers_mut(), &path, https);
            if refused_origin {
                strip_cors(res.headers_mut());
            }
            // A limit counted this request (credential or per-user): its
            // `RateLimit` headers go on the answer, 2xx and 429 alike.
            let limit = res
                .request()
                .extensions()
                .get::<rate_limit::Status>()
                .cloned();
            if let Some(status) = limit {
                status.apply(res.headers_mut());
            }
            Ok(res)
        }
        Err(err) => {
            let mut response = if err.as_error::<actix_cors::CorsError>().is_some() {
                ApiError::Forbidden.error_response()
            } else {
                err.error_response()
            };
            if let Some(problem) = replacement_problem(&response) {
                response = problem;
            }
            harden(response.headers_mut(), &path, https);
            if refused_origin {
                strip_cors(response.headers_mut());
            }
            Err(actix_web::error::InternalError::from_response(err, response).into())
        }
    }
}

/// A problem+json response for an error status that has another body.
fn replacement_problem<B>(
    response: &actix_web::HttpResponse<B>,
) -> Option<actix_web::HttpResponse> {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        return problem_for_status(status).map(|problem| problem.error_response());
    }
    None
}

fn strip_cors(headers: &mut actix_web::http::header::HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

fn harden(headers: &mut actix_web::http::header::HeaderMap, path: &str, https: bool) {
    let csp = if path.starts_with("/swagger-ui") {
        SWAGGER_CSP
    } else {
        APP_CSP
    };
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("permissions-policy"),
            PERMISSIONS_POLICY,
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if path.starts_with("/api/") || path.starts_with("/health") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
