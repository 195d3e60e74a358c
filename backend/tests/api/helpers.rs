//! `spawn_app` and `TestApp`: the application as a client sees it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use reqwest::{Method, RequestBuilder, Response};
use securetodo::config::Settings;
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
    pub db_path: PathBuf,
    _dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
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

    let mut vars: HashMap<String, String> = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("DATABASE_URL", format!("sqlite://{}", db_path.display())),
        ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "100000".to_owned()),
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
        _dir: dir,
        handle,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Registers an account and checks it was created.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        let response = self
            .post_json(
                "/api/v1/auth/register",
                &json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 201, "register {email}");
        response.json().await.unwrap()
    }

    /// Logs in and returns the token pair.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let response = self
            .post_json(
                "/api/v1/auth/login",
                &json!({"email": email, "password": password}),
            )
            .await;
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

    /// Runs SQL against the app's database file (test arrangement only).
    pub fn sql(&self, statements: &str) {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let mut conn = diesel::SqliteConnection::establish(self.db_path.to_str().unwrap()).unwrap();
        conn.batch_execute(&format!("PRAGMA busy_timeout = 5000; {statements}"))
            .unwrap();
    }

    /// The audit event types recorded so far, oldest first.
    pub fn audit_types(&self) -> Vec<String> {
        use diesel::prelude::*;
        use securetodo::db::schema::audit_events::dsl;
        let mut conn = diesel::SqliteConnection::establish(self.db_path.to_str().unwrap()).unwrap();
        dsl::audit_events
            .order(dsl::id.asc())
            .select(dsl::event_type)
            .load(&mut conn)
            .unwrap()
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
        self.handle.stop(true).await;
    }
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
