//! The `todos` table. Every query names the owner, so another user's todo
//! is never loaded, changed or deleted by mistake.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::expression::{is_aggregate, ValidGrouping};
use diesel::prelude::*;

use crate::db::{dispatch, Conn};
use diesel::backend::Backend;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool};
use diesel::sqlite::Sqlite;
use serde::{Deserialize, Serialize};

use crate::db::functions::contains_folded;
use crate::db::models::sync;
use crate::db::schema::todos;
use crate::domain::{SortKey, TodoSort};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = todos)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct Todo {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub title_sort: String,
    pub description: String,
    pub completed: bool,
    /// The rank: 0 low, 1 normal, 2 high.
    pub priority: i32,
    pub due_date: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    pub version: i64,
    pub due_sort_asc: String,
    pub due_sort_desc: String,
    /// When it moved to the trash; `None` while it is live.
    pub deleted_at: Option<NaiveDateTime>,
    /// The owner's change sequence at this todo's last change.
    pub change_seq: i64,
}

impl Todo {
    /// Where this todo stands in `sort`: the value a cursor resumes after.
    pub fn sort_value(&self, sort: TodoSort) -> SortValue {
        match (sort.key(), sort.descending()) {
            (SortKey::CreatedAt, _) => SortValue::Time(self.created_at),
            (SortKey::Priority, _) => SortValue::Rank(self.priority),
            (SortKey::Title, _) => SortValue::Text(self.title_sort.clone()),
            (SortKey::DueDate, false) => SortValue::Text(self.due_sort_asc.clone()),
            (SortKey::DueDate, true) => SortValue::Text(self.due_sort_desc.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, Insertable)]
#[diesel(table_name = todos)]
pub struct NewTodo<'a> {
    pub user_id: i64,
    pub title: &'a str,
    pub title_sort: &'a str,
    pub description: &'a str,
    pub completed: bool,
    pub priority: i32,
    pub due_date: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub completed_at: Option<NaiveDateTime>,
    pub change_seq: i64,
}

/// A change to a todo. `None` leaves a column alone; `Some(None)` sets a
/// nullable column to NULL. `updated_at` and `version` change every time.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = todos)]
pub struct TodoChangeset {
    pub title: Option<String>,
    pub title_sort: Option<String>,
    pub description: Option<String>,
    pub completed: Option<bool>,
    pub priority: Option<i32>,
    pub due_date: Option<Option<NaiveDate>>,
    pub completed_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
    pub version: Option<i64>,
    /// Set by the use case to the change's sequence number.
    pub change_seq: Option<i64>,
}

/// The value of a todo's sort key, as a cursor carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortValue {
    #[serde(rename = "t")]
    Time(NaiveDateTime),
    #[serde(rename = "r")]
    Rank(i32),
    #[serde(rename = "s")]
    Text(String),
}

/// Which of the owner's todos a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub completed: Option<bool>,
    /// A priority rank.
    pub priority: Option<i32>,
    /// A literal substring of the title or description, already lower-cased
    /// with Unicode rules; matched case-insensitively.
    pub search: Option<String>,
}

pub fn insert(conn: &mut Conn<'_>, new: &NewTodo<'_>) -> QueryResult<Todo> {
    dispatch!(conn, conn => {
        diesel::insert_into(todos::table)
            .values(new)
            .returning(Todo::as_returning())
            .get_result(conn)
    })
}

/// Inserts `rows` in one statement (a multi-row `INSERT … RETURNING`). The
/// order of the returned rows is not promised: match them by `change_seq`.
pub fn insert_all(conn: &mut Conn<'_>, rows: &[NewTodo<'_>]) -> QueryResult<Vec<Todo>> {
    dispatch!(conn, conn => {
        diesel::insert_into(todos::table)
            .values(rows)
            .returning(Todo::as_returning())
            .get_results(conn)
    })
}

/// Inserts `new` as the owner's next change: takes the owner's next change
/// sequence number for it and counts it against `max` (see
/// [`sync::reserve_todo`]); `None`, and nothing written, when the owner
/// already holds `max` todos. `new.change_seq` is ignored.
///
/// SQLite: the two statements, inside the caller's write transaction.
/// PostgreSQL: one statement (the `UPDATE users` in a CTE feeding the
/// `INSERT`), so the owner's row lock is held for one round trip fewer and
/// a create costs one statement.
pub fn insert_reserving(
    conn: &mut Conn<'_>,
    new: &NewTodo<'_>,
    max: i64,
) -> QueryResult<Option<Todo>> {
    match conn {
        Conn::Sqlite(_) => {
            let Some(change_seq) = sync::reserve_todo(conn, new.user_id, max)? else {
                return Ok(None);
            };
            insert(conn, &NewTodo { change_seq, ..*new }).map(Some)
        }
        Conn::Pg(c) => InsertReserving { new, max }.get_result(&mut **c).optional(),
    }
}

/// `WITH reserved AS (UPDATE users … RETURNING change_seq) INSERT INTO todos
/// … SELECT … FROM reserved RETURNING *` (PostgreSQL): a statement of fixed
/// shape, so Diesel keeps it prepared per connection.
struct InsertReserving<'a> {
    new: &'a NewTodo<'a>,
    max: i64,
}

/// The statement's cache key: one shape, whatever the values.
struct InsertReservingId;

impl QueryId for InsertReserving<'_> {
    type QueryId = InsertReservingId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for InsertReserving<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<C> RunQueryDsl<C> for InsertReserving<'_> {}

impl QueryFragment<Pg> for InsertReserving<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        use diesel::sql_types::{Date, Integer, Nullable, Text, Timestamp};
        let new = self.new;
        out.push_sql(
            "WITH reserved AS (UPDATE users \
             SET change_seq = change_seq + 1, todo_count = todo_count + 1 WHERE id = ",
        );
        out.push_bind_param::<BigInt, _>(&new.user_id)?;
        out.push_sql(" AND (");
        out.push_bind_param::<BigInt, _>(&self.max)?;
        out.push_sql(" <= 0 OR todo_count < ");
        out.push_bind_param::<BigInt, _>(&self.max)?;
        out.push_sql(
            ") RETURNING change_seq) \
             INSERT INTO todos (user_id, title, title_sort, description, completed, priority, \
             due_date, created_at, updated_at, completed_at, change_seq) SELECT ",
        );
        out.push_bind_param::<BigInt, _>(&new.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&new.title)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&new.title_sort)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&new.description)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&new.completed)?;
        out.push_sql(", ");
        out.push_bind_param::<Integer, _>(&new.priority)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Date>, _>(&new.due_date)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&new.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&new.updated_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&new.completed_at)?;
        out.push_sql(", change_seq FROM reserved RETURNING *");
        Ok(())
    }
}

/// The owner's live todo `id`, or `None` (also when it belongs to someone
/// else or is in the trash).
pub fn find_owned(conn: &mut Conn<'_>, owner: i64, id: i64) -> QueryResult<Option<Todo>> {
    dispatch!(conn, conn => {
        todos::table
            .filter(todos::user_id.eq(owner))
            .filter(todos::id.eq(id))
            .filter(todos::deleted_at.is_null())
            .select(Todo::as_select())
            .first(conn)
            .optional()
    })
}

/// [`find_owned`] for a change that depends on the version read: locked
/// (`FOR UPDATE`) on PostgreSQL until the transaction ends, so two writers
/// holding the same `If-Match` cannot both pass it. SQLite's write
/// transaction already excludes the other writer.
pub fn find_owned_for_update(
    conn: &mut Conn<'_>,
    owner: i64,
    id: i64,
) -> QueryResult<Option<Todo>> {
    match conn {
        Conn::Sqlite(_) => find_owned(conn, owner, id),
        Conn::Pg(c) => todos::table
            .filter(todos::user_id.eq(owner))
            .filter(todos::id.eq(id))
            .filter(todos::deleted_at.is_null())
            .select(Todo::as_select())
            .for_update()
            .first(&mut **c)
            .optional(),
    }
}

/// Applies `changes` to the owner's live todo `id`; `None` when there is none.
pub fn update_owned(
    conn: &mut Conn<'_>,
    owner: i64,
    id: i64,
    changes: &TodoChangeset,
) -> QueryResult<Option<Todo>> {
    dispatch!(conn, conn => {
        diesel::update(
            todos::table
                .filter(todos::user_id.eq(owner))
                .filter(todos::id.eq(id))
                .filter(todos::deleted_at.is_null()),
        )
        .set(changes)
        .returning(Todo::as_returning())
        .get_result(conn)
        .optional()
    })
}

/// Moves the owner's live todo `id` to the trash at `seq`; how many rows
/// moved (0 or 1). `version` and `updated_at` stay: a restore brings the
/// todo back unchanged, with the same ETag.
pub fn trash_owned(
    conn: &mut Conn<'_>,
    owner: i64,
    id: i64,
    seq: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::update(
            todos::table
                .filter(todos::user_id.eq(owner))
                .filter(todos::id.eq(id))
                .filter(todos::deleted_at.is_null()),
        )
        .set((todos::deleted_at.eq(now), todos::change_seq.eq(seq)))
        .execute(conn)
    })
}

/// Moves every live completed todo of the owner to the trash at `seq`;
/// returns their ids.
pub fn trash_completed(
    conn: &mut Conn<'_>,
    owner: i64,
    seq: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<i64>> {
    dispatch!(conn, conn => {
        diesel::update(
            todos::table
                .filter(todos::user_id.eq(owner))
                .filter(todos::completed.eq(true))
                .filter(todos::deleted_at.is_null()),
        )
        .set((todos::deleted_at.eq(now), todos::change_seq.eq(seq)))
        .returning(todos::id)
        .get_results(conn)
    })
}

/// Brings the owner's trashed todo `id` back at `seq`; `None` when it is
/// not in the owner's trash.
pub fn restore_owned(
    conn: &mut Conn<'_>,
    owner: i64,
    id: i64,
    seq: i64,
) -> QueryResult<Option<Todo>> {
    dispatch!(conn, conn => {
        diesel::update(
            todos::table
                .filter(todos::user_id.eq(owner))
                .filter(todos::id.eq(id))
                .filter(todos::deleted_at.is_not_null()),
        )
        .set((
            todos::deleted_at.eq(None::<NaiveDateTime>),
            todos::change_seq.eq(seq),
        ))
        .returning(Todo::as_returning())
        .get_result(conn)
        .optional()
    })
}

/// Deletes for good the owner's trashed todos: all of them, or only those
/// among `ids` still trashed before `before` (the retention pass: one
/// restored and trashed again since it looked is not yet due). Returns the
/// ids removed.
pub fn purge_trashed(
    conn: &mut Conn<'_>,
    owner: i64,
    due: Option<(&[i64], NaiveDateTime)>,
) -> QueryResult<Vec<i64>> {
    dispatch!(conn, conn => {
        let query = todos::table
            .filter(todos::user_id.eq(owner))
            .filter(todos::deleted_at.is_not_null());
        match due {
            None => diesel::delete(query).returning(todos::id).get_results(conn),
            Some((ids, before)) => diesel::delete(
                query
                    .filter(todos::id.eq_any(ids))
                    .filter(todos::deleted_at.lt(before)),
            )
            .returning(todos::id)
            .get_results(conn),
        }
    })
}

/// Up to `limit` trashed todos deleted before `cutoff`, oldest first, as
/// `(owner, id)`: the retention pass's next batch.
pub fn trashed_before(
    conn: &mut Conn<'_>,
    cutoff: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(i64, i64)>> {
    dispatch!(conn, conn => {
        todos::table
            .filter(todos::deleted_at.lt(cutoff))
            .order(todos::deleted_at.asc())
            .select((todos::user_id, todos::id))
            .limit(limit)
            .load(conn)
    })
}

type BoxedTodos<'a, DB> =
    todos::BoxedQuery<'a, DB, diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<Todo, DB>>>;

/// The id column a keyset position and order end with. SQLite: `id_key`,
/// the id again as an ordinary column (SQLite cannot seek on the rowid
/// inside a row value, see [`After`]). PostgreSQL: the id itself; it seeks
/// on `(user_id, key, id)` indexes directly and has no `id_key` column.
pub trait TieBreaker: Backend {
    fn walk_tie_breaker(out: AstPass<'_, '_, Self>) -> QueryResult<()>;
}

impl TieBreaker for Sqlite {
    fn walk_tie_breaker(out: AstPass<'_, '_, Self>) -> QueryResult<()> {
        todos::id_key.walk_ast(out)
    }
}

impl TieBreaker for Pg {
    fn walk_tie_breaker(out: AstPass<'_, '_, Self>) -> QueryResult<()> {
        todos::id.walk_ast(out)
    }
}

/// `(key, id_key) > (?, ?)`, or `<` reading backwards: the keyset position
/// as one row-value comparison. The row value on `id_key` (the id as an
/// ordinary column; SQLite cannot seek on the rowid inside a row value) is
/// what lets SQLite seek straight into the `(user_id, key, id_key)` index
/// instead of reading every row before the position, or every row tied with
/// it.
///
/// It is an expression of its own rather than a `sql()` literal because
/// Diesel never caches a prepared statement that contains a literal: every
/// cursor page was parsed and planned anew, which made a page after a cursor
/// cost 1.5 times the first page.
#[derive(Debug, Clone)]
struct After<K, V> {
    key: K,
    value: V,
    id: i64,
    descending: bool,
}

impl<K, V> Expression for After<K, V> {
    type SqlType = Bool;
}

impl<K, V, GB> ValidGrouping<GB> for After<K, V> {
    type IsAggregate = is_aggregate::Never;
}

impl<K: AppearsOnTable<QS>, V, QS> AppearsOnTable<QS> for After<K, V> {}

impl<K: SelectableExpression<QS>, V, QS> SelectableExpression<QS> for After<K, V> {}

impl<K, V> QueryId for After<K, V> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<K, V, DB> QueryFragment<DB> for After<K, V>
where
    DB: Backend + TieBreaker + diesel::sql_types::HasSqlType<K::SqlType>,
    K: Expression + QueryFragment<DB>,
    V: ToSql<K::SqlType, DB>,
    i64: ToSql<BigInt, DB>,
    todos::id: QueryFragment<DB>,
    todos::id_key: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        DB::walk_tie_breaker(out.reborrow())?;
        out.push_sql(if self.descending { ") < (" } else { ") > (" });
        out.push_bind_param::<K::SqlType, V>(&self.value)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, i64>(&self.id)?;
        out.push_sql(")");
        Ok(())
    }
}

/// Orders by `$column, $id` in the sort's direction and, after a cursor,
/// keeps only rows past `(value, id)` (see [`After`]). `$id` is the
/// backend's tie-breaker column ([`TieBreaker`]).
macro_rules! keyset {
    ($query:expr, $column:expr, $id:expr, $after:expr, $desc:expr) => {{
        let mut query = $query;
        if let Some((value, id)) = $after {
            query = query.filter(After {
                key: $column,
                value,
                id,
                descending: $desc,
            });
        }
        if $desc {
            query.order_by(($column.desc(), $id.desc()))
        } else {
            query.order_by(($column.asc(), $id.asc()))
        }
    }};
}

/// The cursor position as the sort's key type, if it is of that kind.
fn position<T>(
    after: Option<(&SortValue, i64)>,
    pick: impl Fn(&SortValue) -> Option<T>,
) -> Result<Option<(T, i64)>, SortValueMismatch> {
    after
        .map(|(value, id)| pick(value).map(|v| (v, id)).ok_or(SortValueMismatch))
        .transpose()
}

fn time(value: &SortValue) -> Option<NaiveDateTime> {
    match value {
        SortValue::Time(t) => Some(*t),
        _ => None,
    }
}

fn rank(value: &SortValue) -> Option<i32> {
    match value {
        SortValue::Rank(r) => Some(*r),
        _ => None,
    }
}

fn text(value: &SortValue) -> Option<String> {
    match value {
        SortValue::Text(s) => Some(s.clone()),
        _ => None,
    }
}

/// One page of the owner's todos in `sort` order, starting after `after`
/// (the last sort value and id of the previous page). A single query that
/// reads at most `limit` matching rows past the position, whatever its depth.
///
/// `list_query!(Backend, tie_breaker_column, owner, filter, sort, after,
/// limit)`: a macro rather than a function generic over the backend, so
/// that each backend's statement is built with its own tie-breaker column.
/// `list_query!(@ BoxedType, base_query, ...)` builds on a base query that
/// selects more than the todo (see [`list_in_session`]).
macro_rules! list_query {
    ($db:ty, $id:expr, $owner:expr, $filter:expr, $sort:expr, $after:expr, $limit:expr) => {
        list_query!(
            @ BoxedTodos<'_, $db>,
            todos::table.select(Todo::as_select()).into_boxed(),
            $id, $owner, $filter, $sort, $after, $limit
        )
    };
    (@ $boxed:ty, $base:expr, $id:expr, $owner:expr, $filter:expr, $sort:expr, $after:expr, $limit:expr) => {{
        let (owner, filter, sort, after, limit): (
            i64,
            &ListFilter,
            TodoSort,
            Option<(&SortValue, i64)>,
            i64,
        ) = ($owner, $filter, $sort, $after, $limit);
        (|| -> Result<$boxed, SortValueMismatch> {
            let mut query: $boxed = $base
                .filter(todos::user_id.eq(owner))
                .filter(todos::deleted_at.is_null());
            if let Some(completed) = filter.completed {
                query = query.filter(todos::completed.eq(completed));
            }
            if let Some(rank) = filter.priority {
                query = query.filter(todos::priority.eq(rank));
            }
            if let Some(needle) = &filter.search {
                query = query.filter(
                    contains_folded(todos::title, needle)
                        .or(contains_folded(todos::description, needle)),
                );
            }
            let desc = sort.descending();
            let query = match (sort.key(), desc) {
                (SortKey::CreatedAt, _) => {
                    let after = position(after, time)?;
                    keyset!(query, todos::created_at, $id, after, desc)
                }
                (SortKey::Priority, _) => match (position(after, rank)?, filter.priority) {
                    // Filtered to one rank, the position is the id alone; stated that
                    // way SQLite seeks within `(user_id, priority, id)` instead of
                    // reading the rank's rows from the start.
                    (Some((_, id)), Some(_)) if desc => query
                        .filter($id.lt(id))
                        .order_by((todos::priority.desc(), $id.desc())),
                    (Some((_, id)), Some(_)) => query
                        .filter($id.gt(id))
                        .order_by((todos::priority.asc(), $id.asc())),
                    (after, _) => keyset!(query, todos::priority, $id, after, desc),
                },
                (SortKey::Title, _) => {
                    let after = position(after, text)?;
                    keyset!(query, todos::title_sort, $id, after, desc)
                }
                (SortKey::DueDate, false) => {
                    let after = position(after, text)?;
                    keyset!(query, todos::due_sort_asc, $id, after, desc)
                }
                (SortKey::DueDate, true) => {
                    let after = position(after, text)?;
                    keyset!(query, todos::due_sort_desc, $id, after, desc)
                }
            };
            Ok(query.limit(limit))
        })()
    }};
}

/// A cursor's sort value is of another kind than its sort needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortValueMismatch;

/// One page of the owner's todos (see [`list_query!`]); `Err` when the
/// cursor's sort value does not fit the sort.
pub fn list(
    conn: &mut Conn<'_>,
    owner: i64,
    filter: &ListFilter,
    sort: TodoSort,
    after: Option<(&SortValue, i64)>,
    limit: i64,
) -> Result<QueryResult<Vec<Todo>>, SortValueMismatch> {
    Ok(match conn {
        Conn::Sqlite(c) => {
            list_query!(Sqlite, todos::id_key, owner, filter, sort, after, limit)?.load(&mut **c)
        }
        Conn::Pg(c) => {
            list_query!(Pg, todos::id, owner, filter, sort, after, limit)?.load(&mut **c)
        }
    })
}

/// [`list_query!`] selecting the session's `last_used_at` beside each row
/// and reading no row unless the session is live (see [`list_in_session`]).
macro_rules! session_list_query {
    ($db:ty, $id:expr, $session:expr, $owner:expr, $filter:expr, $sort:expr, $after:expr, $limit:expr) => {{
        let ((session_id, now), owner): ((i64, NaiveDateTime), i64) = ($session, $owner);
        let live = || crate::db::models::session::live_last_used(session_id, owner, now);
        list_query!(
            @ BoxedTodosInSession<'_, $db>,
            todos::table
                .select((Todo::as_select(), live()))
                .filter(live().is_not_null())
                .into_boxed(),
            $id, owner, $filter, $sort, $after, $limit
        )
    }};
}

/// A page of todos selected with the `last_used_at` of the session that
/// asks for them (null when that session is not live).
type BoxedTodosInSession<'a, DB> = todos::BoxedQuery<
    'a,
    DB,
    (
        diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<Todo, DB>>,
        diesel::sql_types::Nullable<diesel::sql_types::Timestamp>,
    ),
>;

/// A todo of a page read with [`list_in_session`], with the session's
/// `last_used_at` (never null on a row that was read).
pub type TodoInSession = (Todo, Option<NaiveDateTime>);

/// [`list`] and the session check of [`session::find_live`] in one
/// statement: the page's rows, each with the session's `last_used_at`,
/// and none unless session `session_id` of the owner is live and the owner
/// enabled. The session is an uncorrelated subquery, which both engines
/// evaluate once per statement. No rows means an ended session or an
/// empty page: the caller tells them apart with [`session::find_live`].
///
/// [`session::find_live`]: crate::db::models::session::find_live
pub fn list_in_session(
    conn: &mut Conn<'_>,
    session: (i64, NaiveDateTime),
    owner: i64,
    filter: &ListFilter,
    sort: TodoSort,
    after: Option<(&SortValue, i64)>,
    limit: i64,
) -> Result<QueryResult<Vec<TodoInSession>>, SortValueMismatch> {
    Ok(match conn {
        Conn::Sqlite(c) => session_list_query!(
            Sqlite,
            todos::id_key,
            session,
            owner,
            filter,
            sort,
            after,
            limit
        )?
        .load(&mut **c),
        Conn::Pg(c) => {
            session_list_query!(Pg, todos::id, session, owner, filter, sort, after, limit)?
                .load(&mut **c)
        }
    })
}

/// One page of the owner's trash (see [`trash_page`]) for a backend and
/// its tie-breaker column.
macro_rules! trash_query {
    ($db:ty, $id:expr, $owner:expr, $after:expr, $limit:expr) => {{
        let (owner, after, limit): (i64, Option<(NaiveDateTime, i64)>, i64) =
            ($owner, $after, $limit);
        let query: BoxedTodos<'_, $db> = todos::table
            .filter(todos::user_id.eq(owner))
            .filter(todos::deleted_at.is_not_null())
            .select(Todo::as_select())
            .into_boxed();
        let query: BoxedTodos<'_, $db> = keyset!(query, todos::deleted_at, $id, after, true);
        query.limit(limit)
    }};
}

/// One page of the owner's trash, most recently deleted first (ties by id,
/// descending), after `(deleted_at, id)` of the previous page: `limit` rows.
/// Seeks the partial index `(user_id, deleted_at, id) WHERE deleted_at IS
/// NOT NULL`.
pub fn trash_page(
    conn: &mut Conn<'_>,
    owner: i64,
    after: Option<(NaiveDateTime, i64)>,
    limit: i64,
) -> QueryResult<Vec<Todo>> {
    match conn {
        Conn::Sqlite(c) => trash_query!(Sqlite, todos::id_key, owner, after, limit).load(&mut **c),
        Conn::Pg(c) => trash_query!(Pg, todos::id, owner, after, limit).load(&mut **c),
    }
}

/// The owner's live todos changed after a sync position (see
/// [`changed_after`]) for a tie-breaker column.
macro_rules! changes_query {
    ($id:expr, $owner:expr, $position:expr, $upto:expr, $limit:expr) => {{
        let (owner, (seq, id), upto, limit): (i64, (i64, i64), i64, i64) =
            ($owner, $position, $upto, $limit);
        todos::table
            .filter(todos::user_id.eq(owner))
            .filter(todos::deleted_at.is_null())
            .filter(todos::change_seq.ge(seq))
            .filter(todos::change_seq.le(upto))
            .filter(todos::change_seq.gt(seq).or($id.gt(id)))
            .order((todos::change_seq.asc(), $id.asc()))
            .select(Todo::as_select())
            .limit(limit)
    }};
}

/// The owner's live todos changed after position `(seq, id)` up to `upto`
/// (inclusive), in change order `(change_seq, id)`: at most `limit` rows.
/// Seeks the partial index `(user_id, change_seq, id) WHERE deleted_at IS
/// NULL` at `seq`.
pub fn changed_after(
    conn: &mut Conn<'_>,
    owner: i64,
    position: (i64, i64),
    upto: i64,
    limit: i64,
) -> QueryResult<Vec<Todo>> {
    match conn {
        Conn::Sqlite(c) => {
            changes_query!(todos::id_key, owner, position, upto, limit).load(&mut **c)
        }
        Conn::Pg(c) => changes_query!(todos::id, owner, position, upto, limit).load(&mut **c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{Integer, Text};
    use diesel_migrations::MigrationHarness;

    use crate::db::{functions, SQLITE_MIGRATIONS as MIGRATIONS};

    /// `EXPLAIN QUERY PLAN` in front of a query, binds and all.
    struct Explain<Q>(Q);

    impl<Q> QueryId for Explain<Q> {
        type QueryId = ();
        const HAS_STATIC_QUERY_ID: bool = false;
    }

    impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for Explain<Q> {
        fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
            out.push_sql("EXPLAIN QUERY PLAN ");
            self.0.walk_ast(out.reborrow())
        }
    }

    impl<Q> diesel::query_builder::Query for Explain<Q> {
        type SqlType = (Integer, Integer, Integer, Text);
    }

    impl<Q> RunQueryDsl<SqliteConnection> for Explain<Q> {}

    fn connection_with_rows() -> SqliteConnection {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.run_pending_migrations(MIGRATIONS).unwrap();
        functions::register(&mut conn).unwrap();
        diesel::sql_query(
            "INSERT INTO users (email, password_hash, created_at, updated_at)
             VALUES ('a@example.com', 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00'),
                    ('b@example.com', 'x', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        .execute(&mut conn)
        .unwrap();
        conn
    }

    fn plan(conn: &mut SqliteConnection, query: impl QueryFragment<Sqlite>) -> String {
        {
            let rows: Vec<(i32, i32, i32, String)> = Explain(query).load(conn).unwrap();
            rows.into_iter()
                .map(|(_, _, _, detail)| detail)
                .collect::<Vec<_>>()
                .join("\n")
        }
    }

    fn sample_value(sort: TodoSort) -> SortValue {
        match sort.key() {
            SortKey::CreatedAt => SortValue::Time(NaiveDateTime::default()),
            SortKey::Priority => SortValue::Rank(1),
            SortKey::Title | SortKey::DueDate => SortValue::Text("m".into()),
        }
    }

    /// A page after a cursor is a statement Diesel may cache (a `sql()`
    /// literal in it would make it prepare the query on every request).
    #[test]
    fn cursor_pages_are_cacheable_statements() {
        let filter = ListFilter::default();
        for sort in TodoSort::ALL {
            let value = sample_value(sort);
            let query = list_query!(
                Sqlite,
                todos::id_key,
                1,
                &filter,
                sort,
                Some((&value, 7)),
                21
            )
            .unwrap();
            let cacheable =
                QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&query, &Sqlite).unwrap();
            assert!(cacheable, "{sort:?}");
        }
    }

    /// The list that checks the session in the same statement reads the
    /// same owner index in order, finds the session by its primary key (a
    /// subquery run once per statement), and is a statement Diesel may cache.
    #[test]
    fn the_list_in_session_reads_the_owner_index_and_the_session_by_its_key() {
        let mut conn = connection_with_rows();
        let filter = ListFilter::default();
        let now = NaiveDateTime::default();
        for sort in TodoSort::ALL {
            let value = sample_value(sort);
            for after in [None, Some((&value, 7))] {
                let query = session_list_query!(
                    Sqlite,
                    todos::id_key,
                    (3, now),
                    1,
                    &filter,
                    sort,
                    after,
                    21
                )
                .unwrap();
                let cacheable =
                    QueryFragment::<Sqlite>::is_safe_to_cache_prepared(&query, &Sqlite).unwrap();
                assert!(cacheable, "{sort:?}");
                let plan = plan(&mut conn, query);
                let context = format!("{sort:?} {after:?}:\n{plan}");
                assert!(
                    plan.contains("SEARCH todos USING INDEX todos_user_"),
                    "{context}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{context}");
                assert!(!plan.contains("SCAN"), "{context}");
                assert!(
                    plan.contains("SEARCH sessions USING INTEGER PRIMARY KEY"),
                    "{context}"
                );
            }
        }
    }

    /// Every order, first page and later pages, with and without filters,
    /// reads one owner-led index in order: no table scan, no sort step.
    #[test]
    fn every_sort_order_is_served_by_an_owner_index_without_sorting() {
        let mut conn = connection_with_rows();
        let filters = [
            ListFilter::default(),
            ListFilter {
                completed: Some(false),
                ..ListFilter::default()
            },
            ListFilter {
                priority: Some(2),
                search: Some("milk".into()),
                ..ListFilter::default()
            },
            ListFilter {
                completed: Some(true),
                priority: Some(0),
                search: None,
            },
        ];
        for sort in TodoSort::ALL {
            let value = sample_value(sort);
            for filter in &filters {
                for after in [None, Some((&value, 7))] {
                    let query =
                        list_query!(Sqlite, todos::id_key, 1, filter, sort, after, 21).unwrap();
                    let plan = plan(&mut conn, query);
                    let context = format!("{sort:?} {filter:?} {after:?}:\n{plan}");
                    assert!(
                        plan.starts_with("SEARCH todos USING INDEX todos_user_"),
                        "{context}"
                    );
                    assert!(plan.contains("user_id=?"), "{context}");
                    assert!(!plan.contains("TEMP B-TREE"), "{context}");
                    assert!(!plan.contains("SCAN"), "{context}");
                    if after.is_some() {
                        // The whole position, sort value and id, is part of
                        // the index search (a seek), not a filter applied to
                        // rows read from the start or from the first tie.
                        let op = if sort.descending() { "<" } else { ">" };
                        let seek = [format!(",id_key){op}(?,?)"), format!("id_key{op}?")];
                        assert!(seek.iter().any(|s| plan.contains(s)), "{context}");
                    }
                }
            }
        }
    }

    /// The trash and delta sync read their own partial indexes in order,
    /// and the list indexes hold live todos only.
    #[test]
    fn the_trash_and_sync_queries_seek_their_partial_indexes() {
        let mut conn = connection_with_rows();
        for after in [None, Some((NaiveDateTime::default(), 7))] {
            let plan = plan(&mut conn, trash_query!(Sqlite, todos::id_key, 1, after, 21));
            assert!(
                plan.starts_with("SEARCH todos USING INDEX todos_user_trash (user_id=?"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
        let changes = changes_query!(todos::id_key, 1, (5, 7), 9, 101);
        let plan = crate::db::query_plan(&changes).join("\n");
        assert!(
            plan.starts_with(
                "SEARCH todos USING INDEX todos_user_changes (user_id=? AND change_seq>"
            ),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn a_cursor_value_of_the_wrong_kind_is_refused() {
        let time = SortValue::Time(NaiveDateTime::default());
        let rank = SortValue::Rank(1);
        let filter = ListFilter::default();
        for (sort, value) in [
            (TodoSort::Title, &time),
            (TodoSort::DueDate, &rank),
            (TodoSort::Priority, &time),
            (TodoSort::CreatedAt, &rank),
        ] {
            let query = list_query!(Sqlite, todos::id_key, 1, &filter, sort, Some((value, 1)), 5);
            assert!(query.is_err(), "{sort:?}");
        }
    }
}
