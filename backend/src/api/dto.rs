//! Response bodies shared by several resources, so that no controller
//! imports another's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::db::models::user::User;
use crate::domain::Role;

/// A user account as its owner and admins see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "alice@example.com")]
    pub email: String,
    pub role: Role,
    #[schema(example = false)]
    pub disabled: bool,
    /// True when sign-in asks for a second factor (TOTP or a recovery code).
    #[schema(example = false)]
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserResponse {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            email: u.email.clone(),
            role: u.role(),
            disabled: u.disabled,
            mfa_enabled: u.mfa_enabled,
            created_at: u.created_at.and_utc(),
        }
    }
}

impl From<&AuthUser> for UserResponse {
    fn from(u: &AuthUser) -> Self {
        Self {
            id: u.user_id,
            email: u.email.clone(),
            role: u.role,
            disabled: false,
            mfa_enabled: u.mfa_enabled,
            created_at: u.created_at.and_utc(),
        }
    }
}
