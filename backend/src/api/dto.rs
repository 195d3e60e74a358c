//! Response bodies shared by several resources, so that no controller
//! imports another's.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::db::models::api_token::ApiToken;
use crate::db::models::todo::Todo;
use crate::db::models::user::User;
use crate::domain::{Priority, Role, Scope, Scopes};

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

/// An API token's metadata; the secret is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenResponse {
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = "nightly backup script")]
    pub name: String,
    #[schema(example = json!(["todos:read"]))]
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When the token was last used (recorded at most once a minute); null
    /// while it never was.
    #[schema(required = true)]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiToken> for ApiTokenResponse {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id,
            name: t.name.clone(),
            scopes: Scopes::from_db(&t.scopes).to_vec(),
            created_at: t.created_at.and_utc(),
            expires_at: t.expires_at.and_utc(),
            last_used_at: t.last_used_at.map(|at| at.and_utc()),
        }
    }
}

/// A todo as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TodoResponse {
    #[schema(example = 42)]
    pub id: i64,
    /// Trimmed, 1 to 200 characters.
    #[schema(example = "Buy milk")]
    pub title: String,
    /// Up to 10,000 characters, exactly as written (possibly empty).
    #[schema(example = "Two litres, semi-skimmed")]
    pub description: String,
    #[schema(example = false)]
    pub completed: bool,
    pub priority: Priority,
    /// The day it is due, or null.
    #[schema(required = true, example = "2026-12-24")]
    pub due_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    /// When the todo last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was completed; null while it is open.
    #[schema(required = true)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<&Todo> for TodoResponse {
    fn from(t: &Todo) -> Self {
        Self {
            id: t.id,
            title: t.title.clone(),
            description: t.description.clone(),
            completed: t.completed,
            priority: Priority::from_rank(t.priority),
            due_date: t.due_date,
            created_at: t.created_at.and_utc(),
            updated_at: t.updated_at.and_utc(),
            completed_at: t.completed_at.map(|at| at.and_utc()),
        }
    }
}
