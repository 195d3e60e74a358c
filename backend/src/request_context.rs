//! The request id and the per-request context that log lines, problem bodies
//! and metric hooks read while a request is being handled.
//!
//! The outermost middleware (`observe`) sets the context as a task-local
//! around the whole service chain, so everything polled on the worker for
//! that request (middleware, extractors, handlers, `error_response`) sees it
//! without a request in hand. Work moved to the blocking pool (`web::block`)
//! runs on another thread and does not see it.

use std::future::Future;
use std::sync::Arc;

use crate::metrics::Metrics;

/// `X-Request-Id`, on requests (when the client sends a usable one) and on
/// every response.
pub const HEADER: &str = "x-request-id";

/// Longest client-supplied id that is kept.
pub const MAX_LEN: usize = 64;

/// A request id: 1 to 64 characters of `[A-Za-z0-9._-]`, safe to echo in a
/// header, a log line and a JSON body without escaping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// The client's id when it is well formed, else `None`.
    pub fn parse(raw: &[u8]) -> Option<Self> {
        let well_formed = !raw.is_empty()
            && raw.len() <= MAX_LEN
            && raw
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !well_formed {
            return None;
        }
        std::str::from_utf8(raw).ok().map(|s| Self(Arc::from(s)))
    }

    /// A fresh id, 32 lower-case hex digits: 64 random bits drawn once per
    /// process (so instances never collide) and a 64-bit counter mixed
    /// through a bijection (so ids look unrelated and never repeat). An id
    /// names a request; it is not a secret, so it needs no RNG draw on the
    /// request path.
    pub fn generate() -> Self {
        static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(rand::random);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(Arc::from(format!("{prefix:016x}{:016x}", mix(n))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SplitMix64's finaliser: a bijection on u64, so distinct counters give
/// distinct, scattered values.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What code running for a request can learn about it without the request.
#[derive(Clone)]
pub struct RequestContext {
    pub id: RequestId,
    /// The application's metrics, when `METRICS_ADDR` is set.
    pub metrics: Option<Arc<Metrics>>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// Runs `future` with `context` as the current request context.
pub async fn scope<F: Future>(context: RequestContext, future: F) -> F::Output {
    CONTEXT.scope(context, future).await
}

/// Calls `f` with the current request context, if there is one.
pub fn with_current<R>(f: impl FnOnce(&RequestContext) -> R) -> Option<R> {
    CONTEXT.try_with(f).ok()
}

/// The id of the request being handled on this task, if any.
pub fn current_id() -> Option<RequestId> {
    with_current(|c| c.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_client_ids_are_kept_and_others_refused() {
        let max = "a".repeat(MAX_LEN);
        for ok in ["a", "abc-DEF_123.x", max.as_str(), "..", "0"] {
            assert_eq!(
                RequestId::parse(ok.as_bytes()).map(|id| id.to_string()),
                Some(ok.to_owned()),
                "{ok}"
            );
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            long.as_str(),
            "has space",
            "semi;colon",
            "new\nline",
            "quote\"",
            "é",
            "a/b",
            "a:b",
        ] {
            assert!(RequestId::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(RequestId::parse(&[0xff, 0xfe]).is_none());
    }

    #[test]
    fn generated_ids_are_unique_well_formed_hex() {
        let ids: std::collections::HashSet<String> = (0..10_000)
            .map(|_| RequestId::generate().as_str().to_owned())
            .collect();
        assert_eq!(ids.len(), 10_000);
        let a = RequestId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(RequestId::parse(a.as_str().as_bytes()), Some(a));
    }

    #[actix_web::test]
    async fn the_context_is_visible_inside_the_scope_only() {
        assert!(current_id().is_none());
        let id = RequestId::generate();
        let context = RequestContext {
            id: id.clone(),
            metrics: None,
        };
        let seen = scope(context, async {
            tokio::task::yield_now().await;
            current_id()
        })
        .await;
        assert_eq!(seen, Some(id));
        assert!(current_id().is_none());
    }
}
