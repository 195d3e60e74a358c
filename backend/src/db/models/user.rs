//! The `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{dispatch, Conn};

use crate::db::schema::users;
use crate::domain::Role;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub failed_logins: i32,
    pub lockouts: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// True once a code confirmed the TOTP enrolment.
    pub mfa_enabled: bool,
    /// The sealed TOTP secret (`auth::mfa`), pending or confirmed; never
    /// sent to a client.
    pub mfa_secret: Option<String>,
    /// The last TOTP time step accepted (replay guard).
    pub mfa_last_step: Option<i64>,
}

impl User {
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }

    /// An admin who is not disabled: the kind the last-admin rule protects.
    pub fn is_active_admin(&self) -> bool {
        self.role() == Role::Admin && !self.disabled
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl<'a> NewUser<'a> {
    /// An account with `role`, created at `now`.
    pub fn at(email: &'a str, password_hash: &'a str, role: Role, now: NaiveDateTime) -> Self {
        Self {
            email,
            password_hash,
            role: role.as_str(),
            created_at: now,
            updated_at: now,
        }
    }
}

pub fn find_by_email(conn: &mut Conn<'_>, email: &str) -> QueryResult<Option<User>> {
    dispatch!(conn, conn => {
        users::table
            .filter(users::email.eq(email))
            .select(User::as_select())
            .first(conn)
            .optional()
    })
}

pub fn find(conn: &mut Conn<'_>, id: i64) -> QueryResult<Option<User>> {
    dispatch!(conn, conn => {
        users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional()
    })
}

/// Inserts a user; `Ok(None)` when the email is already taken. `ON
/// CONFLICT DO NOTHING` rather than catching the unique violation: on
/// PostgreSQL an error aborts the whole transaction, and two concurrent
/// registrations of one email must end in one account and one 409.
pub fn insert(conn: &mut Conn<'_>, new: &NewUser<'_>) -> QueryResult<Option<User>> {
    dispatch!(conn, conn => {
        diesel::insert_into(users::table)
            .values(new)
            .on_conflict_do_nothing()
            .returning(User::as_returning())
            .get_result(conn)
            .optional()
    })
}

/// Counts admins that are not disabled.
pub fn count_active_admins(conn: &mut Conn<'_>) -> QueryResult<i64> {
    dispatch!(conn, conn => {
        users::table
            .filter(users::role.eq(Role::Admin.as_str()))
            .filter(users::disabled.eq(false))
            .count()
            .get_result(conn)
    })
}

/// The last-admin rule: true when `target` is an active admin and no other
/// active admin exists, so it must not be demoted, disabled or deleted.
/// Call it inside the write transaction that makes the change, after
/// [`lock_active_admins`], so that two concurrent changes cannot both see
/// another admin remaining.
pub fn is_last_active_admin(conn: &mut Conn<'_>, target: &User) -> QueryResult<bool> {
    Ok(target.is_active_admin() && count_active_admins(conn)? <= 1)
}

/// Takes the locks the last-admin rule needs before it counts. SQLite:
/// nothing to do, the write transaction holds the database-wide lock.
/// PostgreSQL: every active admin's row, `FOR UPDATE`, in id order (no
/// deadlock between two changes). A concurrent change of another admin
/// then waits for this transaction, and re-reads its rows after it: the
/// admin this one demoted, disabled or deleted no longer counts.
pub fn lock_active_admins(conn: &mut Conn<'_>) -> QueryResult<()> {
    match conn {
        Conn::Sqlite(_) => Ok(()),
        Conn::Pg(c) => users::table
            .filter(users::role.eq(Role::Admin.as_str()))
            .filter(users::disabled.eq(false))
            .order(users::id)
            .select(users::id)
            .for_update()
            .load::<i64>(&mut **c)
            .map(|_| ()),
    }
}

/// The user `id`, read for a change that depends on what is read: the
/// failure counters, the password hash a login verified, the role. SQLite's
/// write transaction already excludes every other writer; PostgreSQL locks
/// the row (`FOR UPDATE`) until the transaction ends, so concurrent logins,
/// refreshes and password changes of one account take turns, as they do
/// on SQLite, and none decides on a value another is about to change.
pub fn find_for_update(conn: &mut Conn<'_>, id: i64) -> QueryResult<Option<User>> {
    match conn {
        Conn::Sqlite(_) => find(conn, id),
        Conn::Pg(c) => users::table
            .find(id)
            .select(User::as_select())
            .for_update()
            .first(&mut **c)
            .optional(),
    }
}

/// A successful login. With `clear_untrusted`, the untrusted clients'
/// failure count and lock are cleared too.
pub fn record_login(
    conn: &mut Conn<'_>,
    id: i64,
    at: NaiveDateTime,
    clear_untrusted: bool,
) -> QueryResult<()> {
    dispatch!(conn, conn => {
        let target = users::table.find(id);
        if clear_untrusted {
            diesel::update(target)
                .set((
                    users::failed_logins.eq(0),
                    users::lockouts.eq(0),
                    users::locked_until.eq(None::<NaiveDateTime>),
                    users::last_login_at.eq(Some(at)),
                ))
                .execute(conn)
        } else {
            diesel::update(target)
                .set(users::last_login_at.eq(Some(at)))
                .execute(conn)
        }
        .map(|_| ())
    })
}

/// Counts one untrusted failure (the increment happens in SQL, so
/// concurrent failures all count). Returns the failures so far.
pub fn add_failure(conn: &mut Conn<'_>, id: i64) -> QueryResult<i32> {
    dispatch!(conn, conn => {
        diesel::update(users::table.find(id))
            .set(users::failed_logins.eq(users::failed_logins + 1))
            .returning(users::failed_logins)
            .get_result(conn)
    })
}

/// Locks the account until `until`; the next lock will last longer.
pub fn lock(conn: &mut Conn<'_>, id: i64, until: NaiveDateTime) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::update(users::table.find(id))
            .set((
                users::failed_logins.eq(0),
                users::lockouts.eq(users::lockouts + 1),
                users::locked_until.eq(Some(until)),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

pub fn set_password_hash(conn: &mut Conn<'_>, id: i64, hash: &str) -> QueryResult<()> {
    dispatch!(conn, conn => {
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::updated_at.eq(crate::clock::now()),
            ))
            .execute(conn)
            .map(|_| ())
    })
}

/// Takes the user's row lock for the rest of the transaction (a no-op
/// UPDATE): per-user limits checked after it hold under concurrency on
/// PostgreSQL too, where there is no database-wide write lock. False when
/// the user is gone.
pub fn lock_row(conn: &mut Conn<'_>, id: i64) -> QueryResult<bool> {
    dispatch!(conn, conn => {
        diesel::update(users::table.find(id))
            .set(users::updated_at.eq(users::updated_at))
            .execute(conn)
            .map(|n| n > 0)
    })
}

pub fn delete(conn: &mut Conn<'_>, id: i64) -> QueryResult<usize> {
    dispatch!(conn, conn => {
        diesel::delete(users::table.find(id)).execute(conn)
    })
}

/// One row of the admin user list.
#[derive(Debug, Clone, Queryable)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    pub mfa_enabled: bool,
    pub todo_count: i64,
}

impl UserSummary {
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
    }
}

/// Filters of the admin user list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// A literal, already lower-cased substring of the email.
    pub email_contains: Option<String>,
    pub role: Option<Role>,
}

/// Every user with their todo count (live plus trashed, as the quota
/// counts them; kept on the user row by every create and purge, so the
/// list needs no join), newest first.
#[diesel::dsl::auto_type]
fn user_summaries() -> _ {
    users::table
        .select((
            users::id,
            users::email,
            users::role,
            users::disabled,
            users::created_at,
            users::last_login_at,
            users::mfa_enabled,
            users::todo_count,
        ))
        .order(users::id.desc())
}

/// The statement behind [`list_page`], for the connection's backend.
macro_rules! list_page_query {
    ($filter:expr, $before:expr, $limit:expr) => {{
        let (filter, before, limit): (&UserFilter, Option<i64>, i64) = ($filter, $before, $limit);
        let mut query = user_summaries().limit(limit).into_boxed();
        if let Some(needle) = &filter.email_contains {
            query = query.filter(
                users::email
                    .like(crate::db::contains_pattern(needle))
                    .escape('\\'),
            );
        }
        if let Some(role) = filter.role {
            query = query.filter(users::role.eq(role.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(users::id.lt(before));
        }
        query
    }};
}

/// A page of users, newest first (id descending), starting after `before`.
///
/// One statement. SQLite walks `users` by rowid (or `users_role_id` when
/// filtering by role) in id order, so it stops after `limit` rows, and the
/// todo count is a column of the user row: the cost of a page does not grow
/// with the offset or with anyone's todos (the unit test below checks the
/// plan).
pub fn list_page(
    conn: &mut Conn<'_>,
    filter: &UserFilter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<UserSummary>> {
    dispatch!(conn, conn => list_page_query!(filter, before, limit).load(conn))
}

/// Applies an admin's change of role and/or disabled flag.
pub fn set_role_and_disabled(
    conn: &mut Conn<'_>,
    id: i64,
    role: Role,
    disabled: bool,
    at: NaiveDateTime,
) -> QueryResult<User> {
    dispatch!(conn, conn => {
        diesel::update(users::table.find(id))
            .set((
                users::role.eq(role.as_str()),
                users::disabled.eq(disabled),
                users::updated_at.eq(at),
            ))
            .returning(User::as_returning())
            .get_result(conn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::query_plan;
    use diesel::dsl::IntoBoxed;
    use diesel::sqlite::Sqlite;

    #[test]
    fn the_user_list_reads_no_todos_and_never_sorts() {
        let filters = [
            UserFilter::default(),
            UserFilter {
                email_contains: Some("a%b".into()),
                role: None,
            },
            UserFilter {
                email_contains: None,
                role: Some(Role::Admin),
            },
        ];
        for filter in &filters {
            for before in [None, Some(100)] {
                let query: IntoBoxed<'static, user_summaries, Sqlite> =
                    list_page_query!(filter, before, 21);
                let plan = query_plan(&query);
                assert!(
                    !plan
                        .iter()
                        .any(|step| step.contains("todos") || step.contains("TEMP B-TREE")),
                    "{filter:?}: {plan:?}"
                );
            }
        }
    }
}
