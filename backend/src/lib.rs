//! SecureTodo: a secure multi-user ToDo JSON API.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod auth;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod extract;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod observe;
pub mod openapi;
pub mod pagination;
pub mod request_context;
pub mod startup;
pub mod state;
