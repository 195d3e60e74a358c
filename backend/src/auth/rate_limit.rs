//! Per-client limits on the endpoints that take credentials. A client is
//! its IPv4 address or its IPv6 /64 network ([`client_key`]).

use std::time::Duration;

use actix_extensible_rate_limit::backend::memory::InMemoryBackend;
use actix_extensible_rate_limit::backend::{SimpleInputFunctionBuilder, SimpleOutput};
use actix_extensible_rate_limit::{HeaderCompatibleOutput, RateLimiter};
use actix_web::dev::ServiceRequest;
use actix_web::ResponseError;

use crate::auth::extract::client_key;
use crate::error::ApiError;

/// Builds a limiter of `per_minute` requests per client IP for `bucket`
/// (endpoints sharing a bucket share the budget).
pub fn limiter(
    backend: &InMemoryBackend,
    bucket: &'static str,
    per_minute: u32,
    trust_proxy_headers: bool,
) -> RateLimiter<
    InMemoryBackend,
    SimpleOutput,
    impl Fn(
            &ServiceRequest,
        ) -> std::future::Ready<
            Result<actix_extensible_rate_limit::backend::SimpleInput, actix_web::Error>,
        > + 'static,
> {
    let input = SimpleInputFunctionBuilder::new(Duration::from_secs(60), u64::from(per_minute))
        .custom_key(bucket)
        .custom_fn(move |req| {
            Ok(client_key(req.request(), trust_proxy_headers).unwrap_or_else(|| "unknown".into()))
        })
        .build();
    RateLimiter::builder(backend.clone(), input)
        .request_denied_response(|output: &SimpleOutput| {
            ApiError::RateLimited {
                retry_after_secs: output.seconds_until_reset().max(1),
            }
            .error_response()
        })
        .build()
}
