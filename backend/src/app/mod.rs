//! Use cases: the rules, as synchronous functions over a connection inside
//! the transaction the caller opened. The API and the CLI both call them.

pub mod accounts;
pub mod lockout;
