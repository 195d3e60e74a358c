//! Rate limits a client can see: the per-user (or per-token) API limit,
//! the `RateLimit-Policy`/`RateLimit` headers on every limited endpoint,
//! and the limits shared through Redis.

use serde_json::json;

use crate::helpers::{
    captured_logs, problem, shared_postgres_database, spawn_app_with, TestApp, TEST_JWT_SECRET,
};

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// `r` and `t` of a `RateLimit` header for `policy`.
fn remaining_and_reset(value: &str, policy: &str) -> (u64, u64) {
    let rest = value
        .strip_prefix(&format!("\"{policy}\";"))
        .unwrap_or_else(|| panic!("RateLimit {value:?} names another policy than {policy}"));
    let mut r = None;
    let mut t = None;
    for param in rest.split(';') {
        match param.split_once('=') {
            Some(("r", v)) => r = v.parse().ok(),
            Some(("t", v)) => t = v.parse().ok(),
            _ => panic!("unexpected parameter in {value:?}"),
        }
    }
    (r.unwrap(), t.unwrap())
}

/// Checks the headers of a limited answer; returns the remaining quota.
fn assert_limit_headers(response: &reqwest::Response, policy: &str, quota: u64) -> u64 {
    assert_eq!(
        header(response, "ratelimit-policy").as_deref(),
        Some(format!("\"{policy}\";q={quota};w=60").as_str())
    );
    let (remaining, reset) = remaining_and_reset(&header(response, "ratelimit").unwrap(), policy);
    assert!(remaining <= quota);
    assert!((1..=60).contains(&reset), "t={reset}");
    remaining
}

#[actix_web::test]
async fn each_user_has_an_api_budget_with_headers_on_2xx_and_429() {
    let app = spawn_app_with(&[("API_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    for expected in [2, 1, 0] {
        let response = app.list_todos(&alice.token, &[]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(assert_limit_headers(&response, "api", 3), expected);
    }
    // The budget spans every authenticated endpoint, not one path.
    let limited = app.get_me(&alice.token).await;
    assert_limit_headers(&limited, "api", 3);
    let retry: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    problem(limited, 429, "rate_limited").await;
    let limited = app
        .post_todo(&alice.token, &json!({"title": "flood"}))
        .await;
    problem(limited, 429, "rate_limited").await;
    assert_eq!(
        app.rows_of("todos", alice.id),
        0,
        "a refused write writes nothing"
    );
    // Another user, and the same user's API token, have budgets of their own.
    assert_eq!(app.list_todos(&bob.token, &[]).await.status(), 200);
    let app_token = {
        let response = app
            .post_api_token(
                &alice.token,
                &json!({"name": "ci", "scopes": ["todos:read"], "expires_in_days": 1, "password": alice.password}),
            )
            .await;
        // Token creation takes the password: it is on the credential
        // budget, not the API one.
        assert_eq!(response.status(), 201);
        assert_limit_headers(&response, "credentials", 100_000);
        response.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let response = app.list_todos(&app_token, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(assert_limit_headers(&response, "api", 3), 2);
    // The list checks its token itself: a refused query still counts, and
    // a token over its budget hears 429 before anything about its query.
    let response = app.list_todos(&app_token, &[("limit", "abc")]).await;
    assert_eq!(assert_limit_headers(&response, "api", 3), 1);
    assert_eq!(response.status(), 422);
    let response = app.list_todos(&app_token, &[]).await;
    assert_eq!(assert_limit_headers(&response, "api", 3), 0);
    let limited = app.list_todos(&app_token, &[("limit", "abc")]).await;
    assert_limit_headers(&limited, "api", 3);
    problem(limited, 429, "rate_limited").await;
}

#[actix_web::test]
async fn credential_endpoints_carry_the_headers_on_success_and_on_429() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let response = app
        .post_register(&json!({"email": "h@example.com", "password": "Headers-Passphrase-77"}))
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(assert_limit_headers(&response, "credentials", 3), 2);
    let response = app
        .post_login("h@example.com", "Headers-Passphrase-77")
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(assert_limit_headers(&response, "credentials", 3), 1);
    let pair: serde_json::Value = response.json().await.unwrap();
    // Refresh has a budget of its own.
    let response = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(assert_limit_headers(&response, "refresh", 3), 2);
    let response = app.post_login("h@example.com", "wrong-password-here").await;
    assert_eq!(assert_limit_headers(&response, "credentials", 3), 0);
    let limited = app
        .post_login("h@example.com", "Headers-Passphrase-77")
        .await;
    assert_eq!(assert_limit_headers(&limited, "credentials", 3), 0);
    assert!(header(&limited, "retry-after").is_some());
    problem(limited, 429, "rate_limited").await;
    // Browsers on other origins may read them (CORS exposes them).
    let health = app.health_live().await;
    assert!(
        header(&health, "ratelimit").is_none(),
        "unlimited endpoints have none"
    );
}

#[actix_web::test]
async fn zero_turns_the_api_limit_off() {
    let app = spawn_app_with(&[("API_RATE_LIMIT_PER_MINUTE", "0")]).await;
    let user = app.signed_up_user().await;
    for _ in 0..5 {
        let response = app.list_todos(&user.token, &[]).await;
        assert_eq!(response.status(), 200);
        assert!(header(&response, "ratelimit").is_none());
        assert!(header(&response, "ratelimit-policy").is_none());
    }
}

#[actix_web::test]
async fn credential_endpoints_do_not_spend_the_api_budget() {
    let app = spawn_app_with(&[("API_RATE_LIMIT_PER_MINUTE", "2")]).await;
    let user = app.signed_up_user().await;
    for _ in 0..3 {
        let response = app
            .change_password(
                &user.token,
                &json!({"current_password": "wrong-one-entirely", "new_password": "Some-Other-Passphrase-5"}),
            )
            .await;
        assert_eq!(response.status(), 422);
        assert_limit_headers(&response, "credentials", 100_000);
    }
    let response = app.list_todos(&user.token, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(assert_limit_headers(&response, "api", 2), 1);
}

// ---------- Redis ----------

const REDIS: &str = "redis://127.0.0.1:6379/9";

/// A secret of its own per test: the Redis keys of a deployment are
/// namespaced by its JWT secret, so parallel tests never share counters.
fn fresh_secret() -> String {
    format!("{TEST_JWT_SECRET}-{}", rand::random::<u64>())
}

/// One database for several apps: a fresh PostgreSQL database when the
/// suite runs on PostgreSQL (the guard drops it), else a SQLite file in `dir`.
fn shared_database(dir: &tempfile::TempDir) -> (Option<TestApp>, String) {
    match shared_postgres_database() {
        Some(guard) => {
            let url = guard.database.url();
            (Some(guard), url)
        }
        None => (
            None,
            format!("sqlite://{}", dir.path().join("shared.db").display()),
        ),
    }
}

async fn redis_app(secret: &str, database_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("REDIS_URL", REDIS),
        ("JWT_SECRET", secret),
        ("DATABASE_URL", database_url),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

#[actix_web::test]
async fn two_instances_on_one_redis_share_every_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (_guard, db) = shared_database(&dir);
    let db = db.as_str();
    let secret = fresh_secret();
    let limits = [
        ("AUTH_RATE_LIMIT_PER_MINUTE", "4"),
        ("API_RATE_LIMIT_PER_MINUTE", "4"),
    ];
    let a = redis_app(&secret, db, &limits).await;
    let b = redis_app(&secret, db, &limits).await;

    // Credentials: register on A, log in on B, then one more each.
    a.register("shared@example.com", "Violet-Lantern-Harbor-93")
        .await;
    let pair = b
        .login("shared@example.com", "Violet-Lantern-Harbor-93")
        .await;
    let token = pair["access_token"].as_str().unwrap();
    assert_eq!(
        a.post_login("shared@example.com", "nope-not-it-1")
            .await
            .status(),
        401
    );
    let last = b.post_login("shared@example.com", "nope-not-it-2").await;
    assert_eq!(last.status(), 401);
    assert_eq!(assert_limit_headers(&last, "credentials", 4), 0);
    problem(
        a.post_login("shared@example.com", "x-y-z-w-v-u").await,
        429,
        "rate_limited",
    )
    .await;

    // The API budget of one user, spent across both instances.
    for (i, app) in [&a, &b, &a, &b].into_iter().enumerate() {
        let response = app.list_todos(token, &[]).await;
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(assert_limit_headers(&response, "api", 4), 3 - i as u64);
    }
    problem(a.list_todos(token, &[]).await, 429, "rate_limited").await;
    problem(b.list_todos(token, &[]).await, 429, "rate_limited").await;

    // Another deployment (another secret) on the same Redis is not affected.
    let other_dir = tempfile::tempdir().unwrap();
    let (_other_guard, other_db) = shared_database(&other_dir);
    let other = redis_app(&fresh_secret(), &other_db, &limits).await;
    other
        .register("shared@example.com", "Violet-Lantern-Harbor-93")
        .await;
}

#[actix_web::test]
async fn without_redis_credentials_fail_closed_and_the_api_limit_fails_open() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let (_guard, db) = shared_database(&dir);
    // A user signed up while Redis was not in play, on the same database.
    let plain = spawn_app_with(&[("DATABASE_URL", db.as_str())]).await;
    let user = plain.signed_up_user().await;
    let url = format!("redis://127.0.0.1:{port}/0");
    let app = spawn_app_with(&[
        ("DATABASE_URL", db.as_str()),
        ("REDIS_URL", url.as_str()),
        ("API_RATE_LIMIT_PER_MINUTE", "2"),
    ])
    .await;
    for _ in 0..3 {
        let response = app
            .post_register(
                &json!({"email": "closed@example.com", "password": "Fail-Closed-Passphrase-9"}),
            )
            .await;
        let retry: u64 = header(&response, "retry-after").unwrap().parse().unwrap();
        assert!(retry >= 1);
        problem(response, 503, "unavailable").await;
        let login = app.post_login(&user.email, &user.password).await;
        problem(login, 503, "unavailable").await;
    }
    // The todo endpoints pass, beyond the per-user limit and without headers.
    for _ in 0..4 {
        let response = app.list_todos(&user.token, &[]).await;
        assert_eq!(response.status(), 200);
        assert!(header(&response, "ratelimit").is_none());
    }
    // Said once in the log, not once per request.
    let needle = format!("Redis at 127.0.0.1:{port}/0 cannot be reached");
    let said = captured_logs().matches(&needle).count();
    assert_eq!(said, 1, "{needle} logged {said} times");
}
