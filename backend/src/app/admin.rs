//! Administration use cases. Every write runs inside one write transaction
//! that re-reads the target, applies the last-admin rule and re-checks that
//! the caller is still an active admin, so concurrent requests cannot
//! together break the rule (on PostgreSQL after locking the active admins'
//! rows: see `user::lock_active_admins`).

use crate::app::{tokens, Actor};
use crate::clock::now;
use crate::db::models::audit::{self, StoredAuditEvent};
use crate::db::models::user::{self, User, UserFilter, UserSummary};
use crate::db::models::{mfa, session};
use crate::db::Conn;
use crate::domain::Role;
use crate::domain::{AuditEvent, TokenRevocation};
use crate::error::{ApiError, ApiResult};

/// The caller must still be an active admin (a request that raced with the
/// caller's own demotion or disable is 403).
fn ensure_still_admin(conn: &mut Conn<'_>, actor: i64) -> ApiResult<()> {
    match user::find(conn, actor)? {
        Some(u) if u.is_active_admin() => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

/// The last-admin rule for a change after which `target` is (or is not)
/// still an active admin.
pub fn ensure_not_last_admin(
    conn: &mut Conn<'_>,
    target: &User,
    still_active_admin_after: bool,
) -> ApiResult<()> {
    if !still_active_admin_after && user::is_last_active_admin(conn, target)? {
        return Err(ApiError::LastAdmin);
    }
    Ok(())
}

/// `limit + 1` users from `before` on, newest first.
pub fn list_users(
    conn: &mut Conn<'_>,
    filter: &UserFilter,
    before: Option<i64>,
    limit: i64,
) -> ApiResult<Vec<UserSummary>> {
    Ok(user::list_page(conn, filter, before, limit + 1)?)
}

/// `limit + 1` audit events from `before` on, newest first.
pub fn list_audit_events(
    conn: &mut Conn<'_>,
    event_type: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> ApiResult<Vec<StoredAuditEvent>> {
    Ok(audit::page(conn, event_type, before, limit + 1)?)
}

/// Changes a user's role and/or disabled flag. Disabling ends every session
/// of the user; a change that changes nothing records nothing.
pub fn update_user(
    conn: &mut Conn<'_>,
    actor: &Actor,
    target_id: i64,
    role: Option<Role>,
    disabled: Option<bool>,
) -> ApiResult<User> {
    user::lock_active_admins(conn)?;
    let target = user::find_for_update(conn, target_id)?.ok_or(ApiError::NotFound)?;
    let new_role = role.unwrap_or(target.role());
    let new_disabled = disabled.unwrap_or(target.disabled);
    ensure_not_last_admin(conn, &target, new_role == Role::Admin && !new_disabled)?;
    ensure_still_admin(conn, actor.user_id)?;
    if new_role == target.role() && new_disabled == target.disabled {
        return Ok(target);
    }
    let at = now();
    let updated = user::set_role_and_disabled(conn, target.id, new_role, new_disabled, at)?;
    let ip = actor.ip.as_deref();
    if new_role != target.role() {
        actor.record(
            conn,
            &AuditEvent::RoleChanged {
                from: target.role(),
                to: new_role,
                via: None,
            },
            target.id,
        )?;
    }
    if new_disabled && !target.disabled {
        let ended = session::revoke_all(conn, target.id, None, at)?;
        tokens::revoke_all_audited(
            conn,
            Some(actor.user_id),
            target.id,
            ip,
            TokenRevocation::AccountDisabled,
        )?;
        actor.record(
            conn,
            &AuditEvent::UserDisabled {
                disabled: true,
                sessions_ended: ended,
            },
            target.id,
        )?;
    } else if !new_disabled && target.disabled {
        actor.record(
            conn,
            &AuditEvent::UserEnabled {
                disabled: Some(false),
                via: None,
            },
            target.id,
        )?;
    }
    Ok(updated)
}

/// Deletes a user; todos, sessions and retired refresh tokens go by FK
/// cascade. The last active admin cannot be deleted.
pub fn delete_user(conn: &mut Conn<'_>, actor: &Actor, target_id: i64) -> ApiResult<()> {
    user::lock_active_admins(conn)?;
    let target = user::find_for_update(conn, target_id)?.ok_or(ApiError::NotFound)?;
    ensure_not_last_admin(conn, &target, false)?;
    ensure_still_admin(conn, actor.user_id)?;
    user::delete(conn, target.id)?;
    // The email is kept: the target id alone would name nobody once the
    // account is gone, and only admins read the audit log.
    actor.record(
        conn,
        &AuditEvent::UserDeleted {
            email: target.email.clone(),
            role: target.role(),
        },
        target.id,
    )?;
    Ok(())
}

/// Ends every session of a user.
pub fn revoke_user_sessions(conn: &mut Conn<'_>, actor: &Actor, target_id: i64) -> ApiResult<()> {
    let target = user::find(conn, target_id)?.ok_or(ApiError::NotFound)?;
    ensure_still_admin(conn, actor.user_id)?;
    let ended = session::revoke_all(conn, target.id, None, now())?;
    actor.record(
        conn,
        &AuditEvent::SessionsRevoked {
            sessions_ended: ended,
        },
        target.id,
    )?;
    Ok(())
}

/// Turns off a user's MFA (a lost device): the secret, recovery codes and
/// pending logins go, and every session of the user ends.
pub fn reset_user_mfa(conn: &mut Conn<'_>, actor: &Actor, target_id: i64) -> ApiResult<()> {
    let target = user::find(conn, target_id)?.ok_or(ApiError::NotFound)?;
    ensure_still_admin(conn, actor.user_id)?;
    let at = now();
    let was_enabled = mfa::clear(conn, target.id, at)?;
    let sessions_ended = session::revoke_all(conn, target.id, None, at)?;
    tokens::revoke_all_audited(
        conn,
        Some(actor.user_id),
        target.id,
        actor.ip.as_deref(),
        TokenRevocation::MfaReset,
    )?;
    actor.record(
        conn,
        &AuditEvent::MfaReset {
            was_enabled,
            sessions_ended,
        },
        target.id,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::{actor_of, add_user, memory_pool};

    fn add(conn: &mut Conn<'_>, email: &str, role: Role) -> User {
        add_user(conn, email, "x", role, now())
    }

    #[test]
    fn the_last_active_admin_cannot_be_demoted_disabled_or_deleted() {
        let pool = memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        let admin = add(conn, "admin@example.com", Role::Admin);
        let actor = actor_of(admin.id);
        for (role, disabled) in [(Some(Role::User), None), (None, Some(true))] {
            let refused = update_user(conn, &actor, admin.id, role, disabled);
            assert!(matches!(refused, Err(ApiError::LastAdmin)));
        }
        assert!(matches!(
            delete_user(conn, &actor, admin.id),
            Err(ApiError::LastAdmin)
        ));
        // With a second active admin, the first may step down.
        add(conn, "second@example.com", Role::Admin);
        let demoted = update_user(conn, &actor, admin.id, Some(Role::User), None).unwrap();
        assert_eq!(demoted.role(), Role::User);
        // A disabled admin does not count as the other admin.
        let pool = memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        let admin = add(conn, "admin@example.com", Role::Admin);
        let other = add(conn, "other@example.com", Role::Admin);
        user::set_role_and_disabled(conn, other.id, Role::Admin, true, now()).unwrap();
        let actor = actor_of(admin.id);
        assert!(matches!(
            update_user(conn, &actor, admin.id, None, Some(true)),
            Err(ApiError::LastAdmin)
        ));
    }

    #[test]
    fn a_caller_who_is_no_longer_an_admin_is_refused() {
        let pool = memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        let admin = add(conn, "admin@example.com", Role::Admin);
        let former = add(conn, "former@example.com", Role::User);
        let victim = add(conn, "victim@example.com", Role::User);
        let actor = actor_of(former.id);
        assert!(matches!(
            revoke_user_sessions(conn, &actor, victim.id),
            Err(ApiError::Forbidden)
        ));
        assert!(matches!(
            delete_user(conn, &actor, victim.id),
            Err(ApiError::Forbidden)
        ));
        let still = user::find(conn, admin.id).unwrap().unwrap();
        assert!(still.is_active_admin());
    }
}
