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

fn derive_key(secret: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this never fails.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(b"securetodo cursor key v1");
    mac.finalize().into_bytes().into()
}

/// The keys of cursors, derived from the JWT secret so that they need no
/// configuration of their own (and change when the secret is rotated).
/// Only the current key signs; keys derived from `JWT_PREVIOUS_SECRETS`
/// still verify, so a rotation does not break a client's walk.
#[derive(Clone)]
pub struct CursorKey {
    current: [u8; 32],
    previous: Vec<[u8; 32]>,
}

impl CursorKey {
    pub fn derive(secret: &[u8]) -> Self {
        Self {
            current: derive_key(secret),
            previous: Vec::new(),
        }
    }

    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        use secrecy::ExposeSecret;
        Self {
            current: derive_key(settings.jwt_secret.expose_secret().as_bytes()),
            previous: settings
                .jwt_previous_secrets
                .iter()
                .map(|s| derive_key(s.expose_secret().as_bytes()))
                .collect(),
        }
    }

    fn mac(key: &[u8; 32]) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
    }

    pub fn encode<T: Serialize>(&self, position: &T) -> Result<String, ApiError> {
        let json = serde_json::to_vec(position).map_err(|e| ApiError::Internal(e.into()))?;
        let mut mac = Self::mac(&self.current);
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
        let signed_by_a_key = std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| {
                let mut mac = Self::mac(key);
                mac.update(&json);
                mac.verify_slice(&tag).is_ok()
            });
        if !signed_by_a_key {
            return Err(invalid());
        }
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

/// A short digest naming one list and its filters. A cursor carries it, so
/// a cursor cannot be replayed against another list or other filters.
pub fn filter_digest<F: Serialize>(list: &str, filters: &F) -> String {
    // Serialising a tuple of plain values cannot fail; an empty digest would
    // only make every cursor of the list mismatch (422), never match wrongly.
    let canonical = serde_json::to_vec(&(list, filters)).unwrap_or_default();
    let digest = <Sha256 as sha2::Digest>::digest(canonical);
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// One page of a list: the items and the cursor of the next page.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Splits the `limit + 1` rows a use case loaded into the page and, when
    /// the extra row shows there is more, the cursor after its last item.
    pub fn from_rows(
        mut rows: Vec<T>,
        limit: i64,
        cursor_after: impl FnOnce(&T) -> Result<String, ApiError>,
    ) -> Result<Self, ApiError> {
        let page_len = usize::try_from(limit).map_err(|e| ApiError::Internal(e.into()))?;
        if rows.len() <= page_len {
            return Ok(Self {
                items: rows,
                next_cursor: None,
            });
        }
        rows.truncate(page_len);
        let next_cursor = rows.last().map(cursor_after).transpose()?;
        Ok(Self {
            items: rows,
            next_cursor,
        })
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl CursorKey {
    /// The id to continue after, from a cursor of an id-ordered list issued
    /// for the same filters (`digest`).
    pub fn id_after(&self, cursor: Option<&str>, digest: &str) -> Result<Option<i64>, ApiError> {
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let position: IdPosition = self.decode(cursor)?;
        if position.q != digest {
            return Err(ApiError::validation(
                "cursor",
                "was issued for another list or other filters",
            ));
        }
        Ok(Some(position.id))
    }

    /// The cursor after `id` in an id-ordered list with filters `digest`.
    pub fn id_cursor(&self, digest: &str, id: i64) -> Result<String, ApiError> {
        self.encode(&IdPosition {
            q: digest.to_owned(),
            id,
        })
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
    fn a_page_of_limit_plus_one_rows_has_a_next_cursor_after_its_last_item() {
        let page = Page::from_rows(vec![5, 4, 3], 2, |last| Ok(format!("after {last}"))).unwrap();
        assert_eq!(page.items, [5, 4]);
        assert_eq!(page.next_cursor.as_deref(), Some("after 4"));
        let last = Page::from_rows(vec![2, 1], 2, |_| unreachable!()).unwrap();
        assert_eq!(last.items, [2, 1]);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn id_cursors_belong_to_their_filters() {
        let key = CursorKey::derive(b"secret");
        let users = filter_digest("admin.users", &[Some("a"), None::<&str>]);
        let other = filter_digest("admin.users", &[Some("b"), None::<&str>]);
        assert_ne!(users, other);
        let cursor = key.id_cursor(&users, 9).unwrap();
        assert_eq!(key.id_after(Some(&cursor), &users).unwrap(), Some(9));
        assert!(key.id_after(Some(&cursor), &other).is_err());
        assert_eq!(key.id_after(None, &users).unwrap(), None);
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
