//! Failed sign-ins and locks, after OWASP's device-cookie pattern.
//!
//! A client that has signed in to the account before holds a device cookie
//! and spends its own failure budget; everyone else shares the account's
//! "untrusted" budget (counted on `users`). Five failures in a row lock that
//! budget only, for a time that doubles with each lock (one hour at most),
//! so strangers typing the owner's email can never lock the owner's own
//! browser out. A locked device is treated as an untrusted client.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::models::audit;
use crate::db::models::device::{self, Device};
use crate::db::models::user::{self, User};
use crate::db::Conn;
use crate::domain::{AuditEvent, LockScope, LoginFailure};

/// Failures in a row before the budget's lock.
pub const MAX_FAILED_LOGINS: i32 = 5;
/// The first lock lasts this long; each further lock doubles it.
const BASE_LOCK_SECS: i64 = 60;
const MAX_LOCK_SECS: i64 = 3600;

/// How long a lock lasts when `previous_locks` locks came before it.
pub fn lock_duration(previous_locks: i32) -> Duration {
    let exponent = u32::try_from(previous_locks.clamp(0, 6)).unwrap_or(6);
    Duration::seconds((BASE_LOCK_SECS * 2i64.pow(exponent)).min(MAX_LOCK_SECS))
}

/// The failure budget a sign-in attempt spends.
#[derive(Debug, Clone)]
pub enum Budget {
    /// A device that signed in to this account before and is not locked.
    Device(Device),
    /// Any other client.
    Untrusted,
}

impl Budget {
    /// The budget of a client presenting the device token hashing to
    /// `device_hash` (if any) for `user_id`.
    pub fn of(
        conn: &mut Conn<'_>,
        user_id: i64,
        device_hash: Option<&str>,
        now: NaiveDateTime,
    ) -> QueryResult<Self> {
        let Some(hash) = device_hash else {
            return Ok(Self::Untrusted);
        };
        Ok(match device::find(conn, user_id, hash)? {
            Some(d) if !d.is_locked(now) => Self::Device(d),
            _ => Self::Untrusted,
        })
    }

    pub fn is_known_device(&self) -> bool {
        matches!(self, Self::Device(_))
    }

    /// Why this budget may not sign in to `user` now, if it may not. The
    /// account's lock binds untrusted clients only.
    pub fn refusal(&self, user: &User, now: NaiveDateTime) -> Option<LoginFailure> {
        if user.disabled {
            return Some(LoginFailure::Disabled);
        }
        let locked = user.locked_until.is_some_and(|until| until > now);
        (locked && !self.is_known_device()).then_some(LoginFailure::Locked)
    }
}

/// Counts a wrong password against `budget`; the fifth in a row locks that
/// budget (and only it). `reason` goes to the audit event.
pub fn record_failure(
    conn: &mut Conn<'_>,
    budget: &Budget,
    user: &User,
    now: NaiveDateTime,
    ip: Option<&str>,
    reason: LoginFailure,
) -> QueryResult<()> {
    record_refusal(conn, budget, user, ip, reason)?;
    count_failure(conn, budget, user, now, ip)
}

/// Records a login to `user` refused for `reason`, without counting it
/// (e.g. `budget` may not sign in at all right now).
pub fn record_refusal(
    conn: &mut Conn<'_>,
    budget: &Budget,
    user: &User,
    ip: Option<&str>,
    reason: LoginFailure,
) -> QueryResult<()> {
    audit::record(
        conn,
        &AuditEvent::LoginFailed {
            reason,
            known_device: Some(budget.is_known_device()),
            session_id: None,
            attempts: None,
        },
        None,
        Some(user.id),
        ip,
    )
}

/// Counts a failure against `budget` without an event of its own (the
/// caller has recorded why it failed, e.g. a wrong second-factor code);
/// the fifth in a row locks that budget.
pub fn count_failure(
    conn: &mut Conn<'_>,
    budget: &Budget,
    user: &User,
    now: NaiveDateTime,
    ip: Option<&str>,
) -> QueryResult<()> {
    let (failures, previous_locks) = match budget {
        Budget::Device(d) => (device::add_failure(conn, d.id)?, d.lockouts),
        Budget::Untrusted => (user::add_failure(conn, user.id)?, user.lockouts),
    };
    if failures < MAX_FAILED_LOGINS {
        return Ok(());
    }
    let duration = lock_duration(previous_locks);
    let scope = match budget {
        Budget::Device(d) => {
            device::lock(conn, d.id, now + duration)?;
            LockScope::Device
        }
        Budget::Untrusted => {
            user::lock(conn, user.id, now + duration)?;
            LockScope::UntrustedClients
        }
    };
    audit::record(
        conn,
        &AuditEvent::LockedOut {
            scope,
            seconds: Some(duration.num_seconds()),
            session_id: None,
        },
        None,
        Some(user.id),
        ip,
    )
}

/// A successful sign-in clears the budget it used. A known device's success
/// leaves the untrusted budget alone: the strangers' lock runs its course.
pub fn record_success(
    conn: &mut Conn<'_>,
    budget: &Budget,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    match budget {
        Budget::Device(d) => {
            device::record_success(conn, d.id, now)?;
            user::record_login(conn, user_id, now, false)
        }
        Budget::Untrusted => user::record_login(conn, user_id, now, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::{add_user, memory_pool};
    use crate::domain::Role;

    #[test]
    fn locks_double_from_a_minute_up_to_an_hour() {
        let secs: Vec<i64> = (0..9).map(|n| lock_duration(n).num_seconds()).collect();
        assert_eq!(secs, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(lock_duration(-3).num_seconds(), 60);
    }

    fn arrange() -> (crate::db::DbPool, User, NaiveDateTime) {
        let pool = memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        let now = crate::clock::now();
        let owner = add_user(conn, "owner@example.com", "x", Role::User, now);
        drop(pooled);
        (pool, owner, now)
    }

    /// `MAX_FAILED_LOGINS` wrong passwords in a row from the client
    /// presenting `device_hash` (none: a stranger); the budgets they spent.
    fn fail_until_locked(
        conn: &mut Conn<'_>,
        user_id: i64,
        device_hash: Option<&str>,
        now: NaiveDateTime,
    ) -> Vec<Budget> {
        (0..MAX_FAILED_LOGINS)
            .map(|_| {
                let current = user::find(conn, user_id).unwrap().unwrap();
                let budget = Budget::of(conn, user_id, device_hash, now).unwrap();
                record_failure(
                    conn,
                    &budget,
                    &current,
                    now,
                    None,
                    LoginFailure::BadPassword,
                )
                .unwrap();
                budget
            })
            .collect()
    }

    #[test]
    fn strangers_failures_lock_strangers_but_never_a_known_device() {
        let (pool, owner, now) = arrange();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        device::insert(conn, owner.id, "owner-device", now).unwrap();
        fail_until_locked(conn, owner.id, None, now);
        let current = user::find(conn, owner.id).unwrap().unwrap();
        let stranger = Budget::of(conn, owner.id, Some("unknown"), now).unwrap();
        assert_eq!(stranger.refusal(&current, now), Some(LoginFailure::Locked));
        let known = Budget::of(conn, owner.id, Some("owner-device"), now).unwrap();
        assert!(known.is_known_device());
        assert_eq!(known.refusal(&current, now), None);
        // The strangers' lock ends on its own.
        let later = now + Duration::seconds(61);
        assert_eq!(stranger.refusal(&current, later), None);
    }

    #[test]
    fn a_known_device_has_its_own_budget_and_then_counts_as_a_stranger() {
        let (pool, owner, now) = arrange();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        device::insert(conn, owner.id, "device", now).unwrap();
        let spent = fail_until_locked(conn, owner.id, Some("device"), now);
        assert!(spent.iter().all(Budget::is_known_device));
        // Locked now: it spends the untrusted budget, which is untouched.
        let current = user::find(conn, owner.id).unwrap().unwrap();
        assert_eq!(current.failed_logins, 0);
        assert!(current.locked_until.is_none());
        let budget = Budget::of(conn, owner.id, Some("device"), now).unwrap();
        assert!(!budget.is_known_device());
        assert_eq!(budget.refusal(&current, now), None);
    }

    #[test]
    fn a_known_devices_success_clears_its_budget_but_not_the_strangers_lock() {
        let (pool, owner, now) = arrange();
        let mut pooled = pool.sqlite();
        let conn = &mut crate::db::Conn::Sqlite(&mut pooled);
        device::insert(conn, owner.id, "device", now).unwrap();
        fail_until_locked(conn, owner.id, None, now);
        let known = Budget::of(conn, owner.id, Some("device"), now).unwrap();
        record_success(conn, &known, owner.id, now).unwrap();
        let current = user::find(conn, owner.id).unwrap().unwrap();
        assert_eq!(
            Budget::Untrusted.refusal(&current, now),
            Some(LoginFailure::Locked)
        );
        assert!(current.last_login_at.is_some());
    }
}
