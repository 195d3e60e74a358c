//! Sign-in and sessions: login (with the lockout rules of `lockout`),
//! refresh rotation with reuse detection, logout, the caller's sessions.

use chrono::{Duration, NaiveDateTime};

use crate::app::lockout::{self, Budget};
use crate::app::mfa;
use crate::app::Actor;
use crate::clock::now;
use crate::db::models::audit;
use crate::db::models::device;
use crate::db::models::session::{self, NewSession, Session, SessionUser};
use crate::db::models::user::{self, User};
use crate::db::Conn;
use crate::domain::{AuditEvent, LoginFailure, MfaMethod};
use crate::error::{ApiError, ApiResult};

/// A login whose password was already checked against `found` (outside the
/// transaction: bcrypt is slow).
pub struct LoginAttempt {
    /// The account of the email, as read before the password check.
    pub found: Option<User>,
    /// Whether the password matched `found`'s hash at that time.
    pub verified: bool,
    /// The hash of the device cookie's token, if one was sent.
    pub device_hash: Option<String>,
    /// The rate-limit key of the client (IPv4 address or IPv6 /64).
    pub client_key: String,
    /// The hash of a fresh `mfa_token`, stored if the account has MFA on.
    pub mfa_token_hash: String,
    pub session: NewLogin,
}

/// The client of a login, and what the login opens if it succeeds.
pub struct NewLogin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The new session's refresh token hash and lifetime.
    pub refresh_hash: String,
    pub ttl_secs: i64,
    /// A fresh device token hash, remembered if the client is not a known
    /// device yet.
    pub new_device_hash: String,
}

/// A login that succeeded.
pub struct SignedIn {
    pub user: User,
    pub session_id: i64,
    /// True when the client was not a known device and `new_device_hash`
    /// was remembered: set its cookie.
    pub new_device: bool,
}

pub enum LoginOutcome {
    /// Every refusal looks the same to the client.
    Refused,
    /// The password was right and the account has MFA on: the login waits
    /// for a code under `mfa_token_hash` (no session, no budget cleared).
    MfaRequired,
    SignedIn(SignedIn),
}

/// The login's write transaction.
pub fn login(conn: &mut Conn<'_>, attempt: LoginAttempt) -> ApiResult<LoginOutcome> {
    let now = now();
    let ip = attempt.session.ip.as_deref();
    let Some(found) = attempt.found else {
        audit::record_anonymous_login_failure(conn, &attempt.client_key, now)?;
        return Ok(LoginOutcome::Refused);
    };
    // Re-read inside the write transaction, locked (PostgreSQL) until it
    // ends: concurrent failures all count, and a password change waits
    // for this login or this login sees the new hash.
    let Some(current) = user::find_for_update(conn, found.id)? else {
        return Ok(LoginOutcome::Refused);
    };
    let budget = Budget::of(conn, current.id, attempt.device_hash.as_deref(), now)?;
    if let Some(reason) = budget.refusal(&current, now) {
        lockout::record_refusal(conn, &budget, &current, ip, reason)?;
        return Ok(LoginOutcome::Refused);
    }
    if !attempt.verified {
        lockout::record_failure(conn, &budget, &current, now, ip, LoginFailure::BadPassword)?;
        return Ok(LoginOutcome::Refused);
    }
    // The password changed while this login was verifying the old one: a
    // session opened now would outlive the password it was opened with,
    // which the change has already signed out everywhere.
    if found.password_hash != current.password_hash {
        audit::record(
            conn,
            &AuditEvent::login_failed(LoginFailure::PasswordChanged),
            None,
            Some(current.id),
            ip,
        )?;
        return Ok(LoginOutcome::Refused);
    }
    if current.mfa_enabled {
        // The budget is cleared only once the second factor is given, so
        // wrong codes and wrong passwords add up to one lockout.
        mfa::open_challenge(
            conn,
            &current,
            &attempt.mfa_token_hash,
            attempt.device_hash.as_deref(),
            ip,
            attempt.session.user_agent.as_deref(),
            now,
        )?;
        return Ok(LoginOutcome::MfaRequired);
    }
    open_session(conn, &budget, current, &attempt.session, None, now).map(LoginOutcome::SignedIn)
}

/// Opens the session of a login that passed every check (the password
/// and, with MFA on, the second factor): clears the budget it spent,
/// remembers a new device and records the success.
pub(crate) fn open_session(
    conn: &mut Conn<'_>,
    budget: &Budget,
    user: User,
    login: &NewLogin,
    mfa: Option<MfaMethod>,
    now: NaiveDateTime,
) -> ApiResult<SignedIn> {
    let ip = login.ip.as_deref();
    lockout::record_success(conn, budget, user.id, now)?;
    let new_device = !budget.is_known_device();
    if new_device {
        device::insert(conn, user.id, &login.new_device_hash, now)?;
    }
    let session = session::insert(
        conn,
        &NewSession {
            user_id: user.id,
            refresh_token_hash: &login.refresh_hash,
            created_at: now,
            last_used_at: now,
            expires_at: now + Duration::seconds(login.ttl_secs),
            user_agent: login.user_agent.as_deref(),
            ip,
        },
    )?;
    audit::record(
        conn,
        &AuditEvent::LoginSucceeded {
            session_id: session.id,
            known_device: budget.is_known_device(),
            mfa,
        },
        Some(user.id),
        Some(user.id),
        ip,
    )?;
    Ok(SignedIn {
        user,
        session_id: session.id,
        new_device,
    })
}

pub enum RefreshOutcome {
    Rotated(User, i64),
    /// A used token came back: the session is over.
    Reused,
    Invalid,
}

/// Trades the refresh token hashing to `presented_hash` for `next_hash`.
/// Single use: presenting a retired token again ends the whole session.
pub fn refresh(
    conn: &mut Conn<'_>,
    presented_hash: &str,
    next_hash: &str,
    ip: Option<&str>,
) -> ApiResult<RefreshOutcome> {
    let now = now();
    if let Some(current) = session::find_by_refresh_hash_for_update(conn, presented_hash)? {
        if current.revoked_at.is_some() || current.expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        let Some(owner) = user::find(conn, current.user_id)?.filter(|u| !u.disabled) else {
            return Ok(RefreshOutcome::Invalid);
        };
        session::rotate(conn, &current, next_hash, now)?;
        return Ok(RefreshOutcome::Rotated(owner, current.id));
    }
    if let Some(session_id) = session::find_by_retired_hash(conn, presented_hash)? {
        // Someone holds a copy of the token. End the session.
        let revoked = session::revoke(conn, session_id, now)?;
        let owner = session::find_owner(conn, session_id)?;
        audit::record(
            conn,
            &AuditEvent::RefreshReuseDetected {
                session_id,
                revoked: revoked > 0,
            },
            None,
            owner,
            ip,
        )?;
        return Ok(RefreshOutcome::Reused);
    }
    Ok(RefreshOutcome::Invalid)
}

/// Ends one session, named by the access token (`by_access`: user and
/// session id) or else by its refresh token hash. False when neither names
/// a live session.
pub fn logout(
    conn: &mut Conn<'_>,
    by_access: Option<(i64, i64)>,
    refresh_hash: Option<&str>,
    ip: Option<&str>,
) -> ApiResult<bool> {
    let now = now();
    let target = match (by_access, refresh_hash) {
        (Some(found), _) => Some(found),
        (None, Some(hash)) => session::find_by_refresh_hash(conn, hash)?
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .map(|s| (s.user_id, s.id)),
        (None, None) => None,
    };
    let Some((user_id, session_id)) = target else {
        return Ok(false);
    };
    session::revoke(conn, session_id, now)?;
    audit::record(
        conn,
        &AuditEvent::Logout { session_id },
        Some(user_id),
        Some(user_id),
        ip,
    )?;
    Ok(true)
}

/// Ends every session of the actor.
pub fn logout_all(conn: &mut Conn<'_>, actor: &Actor) -> ApiResult<()> {
    let count = session::revoke_all(conn, actor.user_id, None, now())?;
    actor.record_own(conn, &AuditEvent::LogoutAll { sessions: count })?;
    Ok(())
}

/// `last_used_at` is written at most this often, so reads stay reads.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// The live session `session_id` of `user_id` with its enabled user, as
/// every authenticated request checks it (so logout, disable and role
/// changes take effect at once); records the use at most once a minute.
pub fn authenticate(
    conn: &mut Conn<'_>,
    session_id: i64,
    user_id: i64,
) -> ApiResult<Option<SessionUser>> {
    let now = now();
    let found = session::find_live(conn, session_id, user_id, now)?;
    if let Some(s) = &found {
        touch_if_stale(conn, s.session_id, s.last_used_at, now)?;
    }
    Ok(found)
}

/// Records the session's use when it was last recorded a while ago: one
/// write a minute per session at most, not one per request.
pub fn touch_if_stale(
    conn: &mut Conn<'_>,
    session_id: i64,
    last_used_at: NaiveDateTime,
    now: NaiveDateTime,
) -> ApiResult<()> {
    if (now - last_used_at).num_seconds() >= TOUCH_INTERVAL_SECS {
        session::touch(conn, session_id, now)?;
    }
    Ok(())
}

/// The actor's live sessions, newest first.
pub fn list(conn: &mut Conn<'_>, user_id: i64) -> ApiResult<Vec<Session>> {
    Ok(session::list_live(conn, user_id, now())?)
}

/// Ends one of the actor's own sessions; another user's is `NotFound`.
pub fn revoke(conn: &mut Conn<'_>, actor: &Actor, session_id: i64) -> ApiResult<()> {
    if session::revoke_owned(conn, actor.user_id, session_id, now())? == 0 {
        return Err(ApiError::NotFound);
    }
    actor.record_own(conn, &AuditEvent::SessionRevoked { session_id })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::{add_session, add_user, memory_pool};
    use crate::auth::tokens::new_refresh_token;
    use crate::domain::Role;

    #[test]
    fn a_reused_refresh_token_ends_the_session() {
        let pool = memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        let now = now();
        let owner = add_user(conn, "owner@example.com", "x", Role::User, now);
        let first = new_refresh_token();
        let session = add_session(conn, owner.id, &first.hash, now);
        let second = new_refresh_token();
        assert!(matches!(
            refresh(conn, &first.hash, &second.hash, None).unwrap(),
            RefreshOutcome::Rotated(_, id) if id == session.id
        ));
        // The first token again: reuse. The session ends, so the current
        // (second) token stops working too.
        let third = new_refresh_token();
        assert!(matches!(
            refresh(conn, &first.hash, &third.hash, None).unwrap(),
            RefreshOutcome::Reused
        ));
        assert!(matches!(
            refresh(conn, &second.hash, &third.hash, None).unwrap(),
            RefreshOutcome::Invalid
        ));
        assert!(list(conn, owner.id).unwrap().is_empty());
    }
}
