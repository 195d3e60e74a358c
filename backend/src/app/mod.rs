//! Use cases: the rules, as synchronous functions over a connection inside
//! the transaction the caller opened. The API, the background tasks and
//! the CLI all call them.

pub mod accounts;
pub mod admin;
pub mod export;
pub mod idempotency;
pub mod lockout;
pub mod mfa;
pub mod retention;
pub mod sessions;
pub mod sync;
pub mod todos;
pub mod tokens;

/// Who acts, for the rules and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: i64,
    /// The client address as the audit log records it.
    pub ip: Option<String>,
}
