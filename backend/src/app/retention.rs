//! Data retention: removes what no rule needs any more, in small batches.
//!
//! One pass removes, in this order:
//! - refresh tokens retired from sessions that have ended (expired or
//!   revoked), and any retired longer ago than a session can live;
//! - ended sessions (expired or revoked);
//! - audit events older than `AUDIT_RETENTION_DAYS` (0 keeps them);
//! - trashed todos deleted longer ago than `TRASH_RETENTION_DAYS` (purged
//!   as `DELETE /todos/trash` purges: a tombstone for delta sync, the
//!   quota's room back);
//! - tombstones of todos purged longer ago than `TRASH_RETENTION_DAYS`
//!   (raising the owner's sync floor: older sync tokens get 410);
//! - `Idempotency-Key` records older than 24 hours;
//! - expired second login steps (`mfa_challenges`, five minutes);
//! - expired API tokens (already refused and no longer listed).
//!
//! Each batch reads at most `batch_size` keys outside any write transaction,
//! then deletes them by key in one short transaction, so a large backlog
//! never holds SQLite's write lock for long; requests interleave between
//! batches.
//!
//! A new kind of data arrives as a new [`Target`] variant, its cutoff in
//! [`RetentionPolicy`], and its arm in [`prune_batch`]; the exhaustive
//! `match` there makes the compiler ask for the batch query, and
//! [`Target::ALL`] / the report pick it up.

use std::fmt;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::config::Settings;
use crate::db::models::{idempotency, sync, todo};
use crate::db::schema::{
    api_tokens, audit_events, mfa_challenges, retired_refresh_tokens, sessions,
};
use crate::db::{dispatch, transaction, Conn, DbPool};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_KEY_LIFETIME: Duration = Duration::hours(24);

/// Rows removed per write transaction.
pub const DEFAULT_BATCH_SIZE: i64 = 1000;

/// What one kind of data may be removed after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// The longest a session lives (`REFRESH_TOKEN_TTL_SECS`): a refresh
    /// token retired longer ago than this belongs to an ended session.
    pub session_lifetime: Duration,
    /// `AUDIT_RETENTION_DAYS`; `None` keeps audit events forever.
    pub audit_retention: Option<Duration>,
    /// `TRASH_RETENTION_DAYS`: for trashed todos, and again for the
    /// tombstones of purged ones.
    pub trash_retention: Duration,
    pub batch_size: i64,
}

impl RetentionPolicy {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            session_lifetime: Duration::seconds(settings.refresh_token_ttl_secs),
            audit_retention: (settings.audit_retention_days > 0)
                .then(|| Duration::days(i64::from(settings.audit_retention_days))),
            trash_retention: Duration::days(i64::from(settings.trash_retention_days)),
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// The kinds of data a pass prunes, in the order it prunes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Before sessions, so that deleting a session never cascades to an
    /// unbounded number of its retired tokens inside one transaction.
    RetiredRefreshTokens,
    Sessions,
    AuditEvents,
    TrashedTodos,
    /// After the trash, so today's purges are never pruned at once.
    Tombstones,
    IdempotencyKeys,
    /// Second login steps that expired unanswered (five minutes).
    MfaChallenges,
    /// API tokens past their `expires_at`: refused and unlisted already.
    ApiTokens,
}

impl Target {
    pub const ALL: [Self; 8] = [
        Self::RetiredRefreshTokens,
        Self::Sessions,
        Self::AuditEvents,
        Self::TrashedTodos,
        Self::Tombstones,
        Self::IdempotencyKeys,
        Self::MfaChallenges,
        Self::ApiTokens,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::RetiredRefreshTokens => "retired_refresh_tokens",
            Self::Sessions => "sessions",
            Self::AuditEvents => "audit_events",
            Self::TrashedTodos => "trashed_todos",
            Self::Tombstones => "todo_tombstones",
            Self::IdempotencyKeys => "idempotency_keys",
            Self::MfaChallenges => "mfa_challenges",
            Self::ApiTokens => "api_tokens",
        }
    }
}

/// How many rows of each kind a pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    counts: Vec<(Target, u64)>,
}

impl PruneReport {
    fn add(&mut self, target: Target, removed: usize) {
        let removed = removed as u64;
        match self.counts.iter_mut().find(|(t, _)| *t == target) {
            Some((_, count)) => *count += removed,
            None => self.counts.push((target, removed)),
        }
    }

    pub fn removed(&self, target: Target) -> u64 {
        self.counts
            .iter()
            .find(|(t, _)| *t == target)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

impl fmt::Display for PruneReport {
    /// `sessions: 12, retired_refresh_tokens: 40, audit_events: 0`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = [
            Target::Sessions,
            Target::RetiredRefreshTokens,
            Target::AuditEvents,
            Target::TrashedTodos,
            Target::Tombstones,
            Target::IdempotencyKeys,
            Target::MfaChallenges,
            Target::ApiTokens,
        ];
        for (i, target) in order.into_iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", target.name(), self.removed(target))?;
        }
        Ok(())
    }
}

/// One pass over the configured database (`securetodo prune`).
/// `None` when another instance holds the retention lock (PostgreSQL).
pub fn prune_database(settings: &Settings) -> anyhow::Result<Option<PruneReport>> {
    let pool = crate::db::build_pool(&settings.database, 1)?;
    prune_exclusive(
        &pool,
        &RetentionPolicy::from_settings(settings),
        crate::clock::now(),
    )
}

/// The PostgreSQL advisory lock a retention pass holds, so that of several
/// instances one prunes at a time ("sTodoRet").
const RETENTION_LOCK_KEY: i64 = 0x7354_6f64_6f52_6574;

/// One retention pass, unless another instance is running one right now
/// (PostgreSQL: `pg_try_advisory_lock`; `None` then, and this instance
/// simply waits for its next turn). SQLite has one instance by nature.
pub fn prune_exclusive(
    pool: &DbPool,
    policy: &RetentionPolicy,
    now: NaiveDateTime,
) -> anyhow::Result<Option<PruneReport>> {
    pool.with_conn(|conn| -> anyhow::Result<Option<PruneReport>> {
        let Conn::Pg(pg) = conn else {
            return Ok(Some(prune(conn, policy, now)?));
        };
        #[derive(QueryableByName)]
        struct Locked {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        let got = diesel::sql_query(format!(
            "SELECT pg_try_advisory_lock({RETENTION_LOCK_KEY}) AS locked"
        ))
        .get_result::<Locked>(&mut **pg)?
        .locked;
        if !got {
            return Ok(None);
        }
        let report = prune(conn, policy, now);
        let Conn::Pg(pg) = conn else {
            return Ok(Some(report?));
        };
        let unlocked =
            diesel::sql_query(format!("SELECT pg_advisory_unlock({RETENTION_LOCK_KEY})"))
                .execute(&mut **pg);
        let report = report?;
        unlocked?;
        Ok(Some(report))
    })
}

/// One retention pass at `now`.
pub fn prune(
    conn: &mut Conn<'_>,
    policy: &RetentionPolicy,
    now: NaiveDateTime,
) -> QueryResult<PruneReport> {
    let mut report = PruneReport::default();
    for target in Target::ALL {
        report.add(target, 0);
        loop {
            let batch = prune_batch(conn, target, policy, now, &mut report)?;
            if batch < policy.batch_size.max(1) as usize {
                break;
            }
        }
    }
    Ok(report)
}

/// One batch of a table whose rows simply expire (`id`, `expires_at`): the
/// ids of at most `limit` expired rows, read outside a write transaction,
/// then deleted by id (if still expired) in one short transaction.
macro_rules! prune_expired {
    ($conn:expr, $table:ident, $now:expr, $limit:expr, $target:expr, $report:expr) => {{
        let ids: Vec<i64> = dispatch!($conn, c => $table::table
            .filter($table::expires_at.le($now))
            .order($table::id)
            .select($table::id)
            .limit($limit)
            .load(c))?;
        if !ids.is_empty() {
            let removed = transaction($conn, |tx| {
                dispatch!(tx, tx => diesel::delete(
                    $table::table
                        .filter($table::id.eq_any(&ids))
                        .filter($table::expires_at.le($now)),
                )
                .execute(tx))
            })?;
            $report.add($target, removed);
        }
        Ok(ids.len())
    }};
}

/// Removes at most one batch of `target`; returns how many keys the batch
/// selected (fewer than the batch size: nothing is left).
fn prune_batch(
    conn: &mut Conn<'_>,
    target: Target,
    policy: &RetentionPolicy,
    now: NaiveDateTime,
    report: &mut PruneReport,
) -> QueryResult<usize> {
    let limit = policy.batch_size.max(1);
    match target {
        Target::RetiredRefreshTokens => {
            let ended = sessions::table
                .filter(ended_session(now))
                .select(sessions::id);
            let hashes: Vec<String> = dispatch!(conn, c => retired_refresh_tokens::table
                .filter(
                    retired_refresh_tokens::session_id
                        .eq_any(ended)
                        .or(retired_refresh_tokens::retired_at.le(now - policy.session_lifetime)),
                )
                .select(retired_refresh_tokens::token_hash)
                .limit(limit)
                .load(c))?;
            if !hashes.is_empty() {
                let removed = transaction(conn, |tx| {
                    dispatch!(tx, tx => diesel::delete(
                        retired_refresh_tokens::table
                            .filter(retired_refresh_tokens::token_hash.eq_any(&hashes)),
                    )
                    .execute(tx))
                })?;
                report.add(target, removed);
            }
            Ok(hashes.len())
        }
        Target::Sessions => {
            let ids: Vec<i64> = dispatch!(conn, c => sessions::table
                .filter(ended_session(now))
                .order(sessions::id)
                .select(sessions::id)
                .limit(limit)
                .load(c))?;
            if !ids.is_empty() {
                let (tokens, removed) = transaction(conn, |tx| {
                    dispatch!(tx, tx => {
                        // Tokens a session retired since the first step (it
                        // ended meanwhile) go first, so that they are counted
                        // rather than removed silently by the cascade.
                        let tokens = diesel::delete(
                            retired_refresh_tokens::table
                                .filter(retired_refresh_tokens::session_id.eq_any(&ids)),
                        )
                        .execute(tx)?;
                        let removed = diesel::delete(
                            sessions::table
                                .filter(sessions::id.eq_any(&ids))
                                .filter(ended_session(now)),
                        )
                        .execute(tx)?;
                        QueryResult::Ok((tokens, removed))
                    })
                })?;
                report.add(Target::RetiredRefreshTokens, tokens);
                report.add(target, removed);
            }
            Ok(ids.len())
        }
        Target::AuditEvents => {
            let Some(retention) = policy.audit_retention else {
                return Ok(0);
            };
            // Ids grow with time, so the oldest events come first in id
            // order and the scan stops at the first batch.
            let ids: Vec<i64> = dispatch!(conn, c => audit_events::table
                .filter(audit_events::created_at.lt(now - retention))
                .order(audit_events::id)
                .select(audit_events::id)
                .limit(limit)
                .load(c))?;
            if !ids.is_empty() {
                let removed = transaction(conn, |tx| {
                    dispatch!(tx, tx => diesel::delete(
                        audit_events::table.filter(audit_events::id.eq_any(&ids)),
                    )
                    .execute(tx))
                })?;
                report.add(target, removed);
            }
            Ok(ids.len())
        }
        Target::TrashedTodos => {
            let cutoff = now - policy.trash_retention;
            let due = todo::trashed_before(conn, cutoff, limit)?;
            if !due.is_empty() {
                let removed = transaction(conn, |tx| {
                    let mut removed = 0;
                    for (owner, ids) in by_owner(due.iter().copied()) {
                        removed += crate::app::todos::purge(tx, owner, Some((&ids, cutoff)))?;
                    }
                    QueryResult::Ok(removed)
                })?;
                report.add(target, removed);
            }
            Ok(due.len())
        }
        Target::Tombstones => {
            let cutoff = now - policy.trash_retention;
            let due = sync::purged_before(conn, cutoff, limit)?;
            if !due.is_empty() {
                let removed = transaction(conn, |tx| {
                    let mut removed = 0;
                    let owners = by_owner(due.iter().map(|&(owner, id, _)| (owner, id)));
                    for (owner, ids) in owners {
                        let newest = due
                            .iter()
                            .filter(|(o, _, _)| *o == owner)
                            .map(|(_, _, seq)| *seq)
                            .max()
                            .unwrap_or_default();
                        removed += sync::prune_tombstones(tx, owner, &ids, newest)?;
                    }
                    QueryResult::Ok(removed)
                })?;
                report.add(target, removed);
            }
            Ok(due.len())
        }
        Target::IdempotencyKeys => {
            let cutoff = now - IDEMPOTENCY_KEY_LIFETIME;
            let due = idempotency::created_before(conn, cutoff, limit)?;
            if !due.is_empty() {
                let removed =
                    transaction(conn, |tx| idempotency::delete_expired(tx, &due, cutoff))?;
                report.add(target, removed);
            }
            Ok(due.len())
        }
        Target::MfaChallenges => prune_expired!(conn, mfa_challenges, now, limit, target, report),
        Target::ApiTokens => prune_expired!(conn, api_tokens, now, limit, target, report),
    }
}

/// `(owner, id)` pairs grouped by owner, owners in ascending order (one
/// lock order for every transaction that touches several users).
fn by_owner(pairs: impl Iterator<Item = (i64, i64)>) -> Vec<(i64, Vec<i64>)> {
    let mut groups: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (owner, id) in pairs {
        groups.entry(owner).or_default().push(id);
    }
    groups.into_iter().collect()
}

/// A session that can never be used again: expired or revoked.
#[allow(clippy::type_complexity)]
fn ended_session(
    now: NaiveDateTime,
) -> diesel::dsl::Or<
    diesel::dsl::LtEq<sessions::expires_at, NaiveDateTime>,
    diesel::dsl::IsNotNull<sessions::revoked_at>,
> {
    sessions::expires_at
        .le(now)
        .or(sessions::revoked_at.is_not_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::memory_pool;
    use crate::clock::now as db_now;
    use diesel::connection::SimpleConnection;
    use diesel::SqliteConnection;

    fn policy(batch_size: i64) -> RetentionPolicy {
        RetentionPolicy {
            session_lifetime: Duration::days(14),
            audit_retention: Some(Duration::days(365)),
            trash_retention: Duration::days(30),
            batch_size,
        }
    }

    fn count(conn: &mut SqliteConnection, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(conn)
            .map(|c| c.n)
            .unwrap()
    }

    /// Live and ended data side by side, with timestamps relative to `now`.
    fn seed(conn: &mut SqliteConnection) {
        conn.batch_execute(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at)
                 VALUES (1, 'a@example.com', 'x', datetime('now'), datetime('now'));
             -- 1 live, 2 expired, 3 revoked, 4 live (recently refreshed)
             INSERT INTO sessions (id, user_id, refresh_token_hash, created_at, last_used_at, expires_at, revoked_at) VALUES
                 (1, 1, 'live', datetime('now', '-1 day'), datetime('now'), datetime('now', '+13 days'), NULL),
                 (2, 1, 'expired', datetime('now', '-20 days'), datetime('now', '-7 days'), datetime('now', '-6 days'), NULL),
                 (3, 1, 'revoked', datetime('now', '-2 days'), datetime('now', '-1 day'), datetime('now', '+12 days'), datetime('now', '-1 hour')),
                 (4, 1, 'live2', datetime('now', '-13 days'), datetime('now'), datetime('now', '+1 day'), NULL);
             INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at) VALUES
                 ('l1', 1, datetime('now', '-1 hour')),
                 ('l2', 1, datetime('now', '-2 hours')),
                 ('e1', 2, datetime('now', '-8 days')),
                 ('e2', 2, datetime('now', '-9 days')),
                 ('e3', 2, datetime('now', '-10 days')),
                 ('r1', 3, datetime('now', '-1 day')),
                 ('old', 4, datetime('now', '-15 days'));
             INSERT INTO audit_events (type, created_at) VALUES
                 ('auth.login_succeeded', datetime('now', '-400 days')),
                 ('auth.login_failed', datetime('now', '-366 days')),
                 ('auth.login_failed', datetime('now', '-364 days')),
                 ('auth.logout', datetime('now'));",
        )
        .unwrap();
    }

    #[test]
    fn expired_second_login_steps_are_pruned_and_live_ones_kept() {
        let pool = memory_pool();
        let mut conn = pool.sqlite();
        conn.batch_execute(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at)
                 VALUES (1, 'm@example.com', 'x', datetime('now'), datetime('now'));
             INSERT INTO mfa_challenges (user_id, token_hash, password_fingerprint, attempts, created_at, expires_at)
                 VALUES (1, 'expired', 'f', 0, datetime('now', '-10 minutes'), datetime('now', '-5 minutes')),
                        (1, 'live', 'f', 0, datetime('now'), datetime('now', '+5 minutes'));",
        )
        .unwrap();
        let report = prune(&mut Conn::Sqlite(&mut conn), &policy(10), db_now()).unwrap();
        assert_eq!(report.removed(Target::MfaChallenges), 1);
        assert_eq!(count(&mut conn, "mfa_challenges"), 1);
    }

    #[test]
    fn expired_api_tokens_are_pruned_and_live_ones_kept() {
        let pool = memory_pool();
        let mut conn = pool.sqlite();
        conn.batch_execute(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at)
                 VALUES (1, 't@example.com', 'x', datetime('now'), datetime('now'));
             INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at, expires_at)
                 VALUES (1, 'old', 'h1', 'todos:read', datetime('now', '-40 days'), datetime('now', '-10 days')),
                        (1, 'just', 'h2', 'todos:read', datetime('now', '-30 days'), datetime('now', '-1 minute')),
                        (1, 'live', 'h3', 'todos:read', datetime('now'), datetime('now', '+30 days'));",
        )
        .unwrap();
        let report = prune(&mut Conn::Sqlite(&mut conn), &policy(1), db_now()).unwrap();
        assert_eq!(report.removed(Target::ApiTokens), 2);
        assert_eq!(count(&mut conn, "api_tokens"), 1);
        assert!(report.to_string().ends_with("api_tokens: 2"), "{report}");
    }

    #[test]
    fn prune_removes_only_ended_and_expired_data_in_batches() {
        let pool = memory_pool();
        let mut conn = pool.sqlite();
        seed(&mut conn);

        // A batch of 2 makes every kind take several batches.
        let report = prune(&mut Conn::Sqlite(&mut conn), &policy(2), db_now()).unwrap();

        assert_eq!(report.removed(Target::Sessions), 2);
        assert_eq!(report.removed(Target::RetiredRefreshTokens), 5);
        assert_eq!(report.removed(Target::AuditEvents), 2);
        assert_eq!(report.total(), 9);
        assert_eq!(
            report.to_string(),
            "sessions: 2, retired_refresh_tokens: 5, audit_events: 2, trashed_todos: 0, \
             todo_tombstones: 0, idempotency_keys: 0, mfa_challenges: 0, api_tokens: 0"
        );
        let sessions: Vec<i64> = sessions::table
            .order(sessions::id)
            .select(sessions::id)
            .load(&mut *conn)
            .unwrap();
        assert_eq!(sessions, [1, 4]);
        let mut tokens: Vec<String> = retired_refresh_tokens::table
            .select(retired_refresh_tokens::token_hash)
            .load(&mut *conn)
            .unwrap();
        tokens.sort();
        assert_eq!(tokens, ["l1", "l2"]);
        assert_eq!(count(&mut conn, "audit_events"), 2);
        assert_eq!(count(&mut conn, "users"), 1);

        // A second pass finds nothing.
        let again = prune(&mut Conn::Sqlite(&mut conn), &policy(2), db_now()).unwrap();
        assert_eq!(again.total(), 0);
        assert_eq!(
            again.to_string(),
            "sessions: 0, retired_refresh_tokens: 0, audit_events: 0, trashed_todos: 0, \
             todo_tombstones: 0, idempotency_keys: 0, mfa_challenges: 0, api_tokens: 0"
        );
    }

    #[test]
    fn audit_retention_zero_keeps_audit_events_forever() {
        let pool = memory_pool();
        let mut conn = pool.sqlite();
        seed(&mut conn);
        let keep = RetentionPolicy {
            audit_retention: None,
            ..policy(DEFAULT_BATCH_SIZE)
        };
        let report = prune(&mut Conn::Sqlite(&mut conn), &keep, db_now()).unwrap();
        assert_eq!(report.removed(Target::AuditEvents), 0);
        assert_eq!(count(&mut conn, "audit_events"), 4);
        assert_eq!(report.removed(Target::Sessions), 2);
    }

    #[test]
    fn sessions_ending_between_steps_take_their_tokens_along_counted() {
        let pool = memory_pool();
        let mut conn = pool.sqlite();
        seed(&mut conn);
        // Session 1 ends after the token step ran: the session step removes
        // its two tokens itself and counts them.
        let mut report = PruneReport::default();
        conn.batch_execute("UPDATE sessions SET revoked_at = datetime('now') WHERE id = 1")
            .unwrap();
        let selected = prune_batch(
            &mut Conn::Sqlite(&mut conn),
            Target::Sessions,
            &policy(10),
            db_now(),
            &mut report,
        )
        .unwrap();
        assert_eq!(selected, 3);
        assert_eq!(report.removed(Target::Sessions), 3);
        // l1, l2 of session 1, e1-e3 of session 2 and r1 of session 3.
        assert_eq!(report.removed(Target::RetiredRefreshTokens), 6);
        assert_eq!(count(&mut conn, "retired_refresh_tokens"), 1);
    }

    #[test]
    fn the_policy_follows_the_settings() {
        let mut settings = Settings::from_lookup(|_| None).unwrap();
        settings.refresh_token_ttl_secs = 3600;
        settings.audit_retention_days = 30;
        let policy = RetentionPolicy::from_settings(&settings);
        assert_eq!(policy.session_lifetime, Duration::hours(1));
        assert_eq!(policy.audit_retention, Some(Duration::days(30)));
        assert_eq!(policy.batch_size, DEFAULT_BATCH_SIZE);
        settings.audit_retention_days = 0;
        assert_eq!(
            RetentionPolicy::from_settings(&settings).audit_retention,
            None
        );
    }
}
