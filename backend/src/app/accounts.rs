//! Account use cases shared by the API and the command line.

use diesel::prelude::*;
use diesel::SqliteConnection;

use crate::db::models::audit::{self, kind};
use crate::db::models::{device, session, user};
use crate::db::schema::users;
use crate::domain::{Email, Role};

/// What `create-admin` did.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateAdminOutcome {
    Created { id: i64 },
    Promoted { id: i64, sessions_ended: usize },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CreateAdminError {
    /// Someone may have registered the address first: never hand their
    /// account admin rights unless the operator says so.
    #[error(
        "an account with this email already exists; run again with --promote-existing to make \
         it an admin with the given password (its sessions end and its lock is cleared)"
    )]
    Exists,
    #[error("the email was registered concurrently; run the command again")]
    Raced,
    #[error("database error: {0}")]
    Database(String),
}

impl From<diesel::result::Error> for CreateAdminError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Creates an admin with `password_hash`, or, with `promote_existing`,
/// turns the existing account into an enabled admin that signs in with
/// `password_hash` only: its lock is cleared and every session ends, so
/// whoever registered the address first keeps nothing. Run it inside one
/// transaction.
pub fn create_admin(
    conn: &mut SqliteConnection,
    email: &Email,
    password_hash: &str,
    promote_existing: bool,
) -> Result<CreateAdminOutcome, CreateAdminError> {
    let now = crate::db::models::user::now();
    let Some(existing) = user::find_by_email(conn, email.as_str())? else {
        let created = user::insert(
            conn,
            &user::NewUser {
                email: email.as_str(),
                password_hash,
                role: Role::Admin.as_str(),
                created_at: now,
                updated_at: now,
            },
        )?
        .ok_or(CreateAdminError::Raced)?;
        audit::record(
            conn,
            kind::ADMIN_CREATED,
            None,
            Some(created.id),
            None,
            serde_json::json!({"via": "cli"}),
        )?;
        return Ok(CreateAdminOutcome::Created { id: created.id });
    };
    if !promote_existing {
        return Err(CreateAdminError::Exists);
    }
    diesel::update(users::table.find(existing.id))
        .set((
            users::role.eq(Role::Admin.as_str()),
            users::disabled.eq(false),
            users::password_hash.eq(password_hash),
            users::failed_logins.eq(0),
            users::lockouts.eq(0),
            users::locked_until.eq(None::<chrono::NaiveDateTime>),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    device::forget_all(conn, existing.id)?;
    let sessions_ended = session::revoke_all(conn, existing.id, None, now)?;
    if existing.role != Role::Admin.as_str() {
        audit::record(
            conn,
            kind::ROLE_CHANGED,
            None,
            Some(existing.id),
            None,
            serde_json::json!({"from": existing.role, "to": "admin", "via": "cli"}),
        )?;
    }
    if existing.disabled {
        audit::record(
            conn,
            kind::USER_ENABLED,
            None,
            Some(existing.id),
            None,
            serde_json::json!({"via": "cli"}),
        )?;
    }
    audit::record(
        conn,
        kind::PASSWORD_CHANGED,
        None,
        Some(existing.id),
        None,
        serde_json::json!({"via": "cli", "sessions_ended": sessions_ended}),
    )?;
    Ok(CreateAdminOutcome::Promoted {
        id: existing.id,
        sessions_ended,
    })
}
