//! Abuse cases from the adversarial review (docs/security.md, "Abuse
//! cases"): each test names the rule it holds and failed before the fix.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, spawn_app_with, spawn_app_with_user, TestApp, TestUser};

/// 128 characters of l33t substitutions only: the worst case of a full
/// zxcvbn pattern match (0.6-1 s per check in a release build before).
fn l33t_bomb() -> String {
    "4@8({[<369!|170$5+%2".repeat(7).chars().take(128).collect()
}

/// Logs `user` in and returns the device cookie that login set.
async fn known_device(app: &TestApp, user: &TestUser) -> String {
    let login = app.post_login(&user.email, &user.password).await;
    cookie_value(&device_set_cookie(&login).unwrap())
}

/// The `securetodo_device` Set-Cookie header of a response, if any.
fn device_set_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("securetodo_device="))
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("securetodo_device=")
        .to_owned()
}

// 1. CPU denial of service through the password check.

#[actix_web::test]
async fn password_checks_cost_bounded_time_and_never_block_the_workers() {
    let app = spawn_app().await;
    let bomb = l33t_bomb();
    assert_eq!(bomb.chars().count(), 128);
    // Several clients send the worst-case password at once, to registration
    // (with a valid and an invalid email) and to a password change.
    let user = app.signed_up_user().await;
    let mut attackers = Vec::new();
    for i in 0..6 {
        let client = app.client.clone();
        let url = app.url("/api/v1/auth/register");
        let email = if i % 2 == 0 {
            format!("bomb{i}@example.com")
        } else {
            "not-an-email".to_owned()
        };
        let body = json!({"email": email, "password": bomb});
        attackers.push(actix_web::rt::spawn(async move {
            client.post(url).json(&body).send().await.unwrap().status()
        }));
    }
    let change_body = json!({"current_password": user.password, "new_password": bomb});
    let change = app.change_password(&user.token, &change_body);
    // Meanwhile the liveness probe answers at once.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let probe = Instant::now();
        assert_eq!(app.health_live().await.status(), 200);
        slowest = slowest.max(probe.elapsed());
    }
    assert_eq!(change.await.status(), 204);
    for attacker in attackers {
        let status = attacker.await.unwrap().as_u16();
        assert!(status == 201 || status == 422, "{status}");
    }
    // Generous: a debug build answered in milliseconds after the fix and
    // took seconds before it.
    assert!(
        slowest < Duration::from_millis(750),
        "health/live took {slowest:?} while password checks ran ({:?} in all)",
        started.elapsed()
    );
}

// 2. A login racing a password change.

#[actix_web::test]
async fn a_login_racing_a_password_change_gets_no_session() {
    let (app, user) = spawn_app_with_user().await;
    let new_hash = securetodo::auth::password::hash_blocking("A-New-Passphrase-4471", 4).unwrap();
    // A password change is in its write transaction...
    let lock = app.hold_write_lock();
    // ...while a login verifies the old password and waits for the lock.
    let client = app.client.clone();
    let url = app.url("/api/v1/auth/login");
    let body = json!({"email": user.email, "password": user.password});
    let login = actix_web::rt::spawn(async move {
        let response = client.post(url).json(&body).send().await.unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    });
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    // The change commits: the new hash, every session ended.
    lock.commit_with(&format!(
        "UPDATE users SET password_hash = '{new_hash}' WHERE id = {id};
         UPDATE sessions SET revoked_at = CURRENT_TIMESTAMP WHERE user_id = {id};",
        id = user.id
    ));
    let (status, body) = login.await.unwrap();
    assert_eq!(status, 401, "the login opened a session: {body}");
    assert_eq!(body["code"], "invalid_credentials");
    // The new password works; the old one does not.
    app.login(&user.email, "A-New-Passphrase-4471").await;
    app.refused_login(&user.email, &user.password).await;
}

// 3. Anyone could lock the owner out.

#[actix_web::test]
async fn a_login_sets_a_strict_device_cookie_for_the_login_path_only() {
    let (app, user) = spawn_app_with_user().await;
    let response = app.post_login(&user.email, &user.password).await;
    assert_eq!(response.status(), 200);
    let cookie = device_set_cookie(&response).expect("a device cookie");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/v1/auth/login",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(cookie_value(&cookie).len() >= 43, "{cookie}");
    // A known device keeps its token.
    let again = app
        .login_from_device(&user.email, &user.password, &cookie_value(&cookie))
        .await;
    assert_eq!(again.status(), 200);
    if let Some(next) = device_set_cookie(&again) {
        assert_eq!(cookie_value(&next), cookie_value(&cookie));
    }
}

#[actix_web::test]
async fn strangers_failures_never_lock_out_a_known_device() {
    let (app, user) = spawn_app_with_user().await;
    let device = known_device(&app, &user).await;
    // A stranger types the owner's email with wrong passwords...
    for _ in 0..12 {
        app.refused_login(&user.email, "Guess-Guess-Guess-1").await;
    }
    // ...which locks strangers (even one who now has the right password)...
    app.refused_login(&user.email, &user.password).await;
    // ...but never the owner's own browser.
    let owner = app
        .login_from_device(&user.email, &user.password, &device)
        .await;
    assert_eq!(owner.status(), 200);
    // A device cookie of another account is no key to this one.
    let other = app.signed_up_user().await;
    let other_device = known_device(&app, &other).await;
    let answer = app
        .login_from_device(&user.email, &user.password, &other_device)
        .await;
    problem(answer, 401, "invalid_credentials").await;
}

#[actix_web::test]
async fn a_known_device_spends_its_own_failure_budget() {
    let (app, user) = spawn_app_with_user().await;
    let device = known_device(&app, &user).await;
    for _ in 0..5 {
        let answer = app
            .login_from_device(&user.email, "Typo-Typo-Typo-2", &device)
            .await;
        problem(answer, 401, "invalid_credentials").await;
    }
    // The device's failures did not spend the account's other budget.
    let elsewhere = app.post_login(&user.email, &user.password).await;
    assert_eq!(elsewhere.status(), 200);
    let types = app.audit_types();
    assert!(types.contains(&"auth.locked_out".to_owned()), "{types:?}");
}

#[actix_web::test]
async fn wrong_current_passwords_count_as_failures_and_the_fifth_ends_the_session() {
    let (app, user) = spawn_app_with_user().await;
    for attempt in 0..5 {
        let (method, path, body) = if attempt % 2 == 0 {
            (
                Method::PUT,
                "/api/v1/users/me/password",
                json!({"current_password": "Wrong-Current-9", "new_password": "Fresh-Passphrase-5521"}),
            )
        } else {
            (
                Method::DELETE,
                "/api/v1/users/me",
                json!({"password": "Wrong-Current-9"}),
            )
        };
        let response = app
            .request(method, path)
            .bearer_auth(&user.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        problem(response, 422, "validation_failed").await;
    }
    // The session that guessed is over, and each guess was recorded.
    assert_eq!(app.get_me(&user.token).await.status(), 401);
    let failures = app
        .audit_types()
        .iter()
        .filter(|t| *t == "auth.login_failed")
        .count();
    assert_eq!(failures, 5);
    // The owner signs in again as usual.
    app.login(&user.email, &user.password).await;
}

// 5. One mailbox, several accounts.

#[actix_web::test]
async fn spellings_of_one_mailbox_are_one_account() {
    let app = spawn_app().await;
    app.register("boss@example.com", "Granite-Orchard-Lantern-3")
        .await;
    for spelling in [
        "boss@exam\u{00AD}ple.com",
        "boss@\u{FF45}xample.com",
        "BOSS@EXAMPLE.COM",
    ] {
        let response = app
            .post_register(&json!({"email": spelling, "password": "Granite-Orchard-Lantern-3"}))
            .await;
        problem(response, 409, "email_taken").await;
    }
    // A Unicode domain and its punycode spelling.
    let created = app
        .register("anna@bücher.example", "Granite-Orchard-Lantern-3")
        .await;
    assert_eq!(created["email"], "anna@xn--bcher-kva.example");
    let response = app
        .post_register(&json!({"email": "anna@xn--bcher-kva.example", "password": "Granite-Orchard-Lantern-3"}))
        .await;
    problem(response, 409, "email_taken").await;
    // Every spelling signs in to the one account.
    let pair = app
        .login("boss@exam\u{00AD}ple.com", "Granite-Orchard-Lantern-3")
        .await;
    assert_eq!(pair["user"]["email"], "boss@example.com");
    app.login("anna@BÜCHER.example", "Granite-Orchard-Lantern-3")
        .await;
}

// 6. IPv6 rate limits were per address.

#[actix_web::test]
async fn ipv6_clients_share_one_budget_per_64_network() {
    let app = spawn_app_with(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "5"),
        ("TRUST_PROXY_HEADERS", "true"),
    ])
    .await;
    let app = &app;
    let attempt = |address: String| async move {
        app.login_forwarded_for(&address, "n@example.com", "Whatever-Passphrase-1")
            .await
    };
    for host in 1..=5 {
        let r = attempt(format!("2001:db8:aa:bb::{host:x}")).await;
        assert_eq!(r.status(), 401);
    }
    // Another address of the same /64 is the same client.
    let limited = attempt("2001:db8:aa:bb:ffff:1:2:3".to_owned()).await;
    problem(limited, 429, "rate_limited").await;
    // The next /64 is another client.
    let other = attempt("2001:db8:aa:bc::1".to_owned()).await;
    assert_eq!(other.status(), 401);
}

// 9. Anonymous failures and the audit table.

#[actix_web::test]
async fn anonymous_failures_cannot_grow_the_audit_table_faster_than_the_rate_limit() {
    let app = spawn_app().await;
    for i in 0..30 {
        let r = app
            .post_login(&format!("nobody{i}@example.com"), "Whatever-Passphrase-1")
            .await;
        assert_eq!(r.status(), 401);
    }
    let rows = app.audit_types();
    let anonymous = rows.iter().filter(|t| *t == "auth.login_failed").count();
    assert_eq!(anonymous, 1, "{rows:?}");
    // The one row still says how many attempts it stands for.
    let admin = app.signed_up_user().await;
    app.sql(&format!(
        "UPDATE users SET role = 'admin' WHERE id = {};",
        admin.id
    ));
    let page: Value = app
        .admin_list_audit_events(&admin.token, "?type=auth.login_failed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["detail"]["attempts"], 30, "{page}");
}
