//! The per-user change sequence (`users.change_seq`, `users.todo_count`,
//! `users.sync_floor`) and the `todo_tombstones` table behind delta sync.
//!
//! Every write to a user's todos first takes the next sequence number with
//! one conditional `UPDATE users ... RETURNING`: the row lock it takes hands
//! the numbers out in commit order on any backend, and the same statement
//! enforces the todo quota on create.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType};

use crate::db::{dispatch, Conn};

use crate::db::schema::{todo_tombstones, users};

/// Takes the owner's next change sequence number.
pub fn next_seq(conn: &mut Conn<'_>, owner: i64) -> QueryResult<i64> {
    let take = TakeSeq {
        owner,
        new_todos: 0,
        max: 0,
        room: 0,
    };
    dispatch!(conn, conn => take.get_result(conn))
}

/// The owner's next change sequence number, or with `new_todos` (n > 0)
/// the next n, counting n more todos unless that would take the owner past
/// `max` (> 0): `UPDATE users SET change_seq = change_seq + 1, todo_count =
/// todo_count + 1 WHERE id = ? AND todo_count < ? RETURNING change_seq`
/// (for n > 1, `+ ?` and `todo_count <= ?`, the quota less n). Spelled out
/// because Diesel never keeps its own `UPDATE` statements prepared, and
/// this one runs in every write to a todo: prepared once per connection and
/// shape, instead of parsed and planned on every create (on PostgreSQL, an
/// extra round trip too).
#[derive(Debug, Clone, Copy)]
struct TakeSeq {
    owner: i64,
    /// Also counts this many more todos (and takes as many sequence
    /// numbers), unless that would take the owner past `max` (> 0).
    new_todos: i64,
    max: i64,
    /// `max - new_todos`: the most the owner may hold before this.
    room: i64,
}

impl QueryId for TakeSeq {
    type QueryId = ();
    // Cached by its SQL text: one statement per shape.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for TakeSeq {
    type SqlType = BigInt;
}

impl<C> RunQueryDsl<C> for TakeSeq {}

impl<DB> QueryFragment<DB> for TakeSeq
where
    DB: Backend + HasSqlType<BigInt>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // One todo (or none) is spelled with literals: the statement every
        // write runs keeps its text, and so its prepared plan.
        if self.new_todos <= 1 {
            out.push_sql("UPDATE users SET change_seq = change_seq + 1");
            if self.new_todos == 1 {
                out.push_sql(", todo_count = todo_count + 1");
            }
        } else {
            out.push_sql("UPDATE users SET change_seq = change_seq + ");
            out.push_bind_param::<BigInt, _>(&self.new_todos)?;
            out.push_sql(", todo_count = todo_count + ");
            out.push_bind_param::<BigInt, _>(&self.new_todos)?;
        }
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, _>(&self.owner)?;
        if self.new_todos == 1 && self.max > 0 {
            out.push_sql(" AND todo_count < ");
            out.push_bind_param::<BigInt, _>(&self.max)?;
        } else if self.new_todos > 1 && self.max > 0 {
            out.push_sql(" AND todo_count <= ");
            out.push_bind_param::<BigInt, _>(&self.room)?;
        }
        out.push_sql(" RETURNING change_seq");
        Ok(())
    }
}

/// Counts one more todo and takes the next sequence number, in one
/// statement, unless the owner already holds `max` todos (live plus
/// trashed; `0` means no limit): then `None`. Exact under concurrent
/// creates, since the check and the increment are one row-locking UPDATE.
pub fn reserve_todo(conn: &mut Conn<'_>, owner: i64, max: i64) -> QueryResult<Option<i64>> {
    reserve_todos(conn, owner, 1, max)
}

/// [`reserve_todo`] for `n` (> 0) todos at once: the last of the `n`
/// consecutive sequence numbers taken, or `None`, and nothing taken, when
/// the owner cannot hold `n` more.
pub fn reserve_todos(
    conn: &mut Conn<'_>,
    owner: i64,
    n: i64,
    max: i64,
) -> QueryResult<Option<i64>> {
    let take = TakeSeq {
        owner,
        new_todos: n.max(1),
        max,
        room: max - n.max(1),
    };
    dispatch!(conn, conn => take.get_result(conn).optional())
}

/// Counts `n` todos fewer (they were purged).
pub fn release_todos(conn: &mut Conn<'_>, owner: i64, n: i64) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::update(users::table.filter(users::id.eq(owner)))
            .set(users::todo_count.eq(users::todo_count - n))
            .execute(conn)
            .map(drop)
    })
}

/// `(change_seq, sync_floor)` of the owner: the newest committed change and
/// the newest change whose tombstones may have been pruned.
pub fn position(conn: &mut Conn<'_>, owner: i64) -> QueryResult<(i64, i64)> {
    dispatch!(conn, conn => {
        users::table
            .filter(users::id.eq(owner))
            .select((users::change_seq, users::sync_floor))
            .first(conn)
    })
}

#[derive(Debug, Insertable)]
#[diesel(table_name = todo_tombstones)]
struct NewTombstone {
    user_id: i64,
    todo_id: i64,
    change_seq: i64,
}

/// Records that the owner's todos `ids` moved to the trash at `seq`. A
/// live todo never has a tombstone (a restore removes it), so this inserts.
pub fn record_trashed(conn: &mut Conn<'_>, owner: i64, ids: &[i64], seq: i64) -> QueryResult<()> {
    dispatch!(conn, conn => {
        // SQLite allows 32766 bound parameters per statement: 3 per row.
        for chunk in ids.chunks(5000) {
            let rows: Vec<NewTombstone> = chunk
                .iter()
                .map(|&todo_id| NewTombstone {
                    user_id: owner,
                    todo_id,
                    change_seq: seq,
                })
                .collect();
            diesel::insert_into(todo_tombstones::table)
                .values(&rows)
                .execute(conn)?;
        }
        Ok(())
    })
}

/// A restored todo is live again: its tombstone goes.
pub fn forget(conn: &mut Conn<'_>, owner: i64, id: i64) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::delete(
            todo_tombstones::table
                .filter(todo_tombstones::user_id.eq(owner))
                .filter(todo_tombstones::todo_id.eq(id)),
        )
        .execute(conn)
        .map(drop)
    })
}

/// Records that the owner's trashed todos `ids` were purged at `seq`: their
/// tombstones move to `seq`, so a client that saw the trashing before its
/// token hears of the purge again.
pub fn record_purged(
    conn: &mut Conn<'_>,
    owner: i64,
    ids: &[i64],
    seq: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    dispatch!(conn, conn => {
        for chunk in ids.chunks(10_000) {
            diesel::update(
                todo_tombstones::table
                    .filter(todo_tombstones::user_id.eq(owner))
                    .filter(todo_tombstones::todo_id.eq_any(chunk)),
            )
            .set((
                todo_tombstones::change_seq.eq(seq),
                todo_tombstones::purged_at.eq(now),
            ))
            .execute(conn)?;
        }
        Ok(())
    })
}

/// The owner's tombstones after position `(seq, id)` and after `base`, up
/// to `upto` (inclusive), in change order, as `(todo_id, change_seq)`: at
/// most `limit` rows.
pub fn tombstones_after(
    conn: &mut Conn<'_>,
    owner: i64,
    (seq, id): (i64, i64),
    base: i64,
    upto: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, i64)>> {
    dispatch!(conn, conn => {
        todo_tombstones::table
            .filter(todo_tombstones::user_id.eq(owner))
            .filter(todo_tombstones::change_seq.ge(seq.max(base)))
            .filter(todo_tombstones::change_seq.gt(base))
            .filter(todo_tombstones::change_seq.le(upto))
            .filter(
                todo_tombstones::change_seq
                    .gt(seq)
                    .or(todo_tombstones::todo_id.gt(id)),
            )
            .order((
                todo_tombstones::change_seq.asc(),
                todo_tombstones::todo_id.asc(),
            ))
            .select((todo_tombstones::todo_id, todo_tombstones::change_seq))
            .limit(limit)
            .load(conn)
    })
}

/// Up to `limit` tombstones of todos purged before `cutoff`, as
/// `(owner, todo_id, change_seq)`: the retention pass's next batch.
pub fn purged_before(
    conn: &mut Conn<'_>,
    cutoff: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(i64, i64, i64)>> {
    dispatch!(conn, conn => {
        todo_tombstones::table
            .filter(todo_tombstones::purged_at.lt(cutoff))
            .order(todo_tombstones::purged_at.asc())
            .select((
                todo_tombstones::user_id,
                todo_tombstones::todo_id,
                todo_tombstones::change_seq,
            ))
            .limit(limit)
            .load(conn)
    })
}

/// Forgets the owner's purged tombstones `ids` and raises the owner's sync
/// floor to `max_seq`, the newest of them: a token that has not seen every
/// change up to it may have missed one of them and is answered 410.
/// Returns how many went.
pub fn prune_tombstones(
    conn: &mut Conn<'_>,
    owner: i64,
    ids: &[i64],
    max_seq: i64,
) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        let removed = diesel::delete(
            todo_tombstones::table
                .filter(todo_tombstones::user_id.eq(owner))
                .filter(todo_tombstones::todo_id.eq_any(ids))
                .filter(todo_tombstones::purged_at.is_not_null()),
        )
        .execute(conn)?;
        diesel::update(
            users::table
                .filter(users::id.eq(owner))
                .filter(users::sync_floor.lt(max_seq)),
        )
        .set(users::sync_floor.eq(max_seq))
        .execute(conn)?;
        Ok(removed)
    })
}
