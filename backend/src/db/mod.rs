//! Database access: the connection pools of both backends (SQLite, the
//! embedded default, and PostgreSQL for scale-out), migrations and models.
//!
//! Queries are written once with Diesel's DSL and compiled for each backend:
//! [`Conn`] is the connection a use case holds, and [`dispatch!`] runs a
//! query body with the concrete connection inside it. Nothing is decided at
//! run time per query beyond that one `match`, so the SQLite path costs what
//! it did before PostgreSQL existed.

pub mod functions;
pub mod models;
pub mod schema;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{DatabaseUrl, PostgresUrl};
use crate::error::ApiResult;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The key of the PostgreSQL advisory lock held while migrations run, so
/// instances starting together apply them once (the others wait, then find
/// nothing pending). Any constant works; this one spells "sTodoMig".
const MIGRATION_LOCK_KEY: i64 = 0x7354_6f64_6f4d_6967;

/// A connection of either backend, as a use case holds it (inside the
/// transaction [`Db::write`] opened, or bare for [`Db::read`]).
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

impl Conn<'_> {
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Pg(_) => Backend::Postgres,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$c` bound to the concrete connection inside `$conn`
/// (a `&mut Conn`): the body is compiled once per backend. The three-part
/// form also names the backend type as `$db` (for boxed queries).
macro_rules! dispatch {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite($c) => {
                let $c: &mut ::diesel::SqliteConnection = &mut **$c;
                $body
            }
            $crate::db::Conn::Pg($c) => {
                let $c: &mut ::diesel::PgConnection = &mut **$c;
                $body
            }
        }
    };
    ($conn:expr, $c:ident, $db:ident => $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite($c) => {
                #[allow(dead_code)]
                type $db = ::diesel::sqlite::Sqlite;
                let $c: &mut ::diesel::SqliteConnection = &mut **$c;
                $body
            }
            $crate::db::Conn::Pg($c) => {
                #[allow(dead_code)]
                type $db = ::diesel::pg::Pg;
                let $c: &mut ::diesel::PgConnection = &mut **$c;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

/// The pool of the configured backend.
#[derive(Clone)]
pub enum DbPool {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Pg(Pool<ConnectionManager<PgConnection>>),
}

impl DbPool {
    pub fn backend(&self) -> Backend {
        match self {
            DbPool::Sqlite(_) => Backend::Sqlite,
            DbPool::Pg(_) => Backend::Postgres,
        }
    }

    pub fn state(&self) -> r2d2::State {
        match self {
            DbPool::Sqlite(p) => p.state(),
            DbPool::Pg(p) => p.state(),
        }
    }

    pub fn max_size(&self) -> u32 {
        match self {
            DbPool::Sqlite(p) => p.max_size(),
            DbPool::Pg(p) => p.max_size(),
        }
    }

    /// Runs `f` on a pooled connection, on the calling thread (blocking).
    pub fn with_conn<T, E>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<r2d2::Error>,
    {
        self.with_conn_timeout(None, f)
    }

    fn with_conn_timeout<T, E>(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(&mut Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<r2d2::Error>,
    {
        match self {
            DbPool::Sqlite(p) => {
                let mut c = match timeout {
                    Some(t) => p.get_timeout(t)?,
                    None => p.get()?,
                };
                f(&mut Conn::Sqlite(&mut c))
            }
            DbPool::Pg(p) => {
                let mut c = match timeout {
                    Some(t) => p.get_timeout(t)?,
                    None => p.get()?,
                };
                f(&mut Conn::Pg(&mut c))
            }
        }
    }

    /// Runs `f` inside one write transaction (blocking; see [`Db::write`]).
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Conn<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<r2d2::Error> + From<diesel::result::Error>,
    {
        self.with_conn(|conn| transaction(conn, f))
    }
}

/// Runs `f` inside one write transaction on `conn`. SQLite: `BEGIN
/// IMMEDIATE`, the database-wide write lock taken up front. PostgreSQL:
/// `READ COMMITTED`, with the rules that need it taking row locks
/// (`FOR UPDATE`) or writing conditionally; several instances share the
/// database, so there is no global lock to lean on. An error rolls back.
pub fn transaction<T, E>(
    conn: &mut Conn<'_>,
    f: impl FnOnce(&mut Conn<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        Conn::Sqlite(c) => c.immediate_transaction(|c| f(&mut Conn::Sqlite(c))),
        Conn::Pg(c) => c.transaction(|c| f(&mut Conn::Pg(c))),
    }
}

/// The database handle: runs a closure on the blocking pool with a pooled
/// connection, either as it is (`read`) or inside a write transaction
/// (`write`). The only place that knows how a transaction starts, so the
/// use cases in `app/` stay plain synchronous functions over a connection.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
}

impl Db {
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Runs `f` on a pooled connection without a transaction: reads, and
    /// single idempotent statements such as touching `last_used_at`.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || pool.with_conn(f)).await?
    }

    /// Readiness: a connection within two seconds, and our schema answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let pool = self.pool.clone();
        actix_web::web::block(move || pool.with_conn_timeout(Some(Duration::from_secs(2)), ping))
            .await?
    }

    /// Runs `f` inside one write transaction (see [`transaction`]): a rule
    /// checked inside `f` still holds when `f` writes. An error rolls
    /// everything back.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> ApiResult<T> + Send + 'static,
    {
        self.read(move |conn| transaction(conn, f)).await
    }
}

/// Applied to every new pooled SQLite connection: the pragmas
/// (`batch_execute` runs them all; a `sql_query` would run only the first)
/// and our SQL functions.
///
/// `wal_autocheckpoint = 4000` (pages, default 1000): a checkpoint copies
/// each page changed since the last one once and flushes twice, whatever
/// the number of commits in between, and every write now changes the
/// owner's row and the change-sequence index besides the todo's pages; a
/// checkpoint every ~16 MB of WAL instead of ~4 MB brought create back to
/// within noise of its round-1 throughput (`docs/performance.md`).
#[derive(Debug, Clone, Copy)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000;
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = MEMORY;
             PRAGMA cache_size = -2000;
             PRAGMA wal_autocheckpoint = 4000;",
        )
        .and_then(|()| functions::register(conn))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Applied to every new pooled PostgreSQL connection: a statement or a
/// lock wait never hangs a request for ever, and timestamps (stored
/// without a zone, always UTC) are never shifted by a session time zone.
#[derive(Debug, Clone, Copy)]
struct PgSession;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for PgSession {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "SET TIME ZONE 'UTC';
             SET statement_timeout = '30s';
             SET lock_timeout = '10s';
             SET idle_in_transaction_session_timeout = '60s';",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Whether `build_pool` applies pending migrations or only checks that
/// none are pending (`MIGRATE_ON_START=false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrate {
    Apply,
    RequireApplied,
}

/// Builds the pool and applies pending migrations.
///
/// A SQLite file gets a pool of several connections (WAL lets readers run
/// beside the single writer). `sqlite::memory:` gets exactly one connection
/// that is never recycled: every SQLite connection to `:memory:` is its own
/// database, so one long-lived connection is what makes the data survive
/// across pool checkouts. PostgreSQL gets `max_size` connections per
/// instance (docs/scaling.md: sizing against `max_connections`).
pub fn build_pool(database: &DatabaseUrl, max_size: u32) -> anyhow::Result<DbPool> {
    open_pool(database, max_size, Migrate::Apply)
}

pub fn open_pool(
    database: &DatabaseUrl,
    max_size: u32,
    migrate: Migrate,
) -> anyhow::Result<DbPool> {
    let pool = match database {
        DatabaseUrl::Postgres(url) => DbPool::Pg(pg_pool(url, max_size)?),
        DatabaseUrl::File(path) => {
            create_parent_dir(path)?;
            DbPool::Sqlite(sqlite_pool(&path.to_string_lossy(), max_size.max(1))?)
        }
        DatabaseUrl::Memory => DbPool::Sqlite(sqlite_pool(":memory:", 1)?),
    };
    match migrate {
        Migrate::Apply => {
            run_migrations(&pool)?;
        }
        Migrate::RequireApplied => {
            let pending = pending_migrations(&pool)?;
            if pending > 0 {
                anyhow::bail!(
                    "the database has {pending} pending migration(s) and MIGRATE_ON_START is \
                     false: run `securetodo migrate` first"
                );
            }
        }
    }
    Ok(pool)
}

fn sqlite_pool(url: &str, size: u32) -> anyhow::Result<Pool<ConnectionManager<SqliteConnection>>> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .max_lifetime(None)
        .idle_timeout(None)
        .connection_timeout(Duration::from_secs(10))
        // A connection to a local file does not break as a network one
        // does; r2d2's default check runs `SELECT 1` (parsed anew each
        // time) before every checkout, two per request.
        .test_on_check_out(false)
        .connection_customizer(Box::new(Pragmas))
        .build(ConnectionManager::<SqliteConnection>::new(url))
        .context("opening the SQLite database")
}

fn pg_pool(url: &PostgresUrl, size: u32) -> anyhow::Result<Pool<ConnectionManager<PgConnection>>> {
    Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        // A broken connection is dropped after the error that broke it;
        // a `SELECT 1` round trip before every checkout would cost every
        // request a network round trip for that rare case.
        .test_on_check_out(false)
        .connection_customizer(Box::new(PgSession))
        .build(ConnectionManager::<PgConnection>::new(url.expose()))
        .with_context(|| format!("connecting to PostgreSQL at {}", url.redacted()))
}

/// Development convenience: creates the PostgreSQL database named in `url`
/// when the server says it does not exist (as a SQLite file is created), so
/// `DATABASE_URL=postgres://.../newdb cargo run` just works. Production
/// never creates databases (they are provisioned).
pub fn create_missing_postgres_database(url: &PostgresUrl) -> anyhow::Result<()> {
    let missing = match PgConnection::establish(url.expose()) {
        Ok(_) => return Ok(()),
        Err(e) => e.to_string().contains("does not exist"),
    };
    if !missing {
        return Ok(());
    }
    let Some((server, name)) = url.expose().rsplit_once('/') else {
        return Ok(());
    };
    let name = name.split('?').next().unwrap_or(name);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("the PostgreSQL database in DATABASE_URL does not exist; create it first");
    }
    let mut admin = PgConnection::establish(&format!("{server}/postgres"))
        .with_context(|| format!("connecting to {} to create the database", url.redacted()))?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .with_context(|| format!("creating the database {name}"))?;
    log::warn!("created the PostgreSQL database {name} (development only)");
    Ok(())
}

fn create_parent_dir(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the database directory {}", parent.display()))?;
        }
    }
    Ok(())
}

/// Applies every pending embedded migration; returns how many ran. On
/// PostgreSQL an advisory lock makes concurrent starts take turns: the
/// first applies, the others then find nothing pending.
pub fn run_migrations(pool: &DbPool) -> anyhow::Result<usize> {
    let applied: anyhow::Result<usize> = pool.with_conn(|conn| match conn {
        Conn::Sqlite(c) => apply(&mut **c, SQLITE_MIGRATIONS),
        Conn::Pg(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .context("waiting for the migration lock")?;
            let applied = apply(&mut **c, PG_MIGRATIONS);
            let unlocked = c
                .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .context("releasing the migration lock");
            let applied = applied?;
            unlocked?;
            Ok(applied)
        }
    });
    applied
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> anyhow::Result<usize>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
    Ok(applied.len())
}

/// How many embedded migrations the database has not applied yet.
pub fn pending_migrations(pool: &DbPool) -> anyhow::Result<usize> {
    pool.with_conn(|conn| {
        let pending = match conn {
            Conn::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|p| p.len()),
            Conn::Pg(c) => c.pending_migrations(PG_MIGRATIONS).map(|p| p.len()),
        };
        pending.map_err(|e| anyhow::anyhow!("reading the applied migrations: {e}"))
    })
}

/// Readiness probe: the database answers and carries our schema.
pub fn ping(conn: &mut Conn<'_>) -> anyhow::Result<()> {
    dispatch!(conn, c => c.batch_execute("SELECT version FROM __diesel_schema_migrations LIMIT 1"))
        .context("pinging the database")
}

/// A `LIKE` pattern matching `needle` as a literal substring: `%`, `_` and
/// the escape character itself are escaped. Use with `.escape('\\')`.
pub fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A migrated in-memory SQLite database with our pragmas and functions,
/// for unit tests: `let conn = &mut Conn::Sqlite(&mut db);`.
#[cfg(test)]
pub fn memory_db() -> SqliteConnection {
    let mut conn = SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}"));
    Pragmas
        .on_acquire(&mut conn)
        .unwrap_or_else(|e| panic!("{e}"));
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .unwrap_or_else(|e| panic!("{e}"));
    conn
}

#[cfg(test)]
impl DbPool {
    /// The pooled SQLite connection of a test pool.
    pub fn sqlite(&self) -> r2d2::PooledConnection<ConnectionManager<SqliteConnection>> {
        match self {
            DbPool::Sqlite(p) => p.get().unwrap_or_else(|e| panic!("{e}")),
            DbPool::Pg(_) => panic!("a SQLite pool"),
        }
    }
}

/// `EXPLAIN QUERY PLAN` of a query on a fresh, migrated in-memory database,
/// one line per step (tests check that lists seek indexes and never sort).
#[cfg(test)]
pub fn query_plan<Q>(query: &Q) -> Vec<String>
where
    Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>,
{
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    let mut conn = SqliteConnection::establish(":memory:").unwrap_or_else(|e| panic!("{e}"));
    functions::register(&mut conn).unwrap_or_else(|e| panic!("{e}"));
    conn.run_pending_migrations(SQLITE_MIGRATIONS)
        .unwrap_or_else(|e| panic!("{e}"));
    let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(query).to_string();
    // Parameters stay unbound (NULL): the plan does not depend on them.
    let sql = sql.split(" -- binds: ").next().unwrap_or_default();
    diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<Step>(&mut conn)
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
        .into_iter()
        .map(|s| s.detail)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn contains_pattern_escapes_wildcards_and_the_escape_character() {
        assert_eq!(contains_pattern(""), "%%");
        assert_eq!(contains_pattern("abc"), "%abc%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
