//! Opaque, tamper-evident keyset cursors shared by every list endpoint.
//!
//! A cursor is `base64url(json) . base64url(hmac-sha256)`. The JSON holds the
//! sort key of the last item returned plus whatever the endpoint needs to
//! check that the cursor belongs to the same query (sort, filters). The MAC
//! means a client cannot forge a position; ownership is still enforced by the
//! query itself, so a forged cursor could never reach other users' rows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;
/// Room for the longest sort key a list resumes after: a todo title's sort
/// key is up to 200 characters, which JSON may spell in up to 1,200 bytes
/// (control characters become `\u00XX`), about 1,750 characters encoded.
const MAX_CURSOR_CHARS: usize = 4096;

type HmacSha256 = Hmac<Sha256>;

/// The key that signs cursors, derived from the JWT secret so that it needs
/// no configuration of its own (and changes when the secret is rotated).
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl CursorKey {
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| {
            // HMAC accepts keys of any length; this branch is unreachable.
            <HmacSha256 as Mac>::new_from_slice(b"securetodo").unwrap_or_else(|_| unreachable!())
        });
        mac.update(b"securetodo cursor key v1");
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!())
    }

    pub fn encode<T: Serialize>(&self, position: &T) -> Result<String, ApiError> {
        let json = serde_json::to_vec(position).map_err(|e| ApiError::Internal(e.into()))?;
        let mut mac = self.mac();
        mac.update(&json);
        let tag = mac.finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// Any cursor that was not issued by this server, or is unreadable, is
    /// 422 naming `cursor`.
    pub fn decode<T: DeserializeOwned>(&self, cursor: &str) -> Result<T, ApiError> {
        let invalid = || ApiError::validation("cursor", "is not a cursor this server issued");
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(invalid());
        }
        let (body, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(&json);
        mac.verify_slice(&tag).map_err(|_| invalid())?;
        serde_json::from_slice(&json).map_err(|_| invalid())
    }
}

/// Validates `limit` (1..=100, default 20): out of range is 422, never clamped.
pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation("limit", "must be between 1 and 100")),
    }
}

/// A position for lists ordered by id alone (newest first).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdPosition {
    /// A digest of the filters the cursor was issued for.
    pub q: String,
    pub id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let key = CursorKey::derive(b"secret");
        let pos = IdPosition {
            q: "role=admin".into(),
            id: 42,
        };
        let cursor = key.encode(&pos).unwrap();
        assert_eq!(key.decode::<IdPosition>(&cursor).unwrap(), pos);

        let forged_body = URL_SAFE_NO_PAD.encode(br#"{"q":"role=admin","id":1}"#);
        let tag = cursor.split_once('.').unwrap().1;
        for bad in [
            format!("{forged_body}.{tag}"),
            "abc".into(),
            "a.b".into(),
            String::new(),
            "x".repeat(5000),
        ] {
            assert!(
                matches!(key.decode::<IdPosition>(&bad), Err(ApiError::Validation(_))),
                "{bad}"
            );
        }
        let other = CursorKey::derive(b"other secret");
        assert!(other.decode::<IdPosition>(&cursor).is_err());
    }

    #[test]
    fn limit_is_validated_not_clamped() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some(1)).unwrap(), 1);
        assert_eq!(limit(Some(100)).unwrap(), 100);
        for bad in [0, -1, 101, i64::MAX] {
            assert!(limit(Some(bad)).is_err());
        }
    }
}
