//! The second factor's rows: the TOTP columns of `users`, recovery codes
//! and pending login challenges. Every state change that must happen at
//! most once is one conditional statement (no read-decide-write).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{mfa_challenges, mfa_recovery_codes, users};
use crate::db::{dispatch, Conn};

/// Stores a pending enrolment's sealed secret; `false` when MFA is already
/// on (the confirmed secret is never replaced this way).
pub fn set_pending_secret(
    conn: &mut Conn<'_>,
    user_id: i64,
    sealed: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    dispatch!(conn, conn => {
        let changed = diesel::update(
            users::table
                .find(user_id)
                .filter(users::mfa_enabled.eq(false)),
        )
        .set((
            users::mfa_secret.eq(Some(sealed)),
            users::mfa_last_step.eq(None::<i64>),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

/// Turns MFA on with the pending secret `sealed`, recording `step` as the
/// confirming code's (used) step. `false` when the enrolment is no longer
/// the pending one (restarted, or confirmed by a racing request).
pub fn confirm(
    conn: &mut Conn<'_>,
    user_id: i64,
    sealed: &str,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    dispatch!(conn, conn => {
        let changed = diesel::update(
            users::table
                .find(user_id)
                .filter(users::mfa_enabled.eq(false))
                .filter(users::mfa_secret.eq(sealed)),
        )
        .set((
            users::mfa_enabled.eq(true),
            users::mfa_last_step.eq(Some(step)),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

/// Accepts TOTP step `step` for the user once: moves `mfa_last_step`
/// forward only if it is behind `step`. Of two requests presenting the same
/// code, exactly one sees `true` (the row lock orders them).
pub fn accept_step(conn: &mut Conn<'_>, user_id: i64, step: i64) -> QueryResult<bool> {
    dispatch!(conn, conn => {
        let changed = diesel::update(
            users::table
                .find(user_id)
                .filter(users::mfa_enabled.eq(true))
                .filter(
                    users::mfa_last_step
                        .is_null()
                        .or(users::mfa_last_step.lt(step)),
                ),
        )
        .set(users::mfa_last_step.eq(Some(step)))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

/// Turns MFA off and forgets the secret, its recovery codes and pending
/// login challenges. Returns whether MFA was on.
pub fn clear(conn: &mut Conn<'_>, user_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let was_enabled = dispatch!(conn, conn => {
        let was_enabled = users::table
            .find(user_id)
            .select(users::mfa_enabled)
            .first::<bool>(conn)
            .optional()?
            .unwrap_or(false);
        diesel::update(users::table.find(user_id))
            .set((
                users::mfa_enabled.eq(false),
                users::mfa_secret.eq(None::<String>),
                users::mfa_last_step.eq(None::<i64>),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        QueryResult::Ok(was_enabled)
    })?;
    delete_recovery_codes(conn, user_id)?;
    delete_challenges(conn, user_id)?;
    Ok(was_enabled)
}

// ---------- recovery codes ----------

/// Replaces the user's recovery codes with `hashes`.
pub fn replace_recovery_codes(
    conn: &mut Conn<'_>,
    user_id: i64,
    hashes: &[String],
    now: NaiveDateTime,
) -> QueryResult<()> {
    delete_recovery_codes(conn, user_id)?;
    dispatch!(conn, conn => {
        let rows: Vec<_> = hashes
            .iter()
            .map(|hash| {
                (
                    mfa_recovery_codes::user_id.eq(user_id),
                    mfa_recovery_codes::code_hash.eq(hash),
                    mfa_recovery_codes::created_at.eq(now),
                )
            })
            .collect();
        diesel::insert_into(mfa_recovery_codes::table)
            .values(rows)
            .execute(conn)
            .map(|_| ())
    })
}

fn delete_recovery_codes(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user_id)))
            .execute(conn)
    })
}

/// Spends the unused recovery code hashing to `hash`: `true` once, `false`
/// for a wrong or already used code (also under concurrent use).
pub fn use_recovery_code(
    conn: &mut Conn<'_>,
    user_id: i64,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    dispatch!(conn, conn => {
        let changed = diesel::update(
            mfa_recovery_codes::table
                .filter(mfa_recovery_codes::user_id.eq(user_id))
                .filter(mfa_recovery_codes::code_hash.eq(hash))
                .filter(mfa_recovery_codes::used_at.is_null()),
        )
        .set(mfa_recovery_codes::used_at.eq(Some(now)))
        .execute(conn)?;
        Ok(changed == 1)
    })
}

pub fn unused_recovery_codes(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<i64> {
    dispatch!(conn, conn => {
        mfa_recovery_codes::table
            .filter(mfa_recovery_codes::user_id.eq(user_id))
            .filter(mfa_recovery_codes::used_at.is_null())
            .count()
            .get_result(conn)
    })
}

// ---------- login challenges ----------

/// A login waiting for its second factor.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mfa_challenges)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Challenge {
    pub id: i64,
    pub user_id: i64,
    pub device_hash: Option<String>,
    pub password_fingerprint: String,
    pub attempts: i32,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub expires_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = mfa_challenges)]
pub struct NewChallenge<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub device_hash: Option<&'a str>,
    pub password_fingerprint: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// Stores a challenge, dropping the user's expired ones on the way.
pub fn insert_challenge(conn: &mut Conn<'_>, new: &NewChallenge<'_>) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::delete(
            mfa_challenges::table
                .filter(mfa_challenges::user_id.eq(new.user_id))
                .filter(mfa_challenges::expires_at.le(new.created_at)),
        )
        .execute(conn)?;
        diesel::insert_into(mfa_challenges::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    })
}

/// Claims one attempt on the live challenge whose token hashes to `hash`:
/// the attempt is counted before the code is checked, in one conditional
/// statement, so at most `max_attempts` codes are ever checked per token,
/// whatever the concurrency. `None` when the token is unknown, used,
/// expired or out of attempts.
pub fn claim_attempt(
    conn: &mut Conn<'_>,
    hash: &str,
    max_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<Option<Challenge>> {
    dispatch!(conn, conn => {
        diesel::update(
            mfa_challenges::table
                .filter(mfa_challenges::token_hash.eq(hash))
                .filter(mfa_challenges::expires_at.gt(now))
                .filter(mfa_challenges::attempts.lt(max_attempts)),
        )
        .set(mfa_challenges::attempts.eq(mfa_challenges::attempts + 1))
        .returning(Challenge::as_returning())
        .get_result(conn)
        .optional()
    })
}

/// Ends a challenge (it succeeded, or can never succeed).
pub fn delete_challenge(conn: &mut Conn<'_>, id: i64) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::delete(mfa_challenges::table.find(id)).execute(conn)
    })
}

pub fn delete_challenges(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id))).execute(conn)
    })
}
