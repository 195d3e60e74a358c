//! Opaque secrets: refresh tokens and API tokens, 256 random bits each,
//! stored only as a SHA-256 hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngExt;
use sha2::{Digest, Sha256};

pub struct RefreshToken {
    /// Sent to the client once; never stored or logged.
    pub token: String,
    /// What the database keeps.
    pub hash: String,
}

pub fn new_refresh_token() -> RefreshToken {
    let bytes: [u8; 32] = rand::rng().random();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    RefreshToken { token, hash }
}

/// A fast hash is right here: the token has 256 bits of entropy, so there is
/// nothing to brute-force, unlike a password.
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What every API token starts with, so that secret scanners (GitHub's,
/// gitleaks, trufflehog) can recognise a leaked one, and so that a request
/// is routed to the token lookup by its prefix alone: a JWT never starts
/// with it (its first segment is base64 of `{"`, which begins `eyJ`).
pub const API_TOKEN_PREFIX: &str = "stp_";

/// A new API token: `stp_` and 43 base64url characters (256 random bits).
pub fn new_api_token() -> RefreshToken {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("{API_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_api_token(&token);
    RefreshToken { token, hash }
}

/// SHA-256 of the whole token, as for refresh tokens: 256 random bits
/// leave nothing to brute-force, so a slow password hash would only cost
/// time on every request.
pub fn hash_api_token(token: &str) -> String {
    hash_refresh_token(token)
}

/// True when a bearer token is shaped like an API token.
pub fn is_api_token(token: &str) -> bool {
    token.starts_with(API_TOKEN_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_the_hash_is_kept() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 43);
        assert_eq!(a.hash, hash_refresh_token(&a.token));
        assert!(!a.hash.contains(&a.token));
    }

    #[test]
    fn api_tokens_carry_the_prefix_and_256_bits() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a.token, b.token);
        assert!(is_api_token(&a.token));
        let body = a.token.strip_prefix(API_TOKEN_PREFIX).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_eq!(a.hash, hash_api_token(&a.token));
        assert_eq!(a.hash.len(), 64);
        assert!(!is_api_token("eyJhbGciOiJIUzI1NiJ9.e30.x"));
    }
}
