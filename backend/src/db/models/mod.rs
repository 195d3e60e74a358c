//! Diesel models: read, insert and changeset structs with their queries.

pub mod api_token;
pub mod audit;
pub mod device;
pub mod idempotency;
pub mod mfa;
pub mod session;
pub mod sync;
pub mod todo;
pub mod user;
