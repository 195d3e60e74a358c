//! Domain newtypes: parse once at the edge, then only valid data exists.

mod audit;
mod email;
mod password;
mod role;
mod todo;
mod token;

pub use audit::{
    AuditEvent, AuditEventType, LockScope, LoginFailure, MfaCodeFailure, MfaContext, MfaMethod,
    TokenRevocation, Via,
};
pub use email::Email;
pub use password::Password;
pub use role::Role;
pub use todo::{
    DueDate, Priority, SortKey, TodoDescription, TodoSort, TodoTitle, NUL_REFUSED, TITLE_PATTERN,
};
pub use token::{Scope, Scopes, TokenLifetime, TokenName};
