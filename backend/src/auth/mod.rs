//! Authentication: password hashing, tokens, extractors and rate limits.

pub mod extract;
pub mod jwt;
pub mod mfa;
pub mod password;
pub mod rate_limit;
pub mod tokens;

pub use extract::{AdminUser, AuthUser, Caller, Credential, DeferredCaller};
