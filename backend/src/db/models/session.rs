//! The `sessions` table and rotated-away refresh tokens.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{dispatch, Conn};

use crate::db::schema::{retired_refresh_tokens, sessions, users};

/// Live sessions a user may hold; the oldest are ended beyond this.
pub const MAX_SESSIONS_PER_USER: i64 = 20;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sessions)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Session {
    pub id: i64,
    pub user_id: i64,
    pub refresh_token_hash: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub user_id: i64,
    pub refresh_token_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub last_used_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
}

/// The caller as the authenticated request sees them: loaded in one query
/// joining the live session to its user.
#[derive(Debug, Clone, Queryable)]
pub struct SessionUser {
    pub session_id: i64,
    pub last_used_at: NaiveDateTime,
    pub user_id: i64,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub mfa_enabled: bool,
}

/// The sessions of `user_id` that are live at `now`: not ended, not expired.
#[diesel::dsl::auto_type]
fn live_of(user_id: i64, now: NaiveDateTime) -> _ {
    sessions::user_id
        .eq(user_id)
        .and(sessions::revoked_at.is_null())
        .and(sessions::expires_at.gt(now))
}

/// `last_used_at` of session `session_id` if it is a live session of
/// enabled user `user_id` (the condition of [`find_live`]), as a subquery
/// another table's query can select and filter on: null otherwise.
#[diesel::dsl::auto_type]
pub fn live_last_used(session_id: i64, user_id: i64, now: NaiveDateTime) -> _ {
    let live: live_of = live_of(user_id, now);
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(live)
        .filter(users::disabled.eq(false))
        .select(sessions::last_used_at)
        .single_value()
}

/// The live session `sid` of user `uid` with its enabled user, or `None`.
/// Served by the primary key of `sessions` and of `users`.
pub fn find_live(
    conn: &mut Conn<'_>,
    session_id: i64,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Option<SessionUser>> {
    dispatch!(conn, conn => {
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id.eq(session_id))
            .filter(live_of(user_id, now))
            .filter(users::disabled.eq(false))
            .select((
                sessions::id,
                sessions::last_used_at,
                users::id,
                users::email,
                users::role,
                users::disabled,
                users::created_at,
                users::mfa_enabled,
            ))
            .first(conn)
            .optional()
    })
}

pub fn touch(conn: &mut Conn<'_>, session_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::update(sessions::table.find(session_id))
            .set(sessions::last_used_at.eq(now))
            .execute(conn)
            .map(|_| ())
    })
}

pub fn insert(conn: &mut Conn<'_>, new: &NewSession<'_>) -> QueryResult<Session> {
    dispatch!(conn, conn => {
        let session = diesel::insert_into(sessions::table)
            .values(new)
            .returning(Session::as_returning())
            .get_result(conn)?;
        // Bound what one account can hold: end the oldest live sessions.
        let live: Vec<i64> = sessions::table
            .filter(sessions::user_id.eq(new.user_id))
            .filter(sessions::revoked_at.is_null())
            .order(sessions::id.desc())
            .offset(MAX_SESSIONS_PER_USER)
            .limit(1000)
            .select(sessions::id)
            .load(conn)?;
        if !live.is_empty() {
            diesel::update(sessions::table.filter(sessions::id.eq_any(live)))
                .set(sessions::revoked_at.eq(new.created_at))
                .execute(conn)?;
        }
        Ok(session)
    })
}

/// The session whose *current* refresh token has this hash, if still live.
pub fn find_by_refresh_hash(conn: &mut Conn<'_>, hash: &str) -> QueryResult<Option<Session>> {
    dispatch!(conn, conn => {
        sessions::table
            .filter(sessions::refresh_token_hash.eq(hash))
            .select(Session::as_select())
            .first(conn)
            .optional()
    })
}

/// [`find_by_refresh_hash`] for a rotation. PostgreSQL locks the row
/// (`FOR UPDATE`): of two refreshes racing with one token, the second waits
/// for the first to commit, then no longer finds the token current and
/// finds it retired instead (reuse). SQLite's write transaction already
/// serialises them.
pub fn find_by_refresh_hash_for_update(
    conn: &mut Conn<'_>,
    hash: &str,
) -> QueryResult<Option<Session>> {
    match conn {
        Conn::Sqlite(_) => find_by_refresh_hash(conn, hash),
        Conn::Pg(c) => sessions::table
            .filter(sessions::refresh_token_hash.eq(hash))
            .select(Session::as_select())
            .for_update()
            .first(&mut **c)
            .optional(),
    }
}

/// The session a rotated-away refresh token belonged to.
pub fn find_by_retired_hash(conn: &mut Conn<'_>, hash: &str) -> QueryResult<Option<i64>> {
    dispatch!(conn, conn => {
        retired_refresh_tokens::table
            .find(hash)
            .select(retired_refresh_tokens::session_id)
            .first(conn)
            .optional()
    })
}

/// Replaces the session's refresh token, remembering the old one so that
/// presenting it again is detected as reuse.
pub fn rotate(
    conn: &mut Conn<'_>,
    session: &Session,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::insert_into(retired_refresh_tokens::table)
            .values((
                retired_refresh_tokens::token_hash.eq(&session.refresh_token_hash),
                retired_refresh_tokens::session_id.eq(session.id),
                retired_refresh_tokens::retired_at.eq(now),
            ))
            .execute(conn)?;
        diesel::update(sessions::table.find(session.id))
            .set((
                sessions::refresh_token_hash.eq(new_hash),
                sessions::last_used_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

pub fn revoke(conn: &mut Conn<'_>, session_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::update(
            sessions::table
                .find(session_id)
                .filter(sessions::revoked_at.is_null()),
        )
        .set(sessions::revoked_at.eq(now))
        .execute(conn)
    })
}

/// Revokes one session of `user_id`; 0 when it is not theirs or not live.
pub fn revoke_owned(
    conn: &mut Conn<'_>,
    user_id: i64,
    session_id: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::update(
            sessions::table
                .filter(sessions::id.eq(session_id))
                .filter(live_of(user_id, now)),
        )
        .set(sessions::revoked_at.eq(now))
        .execute(conn)
    })
}

/// Revokes every live session of the user except `keep`.
pub fn revoke_all(
    conn: &mut Conn<'_>,
    user_id: i64,
    keep: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        let query = sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne(keep.unwrap_or(-1)));
        diesel::update(query)
            .set(sessions::revoked_at.eq(now))
            .execute(conn)
    })
}

/// The user's live sessions, newest first (at most MAX_SESSIONS_PER_USER).
pub fn list_live(
    conn: &mut Conn<'_>,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<Session>> {
    dispatch!(conn, conn => {
        sessions::table
            .filter(live_of(user_id, now))
            .order(sessions::id.desc())
            .limit(MAX_SESSIONS_PER_USER)
            .select(Session::as_select())
            .load(conn)
    })
}

pub fn find_owner(conn: &mut Conn<'_>, session_id: i64) -> QueryResult<Option<i64>> {
    dispatch!(conn, conn => {
        sessions::table
            .find(session_id)
            .select(sessions::user_id)
            .first(conn)
            .optional()
    })
}

/// Counts a wrong password given inside the session; returns the count.
pub fn add_password_failure(conn: &mut Conn<'_>, session_id: i64) -> QueryResult<i32> {
    dispatch!(conn, conn => {
        diesel::update(sessions::table.find(session_id))
            .set(sessions::failed_password_checks.eq(sessions::failed_password_checks + 1))
            .returning(sessions::failed_password_checks)
            .get_result(conn)
    })
}

/// Every stored session of the user (live and ended, until retention
/// removes the ended ones), oldest first, for the data export.
pub fn list_all(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<Vec<Session>> {
    dispatch!(conn, conn => {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .order(sessions::id.asc())
            .select(Session::as_select())
            .load(conn)
    })
}
