//! Database access: the connection pool, its pragmas, migrations and models.

pub mod functions;
pub mod models;
pub mod schema;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::DatabaseUrl;
use crate::error::ApiResult;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub type DbPool = Pool<ConnectionManager<SqliteConnection>>;

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
        F: FnOnce(&mut SqliteConnection) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Readiness: a connection within two seconds, and our schema answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get_timeout(Duration::from_secs(2))?;
            ping(&mut conn)
        })
        .await?
    }

    /// Runs `f` inside one write transaction (SQLite `BEGIN IMMEDIATE`: the
    /// database-wide write lock is taken up front, so a rule checked inside
    /// `f` still holds when `f` writes). An error rolls everything back.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteConnection) -> ApiResult<T> + Send + 'static,
    {
        self.read(move |conn| conn.immediate_transaction(f)).await
    }
}

/// Applied to every new pooled connection: the pragmas (`batch_execute`
/// runs them all; a `sql_query` would run only the first) and our SQL
/// functions.
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
             PRAGMA cache_size = -2000;",
        )
        .and_then(|()| functions::register(conn))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Builds the pool and applies pending migrations.
///
/// A file database gets a pool of several connections (WAL lets readers run
/// beside the single writer). `sqlite::memory:` gets exactly one connection
/// that is never recycled: every SQLite connection to `:memory:` is its own
/// database, so one long-lived connection is what makes the data survive
/// across pool checkouts.
pub fn build_pool(database: &DatabaseUrl, max_size: u32) -> anyhow::Result<DbPool> {
    let (url, size) = match database {
        DatabaseUrl::File(path) => {
            create_parent_dir(path)?;
            (path.to_string_lossy().into_owned(), max_size.max(1))
        }
        DatabaseUrl::Memory => (":memory:".to_owned(), 1),
    };
    let manager = ConnectionManager::<SqliteConnection>::new(url);
    let pool = Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .max_lifetime(None)
        .idle_timeout(None)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(Pragmas))
        .build(manager)
        .context("opening the SQLite database")?;
    run_migrations(&pool)?;
    Ok(pool)
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

/// Applies every pending embedded migration; returns how many ran.
pub fn run_migrations(pool: &DbPool) -> anyhow::Result<usize> {
    let mut conn = pool.get().context("getting a connection for migrations")?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
    Ok(applied.len())
}

/// Readiness probe: the database answers and carries our schema.
pub fn ping(conn: &mut SqliteConnection) -> anyhow::Result<()> {
    conn.batch_execute("SELECT version FROM __diesel_schema_migrations LIMIT 1")
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

    let pool = build_pool(&DatabaseUrl::Memory, 1).unwrap_or_else(|e| panic!("{e:#}"));
    let mut conn = pool.get().unwrap_or_else(|e| panic!("{e}"));
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
