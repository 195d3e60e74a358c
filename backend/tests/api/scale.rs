//! Several stateless instances on one PostgreSQL database and one Redis:
//! three real `securetodo serve` processes, each answering for the others.
//! PostgreSQL only (`TEST_DATABASE_URL`); on SQLite the tests return at once
//! (one file belongs to one process).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{
    shared_postgres_database, sorted_statuses, TestApp, TestDatabase, TEST_JWT_SECRET,
};

/// One `securetodo serve` process and a client of it. Killed when dropped.
struct Instance {
    child: Child,
    app: TestApp,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The Redis database the shared budgets of this test run live in.
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/14".to_owned())
}

/// `securetodo <command>` with a clean environment: only `PATH` and the
/// coverage variables (so `cargo llvm-cov` counts the child) come through.
fn securetodo(command: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_securetodo"));
    cmd.arg(command).env_clear().stdout(Stdio::null());
    for (key, value) in std::env::vars() {
        if key.starts_with("LLVM_PROFILE") || key.starts_with("CARGO_LLVM_COV") || key == "PATH" {
            cmd.env(key, value);
        }
    }
    cmd
}

async fn start(database: &TestDatabase, extra: &[(&str, &str)]) -> Instance {
    let port = free_port();
    let mut cmd = securetodo("serve");
    cmd.stderr(Stdio::null());
    cmd.env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database.url())
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("BCRYPT_COST", "4")
        .env("FRONTEND_DIR", "")
        .env("RUST_LOG", "warn");
    for (key, value) in extra {
        cmd.env(key, value);
    }
    let child = cmd.spawn().unwrap();
    let app = TestApp::client_of(format!("http://127.0.0.1:{port}"), database.clone());
    let started = Instant::now();
    loop {
        if let Ok(r) = app.client.get(app.url("/health/ready")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "instance on {port} did not start"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    Instance { child, app }
}

/// Three instances sharing one database and one Redis budget.
async fn three(extra: &[(&str, &str)]) -> Option<(TestApp, [Instance; 3])> {
    let owner = shared_postgres_database()?;
    let redis = redis_url();
    // Rate-limit keys in Redis are namespaced by the JWT secret: a secret of
    // its own per test keeps one test's spent budget out of the next one's.
    let secret = format!("{TEST_JWT_SECRET}-{}", rand::random::<u64>());
    let mut vars = vec![
        ("REDIS_URL", redis.as_str()),
        ("JWT_SECRET", secret.as_str()),
    ];
    vars.extend_from_slice(extra);
    let a = start(&owner.database, &vars).await;
    // B and C start without migrating: the database is already migrated,
    // which is exactly what MIGRATE_ON_START=false requires.
    vars.push(("MIGRATE_ON_START", "false"));
    let b = start(&owner.database, &vars).await;
    let c = start(&owner.database, &vars).await;
    Some((owner, [a, b, c]))
}

#[actix_web::test]
async fn tokens_sessions_roles_and_cursors_work_across_instances() {
    let Some((_db, [a, b, c])) = three(&[]).await else {
        return;
    };
    let (a, b, c) = (&a.app, &b.app, &c.app);
    // A token issued by A works on B and C.
    let user = a.signed_up_user().await;
    assert_eq!(b.me_status(&user.token).await, 200);
    assert_eq!(c.me_status(&user.token).await, 200);
    // A cursor issued by A walks on C.
    for n in 0..5 {
        b.create_todo(&user.token, json!({"title": format!("todo {n}")}))
            .await;
    }
    let first = a.todo_page(&user.token, &[("limit", "2")]).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let second = c
        .todo_page(&user.token, &[("limit", "2"), ("cursor", cursor.as_str())])
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    // Logout on B: the token is dead on A and C at the next request.
    assert_eq!(b.logout(&user.token).await.status(), 204);
    assert_eq!(a.me_status(&user.token).await, 401);
    assert_eq!(c.me_status(&user.token).await, 401);

    // Disable and demotion on B take effect on A and C.
    let admin = a.signed_up_user().await;
    a.make_admin(admin.id);
    let other_admin = a.signed_up_user().await;
    a.make_admin(other_admin.id);
    let target = c.signed_up_user().await;
    let disabled = b
        .admin_update_user(&admin.token, target.id, json!({"disabled": true}))
        .await;
    assert_eq!(disabled.status(), 200);
    assert_eq!(a.me_status(&target.token).await, 401);
    assert_eq!(c.me_status(&target.token).await, 401);
    let demoted = b
        .admin_update_user(&admin.token, other_admin.id, json!({"role": "user"}))
        .await;
    assert_eq!(demoted.status(), 200);
    for instance in [a, c] {
        let refused = instance.admin_list_users(&other_admin.token, "").await;
        assert_eq!(refused.status(), 403);
    }
}

#[actix_web::test]
async fn racing_refreshes_and_last_admin_demotions_through_different_instances() {
    let Some((_db, [a, b, c])) = three(&[]).await else {
        return;
    };
    let (a, b, c) = (&a.app, &b.app, &c.app);
    for _ in 0..3 {
        let user = a.signed_up_user().await;
        let racing = join_all([b, c].map(|i| i.refresh(&user.refresh_token))).await;
        let statuses = sorted_statuses(&racing);
        assert_eq!(statuses, [200, 401], "exactly one rotation, never a 500");
    }
    for _ in 0..3 {
        let first = a.signed_up_user().await;
        let second = a.signed_up_user().await;
        // Make them the only two active admins.
        a.sql("UPDATE users SET role = 'user'");
        a.make_admin(first.id);
        a.make_admin(second.id);
        let demotions = join_all([
            b.admin_update_user(&first.token, second.id, json!({"role": "user"})),
            c.admin_update_user(&second.token, first.id, json!({"role": "user"})),
        ])
        .await;
        let statuses = sorted_statuses(&demotions);
        assert!(
            statuses == [200, 409] || statuses == [200, 403],
            "one demotion wins: {statuses:?}"
        );
        assert_eq!(a.active_admins(), 1);
    }
}

#[actix_web::test]
async fn the_credential_budget_is_shared_by_every_instance() {
    let Some((_db, [a, b, c])) = three(&[("AUTH_RATE_LIMIT_PER_MINUTE", "6")]).await else {
        return;
    };
    let instances = [&a.app, &b.app, &c.app];
    let body = json!({"email": format!("nobody{}@example.com", std::process::id()), "password": "Wrong-Passphrase-1"});
    let mut statuses = Vec::new();
    for n in 0..9 {
        let instance = instances[n % 3];
        let response = instance
            .request(reqwest::Method::POST, "/api/v1/auth/login")
            .json(&body)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    // Six attempts in total, spread over three instances, then 429 on all:
    // three instances with their own budgets would have allowed 18.
    let allowed = statuses.iter().filter(|s| **s == 401).count();
    assert!(allowed <= 6, "{statuses:?}");
    assert_eq!(&statuses[6..], [429, 429, 429], "{statuses:?}");
}

#[actix_web::test]
async fn one_instance_at_a_time_runs_the_retention_pass() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(db) = shared_postgres_database() else {
        return;
    };
    let prune = || {
        let dir = tempfile::tempdir().unwrap();
        crate::cli::succeeds(
            crate::cli::securetodo(dir.path())
                .arg("prune")
                .env("DATABASE_URL", db.database.url()),
        )
    };
    // Another instance holds the retention lock ("sTodoRet"): this pass
    // steps aside instead of pruning the same rows at the same time.
    let mut other = diesel::PgConnection::establish(&db.database.url()).unwrap();
    other
        .batch_execute("SELECT pg_advisory_lock(8310389689560491380)")
        .unwrap();
    let (stdout, stderr) = prune();
    assert_eq!(stdout, "");
    assert!(stderr.contains("skipped"), "{stderr}");
    other
        .batch_execute("SELECT pg_advisory_unlock(8310389689560491380)")
        .unwrap();
    let (stdout, _) = prune();
    assert!(stdout.starts_with("sessions: 0"), "{stdout}");
}

/// SPEC section 7: migrations are safe to start from several instances at
/// once. Four `securetodo migrate` processes race on an empty database: all
/// succeed, and each migration is applied exactly once (the advisory lock
/// makes the others wait, then find nothing pending).
#[test]
fn concurrent_migrations_apply_each_migration_once() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    let Some(server) = crate::helpers::postgres_server() else {
        return;
    };
    let name = format!(
        "securetodo_mig_{}_{}",
        std::process::id(),
        rand::random::<u32>()
    );
    let mut admin = diesel::PgConnection::establish(&format!("{server}/postgres")).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let url = format!("{server}/{name}");
    let children: Vec<Child> = (0..4)
        .map(|_| {
            securetodo("migrate")
                .stderr(Stdio::piped())
                .env("DATABASE_URL", &url)
                .env("JWT_SECRET", TEST_JWT_SECRET)
                .env("RUST_LOG", "warn")
                .spawn()
                .unwrap()
        })
        .collect();
    let outcomes: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    let applied = {
        let mut db = diesel::PgConnection::establish(&url).unwrap();
        let rows: Vec<(String, i64)> = diesel::sql_query(
            "SELECT version, count(*) AS n FROM __diesel_schema_migrations GROUP BY version",
        )
        .load::<Applied>(&mut db)
        .unwrap()
        .into_iter()
        .map(|a| (a.version, a.n))
        .collect();
        let users: i64 = diesel::sql_query("SELECT count(*) AS n FROM users")
            .get_result::<Count>(&mut db)
            .unwrap()
            .n;
        assert_eq!(users, 0);
        rows
    };
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
    for out in &outcomes {
        assert!(
            out.status.success(),
            "a concurrent migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expected = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("up.sql").is_file())
        .count();
    assert_eq!(applied.len(), expected, "{applied:?}");
    assert!(applied.iter().all(|(_, n)| *n == 1), "{applied:?}");
}

#[derive(diesel::QueryableByName)]
struct Applied {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
