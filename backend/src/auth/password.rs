//! Password hashing: SHA-384 pre-hash (so all 128 characters count; bcrypt
//! reads only 72 bytes), then bcrypt, on a bounded blocking pool.

use std::sync::Arc;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha384};
use tokio::sync::Semaphore;

use crate::domain::{Email, Password};

/// Runs bcrypt off the async workers with at most one hash per core at a
/// time, so a login flood queues here instead of starving other requests.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified when the email is unknown so
    /// that an unknown email costs the same time as a wrong password.
    dummy_hash: Arc<str>,
    /// Hashes waiting for a permit or running (a metrics gauge).
    queue: crate::metrics::QueueDepth,
}

/// base64(SHA-384(password)): 64 ASCII bytes, under bcrypt's 72-byte limit.
fn prehash(password: &str) -> String {
    STANDARD.encode(Sha384::digest(password.as_bytes()))
}

pub fn hash_blocking(password: &str, cost: u32) -> anyhow::Result<String> {
    bcrypt::non_truncating_hash(prehash(password), cost).context("hashing a password")
}

pub fn verify_blocking(password: &str, hash: &str) -> bool {
    bcrypt::non_truncating_verify(prehash(password), hash).unwrap_or(false)
}

impl PasswordHasher {
    pub fn new(cost: u32) -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let random: [u8; 32] = rand::random();
        let dummy_hash = hash_blocking(&STANDARD.encode(random), cost)?;
        Ok(Self {
            cost,
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: dummy_hash.into(),
            queue: crate::metrics::QueueDepth::default(),
        })
    }

    /// Checks a new password for the account with `email` (length, common
    /// passwords) on the blocking pool, behind the same permits as hashing:
    /// the check is CPU work a client chooses the input of, so it never runs
    /// on the request workers.
    pub async fn check_new(
        &self,
        raw: String,
        email: Email,
    ) -> anyhow::Result<Result<Password, &'static str>> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        Ok(actix_web::web::block(move || Password::parse(raw, &email)).await?)
    }

    /// Hashes and verifications waiting for a permit or running.
    pub fn queue_depth(&self) -> usize {
        self.queue.get()
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _queued = self.queue.enter();
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let password = password.expose().to_owned();
        let cost = self.cost;
        actix_web::web::block(move || hash_blocking(&password, cost)).await?
    }

    /// Verifies against `hash`, or against the dummy hash when there is no
    /// account (the result is then always false).
    pub async fn verify(&self, password: &Password, hash: Option<String>) -> anyhow::Result<bool> {
        let _queued = self.queue.enter();
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let password = password.expose().to_owned();
        let (hash, real) = match hash {
            Some(h) => (h, true),
            None => (self.dummy_hash.to_string(), false),
        };
        let ok = actix_web::web::block(move || verify_blocking(&password, &hash)).await?;
        Ok(ok && real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_differing_after_byte_72_do_not_verify() {
        let base = "a".repeat(72);
        let hash = hash_blocking(&format!("{base}X"), 4).unwrap();
        assert!(verify_blocking(&format!("{base}X"), &hash));
        assert!(!verify_blocking(&format!("{base}Y"), &hash));
        assert!(!verify_blocking(&base, &hash));
    }

    #[test]
    fn hash_is_bcrypt_with_the_configured_cost() {
        let hash = hash_blocking("correct horse battery staple", 5).unwrap();
        assert!(hash.starts_with("$2b$05$"), "{hash}");
        assert!(!verify_blocking("wrong", &hash));
    }
}
