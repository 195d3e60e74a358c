//! Operations: request ids, the metrics listener, JSON logs, retention.

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::{fails, securetodo, serving, succeeds};
use crate::helpers::{
    captured_logs, problem, spawn_app, spawn_app_with, TestApp, TestDatabase, REGISTER,
};

fn request_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on {}", response.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn is_generated_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_problems_repeat_it() {
    let app = spawn_app().await;
    // (method, path, status): success, API errors, static files, SPA pages.
    let cases = [
        (Method::GET, "/health/live", 200),
        (Method::GET, "/api/v1/nope", 404),
        (Method::POST, "/health/live", 405),
        (Method::GET, "/api/v1/users/me", 401),
        (Method::GET, "/style.css", 200),
        (Method::GET, "/dashboard", 200),
        (Method::GET, "/missing.js", 404),
        (Method::GET, "/swagger-ui/", 200),
        (Method::GET, "/metrics", 404),
    ];
    let mut seen = std::collections::HashSet::new();
    for (method, path, status) in cases {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        let id = request_id(&response);
        assert!(is_generated_id(&id), "{path}: {id}");
        assert!(seen.insert(id.clone()), "{path}: id {id} reused");
        if status >= 400 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["request_id"], id.as_str(), "{path}: {body}");
        }
    }
    // Validation errors from the body extractor too.
    let response = app
        .send_body(
            Method::POST,
            REGISTER,
            None,
            "application/json",
            "{not json",
        )
        .await;
    problem(response, 400, "validation_failed").await;
}

#[actix_web::test]
async fn a_well_formed_client_id_is_kept_and_anything_else_replaced() {
    let app = spawn_app().await;
    let long = "x".repeat(65);
    let max = "y".repeat(64);
    let cases: [(&str, bool); 7] = [
        ("client-id_1.2", true),
        (max.as_str(), true),
        (long.as_str(), false),
        ("has space", false),
        ("semi;colon", false),
        ("", false),
        ("<script>", false),
    ];
    for (sent, kept) in cases {
        let response = app
            .request(Method::GET, "/api/v1/nope")
            .header("X-Request-Id", sent)
            .send()
            .await
            .unwrap();
        let id = request_id(&response);
        if kept {
            assert_eq!(id, sent);
        } else {
            assert!(is_generated_id(&id), "{sent:?} -> {id}");
        }
        // `problem` checks the body's `request_id` against the header.
        problem(response, 404, "not_found").await;
    }
}

#[actix_web::test]
async fn cors_preflights_and_refusals_carry_the_request_id() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let allowed = app
        .preflight(
            "https://app.example.com",
            &[
                ("Access-Control-Request-Headers", "x-request-id"),
                ("X-Request-Id", "preflight-1"),
            ],
        )
        .await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(request_id(&allowed), "preflight-1");

    let refused = app
        .preflight("https://evil.example", &[("X-Request-Id", "preflight-2")])
        .await;
    assert_eq!(request_id(&refused), "preflight-2");
    problem(refused, 403, "forbidden").await;

    // A cross-origin SPA can read the id.
    let simple = app
        .health_live_with(&[("Origin", "https://app.example.com")])
        .await;
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}

#[actix_web::test]
async fn the_access_line_and_lines_logged_during_the_request_carry_its_id() {
    let app = spawn_app().await;
    let user = app.signed_up_user().await;
    app.request(Method::GET, "/api/v1/users/me?token=query-secret-77")
        .bearer_auth(&user.token)
        .header("X-Request-Id", "access-line-test-1")
        .send()
        .await
        .unwrap();
    // A request that logs from inside its handling (a failing readiness
    // probe logs the database error).
    app.sql("DROP TABLE __diesel_schema_migrations;");
    let response = app
        .request(Method::GET, "/health/ready")
        .header("X-Request-Id", "ready-probe-test-2")
        .send()
        .await
        .unwrap();
    problem(response, 503, "service_unavailable").await;

    let logs = captured_logs();
    let access = logs
        .lines()
        .find(|l| l.contains("request_id=access-line-test-1"))
        .unwrap_or_else(|| panic!("no access line: {logs}"));
    assert!(access.starts_with("INFO securetodo::access "), "{access}");
    for field in [
        "\"GET /api/v1/users/me\" 200",
        "method=GET",
        "path=/api/v1/users/me ",
        "status=200",
        "duration_ms=",
        &format!("user_id={}", user.id),
    ] {
        assert!(access.contains(field), "{field} missing: {access}");
    }
    assert!(!logs.contains("query-secret-77"));
    // The warning spans several lines (the error chain); the context is
    // appended to its end.
    let levels = ["ERROR ", "WARN ", "INFO ", "DEBUG ", "TRACE "];
    let mut records: Vec<String> = Vec::new();
    for line in logs.lines() {
        match records.last_mut() {
            Some(record) if !levels.iter().any(|l| line.starts_with(l)) => {
                record.push('\n');
                record.push_str(line);
            }
            _ => records.push(line.to_owned()),
        }
    }
    let during: Vec<&String> = records
        .iter()
        .filter(|r| r.starts_with("WARN securetodo::error service unavailable"))
        .collect();
    assert!(
        during
            .iter()
            .any(|r| r.ends_with(" context_request_id=ready-probe-test-2")),
        "{during:?}"
    );
}

/// `(method, route, status)` -> value of `http_requests_total`.
fn request_counts(text: &str) -> Vec<(String, String, String, u64)> {
    text.lines()
        .filter_map(|line| line.strip_prefix("http_requests_total{"))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            let label = |name: &str| {
                labels
                    .split("\",")
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                    .unwrap()
                    .trim_end_matches('"')
                    .to_owned()
            };
            (
                label("method"),
                label("route"),
                label("status"),
                value.parse().unwrap(),
            )
        })
        .collect()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[actix_web::test]
async fn metrics_listener_counts_requests_by_route_template_and_status() {
    let app = spawn_app_with(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let metrics_address = app.metrics_address.clone().unwrap();
    assert_ne!(metrics_address, app.address);

    // The scripted traffic.
    let user = app.signed_up_user().await; // register 201 + login 200
    let failed = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"email": user.email, "password": "Wrong-Passphrase-000"}),
        )
        .await;
    assert_eq!(failed.status(), 401);
    let mut ids = Vec::new();
    for title in ["one", "two"] {
        let created = app
            .request(Method::POST, "/api/v1/todos")
            .bearer_auth(&user.token)
            .json(&json!({"title": title}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let body: Value = created.json().await.unwrap();
        ids.push(body["id"].as_i64().unwrap());
    }
    for id in &ids {
        let path = format!("/api/v1/todos/{id}");
        assert_eq!(app.get_auth(&path, &user.token).await.status(), 200);
    }
    assert_eq!(
        app.get_auth("/api/v1/todos/999999", &user.token)
            .await
            .status(),
        404
    );
    assert_eq!(app.get("/api/v1/no/such/route/42").await.status(), 404);
    assert_eq!(app.get("/health/live").await.status(), 200);
    // Not on the public port.
    assert_eq!(app.get("/metrics").await.status(), 404);

    let text = app.scrape_metrics().await;
    let counts = request_counts(&text);
    let count = |method: &str, route: &str, status: &str| {
        counts
            .iter()
            .find(|(m, r, s, _)| m == method && r == route && s == status)
            .map_or(0, |(_, _, _, n)| *n)
    };
    assert_eq!(count("POST", "/api/v1/auth/register", "201"), 1, "{text}");
    assert_eq!(count("POST", "/api/v1/auth/login", "200"), 1, "{text}");
    assert_eq!(count("POST", "/api/v1/auth/login", "401"), 1, "{text}");
    assert_eq!(count("POST", "/api/v1/todos", "201"), 2, "{text}");
    assert_eq!(count("GET", "/api/v1/todos/{id}", "200"), 2, "{text}");
    assert_eq!(count("GET", "/api/v1/todos/{id}", "404"), 1, "{text}");
    assert_eq!(count("GET", "/health/live", "200"), 1, "{text}");
    // Unknown paths share one fixed label; no raw path or id ever appears.
    for (_, route, _, _) in &counts {
        assert!(
            route == "unmatched" || route.starts_with('/'),
            "odd route label {route}"
        );
        assert!(
            !route.contains("999999") && !route.contains("42"),
            "{route}"
        );
        for id in &ids {
            assert!(!route.contains(&format!("/{id}")), "raw id in {route}");
        }
    }
    assert!(counts
        .iter()
        .any(|(_, r, s, _)| r == "unmatched" && s == "404"));

    let histogram = r#"http_request_duration_seconds_count{method="GET",route="/api/v1/todos/{id}",status="200"}"#;
    assert_eq!(sample(&text, histogram), Some(2.0), "{text}");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    assert!(text.contains(r#"le="+Inf""#));
    assert_eq!(
        sample(&text, r#"securetodo_logins_total{result="success"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"securetodo_logins_total{result="failure"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "securetodo_password_hash_queue_depth"),
        Some(0.0)
    );
    let idle = sample(&text, r#"securetodo_db_pool_connections{state="idle"}"#).unwrap();
    let in_use = sample(&text, r#"securetodo_db_pool_connections{state="in_use"}"#).unwrap();
    let max = sample(&text, "securetodo_db_pool_max_connections").unwrap();
    assert!(idle >= 1.0 && idle + in_use <= max, "{idle} {in_use} {max}");
    assert!(sample(&text, "process_cpu_seconds_total").unwrap() > 0.0);
    assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1_000_000.0);
    assert!(text.contains(&format!(
        "securetodo_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));

    // The scrape itself is not counted (only the public 404 above is), and
    // the listener serves nothing else.
    let again = request_counts(&app.scrape_metrics().await);
    let metrics_routes: Vec<_> = again
        .iter()
        .filter(|(_, r, _, _)| r == "/metrics")
        .collect();
    assert_eq!(metrics_routes.len(), 1, "{metrics_routes:?}");
    assert_eq!(
        (metrics_routes[0].2.as_str(), metrics_routes[0].3),
        ("404", 1)
    );
    let other = app
        .client
        .get(format!("{metrics_address}/api/v1/todos"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // Stopping the app stops the metrics listener too.
    app.stop().await;
    let mut closed = false;
    for _ in 0..50 {
        if reqwest::Client::new()
            .get(format!("{metrics_address}/metrics"))
            .send()
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "metrics listener still answering");
}

#[actix_web::test]
async fn there_is_no_metrics_listener_by_default() {
    let app = spawn_app().await;
    assert!(app.metrics_address.is_none());
    assert_eq!(app.get("/metrics").await.status(), 404);
}

/// The server process, killed if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn json_logs_are_one_object_per_line_with_the_access_fields() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        serving(dir.path())
            .env("LOG_FORMAT", "json")
            .spawn()
            .unwrap(),
    );
    let stderr = child.0.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let port = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line in {seen:?}"));
        let value: Value = serde_json::from_str(&line).unwrap();
        seen.push(line);
        if let Some(rest) = value["msg"]
            .as_str()
            .and_then(|m| m.split("listening on http://127.0.0.1:").nth(1))
        {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap();
        }
    };
    let app = TestApp::client_of(
        format!("http://127.0.0.1:{port}"),
        TestDatabase::Sqlite(dir.path().join("data/cli.db")),
    );
    let email = "json-logs@example.com";
    let password = "Orchard-Window-Passphrase-55";
    app.register(email, password).await;
    let pair = app.login(email, password).await;
    let token = pair["access_token"].as_str().unwrap();
    let user_id = pair["user"]["id"].as_i64().unwrap();
    let me = app
        .request(Method::GET, "/api/v1/users/me?secret=query-value-31")
        .bearer_auth(token)
        .header("X-Request-Id", "json-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let missing = app
        .send_with_headers(
            Method::GET,
            "/api/v1/missing",
            &[("X-Request-Id", "json-missing-2")],
        )
        .await;
    assert_eq!(missing.status(), 404);

    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    reader.join().unwrap();
    seen.extend(lines_rx.try_iter());

    let mut objects = Vec::new();
    for line in &seen {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["ts", "level", "msg", "target"] {
            assert!(value[field].is_string(), "{field} missing: {line}");
        }
        chrono::DateTime::parse_from_rfc3339(value["ts"].as_str().unwrap()).unwrap();
        objects.push(value);
    }
    assert!(!seen
        .iter()
        .any(|l| l.contains("query-value-31") || l.contains(token)));
    assert!(!seen.iter().any(|l| l.contains(password)));
    let access = |id: &str| {
        objects
            .iter()
            .find(|o| o["target"] == "securetodo::access" && o["request_id"] == id)
            .unwrap_or_else(|| panic!("no access line for {id}: {seen:#?}"))
    };
    let me = access("json-me-1");
    assert_eq!(me["method"], "GET");
    assert_eq!(me["path"], "/api/v1/users/me");
    assert_eq!(me["status"], 200);
    assert_eq!(me["user_id"], user_id);
    assert!(me["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(me["level"], "INFO");
    let missing = access("json-missing-2");
    assert_eq!(missing["status"], 404);
    assert!(missing.get("user_id").is_none());
    // Every request has its access line with a generated id.
    let access_lines: Vec<&Value> = objects
        .iter()
        .filter(|o| o["target"] == "securetodo::access")
        .collect();
    assert_eq!(access_lines.len(), 4, "{seen:#?}");
    assert!(objects.iter().any(|o| o["msg"] == "server stopped"));
}

#[test]
fn an_unknown_log_format_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = fails(
        securetodo(dir.path())
            .env("LOG_FORMAT", "xml")
            .arg("migrate"),
    );
    assert!(stderr.contains("LOG_FORMAT"), "{stderr}");
}

#[test]
fn prune_removes_only_expired_data_and_reports_counts() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};
    let dir = tempfile::tempdir().unwrap();
    succeeds(securetodo(dir.path()).arg("migrate"));
    let db = dir.path().join("data/cli.db");
    let mut conn = diesel::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    conn.batch_execute(
        "INSERT INTO users (id, email, password_hash, created_at, updated_at)
             VALUES (1, 'p@example.com', 'x', datetime('now'), datetime('now'));
         INSERT INTO sessions (id, user_id, refresh_token_hash, created_at, last_used_at, expires_at, revoked_at) VALUES
             (1, 1, 'live', datetime('now'), datetime('now'), datetime('now', '+1 day'), NULL),
             (2, 1, 'expired', datetime('now', '-20 days'), datetime('now', '-20 days'), datetime('now', '-6 days'), NULL),
             (3, 1, 'revoked', datetime('now'), datetime('now'), datetime('now', '+1 day'), datetime('now'));
         INSERT INTO retired_refresh_tokens (token_hash, session_id, retired_at) VALUES
             ('keep', 1, datetime('now')), ('gone1', 2, datetime('now', '-7 days')),
             ('gone2', 3, datetime('now'));
         INSERT INTO audit_events (type, created_at) VALUES
             ('old', datetime('now', '-40 days')), ('new', datetime('now', '-20 days'));",
    )
    .unwrap();

    let (stdout, _) = succeeds(
        securetodo(dir.path())
            .env("AUDIT_RETENTION_DAYS", "30")
            .arg("prune"),
    );
    assert_eq!(
        stdout,
        "sessions: 2, retired_refresh_tokens: 2, audit_events: 1, trashed_todos: 0, todo_tombstones: 0, idempotency_keys: 0, mfa_challenges: 0, api_tokens: 0\n"
    );
    #[derive(diesel::QueryableByName)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::Text)]
        what: String,
    }
    let left: Vec<String> = diesel::sql_query(
        "SELECT 'session ' || refresh_token_hash AS what FROM sessions
         UNION ALL SELECT 'token ' || token_hash FROM retired_refresh_tokens
         UNION ALL SELECT 'audit ' || type FROM audit_events
         UNION ALL SELECT 'user ' || email FROM users ORDER BY 1",
    )
    .load::<Left>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|l| l.what)
    .collect();
    assert_eq!(
        left,
        [
            "audit new",
            "session live",
            "token keep",
            "user p@example.com"
        ]
    );

    // The default keeps a year of audit events.
    let (stdout, _) = succeeds(securetodo(dir.path()).arg("prune"));
    assert_eq!(
        stdout,
        "sessions: 0, retired_refresh_tokens: 0, audit_events: 0, trashed_todos: 0, todo_tombstones: 0, idempotency_keys: 0, mfa_challenges: 0, api_tokens: 0\n"
    );
}
