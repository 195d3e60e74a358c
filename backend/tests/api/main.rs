//! Black-box HTTP tests: the real server on port 0, one fresh database each
//! (a SQLite file, or with `TEST_DATABASE_URL=postgres://...` a PostgreSQL
//! database copied from a migrated template).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod admin;
mod auth;
mod cli;
mod concurrency;
mod export;
mod foundation;
mod helpers;
mod idempotency;
mod mfa;
mod openapi;
mod operations;
mod rate_limits;
mod rotation;
mod scale;
mod sync;
mod todos;
mod tokens;
mod trash;
