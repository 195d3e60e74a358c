//! Use cases: synchronous functions over a connection, typed in and out,
//! shared by the HTTP handlers, the background tasks and the command line.

pub mod retention;
