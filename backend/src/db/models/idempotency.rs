//! The `idempotency_keys` table: one row per user and `Idempotency-Key`,
//! in flight (`status` NULL) until the response it records is written in
//! the same transaction as the change it reports.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{dispatch, Conn};

use crate::db::schema::idempotency_keys;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub status: Option<i32>,
    pub response_body: Option<String>,
    pub response_etag: Option<String>,
    pub response_location: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = idempotency_keys)]
struct NewRecord<'a> {
    user_id: i64,
    idempotency_key: &'a str,
    fingerprint: &'a str,
    created_at: NaiveDateTime,
}

/// Claims `key` for a request in flight; false when the owner already has
/// a record of that key.
pub fn claim(
    conn: &mut Conn<'_>,
    owner: i64,
    key: &str,
    fingerprint: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    dispatch!(conn, conn => {
        let inserted = diesel::insert_into(idempotency_keys::table)
            .values(&NewRecord {
                user_id: owner,
                idempotency_key: key,
                fingerprint,
                created_at: now,
            })
            .on_conflict((idempotency_keys::user_id, idempotency_keys::idempotency_key))
            .do_nothing()
            .execute(conn)?;
        Ok(inserted == 1)
    })
}

pub fn find(conn: &mut Conn<'_>, owner: i64, key: &str) -> QueryResult<Option<IdempotencyRecord>> {
    dispatch!(conn, conn => {
        idempotency_keys::table
            .filter(idempotency_keys::user_id.eq(owner))
            .filter(idempotency_keys::idempotency_key.eq(key))
            .select(IdempotencyRecord::as_select())
            .first(conn)
            .optional()
    })
}

/// Takes over a record that expired or was abandoned in flight: only if it
/// is still the one read (`created_at`), so of two racing takers one wins.
pub fn take_over(
    conn: &mut Conn<'_>,
    owner: i64,
    key: &str,
    seen: NaiveDateTime,
    fingerprint: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    dispatch!(conn, conn => {
        let taken = diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(owner))
                .filter(idempotency_keys::idempotency_key.eq(key))
                .filter(idempotency_keys::created_at.eq(seen)),
        )
        .set((
            idempotency_keys::fingerprint.eq(fingerprint),
            idempotency_keys::status.eq(None::<i32>),
            idempotency_keys::response_body.eq(None::<String>),
            idempotency_keys::response_etag.eq(None::<String>),
            idempotency_keys::response_location.eq(None::<String>),
            idempotency_keys::created_at.eq(now),
        ))
        .execute(conn)?;
        Ok(taken == 1)
    })
}

/// Records the response of the request that holds `key`.
pub fn complete(
    conn: &mut Conn<'_>,
    owner: i64,
    key: &str,
    status: i32,
    body: &str,
    etag: Option<&str>,
    location: Option<&str>,
) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(owner))
                .filter(idempotency_keys::idempotency_key.eq(key)),
        )
        .set((
            idempotency_keys::status.eq(status),
            idempotency_keys::response_body.eq(body),
            idempotency_keys::response_etag.eq(etag),
            idempotency_keys::response_location.eq(location),
        ))
        .execute(conn)
        .map(drop)
    })
}

/// Drops the in-flight claim of a request that failed, so a retry acts.
pub fn release(conn: &mut Conn<'_>, owner: i64, key: &str) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::delete(
            idempotency_keys::table
                .filter(idempotency_keys::user_id.eq(owner))
                .filter(idempotency_keys::idempotency_key.eq(key))
                .filter(idempotency_keys::status.is_null()),
        )
        .execute(conn)
        .map(drop)
    })
}

/// Up to `limit` records created before `cutoff`, as `(owner, key)`.
pub fn created_before(
    conn: &mut Conn<'_>,
    cutoff: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(i64, String)>> {
    dispatch!(conn, conn => {
        idempotency_keys::table
            .filter(idempotency_keys::created_at.lt(cutoff))
            .order(idempotency_keys::created_at.asc())
            .select((idempotency_keys::user_id, idempotency_keys::idempotency_key))
            .limit(limit)
            .load(conn)
    })
}

/// Deletes the records `keys` if they are still older than `cutoff`.
pub fn delete_expired(
    conn: &mut Conn<'_>,
    keys: &[(i64, String)],
    cutoff: NaiveDateTime,
) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        let mut removed = 0;
        for (owner, key) in keys {
            removed += diesel::delete(
                idempotency_keys::table
                    .filter(idempotency_keys::user_id.eq(owner))
                    .filter(idempotency_keys::idempotency_key.eq(key))
                    .filter(idempotency_keys::created_at.lt(cutoff)),
            )
            .execute(conn)?;
        }
        Ok(removed)
    })
}
