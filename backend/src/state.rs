//! `AppState`: the shared, read-only state every handler receives. Low in
//! the module tree, so that the API, the middleware and the extractors can
//! all name it without importing `startup`.

use std::sync::Arc;

use crate::app::create_queue::CreateQueue;
use crate::auth::jwt::JwtKeys;
use crate::auth::mfa::MfaKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::RateLimits;
use crate::config::Settings;
use crate::db::Db;
use crate::pagination::CursorKey;

pub struct AppState {
    /// The database: the one place that knows how a transaction starts.
    pub db: Db,
    pub settings: Arc<Settings>,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    /// Shared by every worker; with `REDIS_URL`, by every instance.
    pub rate_limits: RateLimits,
    /// Signs list cursors.
    pub cursor_key: CursorKey,
    /// Seals TOTP secrets and keys recovery-code hashes.
    pub mfa: MfaKeys,
    /// One owner's concurrent creates share a transaction (group commit).
    pub creates: Arc<CreateQueue>,
}
