//! Fixtures for the use cases' unit tests: an in-memory SQLite database and
//! the rows most tests start from.

use chrono::{Duration, NaiveDateTime};

use crate::app::todos::NewTodoInput;
use crate::app::Actor;
use crate::config::DatabaseUrl;
use crate::db::models::session::{self, NewSession, Session};
use crate::db::models::user::{self, NewUser, User};
use crate::db::{build_pool, Conn, DbPool};
use crate::domain::{Priority, Role, TodoDescription, TodoTitle};

/// A migrated in-memory database of one connection.
pub fn memory_pool() -> DbPool {
    build_pool(&DatabaseUrl::Memory, 1).unwrap()
}

/// An account created at `now`.
pub fn add_user(
    conn: &mut Conn<'_>,
    email: &str,
    password_hash: &str,
    role: Role,
    now: NaiveDateTime,
) -> User {
    user::insert(conn, &NewUser::at(email, password_hash, role, now))
        .unwrap()
        .unwrap()
}

/// A session of `user_id` opened at `now` for an hour, from no known client.
pub fn add_session(
    conn: &mut Conn<'_>,
    user_id: i64,
    refresh_token_hash: &str,
    now: NaiveDateTime,
) -> Session {
    session::insert(
        conn,
        &NewSession {
            user_id,
            refresh_token_hash,
            created_at: now,
            last_used_at: now,
            expires_at: now + Duration::hours(1),
            user_agent: None,
            ip: None,
        },
    )
    .unwrap()
}

/// `user_id` acting from no known address.
pub fn actor_of(user_id: i64) -> Actor {
    Actor { user_id, ip: None }
}

/// A checked new todo with this title and the defaults.
pub fn new_todo(title: &str) -> NewTodoInput {
    NewTodoInput {
        title: TodoTitle::parse(title).unwrap(),
        description: TodoDescription::parse(String::new()).unwrap(),
        priority: Priority::Normal,
        due_date: None,
        completed: false,
    }
}
