//! Opaque refresh tokens: 256 random bits, stored only as a SHA-256 hash.

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
}
