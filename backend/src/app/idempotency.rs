//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) for the
//! requests that create or restore a todo.
//!
//! A request with a key first claims it in a short transaction of its own
//! ([`begin`]): a new key is recorded as in flight; a key whose request
//! finished answers with the stored response ([`Claim::Replay`]) when the
//! fingerprint (method, path, body bytes) is the same, and 422 when not;
//! a key still in flight is 409. The request then acts and records its
//! response with [`finish`] in the same transaction as the todo it writes,
//! so one is never committed without the other. A request that fails
//! releases its claim ([`abandon`]) so a retry acts; a claim left behind by
//! a crash is taken over once it is [`ABANDONED_AFTER`] old.

use crate::db::Conn;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, NaiveDateTime};
use sha2::{Digest, Sha256};

use crate::app::retention::IDEMPOTENCY_KEY_LIFETIME;
use crate::db::models::idempotency::{self, IdempotencyRecord};
use crate::error::{ApiError, ApiResult, FieldError};

/// How long an in-flight claim may stay unfinished before another request
/// with the key may take it over (the first one crashed or was cut off).
pub const ABANDONED_AFTER: Duration = Duration::seconds(60);

pub const HEADER: &str = "Idempotency-Key";

/// A checked key: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, ApiError> {
        let printable = raw.iter().all(|b| (0x20..=0x7e).contains(b));
        if raw.is_empty() || raw.len() > 255 || !printable {
            return Err(ApiError::BadHeader(FieldError::new(
                HEADER,
                "must be 1 to 255 printable ASCII characters",
            )));
        }
        Ok(Self(String::from_utf8_lossy(raw).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the key is bound to: the method, the path and the body's bytes.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(method.as_bytes());
    digest.update(b" ");
    digest.update(path.as_bytes());
    digest.update(b"\n");
    digest.update(body);
    URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// A response as recorded, and replayed byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
    pub etag: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug)]
pub enum Claim {
    /// The key is this request's: act, then [`finish`].
    Proceed,
    /// The key's request already finished: answer this again.
    Replay(StoredResponse),
}

/// Claims `key` for the request with `fingerprint`. Run it in a write
/// transaction of its own, before acting.
pub fn begin(
    conn: &mut Conn<'_>,
    owner: i64,
    key: &IdempotencyKey,
    fingerprint: &str,
    now: NaiveDateTime,
) -> ApiResult<Claim> {
    if idempotency::claim(conn, owner, key.as_str(), fingerprint, now)? {
        return Ok(Claim::Proceed);
    }
    let Some(record) = idempotency::find(conn, owner, key.as_str())? else {
        // Pruned between the two statements: ours now.
        return match idempotency::claim(conn, owner, key.as_str(), fingerprint, now)? {
            true => Ok(Claim::Proceed),
            false => Err(ApiError::Conflict(IN_FLIGHT)),
        };
    };
    let expired = record.created_at <= now - IDEMPOTENCY_KEY_LIFETIME;
    let abandoned = record.status.is_none() && record.created_at <= now - ABANDONED_AFTER;
    if expired || abandoned {
        return match idempotency::take_over(
            conn,
            owner,
            key.as_str(),
            record.created_at,
            fingerprint,
            now,
        )? {
            true => Ok(Claim::Proceed),
            false => Err(ApiError::Conflict(IN_FLIGHT)),
        };
    }
    judge(record, fingerprint)
}

const IN_FLIGHT: &str =
    "A request with this Idempotency-Key is still being processed; retry later.";

/// A live record of another request's key: replay, 422 or 409.
fn judge(record: IdempotencyRecord, fingerprint: &str) -> ApiResult<Claim> {
    if record.fingerprint != fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    match (record.status, record.response_body) {
        (Some(status), Some(body)) => Ok(Claim::Replay(StoredResponse {
            status: u16::try_from(status).unwrap_or(200),
            body,
            etag: record.response_etag,
            location: record.response_location,
        })),
        _ => Err(ApiError::Conflict(IN_FLIGHT)),
    }
}

/// Records the response of the request holding `key`; call it inside the
/// transaction that made the change it reports.
pub fn finish(
    conn: &mut Conn<'_>,
    owner: i64,
    key: &IdempotencyKey,
    response: &StoredResponse,
) -> ApiResult<()> {
    idempotency::complete(
        conn,
        owner,
        key.as_str(),
        i32::from(response.status),
        &response.body,
        response.etag.as_deref(),
        response.location.as_deref(),
    )?;
    Ok(())
}

/// Releases the claim of a request that failed (its change rolled back).
pub fn abandon(conn: &mut Conn<'_>, owner: i64, key: &IdempotencyKey) -> ApiResult<()> {
    idempotency::release(conn, owner, key.as_str())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_1_to_255_printable_ascii_characters() {
        for good in [
            "a",
            "550e8400-e29b-41d4-a716-446655440000",
            "\"quoted\"",
            " x ~",
        ] {
            assert!(IdempotencyKey::parse(good.as_bytes()).is_ok(), "{good}");
        }
        assert!(IdempotencyKey::parse("k".repeat(255).as_bytes()).is_ok());
        let too_long = "k".repeat(256);
        for bad in [
            &b""[..],
            too_long.as_bytes(),
            b"tab\there",
            "é".as_bytes(),
            b"nul\0",
        ] {
            assert!(
                matches!(IdempotencyKey::parse(bad), Err(ApiError::BadHeader(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn fingerprints_bind_method_path_and_exact_bytes() {
        let base = fingerprint("POST", "/api/v1/todos", br#"{"title":"a"}"#);
        assert_eq!(
            base,
            fingerprint("POST", "/api/v1/todos", br#"{"title":"a"}"#)
        );
        assert_ne!(
            base,
            fingerprint("POST", "/api/v1/todos", br#"{"title": "a"}"#)
        );
        assert_ne!(
            base,
            fingerprint("POST", "/api/v1/todos/1/restore", br#"{"title":"a"}"#)
        );
    }
}
