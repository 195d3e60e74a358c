//! `spawn_app` and `TestApp`: the application as a client sees it.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use securetodo::config::Settings;
use securetodo::db::Conn;
use securetodo::startup::Application;
use serde_json::{json, Value};

pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

/// Every log line of the test process, so tests can assert what is (not) logged.
static LOGS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let mut line = format!("{} {} {}", record.level(), record.target(), record.args());
        // Key-values as ` key=value`, and the id of the request being
        // handled when the line was written (as the real formatter sees it).
        let _ = record.key_values().visit(&mut KeyValues(&mut line));
        if let Some(id) = securetodo::request_context::current_id() {
            line.push_str(&format!(" context_request_id={id}"));
        }
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("{line}");
        }
        if let Some(logs) = LOGS.get() {
            logs.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

struct KeyValues<'a>(&'a mut String);

impl<'kvs> log::kv::VisitSource<'kvs> for KeyValues<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        self.0.push_str(&format!(" {key}={value}"));
        Ok(())
    }
}

fn init_logging() {
    LOGS.get_or_init(|| {
        let _ = log::set_boxed_logger(Box::new(CaptureLogger));
        log::set_max_level(log::LevelFilter::Debug);
        Mutex::new(Vec::new())
    });
}

/// All captured log lines so far (from every test in this binary).
pub fn captured_logs() -> String {
    LOGS.get()
        .map(|l| l.lock().unwrap().join("\n"))
        .unwrap_or_default()
}

// ---------- spawning ----------

static NEXT_USER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub struct TestUser {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub token: String,
    pub refresh_token: String,
}

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, with `METRICS_ADDR`.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    /// The SQLite file the app uses (a path that does not exist when the
    /// app runs on PostgreSQL).
    pub db_path: PathBuf,
    /// The database the app uses.
    pub database: TestDatabase,
    _dir: tempfile::TempDir,
    /// The in-process server; `None` for a `securetodo serve` process.
    handle: Option<actix_web::dev::ServerHandle>,
    /// Whether dropping this app drops its PostgreSQL database.
    owns_database: bool,
}

/// The backend a test app runs on. `TEST_DATABASE_URL=postgres://...` (a
/// server where the user may create databases) runs every test that does
/// not pick its own `DATABASE_URL` on PostgreSQL, each in a fresh database
/// copied from a migrated template; otherwise SQLite files.
#[derive(Debug, Clone)]
pub enum TestDatabase {
    Sqlite(PathBuf),
    Postgres { server: String, name: String },
}

impl TestDatabase {
    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(path) => format!("sqlite://{}", path.display()),
            TestDatabase::Postgres { server, name } => format!("{server}/{name}"),
        }
    }
}

/// The PostgreSQL server of the test run (`TEST_DATABASE_URL` without its
/// database name), if the suite runs on PostgreSQL.
pub fn postgres_server() -> Option<String> {
    let url = std::env::var("TEST_DATABASE_URL").ok()?;
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.starts_with("postgres") {
        return None;
    }
    let authority = rest.split('/').next().unwrap_or(rest);
    Some(format!("{scheme}://{authority}"))
}

/// A fresh PostgreSQL database for one test: a copy of a template migrated
/// once per run (named after the migrations, so a changed migration gets a
/// new template).
fn fresh_postgres_database(server: &str) -> TestDatabase {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let template = TEMPLATE.get_or_init(|| {
        let name = format!("securetodo_tmpl_{:016x}", migrations_digest());
        let mut admin = diesel::PgConnection::establish(&format!("{server}/postgres")).unwrap();
        let exists = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
        )))
        .get_result::<bool>(&mut admin)
        .unwrap();
        if !exists {
            let building = format!("{name}_b{}", std::process::id());
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .unwrap();
            let url = securetodo::config::DatabaseUrl::Postgres(
                securetodo::config::PostgresUrl::new(format!("{server}/{building}")),
            );
            drop(securetodo::db::build_pool(&url, 1).unwrap());
            retry(|| admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")));
        }
        name
    });
    let name = format!(
        "securetodo_t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let mut admin = diesel::PgConnection::establish(&format!("{server}/postgres")).unwrap();
    retry(|| admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")));
    TestDatabase::Postgres {
        server: server.to_owned(),
        name,
    }
}

/// Retries a PostgreSQL administration statement that fails while another
/// session still holds the template (its pool closing, a parallel copy).
fn retry(mut statement: impl FnMut() -> diesel::QueryResult<()>) {
    let mut attempt = 0;
    loop {
        match statement() {
            Ok(()) => return,
            Err(e) if attempt < 50 => {
                attempt += 1;
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn migrations_digest() -> u64 {
    use std::hash::{Hash, Hasher};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flat_map(|d| {
            let d = d.unwrap().path();
            if d.is_dir() {
                std::fs::read_dir(d)
                    .unwrap()
                    .map(|f| f.unwrap().path())
                    .collect()
            } else {
                vec![d]
            }
        })
        .collect();
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.file_name().hash(&mut hasher);
        std::fs::read(&f).unwrap().hash(&mut hasher);
    }
    hasher.finish()
}

impl Drop for TestApp {
    /// Stops the server (the command is sent at once) and drops a
    /// PostgreSQL test database, ending its connections.
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            // The stop command is sent when `stop` is called; nothing to await.
            drop(handle.stop(false));
        }
        if !self.owns_database {
            return;
        }
        if let TestDatabase::Postgres { server, name } = &self.database {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            if let Ok(mut admin) = diesel::PgConnection::establish(&format!("{server}/postgres")) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// A fresh app and one signed-up user.
pub async fn spawn_app_with_user() -> (TestApp, TestUser) {
    let app = spawn_app().await;
    let user = app.signed_up_user().await;
    (app, user)
}

/// Starts the app with the test defaults overridden by `overrides`
/// (environment variable names and values, as in production).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    init_logging();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("db").join("test.db");
    let frontend_dir = dir.path().join("frontend");
    std::fs::create_dir_all(frontend_dir.join("js")).unwrap();
    std::fs::write(
        frontend_dir.join("index.html"),
        "<!doctype html><title>SecureTodo test</title>",
    )
    .unwrap();
    std::fs::write(frontend_dir.join("js/app.js"), "export const ok = true;\n").unwrap();
    std::fs::write(frontend_dir.join("style.css"), "body { color: black; }\n").unwrap();
    std::fs::write(
        frontend_dir.join("logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    // Test tooling and notes that live beside a real SPA; never served.
    std::fs::create_dir_all(frontend_dir.join("node_modules/pkg")).unwrap();
    std::fs::write(frontend_dir.join("node_modules/pkg/index.js"), "tooling").unwrap();
    std::fs::write(frontend_dir.join("package.json"), "{}").unwrap();
    std::fs::write(frontend_dir.join("README.md"), "# notes").unwrap();

    let picks_database = overrides.iter().any(|(k, _)| *k == "DATABASE_URL");
    let database = match postgres_server() {
        Some(server) if !picks_database => fresh_postgres_database(&server),
        _ => TestDatabase::Sqlite(db_path.clone()),
    };
    let mut vars: HashMap<String, String> = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("DATABASE_URL", database.url()),
        ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
        ("API_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
        ("FRONTEND_DIR", frontend_dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    // `db_path` is the file the app really uses, for tests that inspect it.
    let db_path = vars["DATABASE_URL"]
        .strip_prefix("sqlite://")
        .map(PathBuf::from)
        .unwrap_or(db_path);
    let database = match database {
        TestDatabase::Sqlite(_) => TestDatabase::Sqlite(db_path.clone()),
        pg => pg,
    };
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("valid test settings");
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        metrics_address,
        client,
        db_path,
        database,
        _dir: dir,
        handle: Some(handle),
        owns_database: true,
    }
}

/// A fresh database for several apps to share: on PostgreSQL a copy of the
/// migrated template (dropped with the returned guard), else `None`.
pub fn shared_postgres_database() -> Option<TestApp> {
    let server = postgres_server()?;
    let database = fresh_postgres_database(&server);
    Some(TestApp {
        address: String::new(),
        metrics_address: None,
        client: reqwest::Client::new(),
        db_path: PathBuf::new(),
        database,
        _dir: tempfile::tempdir().unwrap(),
        handle: None,
        owns_database: true,
    })
}

impl TestApp {
    /// A client of a server running elsewhere (a `securetodo serve`
    /// process) on `database`, which it does not own.
    pub fn client_of(address: String, database: TestDatabase) -> TestApp {
        TestApp {
            address,
            metrics_address: None,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            db_path: PathBuf::new(),
            database,
            _dir: tempfile::tempdir().unwrap(),
            handle: None,
            owns_database: false,
        }
    }
}

// ---------- HTTP: low level ----------

pub const REGISTER: &str = "/api/v1/auth/register";
pub const LOGIN: &str = "/api/v1/auth/login";
pub const REFRESH: &str = "/api/v1/auth/refresh";
pub const LOGOUT: &str = "/api/v1/auth/logout";
pub const LOGOUT_ALL: &str = "/api/v1/auth/logout-all";
pub const ME: &str = "/api/v1/users/me";
pub const MY_PASSWORD: &str = "/api/v1/users/me/password";
pub const MY_SESSIONS: &str = "/api/v1/users/me/sessions";
pub const MY_TOKENS: &str = "/api/v1/users/me/tokens";
pub const MY_EXPORT: &str = "/api/v1/users/me/export";
pub const TODOS: &str = "/api/v1/todos";
pub const TRASH: &str = "/api/v1/todos/trash";
pub const CHANGES: &str = "/api/v1/todos/changes";
pub const ADMIN_USERS: &str = "/api/v1/admin/users";
pub const AUDIT_EVENTS: &str = "/api/v1/admin/audit-events";
pub const MFA_LOGIN: &str = "/api/v1/auth/mfa";
pub const MY_MFA: &str = "/api/v1/users/me/mfa";
pub const MY_TOTP: &str = "/api/v1/users/me/mfa/totp";
pub const MY_TOTP_CONFIRM: &str = "/api/v1/users/me/mfa/totp/confirm";
pub const MY_RECOVERY_CODES: &str = "/api/v1/users/me/mfa/recovery-codes";

/// The `Cookie` header value that carries a refresh token.
pub fn refresh_cookie(refresh_token: &str) -> String {
    format!("securetodo_refresh={refresh_token}")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request to build by hand, for tests that send unusual or malformed
    /// input (headers, bodies, content types).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends `method path`, with a bearer token and a JSON body when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.request(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// Sends `body` as it is, labelled `content_type`: for malformed input.
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &'static str,
    ) -> Response {
        let mut request = self.request(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Sends `method path` with `headers`, in that order, and no body.
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.send(Method::POST, path, None, Some(body)).await
    }

    /// `GET path` as the holder of `token`, with `params` added to its
    /// query.
    pub async fn get_query<V: serde::Serialize + ?Sized>(
        &self,
        token: &str,
        path: &str,
        params: &V,
    ) -> Response {
        self.request(Method::GET, path)
            .bearer_auth(token)
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// `GET path` with `params` added to its query; checks the 200 and
    /// returns the body.
    pub async fn get_json(&self, token: &str, path: &str, params: &[(&str, &str)]) -> Value {
        let response = self.get_query(token, path, params).await;
        assert_eq!(response.status(), 200, "GET {path} {params:?}");
        response.json().await.unwrap()
    }

    /// Follows `next_cursor` from the list at `path` (which may carry a
    /// query) with `params` to the end: every item, and how many pages.
    pub async fn walk(
        &self,
        token: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut query = params.to_vec();
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page = self.get_json(token, path, &query).await;
            pages += 1;
            assert!(pages < 1000, "pagination did not end");
            let page_items = page["items"].as_array().unwrap().clone();
            match page["next_cursor"].as_str() {
                Some(next) => {
                    assert!(!page_items.is_empty(), "a next page after an empty one");
                    cursor = Some(next.to_owned());
                    items.extend(page_items);
                }
                None => {
                    items.extend(page_items);
                    return (items, pages);
                }
            }
        }
    }

    // ---------- HTTP: health ----------

    pub async fn health_live(&self) -> Response {
        self.get("/health/live").await
    }

    pub async fn health_ready(&self) -> Response {
        self.get("/health/ready").await
    }

    /// `GET /health/live` with `headers` (an `Origin`, a proxy's headers).
    pub async fn health_live_with(&self, headers: &[(&str, &str)]) -> Response {
        self.send_with_headers(Method::GET, "/health/live", headers)
            .await
    }

    /// A CORS preflight from `origin` for `POST /api/v1/todos`, with
    /// `headers` added.
    pub async fn preflight(&self, origin: &str, headers: &[(&str, &str)]) -> Response {
        let mut all = vec![
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
        ];
        all.extend_from_slice(headers);
        self.send_with_headers(Method::OPTIONS, "/api/v1/todos", &all)
            .await
    }

    // ---------- HTTP: registration, login, tokens ----------

    pub async fn post_register(&self, body: &Value) -> Response {
        self.post_json(REGISTER, body).await
    }

    /// Registers an account and checks it was created.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        let response = self
            .post_register(&json!({"email": email, "password": password}))
            .await;
        assert_eq!(response.status(), 201, "register {email}");
        response.json().await.unwrap()
    }

    pub async fn post_login(&self, email: &str, password: &str) -> Response {
        self.post_json(LOGIN, &json!({"email": email, "password": password}))
            .await
    }

    /// A login that must be refused as every refusal is: 401
    /// `invalid_credentials`; the problem body.
    pub async fn refused_login(&self, email: &str, password: &str) -> Value {
        problem(
            self.post_login(email, password).await,
            401,
            "invalid_credentials",
        )
        .await
    }

    /// `POST /auth/login` through a proxy that names the client
    /// `forwarded_for` (`X-Forwarded-For`).
    pub async fn login_forwarded_for(
        &self,
        forwarded_for: &str,
        email: &str,
        password: &str,
    ) -> Response {
        self.request(Method::POST, LOGIN)
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// `POST /auth/login` from a device that holds the device cookie `device`.
    pub async fn login_from_device(&self, email: &str, password: &str, device: &str) -> Response {
        self.request(Method::POST, LOGIN)
            .header("Cookie", format!("securetodo_device={device}"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in and returns the token pair.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let response = self.post_login(email, password).await;
        assert_eq!(response.status(), 200, "login {email}");
        response.json().await.unwrap()
    }

    /// Registers a fresh user and logs in: (email, password, access token, pair).
    pub async fn signed_up_user(&self) -> TestUser {
        let n = NEXT_USER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let email = format!("user{n}@example.com");
        let password = format!("Unique-Test-Passphrase-{n}-x9");
        self.register(&email, &password).await;
        let pair = self.login(&email, &password).await;
        TestUser {
            id: pair["user"]["id"].as_i64().unwrap(),
            token: pair["access_token"].as_str().unwrap().to_owned(),
            refresh_token: pair["refresh_token"].as_str().unwrap().to_owned(),
            email,
            password,
        }
    }

    /// `POST /auth/refresh` with the refresh token in the body.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(REFRESH, &json!({"refresh_token": refresh_token}))
            .await
    }

    /// `POST /auth/refresh` with the refresh token in its cookie, no body.
    pub async fn refresh_by_cookie(&self, refresh_token: &str) -> Response {
        self.post_with_refresh_cookie(REFRESH, refresh_token).await
    }

    /// `POST /auth/logout` with the access token.
    pub async fn logout(&self, token: &str) -> Response {
        self.send(Method::POST, LOGOUT, Some(token), None).await
    }

    /// `POST /auth/logout` with the refresh token in its cookie.
    pub async fn logout_by_cookie(&self, refresh_token: &str) -> Response {
        self.post_with_refresh_cookie(LOGOUT, refresh_token).await
    }

    /// `POST /auth/refresh` with the refresh token in its cookie and `body`
    /// as it is, labelled `content_type`.
    pub async fn refresh_by_cookie_with_body(
        &self,
        refresh_token: &str,
        content_type: &str,
        body: &'static str,
    ) -> Response {
        self.request(Method::POST, REFRESH)
            .header("Cookie", refresh_cookie(refresh_token))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /auth/refresh` with neither a body nor a cookie.
    pub async fn refresh_without_credentials(&self) -> Response {
        self.send(Method::POST, REFRESH, None, None).await
    }

    /// `POST /auth/logout` with no token of any kind.
    pub async fn logout_without_credentials(&self) -> Response {
        self.send(Method::POST, LOGOUT, None, None).await
    }

    async fn post_with_refresh_cookie(&self, path: &str, refresh_token: &str) -> Response {
        self.request(Method::POST, path)
            .header("Cookie", refresh_cookie(refresh_token))
            .send()
            .await
            .unwrap()
    }

    pub async fn logout_all(&self, token: &str) -> Response {
        self.send(Method::POST, LOGOUT_ALL, Some(token), None).await
    }

    // ---------- HTTP: the caller's account and sessions ----------

    pub async fn get_me(&self, token: &str) -> Response {
        self.get_auth(ME, token).await
    }

    /// The caller's account; checks the 200.
    pub async fn me(&self, token: &str) -> Value {
        self.get_json(token, ME, &[]).await
    }

    /// The status of `GET /users/me` with `token`: is the token alive?
    pub async fn me_status(&self, token: &str) -> u16 {
        self.get_me(token).await.status().as_u16()
    }

    /// Checks the status of `GET /users/me` with `token`: 200 while the
    /// token's session lives, 401 once it is over.
    pub async fn assert_me_status(&self, token: &str, status: u16) {
        assert_eq!(self.me_status(token).await, status, "GET /users/me");
    }

    /// `PUT /users/me/password` with `body` (`current_password`, `new_password`).
    pub async fn change_password(&self, token: &str, body: &Value) -> Response {
        self.send(Method::PUT, MY_PASSWORD, Some(token), Some(body))
            .await
    }

    pub async fn delete_me(&self, token: &str, password: &str) -> Response {
        self.send(
            Method::DELETE,
            ME,
            Some(token),
            Some(&json!({"password": password})),
        )
        .await
    }

    pub async fn list_sessions(&self, token: &str) -> Response {
        self.get_auth(MY_SESSIONS, token).await
    }

    /// `DELETE /users/me/sessions/{id}`; `id` may be malformed on purpose.
    pub async fn delete_session(&self, token: &str, id: impl Display) -> Response {
        let path = format!("{MY_SESSIONS}/{id}");
        self.send(Method::DELETE, &path, Some(token), None).await
    }

    // ---------- HTTP: API tokens and export ----------

    /// `POST /users/me/tokens` with `body` as it is.
    pub async fn post_api_token(&self, token: &str, body: &Value) -> Response {
        self.send(Method::POST, MY_TOKENS, Some(token), Some(body))
            .await
    }

    /// Creates an API token for `user` with `scopes`, valid 30 days, and
    /// checks it was created: the created token (its secret in `token`).
    pub async fn create_api_token(&self, user: &TestUser, scopes: &[&str]) -> Value {
        let response = self
            .post_api_token(
                &user.token,
                &json!({
                    "name": format!("token for {}", scopes.join(" ")),
                    "scopes": scopes,
                    "expires_in_days": 30,
                    "password": user.password,
                }),
            )
            .await;
        assert_eq!(response.status(), 201, "create an API token");
        response.json().await.unwrap()
    }

    /// The secret of a new API token of `user` with `scopes`.
    pub async fn api_token(&self, user: &TestUser, scopes: &[&str]) -> String {
        self.create_api_token(user, scopes).await["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn list_api_tokens(&self, token: &str) -> Response {
        self.get_auth(MY_TOKENS, token).await
    }

    /// `DELETE /users/me/tokens/{id}`; `id` may be malformed on purpose.
    pub async fn delete_api_token(&self, token: &str, id: impl Display) -> Response {
        let path = format!("{MY_TOKENS}/{id}");
        self.send(Method::DELETE, &path, Some(token), None).await
    }

    /// `GET /users/me/export`, with `?format=` when given.
    pub async fn export(&self, token: &str, format: Option<&str>) -> Response {
        let mut request = self.request(Method::GET, MY_EXPORT).bearer_auth(token);
        if let Some(format) = format {
            request = request.query(&[("format", format)]);
        }
        request.send().await.unwrap()
    }

    // ---------- HTTP: todos ----------

    pub async fn list_todos(&self, token: &str, params: &[(&str, &str)]) -> Response {
        self.get_query(token, TODOS, params).await
    }

    /// One page of the caller's todos; checks the 200.
    pub async fn todo_page(&self, token: &str, params: &[(&str, &str)]) -> Value {
        self.get_json(token, TODOS, params).await
    }

    pub async fn post_todo(&self, token: &str, body: &Value) -> Response {
        self.send(Method::POST, TODOS, Some(token), Some(body))
            .await
    }

    /// Creates a todo and checks it was created.
    pub async fn create_todo(&self, token: &str, body: Value) -> Value {
        let response = self.post_todo(token, &body).await;
        assert_eq!(response.status(), 201, "create {body}");
        response.json().await.unwrap()
    }

    /// Creates `count` todos titled `t0`, `t1`, ...: their ids, in order.
    pub async fn create_numbered_todos(&self, token: &str, count: usize) -> Vec<i64> {
        let mut created = Vec::new();
        for i in 0..count {
            let todo = self
                .create_todo(token, json!({"title": format!("t{i}")}))
                .await;
            created.push(id_of(&todo));
        }
        created
    }

    pub async fn get_todo(&self, token: &str, id: i64) -> Response {
        self.get_auth(&format!("{TODOS}/{id}"), token).await
    }

    /// `PATCH /todos/{id}`, with `If-Match: if_match` when given.
    pub async fn update_todo(
        &self,
        token: &str,
        id: i64,
        body: &Value,
        if_match: Option<&str>,
    ) -> Response {
        let mut request = self
            .request(Method::PATCH, &format!("{TODOS}/{id}"))
            .bearer_auth(token)
            .json(body);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send().await.unwrap()
    }

    /// `DELETE /todos/{id}`, with `If-Match: if_match` when given.
    pub async fn delete_todo(&self, token: &str, id: i64, if_match: Option<&str>) -> Response {
        let mut request = self
            .request(Method::DELETE, &format!("{TODOS}/{id}"))
            .bearer_auth(token);
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send().await.unwrap()
    }

    /// `DELETE /todos{query}`; `query` is sent verbatim (e.g. `?completed=true`).
    pub async fn clear_completed(&self, token: &str, query: &str) -> Response {
        self.send(
            Method::DELETE,
            &format!("{TODOS}{query}"),
            Some(token),
            None,
        )
        .await
    }

    /// `POST /todos` with `body` sent byte for byte and an `Idempotency-Key`.
    pub async fn post_todo_with_key(&self, token: &str, body: &str, key: &str) -> Response {
        self.request(Method::POST, TODOS)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// `GET /todos/{id}` with `If-None-Match: tag`.
    pub async fn get_todo_if_none_match(&self, token: &str, id: i64, tag: &str) -> Response {
        self.request(Method::GET, &format!("{TODOS}/{id}"))
            .bearer_auth(token)
            .header("if-none-match", tag)
            .send()
            .await
            .unwrap()
    }

    // ---------- HTTP: the trash ----------

    pub async fn list_trash(&self, token: &str, params: &[(&str, &str)]) -> Response {
        self.get_query(token, TRASH, params).await
    }

    /// One page of the caller's trash; checks the 200.
    pub async fn trash_page(&self, token: &str, params: &[(&str, &str)]) -> Value {
        self.get_json(token, TRASH, params).await
    }

    /// `POST /todos/{id}/restore`, with an `Idempotency-Key` when given.
    pub async fn restore_todo(&self, token: &str, id: i64, key: Option<&str>) -> Response {
        let mut request = self
            .request(Method::POST, &format!("{TODOS}/{id}/restore"))
            .bearer_auth(token);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }

    pub async fn empty_trash(&self, token: &str) -> Response {
        self.send(Method::DELETE, TRASH, Some(token), None).await
    }

    // ---------- HTTP: delta sync ----------

    /// `GET /todos/changes` with `since` and `limit` when given.
    pub async fn changes(&self, token: &str, since: Option<&str>, limit: Option<i64>) -> Response {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(since) = since {
            params.push(("since", since.to_owned()));
        }
        if let Some(limit) = limit {
            params.push(("limit", limit.to_string()));
        }
        self.get_query(token, CHANGES, &params).await
    }

    /// One delta-sync response; checks the 200.
    pub async fn changes_page(
        &self,
        token: &str,
        since: Option<&str>,
        limit: Option<i64>,
    ) -> Value {
        let response = self.changes(token, since, limit).await;
        assert_eq!(response.status(), 200, "changes since {since:?}");
        response.json().await.unwrap()
    }

    /// One retention pass over the app's database, as `securetodo prune`
    /// runs it, with `overrides` of the settings.
    pub fn prune(&self, overrides: &[(&str, &str)]) -> String {
        let url = self.database.url();
        let settings = Settings::from_lookup(|k| {
            overrides
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| (k == "DATABASE_URL").then(|| url.clone()))
        })
        .unwrap();
        securetodo::app::retention::prune_database(&settings)
            .unwrap()
            .expect("no other instance holds the retention lock")
            .to_string()
    }

    // ---------- HTTP: multi-factor authentication ----------

    /// `POST /auth/mfa` with `body` as it is.
    pub async fn post_mfa(&self, body: &Value) -> Response {
        self.post_json(MFA_LOGIN, body).await
    }

    /// `POST /auth/mfa` with a TOTP code.
    pub async fn mfa_with_code(&self, mfa_token: &str, code: &str) -> Response {
        self.post_mfa(&json!({"mfa_token": mfa_token, "code": code}))
            .await
    }

    /// `POST /auth/mfa` with a recovery code.
    pub async fn mfa_with_recovery_code(&self, mfa_token: &str, code: &str) -> Response {
        self.post_mfa(&json!({"mfa_token": mfa_token, "recovery_code": code}))
            .await
    }

    /// A login's first step for an account with MFA on: its `mfa_token`.
    pub async fn mfa_token(&self, email: &str, password: &str) -> String {
        let body = self.login(email, password).await;
        assert_eq!(body["mfa_required"], true, "{body}");
        body["mfa_token"].as_str().unwrap().to_owned()
    }

    /// `POST /users/me/mfa/totp`.
    pub async fn start_totp(&self, token: &str, password: &str) -> Response {
        let body = json!({"password": password});
        self.send(Method::POST, MY_TOTP, Some(token), Some(&body))
            .await
    }

    /// `POST /users/me/mfa/totp/confirm`.
    pub async fn confirm_totp(&self, token: &str, code: &str) -> Response {
        let body = json!({"code": code});
        self.send(Method::POST, MY_TOTP_CONFIRM, Some(token), Some(&body))
            .await
    }

    /// `POST /users/me/mfa/recovery-codes`.
    pub async fn regenerate_recovery_codes(
        &self,
        token: &str,
        password: &str,
        code: &str,
    ) -> Response {
        let body = json!({"password": password, "code": code});
        self.send(Method::POST, MY_RECOVERY_CODES, Some(token), Some(&body))
            .await
    }

    /// `DELETE /users/me/mfa`.
    pub async fn disable_mfa(&self, token: &str, password: &str, code: &str) -> Response {
        let body = json!({"password": password, "code": code});
        self.send(Method::DELETE, MY_MFA, Some(token), Some(&body))
            .await
    }

    /// Turns MFA on for `user` (enrol, confirm with a real code).
    pub async fn enable_mfa(&self, user: &TestUser) -> Mfa {
        let response = self.start_totp(&user.token, &user.password).await;
        assert_eq!(response.status(), 200, "start enrolment");
        let enrolment: Value = response.json().await.unwrap();
        let secret = totp_secret(enrolment["secret"].as_str().unwrap());
        let recovery_codes =
            recovery_codes(self.confirm_totp(&user.token, &totp_code(&secret, 0)).await).await;
        Mfa {
            secret,
            recovery_codes,
        }
    }

    /// Forgets which TOTP steps user `id` has used, so that a test can sign
    /// in with TOTP more than once within one 30-second step.
    pub fn forget_used_totp_steps(&self, id: i64) {
        self.sql(&format!(
            "UPDATE users SET mfa_last_step = NULL WHERE id = {id}"
        ));
    }

    // ---------- HTTP: administration ----------

    /// `GET /admin/users{query}`; `query` is sent verbatim (e.g. `?limit=2`).
    pub async fn admin_list_users(&self, token: &str, query: &str) -> Response {
        self.get_auth(&format!("{ADMIN_USERS}{query}"), token).await
    }

    /// `PATCH /admin/users/{id}`; `id` may be malformed on purpose.
    /// The status of the admin user list, for who may read it.
    pub async fn admin_list_status(&self, token: &str) -> u16 {
        self.admin_list_users(token, "").await.status().as_u16()
    }

    /// The admin list's row of the user with `email`.
    pub async fn admin_find_user(&self, token: &str, email: &str) -> Value {
        let page = self.get_json(token, ADMIN_USERS, &[("q", email)]).await;
        page["items"][0].clone()
    }

    pub async fn admin_update_user(&self, token: &str, id: impl Display, body: Value) -> Response {
        let path = format!("{ADMIN_USERS}/{id}");
        self.send(Method::PATCH, &path, Some(token), Some(&body))
            .await
    }

    /// An admin's change to a user that must succeed: the user after it.
    pub async fn admin_update_user_ok(&self, token: &str, id: impl Display, body: Value) -> Value {
        let response = self.admin_update_user(token, id, body).await;
        assert_eq!(response.status(), 200, "admin update");
        response.json().await.unwrap()
    }

    pub async fn admin_delete_user(&self, token: &str, id: impl Display) -> Response {
        let path = format!("{ADMIN_USERS}/{id}");
        self.send(Method::DELETE, &path, Some(token), None).await
    }

    pub async fn admin_reset_mfa(&self, token: &str, id: impl Display) -> Response {
        let path = format!("{ADMIN_USERS}/{id}/mfa");
        self.send(Method::DELETE, &path, Some(token), None).await
    }

    pub async fn admin_revoke_sessions(&self, token: &str, id: impl Display) -> Response {
        let path = format!("{ADMIN_USERS}/{id}/sessions");
        self.send(Method::DELETE, &path, Some(token), None).await
    }

    /// `GET /admin/audit-events{query}`; `query` is sent verbatim.
    pub async fn admin_list_audit_events(&self, token: &str, query: &str) -> Response {
        self.get_auth(&format!("{AUDIT_EVENTS}{query}"), token)
            .await
    }

    /// The newest audit event of `event_type`, read through the API.
    pub async fn latest_event(&self, token: &str, event_type: &str) -> Value {
        let page = self
            .get_json(token, AUDIT_EVENTS, &[("type", event_type), ("limit", "1")])
            .await;
        page["items"][0].clone()
    }

    // ---------- database (test arrangement and assertions only) ----------

    /// The one place that opens the app's database (either backend).
    pub fn with_db<T>(&self, f: impl FnOnce(&mut Conn<'_>) -> T) -> T {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        match &self.database {
            TestDatabase::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 5000;").unwrap();
                f(&mut Conn::Sqlite(&mut conn))
            }
            pg => {
                let mut conn = diesel::PgConnection::establish(&pg.url()).unwrap();
                f(&mut Conn::Pg(&mut conn))
            }
        }
    }

    /// Runs SQL against the app's database (portable SQL: both backends).
    pub fn sql(&self, statements: &str) {
        use diesel::connection::SimpleConnection;
        self.with_db(|conn| match conn {
            Conn::Sqlite(c) => c.batch_execute(statements),
            Conn::Pg(c) => c.batch_execute(statements),
        })
        .unwrap_or_else(|e| panic!("{e}: {statements}"))
    }

    /// One number from the app's database.
    pub fn scalar(&self, sql: &str) -> i64 {
        use diesel::prelude::*;
        let query = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&format!(
            "CAST(({sql}) AS BIGINT)"
        )));
        self.with_db(|conn| match conn {
            Conn::Sqlite(c) => query.get_result(&mut **c),
            Conn::Pg(c) => query.get_result(&mut **c),
        })
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
    }

    /// Every stored value of the app's database as text: the SQLite file's
    /// bytes, or each PostgreSQL row as JSON (tests that check what is
    /// never stored in clear).
    /// How many rows of `table` belong to the user `user_id`.
    pub fn rows_of(&self, table: &str, user_id: i64) -> i64 {
        self.scalar(&format!(
            "SELECT COUNT(*) FROM {table} WHERE user_id = {user_id}"
        ))
    }

    pub fn stored_text(&self) -> Vec<u8> {
        match &self.database {
            TestDatabase::Sqlite(path) => std::fs::read(path).unwrap(),
            TestDatabase::Postgres { .. } => {
                use diesel::prelude::*;
                #[derive(QueryableByName)]
                struct Row {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    row: String,
                }
                self.with_db(|conn| {
                    let Conn::Pg(c) = conn else { unreachable!() };
                    let tables: Vec<String> = diesel::dsl::sql::<diesel::sql_types::Text>(
                        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                    )
                    .load(&mut **c)
                    .unwrap();
                    let mut all = Vec::new();
                    for table in tables {
                        let rows: Vec<Row> = diesel::sql_query(format!(
                            "SELECT row_to_json(t)::text AS row FROM {table} t"
                        ))
                        .load(&mut **c)
                        .unwrap();
                        for r in rows {
                            all.extend_from_slice(r.row.as_bytes());
                        }
                    }
                    all
                })
            }
        }
    }

    /// Makes user `id` an admin, as the CLI would.
    pub fn make_admin(&self, id: i64) {
        self.sql(&format!("UPDATE users SET role = 'admin' WHERE id = {id}"));
    }

    /// How many admins are active (not disabled).
    pub fn active_admins(&self) -> i64 {
        self.scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND NOT disabled")
    }

    /// When user `id`'s lockout ends, if it is locked.
    pub fn locked_until(&self, id: i64) -> Option<chrono::NaiveDateTime> {
        use diesel::prelude::*;
        use securetodo::db::schema::users::dsl;
        let query = dsl::users.find(id).select(dsl::locked_until);
        self.with_db(|conn| match conn {
            Conn::Sqlite(c) => query.first(&mut **c),
            Conn::Pg(c) => query.first(&mut **c),
        })
        .unwrap()
    }

    /// Ends user `id`'s lockout, as if its time had passed.
    pub fn unlock(&self, id: i64) {
        self.sql(&format!(
            "UPDATE users SET locked_until = '2000-01-01 00:00:00' WHERE id = {id};"
        ));
    }

    /// The audit event types recorded so far, oldest first.
    pub fn audit_types(&self) -> Vec<String> {
        use diesel::prelude::*;
        use securetodo::db::schema::audit_events::dsl;
        let query = dsl::audit_events
            .order(dsl::id.asc())
            .select(dsl::event_type);
        self.with_db(|conn| match conn {
            Conn::Sqlite(c) => query.load(&mut **c),
            Conn::Pg(c) => query.load(&mut **c),
        })
        .unwrap()
    }

    /// Takes the database's write lock, as a request in the middle of a
    /// write transaction holds it, so a test can place a change between two
    /// steps of a request deterministically. SQLite: `BEGIN IMMEDIATE`.
    /// PostgreSQL has no database-wide write lock; `LOCK TABLE ... IN
    /// EXCLUSIVE MODE` on every table is the same for our requests: reads
    /// go on, every write and `FOR UPDATE` waits.
    pub fn hold_write_lock(&self) -> WriteLock {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        match &self.database {
            TestDatabase::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN IMMEDIATE;")
                    .unwrap();
                WriteLock::Sqlite(conn)
            }
            pg => {
                let mut conn = diesel::PgConnection::establish(&pg.url()).unwrap();
                let tables: Vec<String> = {
                    use diesel::prelude::*;
                    diesel::dsl::sql::<diesel::sql_types::Text>(
                        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
                         AND tablename <> '__diesel_schema_migrations'",
                    )
                    .load(&mut conn)
                    .unwrap()
                };
                conn.batch_execute(&format!(
                    "BEGIN; LOCK TABLE {} IN EXCLUSIVE MODE;",
                    tables.join(", ")
                ))
                .unwrap();
                WriteLock::Pg(conn)
            }
        }
    }

    /// Holds the write lock from another thread for `hold`, so that requests
    /// fired meanwhile all reach their write transaction and queue on it
    /// (busy_timeout) before any of them commits.
    pub fn hold_write_lock_for(&self, hold: Duration) -> std::thread::JoinHandle<()> {
        let lock = self.hold_write_lock();
        std::thread::spawn(move || {
            std::thread::sleep(hold);
            lock.commit_with("");
        })
    }

    /// The Prometheus text from the metrics listener.
    pub async fn scrape_metrics(&self) -> String {
        let address = self.metrics_address.as_ref().expect("METRICS_ADDR is set");
        let response = self
            .client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub async fn stop(&self) {
        if let Some(handle) = &self.handle {
            handle.stop(true).await;
        }
    }
}

impl TestApp {
    /// Checks that `method path` answers a truncated JSON body with 400 and
    /// a body of another content type with 415.
    pub async fn assert_json_bodies_only(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        truncated_json: &'static str,
        (content_type, body): (&str, &'static str),
    ) {
        let malformed = self
            .send_body(
                method.clone(),
                path,
                token,
                "application/json",
                truncated_json,
            )
            .await;
        problem(malformed, 400, "validation_failed").await;
        let other_type = self
            .send_body(method, path, token, content_type, body)
            .await;
        problem(other_type, 415, "unsupported_media_type").await;
    }
}

/// An open write transaction on the app's database; see
/// [`TestApp::hold_write_lock`].
pub enum WriteLock {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

impl WriteLock {
    /// Runs `statements` inside the held transaction and commits it.
    pub fn commit_with(self, statements: &str) {
        use diesel::connection::SimpleConnection;
        let sql = format!("{statements} COMMIT;");
        match self {
            WriteLock::Sqlite(mut c) => c.batch_execute(&sql),
            WriteLock::Pg(mut c) => c.batch_execute(&sql),
        }
        .unwrap_or_else(|e| panic!("{e}: {sql}"))
    }
}

// ---------- TOTP (RFC 6238, computed here with totp-rs) ----------

/// A user's second factor, as their authenticator app and drawer hold it.
pub struct Mfa {
    pub secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
}

/// The raw secret of a base32 secret from an enrolment.
pub fn totp_secret(base32: &str) -> Vec<u8> {
    totp_rs::Secret::Encoded(base32.to_owned())
        .to_bytes()
        .unwrap()
}

/// The code of `secret` at now + `offset_secs`, as an authenticator app
/// shows it.
pub fn totp_code(secret: &[u8], offset_secs: i64) -> String {
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        0,
        30,
        secret.to_vec(),
        None,
        String::new(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp() + offset_secs;
    totp.generate(u64::try_from(now).unwrap())
}

// ---------- assertions and reading responses ----------

/// The `id` of every item.
/// The recovery codes of a 200 answer (confirming MFA or a new set).
pub async fn recovery_codes(response: Response) -> Vec<String> {
    assert_eq!(response.status(), 200, "no recovery codes");
    let body: Value = response.json().await.unwrap();
    body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

/// Checks that the JSON object `value` has exactly the fields `expected`.
pub fn assert_fields(value: &Value, expected: &[&str]) {
    let fields: HashSet<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, expected.iter().copied().collect(), "{value}");
}

/// The statuses of racing requests, in ascending order (the order they
/// answered in is not known).
pub fn sorted_statuses(responses: &[Response]) -> Vec<u16> {
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    statuses
}

pub fn id_of(item: &Value) -> i64 {
    item["id"].as_i64().unwrap()
}

pub fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(id_of).collect()
}

/// Reads a problem+json response, checking its shape and content type.
pub async fn problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    // Every problem names the request, exactly as its `X-Request-Id` header.
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("X-Request-Id on a problem response");
    let mut body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    // Checked; removed so that tests can compare the bodies of two requests.
    body.as_object_mut().unwrap().remove("request_id");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
    body
}

/// The field names listed in a validation problem.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
