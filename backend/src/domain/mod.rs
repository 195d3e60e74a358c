//! Domain newtypes: parse once at the edge, then only valid data exists.

mod email;
mod password;
mod role;

pub use email::Email;
pub use password::Password;
pub use role::Role;
