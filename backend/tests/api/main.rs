//! Black-box HTTP tests: the real server on port 0, one fresh SQLite file each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod admin;
mod auth;
mod cli;
mod export;
mod foundation;
mod helpers;
mod openapi;
mod operations;
mod rate_limits;
mod todos;
mod tokens;
