//! Account use cases shared by the API and the command line.

use diesel::prelude::*;

use crate::app::lockout::MAX_FAILED_LOGINS;
use crate::app::{tokens, Actor};
use crate::db::models::audit;
use crate::db::models::{device, session, user};
use crate::db::schema::users;
use crate::db::{dispatch, Conn};
use crate::domain::{AuditEvent, LockScope, LoginFailure, TokenRevocation, Via};
use crate::domain::{Email, Role};
use crate::error::{ApiError, ApiResult};

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
    conn: &mut Conn<'_>,
    email: &Email,
    password_hash: &str,
    promote_existing: bool,
) -> Result<CreateAdminOutcome, CreateAdminError> {
    let now = crate::clock::now();
    let Some(existing) = user::find_by_email(conn, email.as_str())? else {
        let new = user::NewUser::at(email.as_str(), password_hash, Role::Admin, now);
        let created = user::insert(conn, &new)?.ok_or(CreateAdminError::Raced)?;
        audit::record(
            conn,
            &AuditEvent::AdminCreated { via: Via::Cli },
            None,
            Some(created.id),
            None,
        )?;
        return Ok(CreateAdminOutcome::Created { id: created.id });
    };
    if !promote_existing {
        return Err(CreateAdminError::Exists);
    }
    dispatch!(conn, c => diesel::update(users::table.find(existing.id))
        .set((
            users::role.eq(Role::Admin.as_str()),
            users::disabled.eq(false),
            users::password_hash.eq(password_hash),
            users::failed_logins.eq(0),
            users::lockouts.eq(0),
            users::locked_until.eq(None::<chrono::NaiveDateTime>),
            users::updated_at.eq(now),
        ))
        .execute(c))?;
    device::forget_all(conn, existing.id)?;
    let sessions_ended = session::revoke_all(conn, existing.id, None, now)?;
    tokens::revoke_all_audited(conn, None, existing.id, None, TokenRevocation::Promoted)
        .map_err(|e| CreateAdminError::Database(e.to_string()))?;
    if existing.role != Role::Admin.as_str() {
        audit::record(
            conn,
            &AuditEvent::RoleChanged {
                from: existing.role(),
                to: Role::Admin,
                via: Some(Via::Cli),
            },
            None,
            Some(existing.id),
            None,
        )?;
    }
    if existing.disabled {
        audit::record(
            conn,
            &AuditEvent::UserEnabled {
                disabled: None,
                via: Some(Via::Cli),
            },
            None,
            Some(existing.id),
            None,
        )?;
    }
    audit::record(
        conn,
        &AuditEvent::PasswordChanged {
            sessions_ended,
            via: Some(Via::Cli),
        },
        None,
        Some(existing.id),
        None,
    )?;
    Ok(CreateAdminOutcome::Promoted {
        id: existing.id,
        sessions_ended,
    })
}

/// Creates an account with role `user`; `EmailTaken` when the address (in
/// any spelling, `Email` normalises it) is registered.
pub fn register(
    conn: &mut Conn<'_>,
    email: &Email,
    password_hash: &str,
    ip: Option<&str>,
) -> ApiResult<user::User> {
    let now = crate::clock::now();
    let new = user::NewUser::at(email.as_str(), password_hash, Role::User, now);
    let created = user::insert(conn, &new)?.ok_or(ApiError::EmailTaken)?;
    audit::record(
        conn,
        &AuditEvent::UserRegistered {},
        Some(created.id),
        Some(created.id),
        ip,
    )?;
    Ok(created)
}

/// The stored password hash of the actor, to verify a confirmation against.
pub fn password_hash(conn: &mut Conn<'_>, user_id: i64) -> ApiResult<Option<String>> {
    Ok(user::find(conn, user_id)?.map(|u| u.password_hash))
}

/// A wrong current password given inside a session counts against that
/// session's own budget: each is audited, and the fifth ends the session.
pub fn record_wrong_password(conn: &mut Conn<'_>, actor: &Actor, session_id: i64) -> ApiResult<()> {
    let event = AuditEvent::LoginFailed {
        reason: LoginFailure::BadCurrentPassword,
        known_device: None,
        session_id: Some(session_id),
        attempts: None,
    };
    record_session_failure(conn, actor, session_id, &event)
}

/// Any wrong secret given inside a session (a current password, a second
/// factor's code) spends that session's budget: `event` records what was
/// wrong, and the fifth failure ends the session.
pub fn record_session_failure(
    conn: &mut Conn<'_>,
    actor: &Actor,
    session_id: i64,
    event: &AuditEvent,
) -> ApiResult<()> {
    let failures = session::add_password_failure(conn, session_id)?;
    actor.record_own(conn, event)?;
    if failures >= MAX_FAILED_LOGINS {
        session::revoke(conn, session_id, crate::clock::now())?;
        actor.record_own(
            conn,
            &AuditEvent::LockedOut {
                scope: LockScope::Session,
                seconds: None,
                session_id: Some(session_id),
            },
        )?;
    }
    Ok(())
}

/// Sets a new password; every other session of the actor ends, `keep`
/// (the caller's own) continues, and every API token ends.
pub fn change_password(
    conn: &mut Conn<'_>,
    actor: &Actor,
    keep: i64,
    new_hash: &str,
) -> ApiResult<()> {
    user::set_password_hash(conn, actor.user_id, new_hash)?;
    let ended = session::revoke_all(conn, actor.user_id, Some(keep), crate::clock::now())?;
    tokens::revoke_all_audited(
        conn,
        Some(actor.user_id),
        actor.user_id,
        actor.ip.as_deref(),
        TokenRevocation::PasswordChanged,
    )?;
    actor.record_own(
        conn,
        &AuditEvent::PasswordChanged {
            sessions_ended: ended,
            via: None,
        },
    )?;
    Ok(())
}

/// Deletes the actor's own account with its todos and sessions. The last
/// active admin cannot (read inside the write transaction: two admins
/// deleting themselves at once cannot both pass).
pub fn delete_account(conn: &mut Conn<'_>, actor: &Actor) -> ApiResult<()> {
    user::lock_active_admins(conn)?;
    let current = user::find_for_update(conn, actor.user_id)?.ok_or(ApiError::Unauthorized)?;
    if user::is_last_active_admin(conn, &current)? {
        return Err(ApiError::LastAdmin);
    }
    user::delete(conn, actor.user_id)?;
    actor.record_own(
        conn,
        &AuditEvent::AccountDeleted {
            email_domain: current.email.rsplit('@').next().map(str::to_owned),
        },
    )?;
    Ok(())
}
