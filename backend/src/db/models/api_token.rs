//! The `api_tokens` table: personal API tokens, kept only as hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{api_tokens, users};
use crate::db::{dispatch, Conn};

/// Live (unexpired) tokens a user may hold at once.
pub const MAX_LIVE_TOKENS_PER_USER: i64 = 20;

/// `last_used_at` is written at most this often per token, so that reads
/// stay reads.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

/// A token's metadata; never its hash.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = api_tokens)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct NewApiToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub scopes: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// The caller behind a token, loaded in one query joining the live token
/// to its enabled user.
#[derive(Debug, Clone, Queryable)]
pub struct TokenUser {
    pub token_id: i64,
    pub scopes: String,
    pub last_used_at: Option<NaiveDateTime>,
    pub user_id: i64,
}

pub fn insert(conn: &mut Conn<'_>, new: &NewApiToken<'_>) -> QueryResult<ApiToken> {
    dispatch!(conn, conn => {
        diesel::insert_into(api_tokens::table)
            .values(new)
            .returning(ApiToken::as_returning())
            .get_result(conn)
    })
}

/// How many unexpired tokens the user holds.
pub fn count_live(conn: &mut Conn<'_>, user_id: i64, now: NaiveDateTime) -> QueryResult<i64> {
    dispatch!(conn, conn => {
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::expires_at.gt(now))
            .count()
            .get_result(conn)
    })
}

/// The user's unexpired tokens, newest first.
pub fn list_live(
    conn: &mut Conn<'_>,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<ApiToken>> {
    dispatch!(conn, conn => {
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .filter(api_tokens::expires_at.gt(now))
            .order(api_tokens::id.desc())
            .limit(MAX_LIVE_TOKENS_PER_USER)
            .select(ApiToken::as_select())
            .load(conn)
    })
}

/// Deletes token `id` of `user_id`; `None` when the user has no such token.
pub fn delete_owned(conn: &mut Conn<'_>, user_id: i64, id: i64) -> QueryResult<Option<ApiToken>> {
    dispatch!(conn, conn => {
        diesel::delete(
            api_tokens::table
                .filter(api_tokens::id.eq(id))
                .filter(api_tokens::user_id.eq(user_id)),
        )
        .returning(ApiToken::as_returning())
        .get_result(conn)
        .optional()
    })
}

/// Deletes every token of the user; returns how many were live.
pub fn delete_all(conn: &mut Conn<'_>, user_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    let live = count_live(conn, user_id, now)?;
    dispatch!(conn, conn => {
        diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(user_id))).execute(conn)
    })?;
    Ok(usize::try_from(live).unwrap_or(0))
}

/// The live token whose secret hashes to `hash`, with its enabled user:
/// one lookup through the unique index on `token_hash`, then the user's
/// primary key.
pub fn find_live_by_hash(
    conn: &mut Conn<'_>,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<TokenUser>> {
    dispatch!(conn, conn => {
        api_tokens::table
            .inner_join(users::table)
            .filter(api_tokens::token_hash.eq(hash))
            .filter(api_tokens::expires_at.gt(now))
            .filter(users::disabled.eq(false))
            .select((
                api_tokens::id,
                api_tokens::scopes,
                api_tokens::last_used_at,
                users::id,
            ))
            .first(conn)
            .optional()
    })
}

/// Records a use of token `id` unless one was recorded within the last
/// minute. The condition is part of the UPDATE, so concurrent requests
/// write at most once per interval without reading first.
pub fn touch(conn: &mut Conn<'_>, id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        let stale = now - chrono::Duration::seconds(TOUCH_INTERVAL_SECS);
        diesel::update(
            api_tokens::table.find(id).filter(
                api_tokens::last_used_at
                    .is_null()
                    .or(api_tokens::last_used_at.le(stale)),
            ),
        )
        .set(api_tokens::last_used_at.eq(now))
        .execute(conn)
    })
}

/// Every token of the user, oldest first, for the data export.
pub fn list_all(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<Vec<ApiToken>> {
    dispatch!(conn, conn => {
        api_tokens::table
            .filter(api_tokens::user_id.eq(user_id))
            .order(api_tokens::id.asc())
            .select(ApiToken::as_select())
            .load(conn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query_plan;

    #[test]
    fn a_token_is_found_through_the_hash_index() {
        let query = api_tokens::table
            .filter(api_tokens::token_hash.eq("x"))
            .select(api_tokens::id);
        let plan = query_plan(&query);
        assert!(
            plan.iter()
                .any(|step| step.contains("INDEX sqlite_autoindex_api_tokens_1 (token_hash=?)")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN")),
            "{plan:?}"
        );
    }
}
