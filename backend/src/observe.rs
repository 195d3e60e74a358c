//! The outermost middleware: the request id, the request context, the access
//! log line and the HTTP metrics of every request.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};

use crate::logging::ACCESS_TARGET;
use crate::metrics::Metrics;
use crate::request_context::{self, RequestContext, RequestId};

/// The authenticated caller's id, put into the request extensions by the
/// authentication extractor so that the access line can name the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserId(pub i64);

/// Records the authenticated user of this request for the access log.
pub fn set_user(req: &HttpRequest, user_id: i64) {
    req.extensions_mut().insert(UserId(user_id));
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(request_context::HEADER)
        .and_then(|value| RequestId::parse(value.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    let metrics = req
        .app_data::<web::Data<Metrics>>()
        .map(|data| Arc::clone(data));
    let method = req.method().clone();
    // `path()` has no query string: tokens in a query never reach the log.
    let path = req.path().to_owned();
    let peer = req.peer_addr().map(|addr| addr.ip());
    let context = RequestContext {
        id: id.clone(),
        metrics: metrics.clone(),
    };

    // Errors are turned into their response inside the scope, so that the
    // problem body built there carries the request id.
    let outcome = request_context::scope(context, async move {
        match next.call(req).await {
            Ok(res) => Ok(res.map_into_boxed_body()),
            Err(err) => {
                let response = err.error_response();
                Err((err, response))
            }
        }
    })
    .await;

    let header = HeaderValue::from_str(id.as_str()).ok();
    let request_id_header = HeaderName::from_static(request_context::HEADER);
    match outcome {
        Ok(mut res) => {
            if let Some(value) = header {
                res.headers_mut().insert(request_id_header, value);
            }
            let request = res.request();
            let user = request.extensions().get::<UserId>().copied();
            let done = Done {
                id: &id,
                method: &method,
                path: &path,
                peer,
                status: res.status(),
                user,
                started,
            };
            done.log();
            if let Some(metrics) = &metrics {
                metrics.observe_request(
                    &method,
                    request.match_pattern(),
                    done.status,
                    started.elapsed(),
                );
            }
            Ok(res)
        }
        Err((err, mut response)) => {
            if let Some(value) = header {
                response.headers_mut().insert(request_id_header, value);
            }
            let done = Done {
                id: &id,
                method: &method,
                path: &path,
                peer,
                status: response.status(),
                user: None,
                started,
            };
            done.log();
            if let Some(metrics) = &metrics {
                metrics.observe_request(&method, None, done.status, started.elapsed());
            }
            Err(actix_web::error::InternalError::from_response(err, response).into())
        }
    }
}

/// A finished request, as the access line reports it.
struct Done<'a> {
    id: &'a RequestId,
    method: &'a Method,
    path: &'a str,
    peer: Option<std::net::IpAddr>,
    status: StatusCode,
    user: Option<UserId>,
    started: Instant,
}

impl Done<'_> {
    /// One line per request, when its response head is ready. Never headers
    /// or cookies, never the query string.
    fn log(&self) {
        if !log::log_enabled!(target: ACCESS_TARGET, log::Level::Info) {
            return;
        }
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        // Microsecond precision is plenty and keeps the number short.
        let duration_ms = (duration_ms * 1000.0).round() / 1000.0;
        let ip = self
            .peer
            .map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        let status = self.status.as_u16();
        let method = self.method.as_str();
        let request_id = self.id.as_str();
        let path = self.path;
        match self.user {
            Some(UserId(user_id)) => log::info!(
                target: ACCESS_TARGET,
                request_id, method, path, status, duration_ms, user_id, ip = ip.as_str();
                "{ip} \"{method} {path}\" {status} {duration_ms}ms"
            ),
            None => log::info!(
                target: ACCESS_TARGET,
                request_id, method, path, status, duration_ms, ip = ip.as_str();
                "{ip} \"{method} {path}\" {status} {duration_ms}ms"
            ),
        }
    }
}
