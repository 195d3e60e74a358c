//! The `users` table.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::users;
use crate::domain::Role;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
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
}

impl User {
    pub fn role(&self) -> Role {
        Role::from_db(&self.role)
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

pub fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

pub fn find_by_email(conn: &mut SqliteConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut SqliteConnection, id: i64) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Inserts a user; `Ok(None)` when the email is already taken.
pub fn insert(conn: &mut SqliteConnection, new: &NewUser<'_>) -> QueryResult<Option<User>> {
    match diesel::insert_into(users::table)
        .values(new)
        .returning(User::as_returning())
        .get_result(conn)
    {
        Ok(user) => Ok(Some(user)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Counts admins that are not disabled.
pub fn count_active_admins(conn: &mut SqliteConnection) -> QueryResult<i64> {
    users::table
        .filter(users::role.eq(Role::Admin.as_str()))
        .filter(users::disabled.eq(false))
        .count()
        .get_result(conn)
}

/// A successful login: clears the failure count and the lock.
pub fn record_login(conn: &mut SqliteConnection, id: i64, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(0),
            users::lockouts.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::last_login_at.eq(Some(at)),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn set_failed_logins(conn: &mut SqliteConnection, id: i64, failures: i32) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::failed_logins.eq(failures))
        .execute(conn)
        .map(|_| ())
}

/// Locks the account until `until`; the next lock will last longer.
pub fn lock(conn: &mut SqliteConnection, id: i64, until: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(0),
            users::lockouts.eq(users::lockouts + 1),
            users::locked_until.eq(Some(until)),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn set_password_hash(conn: &mut SqliteConnection, id: i64, hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now())))
        .execute(conn)
        .map(|_| ())
}

pub fn delete(conn: &mut SqliteConnection, id: i64) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn)
}
