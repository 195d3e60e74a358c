//! HS256 access tokens naming a server-side session (`sid`).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::error::ApiError;

pub const ISSUER: &str = "securetodo";
pub const AUDIENCE: &str = "securetodo-api";
/// Clock skew tolerated on `exp` (jsonwebtoken's default is 60 s).
const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id, as a string (RFC 7519 `sub` is a string).
    pub sub: String,
    /// The session id; the session must still be live.
    pub sid: i64,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// The signing key and every key that still verifies: the current one and
/// the retired ones of `JWT_PREVIOUS_SECRETS`. Tokens name their key in the
/// `kid` header (a digest of the key, never the key), so verification tries
/// exactly one key.
pub struct JwtKeys {
    encoding: EncodingKey,
    /// The current key's id, written into every token signed.
    kid: String,
    /// (kid, key); the current key first.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    pub ttl_secs: i64,
}

/// The id of a key: the first 16 hex digits of SHA-256 over a label and the
/// key. It names the key without revealing anything usable about it.
pub fn key_id(secret: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"securetodo jwt kid v1:");
    hasher.update(secret);
    hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl JwtKeys {
    pub fn new(settings: &Settings) -> Self {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        // Pinned: only HS256 is accepted, whatever the token header says.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let decoding = std::iter::once(secret)
            .chain(
                settings
                    .jwt_previous_secrets
                    .iter()
                    .map(|s| s.expose_secret().as_bytes()),
            )
            .map(|key| (key_id(key), DecodingKey::from_secret(key)))
            .collect();
        Self {
            encoding: EncodingKey::from_secret(secret),
            kid: key_id(secret),
            decoding,
            validation,
            ttl_secs: settings.access_token_ttl_secs,
        }
    }

    /// The key a token names. A token without `kid` (signed before key ids
    /// existed) is checked against the current key only. With no retired
    /// keys there is one candidate and the header is not read twice: the
    /// hot path costs what it did before rotation existed.
    fn key_for(&self, token: &str) -> Result<&DecodingKey, ApiError> {
        if let [(_, only)] = self.decoding.as_slice() {
            return Ok(only);
        }
        let header = decode_header(token).map_err(|_| ApiError::Unauthorized)?;
        let found = match header.kid.as_deref() {
            None => self.decoding.first(),
            Some(kid) => self.decoding.iter().find(|(id, _)| id == kid),
        };
        found.map(|(_, key)| key).ok_or(ApiError::Unauthorized)
    }

    pub fn issue(&self, user_id: i64, session_id: i64) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id,
            iat: now,
            exp: now + self.ttl_secs,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        encode(&header, &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("signing a token")))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    /// A correctly signed but expired token is `TokenExpired`; anything else
    /// that fails is `Unauthorized`.
    pub fn verify(&self, token: &str) -> Result<(i64, i64), ApiError> {
        let key = self.key_for(token)?;
        let data = decode::<Claims>(token, key, &self.validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => ApiError::TokenExpired,
            _ => ApiError::Unauthorized,
        })?;
        let user_id = data
            .claims
            .sub
            .parse::<i64>()
            .map_err(|_| ApiError::Unauthorized)?;
        Ok((user_id, data.claims.sid))
    }
}
