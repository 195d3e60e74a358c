//! Todo use cases: always scoped to the owner (ownership is part of every
//! query), with the `If-Match` precondition and the PATCH diff.

use actix_web::http::header::{EntityTag, IfMatch};
use chrono::NaiveDateTime;

use crate::app::sessions;
use crate::clock::now;
use crate::db::models::sync;
use crate::db::models::todo::{self, ListFilter, NewTodo, SortValue, Todo, TodoChangeset};
use crate::db::{Backend, Conn};
use crate::domain::{DueDate, Priority, TodoDescription, TodoSort, TodoTitle};
use crate::error::{ApiError, ApiResult};

/// A checked new todo.
pub struct NewTodoInput {
    pub title: TodoTitle,
    pub description: TodoDescription,
    pub priority: Priority,
    pub due_date: Option<DueDate>,
    pub completed: bool,
}

/// A checked PATCH: `None` leaves a field alone; `Some(None)` clears the
/// nullable due date.
#[derive(Default)]
pub struct TodoChange {
    pub title: Option<TodoTitle>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub due_date: Option<Option<DueDate>>,
    pub completed: Option<bool>,
}

impl TodoChange {
    /// The changeset that brings `current` to the requested state, or `None`
    /// when nothing would change (then neither `version` nor `updated_at`
    /// moves, so other clients' ETags stay valid).
    pub fn diff(self, current: &Todo, now: chrono::NaiveDateTime) -> Option<TodoChangeset> {
        let mut set = TodoChangeset::default();
        if let Some(title) = self.title.filter(|t| t.as_str() != current.title) {
            set.title_sort = Some(title.sort_key());
            set.title = Some(title.as_str().to_owned());
        }
        set.description = self.description.filter(|d| *d != current.description);
        set.priority = self
            .priority
            .map(Priority::rank)
            .filter(|p| *p != current.priority);
        set.due_date = self
            .due_date
            .map(|d| d.map(DueDate::date))
            .filter(|d| *d != current.due_date);
        if let Some(completed) = self.completed.filter(|c| *c != current.completed) {
            set.completed = Some(completed);
            // Only a change of state moves the timestamp.
            set.completed_at = Some(completed.then_some(now));
        }
        let unchanged = set.title.is_none()
            && set.description.is_none()
            && set.priority.is_none()
            && set.due_date.is_none()
            && set.completed.is_none();
        if unchanged {
            return None;
        }
        set.updated_at = Some(now);
        set.version = Some(current.version + 1);
        Some(set)
    }
}

/// An `If-Match` precondition (RFC 9110): absent, `*`, or entity tags. A
/// header that does not parse is kept as a list that matches nothing.
#[derive(Debug, Clone, Default)]
pub struct Precondition(pub Option<IfMatch>);

impl Precondition {
    /// The strong entity tag of a todo's current version.
    pub fn entity_tag(todo: &Todo) -> EntityTag {
        EntityTag::new_strong(format!("{}-{}", todo.id, todo.version))
    }

    pub fn etag(todo: &Todo) -> String {
        Self::entity_tag(todo).to_string()
    }

    /// No header, `*`, or one of the tags equal to the current tag by
    /// strong comparison (a weak `W/` tag never matches).
    pub fn holds(&self, todo: &Todo) -> bool {
        match &self.0 {
            None | Some(IfMatch::Any) => true,
            Some(IfMatch::Items(tags)) => {
                let current = Self::entity_tag(todo);
                tags.iter().any(|tag| tag.strong_eq(&current))
            }
        }
    }
}

/// One page of the owner's todos: `limit + 1` rows, so the caller can tell
/// whether there is a next page.
pub fn list(
    conn: &mut Conn<'_>,
    owner: i64,
    filter: &ListFilter,
    sort: TodoSort,
    after: Option<(&SortValue, i64)>,
    limit: i64,
) -> ApiResult<Vec<Todo>> {
    Ok(todo::list(conn, owner, filter, sort, after, limit + 1)
        .map_err(|_| ApiError::validation("cursor", "does not fit the sort"))??)
}

/// [`list`] for the caller of a session (the access token's session and
/// user), checked as [`sessions::authenticate`] checks it: `None` when the
/// session is not live.
///
/// On PostgreSQL the check is part of the page's statement
/// ([`todo::list_in_session`]): one round trip to the server instead of
/// two, about a third more lists per second. An empty page cannot tell an
/// ended session from an empty list, so it asks [`sessions::authenticate`].
/// SQLite runs in-process, where a statement costs little and decoding the
/// session's timestamp beside each row costs more: the check and the page
/// stay two statements there.
///
/// [`sessions::authenticate`]: crate::app::sessions::authenticate
pub fn list_in_session(
    conn: &mut Conn<'_>,
    (session_id, owner): (i64, i64),
    filter: &ListFilter,
    sort: TodoSort,
    after: Option<(&SortValue, i64)>,
    limit: i64,
) -> ApiResult<Option<Vec<Todo>>> {
    if conn.backend() == Backend::Sqlite {
        if sessions::authenticate(conn, session_id, owner)?.is_none() {
            return Ok(None);
        }
        return list(conn, owner, filter, sort, after, limit).map(Some);
    }
    let now = now();
    let rows = todo::list_in_session(
        conn,
        (session_id, now),
        owner,
        filter,
        sort,
        after,
        limit + 1,
    )
    .map_err(|_| ApiError::validation("cursor", "does not fit the sort"))??;
    let Some(last_used_at) = rows.first().and_then(|(_, used)| *used) else {
        return Ok(sessions::authenticate(conn, session_id, owner)?.map(|_| Vec::new()));
    };
    sessions::touch_if_stale(conn, session_id, last_used_at, now)?;
    Ok(Some(rows.into_iter().map(|(todo, _)| todo).collect()))
}

/// Creates a todo unless the owner already holds `max_todos` (live plus
/// trashed; 0: no limit). The quota check, the count and the change
/// sequence are one statement, so a create costs one more statement than
/// the insert alone and the quota is exact under concurrent creates.
pub fn create(
    conn: &mut Conn<'_>,
    owner: i64,
    input: NewTodoInput,
    max_todos: i64,
) -> ApiResult<Todo> {
    let sort_key = input.title.sort_key();
    let new = new_row(owner, &input, &sort_key, now(), 0);
    todo::insert_reserving(conn, &new, max_todos)?.ok_or(ApiError::QuotaExceeded)
}

/// Creates `inputs` in their order, in the caller's write transaction: one
/// outcome each, `QuotaExceeded` for those past the owner's quota. When
/// they all fit, as they nearly always do, that is two statements whatever
/// their number: one `UPDATE users` that counts them and takes as many
/// consecutive sequence numbers, and one multi-row `INSERT`.
pub fn create_many(
    conn: &mut Conn<'_>,
    owner: i64,
    inputs: &[NewTodoInput],
    max_todos: i64,
) -> ApiResult<Vec<ApiResult<Todo>>> {
    let now = now();
    let count = i64::try_from(inputs.len()).map_err(|e| ApiError::Internal(e.into()))?;
    let seqs: Vec<Option<i64>> = match sync::reserve_todos(conn, owner, count, max_todos)? {
        Some(last) => (last - count + 1..=last).map(Some).collect(),
        // Not all fit: one at a time, in order, until the quota is reached.
        None => inputs
            .iter()
            .map(|_| sync::reserve_todo(conn, owner, max_todos))
            .collect::<Result<_, _>>()?,
    };
    let sort_keys: Vec<String> = inputs.iter().map(|i| i.title.sort_key()).collect();
    let rows: Vec<NewTodo<'_>> = inputs
        .iter()
        .zip(&sort_keys)
        .zip(&seqs)
        .filter_map(|((input, key), seq)| seq.map(|seq| new_row(owner, input, key, now, seq)))
        .collect();
    let mut created = if rows.is_empty() {
        Vec::new()
    } else {
        todo::insert_all(conn, &rows)?
    };
    Ok(seqs
        .iter()
        .map(|seq| {
            let seq = seq.ok_or(ApiError::QuotaExceeded)?;
            let at = created
                .iter()
                .position(|t| t.change_seq == seq)
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("inserted todo not returned")))?;
            Ok(created.swap_remove(at))
        })
        .collect())
}

/// The row of a new todo of `owner`, with change sequence number `seq`.
fn new_row<'a>(
    owner: i64,
    input: &'a NewTodoInput,
    sort_key: &'a str,
    now: NaiveDateTime,
    seq: i64,
) -> NewTodo<'a> {
    NewTodo {
        user_id: owner,
        title: input.title.as_str(),
        title_sort: sort_key,
        description: input.description.as_str(),
        completed: input.completed,
        priority: input.priority.rank(),
        due_date: input.due_date.map(DueDate::date),
        created_at: now,
        updated_at: now,
        completed_at: input.completed.then_some(now),
        change_seq: seq,
    }
}

pub fn get(conn: &mut Conn<'_>, owner: i64, id: i64) -> ApiResult<Todo> {
    todo::find_owned(conn, owner, id)?.ok_or(ApiError::NotFound)
}

/// Applies `change` if `precondition` holds. Run it in a write transaction,
/// so that the version checked is the version replaced.
///
/// Every write takes the owner's change sequence first (locking the user
/// row), then locks the todo: one lock order for all of them.
pub fn update(
    conn: &mut Conn<'_>,
    owner: i64,
    id: i64,
    change: TodoChange,
    precondition: &Precondition,
) -> ApiResult<Todo> {
    let seq = sync::next_seq(conn, owner)?;
    let current = todo::find_owned_for_update(conn, owner, id)?.ok_or(ApiError::NotFound)?;
    if !precondition.holds(&current) {
        return Err(ApiError::PreconditionFailed);
    }
    match change.diff(&current, now()) {
        None => Ok(current),
        Some(mut set) => {
            set.change_seq = Some(seq);
            todo::update_owned(conn, owner, id, &set)?.ok_or(ApiError::NotFound)
        }
    }
}

/// Moves the owner's todo to the trash, if `precondition` holds.
pub fn delete(
    conn: &mut Conn<'_>,
    owner: i64,
    id: i64,
    precondition: &Precondition,
) -> ApiResult<()> {
    let seq = sync::next_seq(conn, owner)?;
    let current = todo::find_owned_for_update(conn, owner, id)?.ok_or(ApiError::NotFound)?;
    if !precondition.holds(&current) {
        return Err(ApiError::PreconditionFailed);
    }
    if todo::trash_owned(conn, owner, id, seq, now())? == 0 {
        return Err(ApiError::NotFound);
    }
    sync::record_trashed(conn, owner, &[id], seq)?;
    Ok(())
}

/// Moves every completed todo of the owner to the trash; returns their ids
/// (so that a client can undo by restoring them).
pub fn clear_completed(conn: &mut Conn<'_>, owner: i64) -> ApiResult<Vec<i64>> {
    let seq = sync::next_seq(conn, owner)?;
    let ids = todo::trash_completed(conn, owner, seq, now())?;
    sync::record_trashed(conn, owner, &ids, seq)?;
    Ok(ids)
}

/// Brings a todo back from the owner's trash, unchanged (same version and
/// ETag). 404 when it is not in the owner's trash.
pub fn restore(conn: &mut Conn<'_>, owner: i64, id: i64) -> ApiResult<Todo> {
    let seq = sync::next_seq(conn, owner)?;
    let restored = todo::restore_owned(conn, owner, id, seq)?.ok_or(ApiError::NotFound)?;
    sync::forget(conn, owner, id)?;
    Ok(restored)
}

/// One page of the owner's trash, most recently deleted first: `limit + 1`
/// rows, so the caller can tell whether there is a next page.
pub fn trash(
    conn: &mut Conn<'_>,
    owner: i64,
    after: Option<(chrono::NaiveDateTime, i64)>,
    limit: i64,
) -> ApiResult<Vec<Todo>> {
    Ok(todo::trash_page(conn, owner, after, limit + 1)?)
}

/// Purges trashed todos of the owner for good: all of them, or those among
/// `due.0` still trashed before `due.1`. Their tombstones move to this
/// change and the quota gets the room back. Returns how many went.
pub fn purge(
    conn: &mut Conn<'_>,
    owner: i64,
    due: Option<(&[i64], chrono::NaiveDateTime)>,
) -> diesel::QueryResult<usize> {
    let seq = sync::next_seq(conn, owner)?;
    let ids = todo::purge_trashed(conn, owner, due)?;
    sync::record_purged(conn, owner, &ids, seq, now())?;
    sync::release_todos(conn, owner, i64::try_from(ids.len()).unwrap_or(i64::MAX))?;
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::new_todo;
    use chrono::NaiveDate;

    fn todo() -> Todo {
        let at = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_opt(3, 4, 5)
            .unwrap();
        Todo {
            id: 7,
            user_id: 1,
            title: "Buy milk".into(),
            title_sort: "buy milk".into(),
            description: String::new(),
            completed: false,
            priority: Priority::Normal.rank(),
            due_date: None,
            created_at: at,
            updated_at: at,
            completed_at: None,
            version: 3,
            due_sort_asc: "~".into(),
            due_sort_desc: String::new(),
            deleted_at: None,
            change_seq: 4,
        }
    }

    #[test]
    fn a_patch_that_changes_nothing_has_no_changeset() {
        let current = todo();
        let same = TodoChange {
            title: Some(TodoTitle::parse("Buy milk").unwrap()),
            description: Some(String::new()),
            priority: Some(Priority::Normal),
            due_date: Some(None),
            completed: Some(false),
        };
        assert!(same.diff(&current, crate::clock::now()).is_none());
        assert!(TodoChange::default()
            .diff(&current, crate::clock::now())
            .is_none());
    }

    #[test]
    fn a_patch_sets_only_what_differs_and_bumps_the_version() {
        let current = todo();
        let now = crate::clock::now();
        let change = TodoChange {
            title: Some(TodoTitle::parse("Buy oat milk").unwrap()),
            completed: Some(true),
            priority: Some(Priority::Normal),
            ..TodoChange::default()
        };
        let set = change.diff(&current, now).unwrap();
        assert_eq!(set.title.as_deref(), Some("Buy oat milk"));
        assert_eq!(set.completed, Some(true));
        assert_eq!(set.completed_at, Some(Some(now)));
        assert_eq!(set.priority, None);
        assert_eq!(set.version, Some(4));
        assert_eq!(set.updated_at, Some(now));
    }

    #[test]
    fn if_match_is_a_strong_comparison() {
        let current = todo();
        let tags = |tags: &[EntityTag]| Precondition(Some(IfMatch::Items(tags.to_vec())));
        assert!(Precondition(None).holds(&current));
        assert!(Precondition(Some(IfMatch::Any)).holds(&current));
        assert!(tags(&[EntityTag::new_strong("7-3".into())]).holds(&current));
        assert!(!tags(&[EntityTag::new_weak("7-3".into())]).holds(&current));
        assert!(!tags(&[EntityTag::new_strong("7-2".into())]).holds(&current));
        assert!(!tags(&[]).holds(&current));
        assert_eq!(Precondition::etag(&current), "\"7-3\"");
    }

    fn owner_of(conn: &mut Conn<'_>) -> i64 {
        crate::app::testing::add_user(
            conn,
            "batch@example.com",
            "x",
            crate::domain::Role::User,
            now(),
        )
        .id
    }

    /// The one-statement list answers exactly when the session check
    /// would: a live session of the owner, enabled and not expired.
    #[test]
    fn a_list_in_session_reads_only_for_a_live_session_of_an_enabled_owner() {
        use crate::app::testing::add_session;
        use diesel::RunQueryDsl;

        let pool = crate::app::testing::memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut Conn::Sqlite(&mut pooled);
        let owner = owner_of(conn);
        let other = crate::app::testing::add_user(
            conn,
            "other@example.com",
            "x",
            crate::domain::Role::User,
            now(),
        )
        .id;
        let mine = add_session(conn, owner, "h1", now()).id;
        let theirs = add_session(conn, other, "h2", now()).id;
        let filter = ListFilter::default();
        let list = |conn: &mut Conn<'_>, session: (i64, i64)| {
            let listed = list_in_session(conn, session, &filter, TodoSort::default(), None, 20)
                .unwrap()
                .map(|rows| rows.len());
            // The one-statement form (PostgreSQL's) agrees: rows only for a
            // live session, each with the session's last use.
            let rows = todo::list_in_session(
                conn,
                (session.0, now()),
                session.1,
                &filter,
                TodoSort::default(),
                None,
                21,
            )
            .unwrap()
            .unwrap();
            assert_eq!(rows.len(), listed.unwrap_or(0));
            assert!(rows.iter().all(|(_, used)| used.is_some()));
            listed
        };
        // Live, with an empty list and then with todos.
        assert_eq!(list(conn, (mine, owner)), Some(0));
        create(conn, owner, new_todo("one"), 0).unwrap();
        create(conn, owner, new_todo("two"), 0).unwrap();
        assert_eq!(list(conn, (mine, owner)), Some(2));
        // Another user's session, or one that does not exist.
        assert_eq!(list(conn, (theirs, owner)), None);
        assert_eq!(list(conn, (mine + 100, owner)), None);
        let sql = |conn: &mut Conn<'_>, statement: &str| {
            let Conn::Sqlite(c) = conn else {
                unreachable!()
            };
            diesel::sql_query(statement).execute(&mut **c).unwrap();
        };
        // Disabled, expired, ended: no rows, and `None`.
        sql(
            conn,
            &format!("UPDATE users SET disabled = 1 WHERE id = {owner}"),
        );
        assert_eq!(list(conn, (mine, owner)), None);
        sql(
            conn,
            &format!("UPDATE users SET disabled = 0 WHERE id = {owner}"),
        );
        assert_eq!(list(conn, (mine, owner)), Some(2));
        sql(
            conn,
            &format!("UPDATE sessions SET expires_at = '2000-01-01 00:00:00' WHERE id = {mine}"),
        );
        assert_eq!(list(conn, (mine, owner)), None);
        sql(conn, &format!("UPDATE sessions SET expires_at = '2999-01-01 00:00:00', revoked_at = '2000-01-01 00:00:00' WHERE id = {mine}"));
        assert_eq!(list(conn, (mine, owner)), None);
    }

    /// A list records the session's use, as the session check does, once a
    /// minute at most.
    #[test]
    fn a_list_in_session_touches_a_stale_session() {
        use crate::db::schema::sessions;
        use diesel::prelude::*;

        let pool = crate::app::testing::memory_pool();
        let mut pooled = pool.sqlite();
        let owner = owner_of(&mut Conn::Sqlite(&mut pooled));
        let opened = now() - chrono::Duration::minutes(5);
        let session =
            crate::app::testing::add_session(&mut Conn::Sqlite(&mut pooled), owner, "h", opened).id;
        create(&mut Conn::Sqlite(&mut pooled), owner, new_todo("one"), 0).unwrap();
        let last_used = |c: &mut diesel::SqliteConnection| {
            sessions::table
                .find(session)
                .select(sessions::last_used_at)
                .first::<NaiveDateTime>(c)
                .unwrap()
        };
        let filter = ListFilter::default();
        let conn = &mut Conn::Sqlite(&mut pooled);
        let rows = list_in_session(
            conn,
            (session, owner),
            &filter,
            TodoSort::default(),
            None,
            20,
        );
        assert_eq!(rows.unwrap().map(|r| r.len()), Some(1));
        let touched = last_used(&mut pooled);
        assert!(touched > opened + chrono::Duration::minutes(4), "{touched}");
        // Within the minute, a list writes nothing.
        let conn = &mut Conn::Sqlite(&mut pooled);
        list_in_session(
            conn,
            (session, owner),
            &filter,
            TodoSort::default(),
            None,
            20,
        )
        .unwrap();
        assert_eq!(last_used(&mut pooled), touched);
    }

    #[test]
    fn a_batch_of_creates_takes_consecutive_sequence_numbers_in_order() {
        let pool = crate::app::testing::memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut Conn::Sqlite(&mut pooled);
        let owner = owner_of(conn);
        let first = create(conn, owner, new_todo("first"), 0).unwrap();
        let inputs = ["a", "b", "c"].map(new_todo);
        let made: Vec<Todo> = create_many(conn, owner, &inputs, 0)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let titles: Vec<&str> = made.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles, ["a", "b", "c"]);
        let seqs: Vec<i64> = made.iter().map(|t| t.change_seq).collect();
        let s = first.change_seq;
        assert_eq!(seqs, [s + 1, s + 2, s + 3]);
        assert_eq!(sync::position(conn, owner).unwrap().0, s + 3);
        assert!(made.iter().all(|t| t.user_id == owner && t.version == 1));
    }

    #[test]
    fn a_batch_past_the_quota_creates_in_order_until_the_account_is_full() {
        let pool = crate::app::testing::memory_pool();
        let mut pooled = pool.sqlite();
        let conn = &mut Conn::Sqlite(&mut pooled);
        let owner = owner_of(conn);
        let first = create(conn, owner, new_todo("first"), 3).unwrap();
        let inputs = ["a", "b", "c", "d"].map(new_todo);
        let outcomes = create_many(conn, owner, &inputs, 3).unwrap();
        let titles: Vec<Option<String>> = outcomes
            .iter()
            .map(|o| o.as_ref().ok().map(|t| t.title.clone()))
            .collect();
        assert_eq!(titles, [Some("a".into()), Some("b".into()), None, None]);
        assert!(outcomes[2..]
            .iter()
            .all(|o| matches!(o, Err(ApiError::QuotaExceeded))));
        // Only what was created counts, and took a sequence number.
        assert_eq!(sync::position(conn, owner).unwrap().0, first.change_seq + 2);
        let full = create_many(conn, owner, &[new_todo("e")], 3).unwrap();
        assert!(matches!(full[..], [Err(ApiError::QuotaExceeded)]));
    }
}
