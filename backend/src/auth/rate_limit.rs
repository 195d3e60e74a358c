//! Rate limits, with the `RateLimit-Policy` / `RateLimit` headers of
//! draft-ietf-httpapi-ratelimit-headers-11:
//! - per client (IPv4 address or IPv6 /64, [`client_key`]) on the
//!   endpoints that take credentials (`AUTH_RATE_LIMIT_PER_MINUTE`), with
//!   the refresh endpoint on a budget of its own;
//! - per user (JWT) or per API token on every other authenticated endpoint
//!   (`API_RATE_LIMIT_PER_MINUTE`, 0 turns it off), counted in
//!   `auth::extract` once the caller is known.
//!
//! Counters are actix-extensible-rate-limit's fixed one-minute windows, in
//! process memory, or with `REDIS_URL` in Redis so that every instance
//! shares one budget. When Redis cannot be reached the credential limits
//! fail closed (503 `unavailable` with `Retry-After`) and the API limit
//! fails open; the log says so once when it goes and once when it is back.
//! Our own middleware drives the backends (not the crate's), because the
//! crate's logs every backend failure on every request and answers them
//! with a bare 500.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_extensible_rate_limit::backend::memory::InMemoryBackend;
use actix_extensible_rate_limit::backend::redis::RedisBackend;
use actix_extensible_rate_limit::backend::{Backend, Decision, SimpleInput, SimpleOutput};
use actix_extensible_rate_limit::HeaderCompatibleOutput;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use sha2::{Digest, Sha256};

use crate::auth::extract::client_key;
use crate::config::{RedisUrl, Settings};
use crate::error::ApiError;
use crate::state::AppState;

/// Every limit counts requests per minute.
pub const WINDOW: Duration = Duration::from_secs(60);
/// `Retry-After` when the credential limits cannot be checked.
pub const UNAVAILABLE_RETRY_SECS: u64 = 5;
/// How long one Redis operation (or connection attempt) may take before
/// Redis counts as unreachable.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// While Redis was never reached, a new connection is tried at most this often.
const REDIS_RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The quota policies, by the name the headers give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Register, login, password change, account deletion, token creation.
    Credentials,
    /// Token refresh: its own budget, so the SPA's refreshes never eat the
    /// sign-in budget.
    Refresh,
    /// Every other authenticated endpoint, per user or API token.
    Api,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Credentials => "credentials",
            Self::Refresh => "refresh",
            Self::Api => "api",
        }
    }
}

/// One check's outcome, as the response headers report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub policy: Policy,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window ends (the draft's `t`).
    pub reset_secs: u64,
}

impl Status {
    fn from_output(policy: Policy, output: &SimpleOutput) -> Self {
        Self {
            policy,
            limit: output.limit(),
            remaining: output.remaining(),
            reset_secs: output.seconds_until_reset(),
        }
    }

    /// `RateLimit-Policy: "api";q=600;w=60` and `RateLimit: "api";r=599;t=42`.
    pub fn apply(&self, headers: &mut HeaderMap) {
        let name = self.policy.name();
        let policy = format!("\"{name}\";q={};w={}", self.limit, WINDOW.as_secs());
        let current = format!("\"{name}\";r={};t={}", self.remaining, self.reset_secs);
        for (header, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, current)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(header, value);
            }
        }
    }

    /// Seconds a denied client waits (`Retry-After`): never 0.
    pub fn retry_after_secs(&self) -> u64 {
        self.reset_secs.max(1)
    }
}

pub enum Verdict {
    Allowed(Status),
    Denied(Status),
    /// The store cannot be reached (Redis): the caller decides whether to
    /// fail open or closed.
    Unavailable,
}

/// The counters of every limit, shared by all workers.
pub struct RateLimits {
    store: Store,
    credentials_per_minute: u64,
    api_per_minute: u64,
}

enum Store {
    Memory(InMemoryBackend),
    Redis(Box<RedisStore>),
}

impl RateLimits {
    /// Builds the store `settings` ask for. With `REDIS_URL` it tries to
    /// connect at once (so the log says at start-up when Redis is out of
    /// reach) but starts either way.
    pub async fn new(settings: &Settings) -> Self {
        let store = match &settings.redis_url {
            None => Store::Memory(InMemoryBackend::builder().build()),
            Some(url) => {
                let store = RedisStore::new(url, settings);
                if store.backend().await.is_some() {
                    log::info!("rate limits are kept in Redis at {}", url.display);
                }
                Store::Redis(Box::new(store))
            }
        };
        Self {
            store,
            credentials_per_minute: u64::from(settings.auth_rate_limit_per_minute),
            api_per_minute: u64::from(settings.api_rate_limit_per_minute),
        }
    }

    /// False with `API_RATE_LIMIT_PER_MINUTE=0`.
    pub fn api_limit_enabled(&self) -> bool {
        self.api_per_minute > 0
    }

    /// Counts one request of `key` (a client, user or token) against
    /// `policy`.
    pub async fn check(&self, policy: Policy, key: &str) -> Verdict {
        let max_requests = match policy {
            Policy::Credentials | Policy::Refresh => self.credentials_per_minute,
            Policy::Api => self.api_per_minute,
        };
        let input = SimpleInput {
            interval: WINDOW,
            max_requests,
            key: format!("{}:{key}", policy.name()),
        };
        let counted = match &self.store {
            Store::Memory(backend) => match backend.request(input).await {
                Ok((decision, output, _)) => Some((decision, output)),
                Err(never) => match never {},
            },
            Store::Redis(store) => store.request(input).await,
        };
        match counted {
            Some((Decision::Allowed, output)) => {
                Verdict::Allowed(Status::from_output(policy, &output))
            }
            Some((Decision::Denied, output)) => {
                Verdict::Denied(Status::from_output(policy, &output))
            }
            None => Verdict::Unavailable,
        }
    }
}

/// The Redis store: connected lazily (a Redis that is down at start-up
/// does not stop the server), then kept connected by redis'
/// `ConnectionManager`, which reconnects by itself.
struct RedisStore {
    client: Option<redis::Client>,
    /// Keys of one deployment: instances sharing a `JWT_SECRET` share
    /// budgets; another deployment on the same Redis does not.
    prefix: String,
    display: String,
    backend: tokio::sync::OnceCell<RedisBackend>,
    next_attempt: Mutex<Option<Instant>>,
    down: AtomicBool,
}

impl RedisStore {
    fn new(url: &RedisUrl, settings: &Settings) -> Self {
        use secrecy::ExposeSecret;
        let namespace = Sha256::new()
            .chain_update(b"securetodo rate limit namespace\0")
            .chain_update(settings.jwt_secret.expose_secret().as_bytes())
            .finalize();
        let namespace: String = namespace[..6].iter().map(|b| format!("{b:02x}")).collect();
        Self {
            // Parsed already when the settings were read.
            client: redis::Client::open(url.expose()).ok(),
            prefix: format!("securetodo:{namespace}:rl:"),
            display: url.display.clone(),
            backend: tokio::sync::OnceCell::new(),
            next_attempt: Mutex::new(None),
            down: AtomicBool::new(false),
        }
    }

    /// The connected backend, or `None` while Redis has never been reached
    /// (a new attempt at most once per [`REDIS_RECONNECT_INTERVAL`]).
    async fn backend(&self) -> Option<&RedisBackend> {
        if let Some(backend) = self.backend.get() {
            return Some(backend);
        }
        {
            let mut next = self.next_attempt.lock().ok()?;
            let now = Instant::now();
            if next.is_some_and(|at| now < at) {
                return None;
            }
            *next = Some(now + REDIS_RECONNECT_INTERVAL);
        }
        let client = self.client.clone()?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let connect = redis::aio::ConnectionManager::new_with_config(client, config);
        match actix_web::rt::time::timeout(2 * REDIS_TIMEOUT, connect).await {
            Ok(Ok(manager)) => {
                let backend = RedisBackend::builder(manager)
                    .key_prefix(Some(&self.prefix))
                    .build();
                let _ = self.backend.set(backend);
                self.backend.get()
            }
            Ok(Err(e)) => {
                self.report_down(&e.to_string());
                None
            }
            Err(_) => {
                self.report_down("connection timed out");
                None
            }
        }
    }

    async fn request(&self, input: SimpleInput) -> Option<(Decision, SimpleOutput)> {
        let backend = self.backend().await?;
        match actix_web::rt::time::timeout(2 * REDIS_TIMEOUT, backend.request(input)).await {
            Ok(Ok((decision, output, _))) => {
                self.report_up();
                Some((decision, output))
            }
            Ok(Err(e)) => {
                self.report_down(&e.to_string());
                None
            }
            Err(_) => {
                self.report_down("no answer in time");
                None
            }
        }
    }

    /// Logs the outage once, not once per request.
    fn report_down(&self, detail: &str) {
        if !self.down.swap(true, Ordering::SeqCst) {
            log::error!(
                "Redis at {} cannot be reached ({detail}): the credential endpoints answer 503 \
                 and the per-user API limit is not enforced until it is back",
                self.display
            );
        }
    }

    fn report_up(&self) {
        if self.down.swap(false, Ordering::SeqCst) {
            log::warn!(
                "Redis at {} is reachable again: rate limits are enforced again",
                self.display
            );
        }
    }
}

/// Marks a request whose credential limit was counted, so that the
/// per-user API limit is not counted on top of it.
#[derive(Debug, Clone, Copy)]
pub struct CredentialLimited;

/// Middleware: the per-client limit of the endpoints that take credentials.
pub async fn limit_credentials(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    limit_client(req, next, Policy::Credentials).await
}

/// Middleware: the per-client limit of the refresh endpoint.
pub async fn limit_refresh(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    limit_client(req, next, Policy::Refresh).await
}

async fn limit_client(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    policy: Policy,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = client_key(req.request(), state.settings.trust_proxy_headers)
        .unwrap_or_else(|| "unknown".into());
    match state.rate_limits.check(policy, &key).await {
        Verdict::Allowed(status) => {
            req.extensions_mut().insert(CredentialLimited);
            req.extensions_mut().insert(status);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Verdict::Denied(status) => {
            let response = ApiError::RateLimited {
                retry_after_secs: status.retry_after_secs(),
            }
            .error_response();
            req.extensions_mut().insert(status);
            Ok(req.into_response(response))
        }
        // Fail closed: without a shared counter, N instances would give an
        // attacker N budgets for guessing passwords.
        Verdict::Unavailable => Ok(req.into_response(
            ApiError::Unavailable {
                retry_after_secs: UNAVAILABLE_RETRY_SECS,
            }
            .error_response(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_draft_structured_field_syntax() {
        let mut headers = HeaderMap::new();
        Status {
            policy: Policy::Api,
            limit: 600,
            remaining: 599,
            reset_secs: 42,
        }
        .apply(&mut headers);
        assert_eq!(headers.get(RATELIMIT_POLICY).unwrap(), "\"api\";q=600;w=60");
        assert_eq!(headers.get(RATELIMIT).unwrap(), "\"api\";r=599;t=42");
    }
}
