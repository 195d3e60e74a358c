//! The `login_devices` table: browsers and clients that have signed in to
//! an account (OWASP's device cookies), each with its own failure budget.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{dispatch, Conn};

use crate::db::schema::login_devices;

/// Devices remembered per user; the oldest are forgotten beyond this.
pub const MAX_DEVICES_PER_USER: i64 = 20;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = login_devices)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Device {
    pub id: i64,
    pub user_id: i64,
    pub failed_logins: i32,
    pub lockouts: i32,
    pub locked_until: Option<NaiveDateTime>,
}

impl Device {
    pub fn is_locked(&self, now: NaiveDateTime) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// The device of `user_id` whose cookie token hashes to `token_hash`.
pub fn find(conn: &mut Conn<'_>, user_id: i64, token_hash: &str) -> QueryResult<Option<Device>> {
    dispatch!(conn, conn => {
        login_devices::table
            .filter(login_devices::token_hash.eq(token_hash))
            .filter(login_devices::user_id.eq(user_id))
            .select(Device::as_select())
            .first(conn)
            .optional()
    })
}

/// Remembers a new device of `user_id`, forgetting the user's oldest
/// beyond [`MAX_DEVICES_PER_USER`].
pub fn insert(
    conn: &mut Conn<'_>,
    user_id: i64,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::insert_into(login_devices::table)
            .values((
                login_devices::user_id.eq(user_id),
                login_devices::token_hash.eq(token_hash),
                login_devices::created_at.eq(now),
                login_devices::last_used_at.eq(now),
            ))
            .execute(conn)?;
        let newest_forgotten: Option<i64> = login_devices::table
            .filter(login_devices::user_id.eq(user_id))
            .order(login_devices::id.desc())
            .offset(MAX_DEVICES_PER_USER)
            .select(login_devices::id)
            .first(conn)
            .optional()?;
        if let Some(cutoff) = newest_forgotten {
            diesel::delete(
                login_devices::table
                    .filter(login_devices::user_id.eq(user_id))
                    .filter(login_devices::id.le(cutoff)),
            )
            .execute(conn)?;
        }
        Ok(())
    })
}

/// A successful login from the device: its failures and lock are cleared.
pub fn record_success(conn: &mut Conn<'_>, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::update(login_devices::table.find(id))
            .set((
                login_devices::failed_logins.eq(0),
                login_devices::lockouts.eq(0),
                login_devices::locked_until.eq(None::<NaiveDateTime>),
                login_devices::last_used_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Counts one failure (no lost updates: the increment happens in SQL).
/// Returns the failures so far.
pub fn add_failure(conn: &mut Conn<'_>, id: i64) -> QueryResult<i32> {
    dispatch!(conn, conn => {
        diesel::update(login_devices::table.find(id))
            .set(login_devices::failed_logins.eq(login_devices::failed_logins + 1))
            .returning(login_devices::failed_logins)
            .get_result(conn)
    })
}

/// Locks the device until `until`; its next lock will last longer.
pub fn lock(conn: &mut Conn<'_>, id: i64, until: NaiveDateTime) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::update(login_devices::table.find(id))
            .set((
                login_devices::failed_logins.eq(0),
                login_devices::lockouts.eq(login_devices::lockouts + 1),
                login_devices::locked_until.eq(Some(until)),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Forgets every device of the user (their budgets go with them).
pub fn forget_all(conn: &mut Conn<'_>, user_id: i64) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::delete(login_devices::table.filter(login_devices::user_id.eq(user_id))).execute(conn)
    })
}
