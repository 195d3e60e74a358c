//! Accounts and sessions, tested as an attacker would.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    captured_logs, error_fields, problem, spawn_app, spawn_app_with, spawn_app_with_user, TestApp,
    TEST_JWT_SECRET,
};

const GOOD_PASSWORD: &str = "Velvet-Harbor-Compass-58";

// ---------- registration ----------

#[actix_web::test]
async fn register_creates_a_user_with_role_user() {
    let app = spawn_app().await;
    let response = app
        .post_register(&json!({"email": "  New.User@Example.com ", "password": GOOD_PASSWORD}))
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["location"], "/api/v1/users/me");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "new.user@example.com");
    assert_eq!(user["role"], "user");
    assert_eq!(user["disabled"], false);
    assert!(user["id"].as_i64().unwrap() > 0);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    assert!(app.audit_types().contains(&"user.registered".to_owned()));
}

#[actix_web::test]
async fn registering_a_taken_email_in_any_case_is_409() {
    let app = spawn_app().await;
    app.register("dup@example.com", GOOD_PASSWORD).await;
    for email in ["dup@example.com", "DUP@Example.COM", " dup@example.com "] {
        let response = app
            .post_register(&json!({"email": email, "password": "Another-Fine-Phrase-12"}))
            .await;
        problem(response, 409, "email_taken").await;
    }
}

#[actix_web::test]
async fn registration_cannot_choose_a_role_or_other_fields() {
    let app = spawn_app().await;
    for extra in [
        json!({"role": "admin"}),
        json!({"id": 1}),
        json!({"disabled": false}),
        json!({"created_at": "2020-01-01T00:00:00Z"}),
    ] {
        let mut body = json!({"email": "mass@example.com", "password": GOOD_PASSWORD});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = app.post_register(&body).await;
        let p = problem(response, 422, "validation_failed").await;
        let field = extra.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(error_fields(&p), vec![field]);
    }
}

#[actix_web::test]
async fn invalid_registrations_are_422_naming_the_field_without_echoing_the_password() {
    let app = spawn_app().await;
    let long_email = format!("{}@example.com", "a".repeat(250));
    let long_password = "Zq7!".repeat(33);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"email": "not-an-email", "password": GOOD_PASSWORD}),
            vec!["email"],
        ),
        (
            json!({"email": long_email, "password": GOOD_PASSWORD}),
            vec!["email"],
        ),
        (
            json!({"email": "", "password": GOOD_PASSWORD}),
            vec!["email"],
        ),
        (
            json!({"email": "a@example.com", "password": "Sh0rt!x"}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "password": long_password}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "password": "password123"}),
            vec!["password"],
        ),
        (
            json!({"email": "a@example.com", "password": "iloveyou"}),
            vec!["password"],
        ),
        (
            json!({"email": "jonathan.q@example.com", "password": "jonathan.q-2024"}),
            vec!["password"],
        ),
        (
            json!({"email": "bad", "password": "short"}),
            vec!["email", "password"],
        ),
        (json!({"email": "a@example.com"}), vec!["password"]),
        (
            json!({"email": "a@example.com", "password": 12345678}),
            vec!["password"],
        ),
        (
            json!({"email": ["a@example.com"], "password": GOOD_PASSWORD}),
            vec!["email"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.post_register(&body).await;
        let p = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), fields, "{body}");
        let text = p.to_string();
        if let Some(pw) = body["password"].as_str() {
            assert!(!text.contains(pw), "password echoed: {text}");
        }
        assert!(!text.contains("12345678"), "{text}");
    }
}

#[actix_web::test]
async fn exactly_8_and_128_character_passwords_are_accepted() {
    let app = spawn_app().await;
    app.register("eight@example.com", "tz8#Lq!w").await;
    let max: String = "Kp9$vR2m".repeat(16);
    assert_eq!(max.chars().count(), 128);
    app.register("max@example.com", &max).await;
    app.login("max@example.com", &max).await;
}

// ---------- bodies the extractor refuses ----------

#[actix_web::test]
async fn malformed_unsupported_and_oversized_bodies_get_their_own_problems() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/register");
    app.assert_json_bodies_only(
        Method::POST,
        "/api/v1/auth/register",
        None,
        "{\"email\":",
        ("application/x-www-form-urlencoded", "email=a&password=b"),
    )
    .await;

    let none = app.client.post(&url).body("{}").send().await.unwrap();
    problem(none, 415, "unsupported_media_type").await;

    let big = json!({"email": "big@example.com", "password": "x".repeat(70 * 1024)});
    let oversized = app.post_register(&big).await;
    problem(oversized, 413, "payload_too_large").await;

    // Chunked (no Content-Length) is counted too.
    let stream =
        futures_util::stream::iter((0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let chunked = app
        .request(Method::POST, "/api/v1/auth/register")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    problem(chunked, 413, "payload_too_large").await;
}

// ---------- login ----------

#[actix_web::test]
async fn login_returns_a_token_pair_and_a_strict_refresh_cookie() {
    let app = spawn_app().await;
    app.register("pair@example.com", GOOD_PASSWORD).await;
    let response = app.post_login("PAIR@example.com", GOOD_PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["user"]["email"], "pair@example.com");
    let refresh = pair["refresh_token"].as_str().unwrap();
    assert!(cookie.contains(refresh));
    assert_eq!(
        URL_SAFE_NO_PAD.decode(refresh).unwrap().len(),
        32,
        "256-bit refresh token"
    );
    // The database never holds the token itself.
    let db = app.stored_text();
    assert!(!db.windows(refresh.len()).any(|w| w == refresh.as_bytes()));
    let me = app.get_me(pair["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "pair@example.com");
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let app = spawn_app().await;
    app.register("known@example.com", GOOD_PASSWORD).await;
    let unknown = app.post_login("unknown@example.com", GOOD_PASSWORD).await;
    let unknown_headers = unknown.headers().clone();
    let unknown = problem(unknown, 401, "invalid_credentials").await;
    let wrong = app
        .post_login("known@example.com", "Wrong-Password-Entirely-1")
        .await;
    assert_eq!(
        wrong.headers()["www-authenticate"],
        unknown_headers["www-authenticate"]
    );
    let wrong = problem(wrong, 401, "invalid_credentials").await;
    assert_eq!(unknown, wrong);
}

#[actix_web::test]
async fn unknown_email_costs_a_password_hash_like_a_known_one() {
    // Cost 9 makes one hash (~30 ms) dwarf the request overhead.
    let app = spawn_app_with(&[("BCRYPT_COST", "9")]).await;
    app.register("timing@example.com", GOOD_PASSWORD).await;
    // Alternate the two, so that load from elsewhere on the machine slows
    // both alike, and compare the medians.
    async fn timed(app: &TestApp, email: &str) -> Duration {
        let start = Instant::now();
        let r = app.post_login(email, "Wrong-Password-Entirely-1").await;
        assert_eq!(r.status(), 401);
        start.elapsed()
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        known.push(timed(&app, "timing@example.com").await);
        unknown.push(timed(&app, "nobody-here@example.com").await);
    }
    known.sort();
    unknown.sort();
    let (known, unknown) = (known[3], unknown[3]);
    assert!(
        unknown * 2 > known,
        "unknown {unknown:?} vs known {known:?}: an attacker can tell"
    );
    assert!(
        known * 2 > unknown,
        "unknown {unknown:?} vs known {known:?}"
    );
}

#[actix_web::test]
async fn disabled_accounts_get_the_same_401() {
    let (app, user) = spawn_app_with_user().await;
    app.sql(&format!(
        "UPDATE users SET disabled = TRUE WHERE id = {};",
        user.id
    ));
    let body = app.refused_login(&user.email, &user.password).await;
    let reference = app
        .refused_login("nobody@example.com", &user.password)
        .await;
    assert_eq!(body, reference);
    // Disabling also ends existing sessions on their next request.
    app.assert_me_status(&user.token, 401).await;
    problem(app.refresh(&user.refresh_token).await, 401, "unauthorized").await;
}

#[actix_web::test]
async fn repeated_failures_lock_the_account_silently() {
    let (app, user) = spawn_app_with_user().await;
    for _ in 0..5 {
        app.refused_login(&user.email, "Not-The-Password-77").await;
    }
    // The right password is now refused, with the very same answer.
    let locked = app.refused_login(&user.email, &user.password).await;
    let reference = app
        .refused_login("nobody@example.com", &user.password)
        .await;
    assert_eq!(locked, reference);
    let types = app.audit_types();
    assert!(types.contains(&"auth.locked_out".to_owned()), "{types:?}");
    // When the lock expires, the right password works again and resets the count.
    app.unlock(user.id);
    app.login(&user.email, &user.password).await;
}

#[actix_web::test]
async fn lock_duration_grows_with_each_lockout() {
    let (app, user) = spawn_app_with_user().await;
    let mut durations = Vec::new();
    for _ in 0..2 {
        for _ in 0..5 {
            app.post_login(&user.email, "Not-The-Password-77").await;
        }
        let until = app.locked_until(user.id);
        let now = chrono::Utc::now().naive_utc();
        durations.push((until.unwrap() - now).num_seconds());
        app.unlock(user.id);
    }
    assert!(durations[1] > durations[0] + 30, "{durations:?}");
}

#[actix_web::test]
async fn a_password_differing_only_after_byte_72_does_not_verify() {
    let app = spawn_app().await;
    let prefix = "Kp9$vR2mQx4!Lb7&Wn3@Zt8*Hy5^Gd1%Jc6(Fs0)Mv2_Rk9+Ew4=Ua7#Tq3!Yp8$Io5&Pl1Q";
    assert_eq!(prefix.len(), 72);
    let password = format!("{prefix}-one");
    app.register("long@example.com", &password).await;
    app.login("long@example.com", &password).await;
    for other in [format!("{prefix}-two"), prefix.to_owned()] {
        app.refused_login("long@example.com", &other).await;
    }
}

// ---------- access tokens ----------

fn forge(claims: Value, key: &[u8], algorithm: Algorithm) -> String {
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .unwrap()
}

fn claims(user_id: i64, session_id: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": user_id.to_string(), "sid": session_id, "iat": now, "exp": now + 600, "iss": "securetodo", "aud": "securetodo-api"})
}

#[actix_web::test]
async fn forged_tampered_and_malformed_tokens_are_401_with_www_authenticate() {
    let (app, user) = spawn_app_with_user().await;
    let sid = {
        let payload = user.token.split('.').nth(1).unwrap();
        let payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        payload["sid"].as_i64().unwrap()
    };
    let key = TEST_JWT_SECRET.as_bytes();
    let good = claims(user.id, sid);
    // Sanity: a token we forge with the right key and claims is accepted.
    assert_eq!(
        app.me_status(&forge(good.clone(), key, Algorithm::HS256))
            .await,
        200
    );

    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(good.to_string());
    let without = |field: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(field);
        forge(c, key, Algorithm::HS256)
    };
    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        forge(c, key, Algorithm::HS256)
    };
    let mut tampered = user.token.clone();
    tampered.pop();
    tampered.push(if user.token.ends_with('A') { 'B' } else { 'A' });
    let cases: Vec<(&str, String)> = vec![
        ("alg none", format!("{header_none}.{payload}.")),
        (
            "alg none with signature",
            format!("{header_none}.{payload}.c2ln"),
        ),
        (
            "other key",
            forge(
                good.clone(),
                b"another-secret-another-secret-another!",
                Algorithm::HS256,
            ),
        ),
        (
            "other algorithm",
            forge(good.clone(), key, Algorithm::HS512),
        ),
        ("wrong issuer", with("iss", json!("someone-else"))),
        ("wrong audience", with("aud", json!("another-api"))),
        ("missing sid", without("sid")),
        ("missing exp", without("exp")),
        ("missing iss", without("iss")),
        ("missing aud", without("aud")),
        ("missing sub", without("sub")),
        (
            "other user's id",
            with("sub", json!((user.id + 1).to_string())),
        ),
        ("unknown session", with("sid", json!(sid + 1000))),
        ("tampered signature", tampered),
        ("garbage", "not.a.jwt".to_owned()),
        ("empty", String::new()),
    ];
    for (name, token) in cases {
        let response = app
            .request(Method::GET, "/api/v1/users/me")
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{name}"
        );
        problem(response, 401, "unauthorized").await;
    }
    for header in [
        format!("Basic {}", user.token),
        user.token.clone(),
        String::new(),
    ] {
        let response = app
            .request(Method::GET, "/api/v1/users/me")
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        problem(response, 401, "unauthorized").await;
    }
    problem(app.get("/api/v1/users/me").await, 401, "unauthorized").await;
}

#[actix_web::test]
async fn a_correctly_signed_expired_token_is_token_expired() {
    let (app, user) = spawn_app_with_user().await;
    let mut c = claims(user.id, 1);
    let past = chrono::Utc::now().timestamp() - 120;
    c["iat"] = json!(past - 900);
    c["exp"] = json!(past);
    let token = forge(c.clone(), TEST_JWT_SECRET.as_bytes(), Algorithm::HS256);
    let response = app.get_me(&token).await;
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    problem(response, 401, "token_expired").await;
    // Expired and signed with another key: just unauthorized.
    let forged = forge(
        c,
        b"another-secret-another-secret-another!",
        Algorithm::HS256,
    );
    problem(app.get_me(&forged).await, 401, "unauthorized").await;
}

#[actix_web::test]
async fn access_tokens_expire_after_their_ttl() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL_SECS", "1")]).await;
    let user = app.signed_up_user().await;
    app.assert_me_status(&user.token, 200).await;
    tokio::time::sleep(Duration::from_millis(7_200)).await; // ttl + 5 s leeway + margin
    problem(app.get_me(&user.token).await, 401, "token_expired").await;
}

// ---------- refresh ----------

#[actix_web::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let (app, user) = spawn_app_with_user().await;
    let response = app.refresh(&user.refresh_token).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("HttpOnly"));
    let pair: Value = response.json().await.unwrap();
    let new_refresh = pair["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_refresh, user.refresh_token);
    app.assert_me_status(pair["access_token"].as_str().unwrap(), 200)
        .await;
    // And the new one works once more.
    assert_eq!(app.refresh(&new_refresh).await.status(), 200);
}

#[actix_web::test]
async fn refresh_by_cookie_works_with_an_empty_body() {
    let (app, user) = spawn_app_with_user().await;
    let response = app.refresh_by_cookie(&user.refresh_token).await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.unwrap();
    let json_empty = app
        .refresh_by_cookie_with_body(
            pair["refresh_token"].as_str().unwrap(),
            "application/json",
            "{}",
        )
        .await;
    assert_eq!(json_empty.status(), 200);
    // Nothing at all: 401.
    problem(app.refresh_without_credentials().await, 401, "unauthorized").await;
    problem(app.refresh("made-up-token").await, 401, "unauthorized").await;
}

#[actix_web::test]
async fn reusing_a_refresh_token_ends_the_whole_session() {
    let (app, user) = spawn_app_with_user().await;
    let pair: Value = app.refresh(&user.refresh_token).await.json().await.unwrap();
    let newest_refresh = pair["refresh_token"].as_str().unwrap();
    let newest_access = pair["access_token"].as_str().unwrap();
    app.assert_me_status(newest_access, 200).await;

    // An attacker replays the stolen, already used token.
    problem(app.refresh(&user.refresh_token).await, 401, "unauthorized").await;

    // The legitimate holder's newest tokens are dead too.
    problem(app.refresh(newest_refresh).await, 401, "unauthorized").await;
    app.assert_me_status(newest_access, 401).await;
    assert!(app
        .audit_types()
        .contains(&"auth.refresh_reuse_detected".to_owned()));
}

#[actix_web::test]
async fn a_rejected_refresh_token_is_described_as_a_refresh_token_problem() {
    let app = spawn_app().await;
    let user = app.signed_up_user().await;
    app.refresh(&user.refresh_token).await;

    let reused = problem(app.refresh(&user.refresh_token).await, 401, "unauthorized").await;
    let unknown = problem(app.refresh("made-up-token").await, 401, "unauthorized").await;
    for body in [reused, unknown] {
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("refresh token"), "{detail}");
        assert!(!detail.contains("access token"), "{detail}");
    }
}

// ---------- logout ----------

#[actix_web::test]
async fn logout_kills_the_access_and_refresh_tokens_at_once() {
    let (app, user) = spawn_app_with_user().await;
    let other = app.login(&user.email, &user.password).await;
    let response = app.logout(&user.token).await;
    assert_eq!(response.status(), 204);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("securetodo_refresh=") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    app.assert_me_status(&user.token, 401).await;
    problem(app.refresh(&user.refresh_token).await, 401, "unauthorized").await;
    // Other sessions live on.
    app.assert_me_status(other["access_token"].as_str().unwrap(), 200)
        .await;
}

/// The todo list checks the session in the same database call as the page
/// (`DeferredCaller`): an ended session still hears 401, and hears it
/// before anything about its query.
#[actix_web::test]
async fn an_ended_session_cannot_list_and_hears_401_before_a_bad_query() {
    let (app, user) = spawn_app_with_user().await;
    app.create_todo(&user.token, json!({"title": "mine"})).await;
    let listed = app.list_todos(&user.token, &[]).await;
    assert_eq!(listed.status(), 200);
    assert_eq!(app.logout(&user.token).await.status(), 204);
    let long = "x".repeat(201);
    for params in [
        vec![],
        vec![("limit", "abc")],
        vec![("limit", "1000")],
        vec![("q", long.as_str())],
        vec![("cursor", "forged")],
        vec![("unknown", "1")],
    ] {
        let response = app.list_todos(&user.token, &params).await;
        problem(response, 401, "unauthorized").await;
    }
    // A session of a disabled user, whether the page would be empty or not.
    let id = user.id;
    let other = app.login(&user.email, &user.password).await;
    let token = other["access_token"].as_str().unwrap();
    for todos in [1, 0] {
        if todos == 0 {
            app.sql(&format!("DELETE FROM todos WHERE user_id = {id};"));
        }
        app.sql(&format!(
            "UPDATE users SET disabled = TRUE WHERE id = {id};"
        ));
        problem(app.list_todos(token, &[]).await, 401, "unauthorized").await;
        app.sql(&format!(
            "UPDATE users SET disabled = FALSE WHERE id = {id};"
        ));
        let page: Value = app.list_todos(token, &[]).await.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), todos);
    }
    // A session past its expiry, whether the page would be empty or not.
    for todos in [0, 1] {
        let fresh = app.login(&user.email, &user.password).await;
        let token = fresh["access_token"].as_str().unwrap();
        if todos == 1 {
            app.create_todo(token, json!({"title": "again"})).await;
        }
        app.sql(&format!(
            "UPDATE sessions SET expires_at = '2001-01-01 00:00:00' WHERE user_id = {id};"
        ));
        problem(app.list_todos(token, &[]).await, 401, "unauthorized").await;
    }
    // A live session with the same bad query hears what is wrong with it.
    let other = app.login(&user.email, &user.password).await;
    let token = other["access_token"].as_str().unwrap();
    let response = app.list_todos(token, &[("limit", "abc")]).await;
    assert_eq!(response.status(), 422);
}

#[actix_web::test]
async fn logout_by_refresh_cookie_and_without_credentials() {
    let (app, user) = spawn_app_with_user().await;
    problem(app.logout_without_credentials().await, 401, "unauthorized").await;
    let response = app.logout_by_cookie(&user.refresh_token).await;
    assert_eq!(response.status(), 204);
    app.assert_me_status(&user.token, 401).await;
    // The same cookie again: the session is already over.
    let again = app.logout_by_cookie(&user.refresh_token).await;
    problem(again, 401, "unauthorized").await;
}

#[actix_web::test]
async fn logout_all_ends_every_session() {
    let (app, user) = spawn_app_with_user().await;
    let second = app.login(&user.email, &user.password).await;
    let response = app.logout_all(&user.token).await;
    assert_eq!(response.status(), 204);
    app.assert_me_status(&user.token, 401).await;
    app.assert_me_status(second["access_token"].as_str().unwrap(), 401)
        .await;
    let answer = app.refresh(second["refresh_token"].as_str().unwrap()).await;
    problem(answer, 401, "unauthorized").await;
    problem(
        app.send(Method::POST, "/api/v1/auth/logout-all", None, None)
            .await,
        401,
        "unauthorized",
    )
    .await;
}

// ---------- password change and account deletion ----------

#[actix_web::test]
async fn password_change_ends_other_sessions_and_keeps_this_one() {
    let (app, user) = spawn_app_with_user().await;
    let other = app.login(&user.email, &user.password).await;
    let new_password = "Brand-New-Passphrase-2031";
    let response = app
        .change_password(
            &user.token,
            &json!({"current_password": user.password, "new_password": new_password}),
        )
        .await;
    assert_eq!(response.status(), 204);
    app.assert_me_status(&user.token, 200).await;
    app.assert_me_status(other["access_token"].as_str().unwrap(), 401)
        .await;
    let answer = app.refresh(other["refresh_token"].as_str().unwrap()).await;
    problem(answer, 401, "unauthorized").await;
    app.refused_login(&user.email, &user.password).await;
    app.login(&user.email, new_password).await;
    assert!(app
        .audit_types()
        .contains(&"user.password_changed".to_owned()));
}

#[actix_web::test]
async fn password_change_validates_both_passwords() {
    let (app, user) = spawn_app_with_user().await;
    let cases = [
        (
            json!({"current_password": "Wrong-Current-Pass-1", "new_password": "Brand-New-Passphrase-2031"}),
            "current_password",
        ),
        (
            json!({"current_password": user.password, "new_password": "password123"}),
            "new_password",
        ),
        (
            json!({"current_password": user.password, "new_password": "short"}),
            "new_password",
        ),
        (
            json!({"current_password": user.password, "new_password": user.password}),
            "new_password",
        ),
        (json!({"current_password": user.password}), "new_password"),
        (
            json!({"current_password": user.password, "new_password": "Brand-New-Passphrase-2031", "role": "admin"}),
            "role",
        ),
    ];
    for (body, field) in cases {
        let response = app.change_password(&user.token, &body).await;
        let p = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), vec![field], "{body}");
        assert!(!p.to_string().contains(&user.password));
    }
    // Still the old password.
    app.login(&user.email, &user.password).await;
}

#[actix_web::test]
async fn deleting_the_account_needs_the_password_and_removes_everything() {
    let (app, user) = spawn_app_with_user().await;
    let wrong = app.delete_me(&user.token, "Not-My-Password-99").await;
    problem(wrong, 422, "validation_failed").await;
    let response = app.delete_me(&user.token, &user.password).await;
    assert_eq!(response.status(), 204);
    app.assert_me_status(&user.token, 401).await;
    app.refused_login(&user.email, &user.password).await;
    let sessions = app.rows_of("sessions", user.id);
    assert_eq!(sessions, 0);
    assert!(app.audit_types().contains(&"user.deleted".to_owned()));
    // The email is free again.
    app.register(&user.email, &user.password).await;
}

#[actix_web::test]
async fn the_last_admin_cannot_delete_their_own_account() {
    let app = spawn_app().await;
    let admin = app.signed_up_user().await;
    app.sql(&format!(
        "UPDATE users SET role = 'admin' WHERE id = {};",
        admin.id
    ));
    let response = app.delete_me(&admin.token, &admin.password).await;
    problem(response, 409, "last_admin").await;
    app.assert_me_status(&admin.token, 200).await;
    // With a second active admin it is allowed.
    let second = app.signed_up_user().await;
    app.sql(&format!(
        "UPDATE users SET role = 'admin' WHERE id = {};",
        second.id
    ));
    let response = app.delete_me(&admin.token, &admin.password).await;
    assert_eq!(response.status(), 204);
}

// ---------- sessions ----------

#[actix_web::test]
async fn sessions_are_listed_with_the_current_one_marked_and_can_be_revoked() {
    let (app, user) = spawn_app_with_user().await;
    let other = app
        .request(Method::POST, "/api/v1/auth/login")
        .header("User-Agent", "SecondDevice/1.0")
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let list: Value = app.list_sessions(&user.token).await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(list["next_cursor"].is_null());
    let current: Vec<&Value> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let second = items.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(second["user_agent"], "SecondDevice/1.0");
    for key in ["id", "created_at", "last_used_at", "user_agent", "current"] {
        assert!(second.get(key).is_some(), "{key}");
    }
    let id = second["id"].as_i64().unwrap();
    let response = app.delete_session(&user.token, id).await;
    assert_eq!(response.status(), 204);
    app.assert_me_status(other["access_token"].as_str().unwrap(), 401)
        .await;
    // Gone now: 404.
    let again = app.delete_session(&user.token, id).await;
    problem(again, 404, "not_found").await;
    let bad = app.delete_session(&user.token, "abc").await;
    problem(bad, 422, "validation_failed").await;
}

#[actix_web::test]
async fn another_users_session_cannot_be_seen_or_revoked() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    let bob_sessions: Value = app.list_sessions(&bob.token).await.json().await.unwrap();
    let bob_sid = bob_sessions["items"][0]["id"].as_i64().unwrap();
    let alice_sessions: Value = app.list_sessions(&alice.token).await.json().await.unwrap();
    assert!(alice_sessions["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["id"] != bob_sid));
    let response = app.delete_session(&alice.token, bob_sid).await;
    problem(response, 404, "not_found").await;
    app.assert_me_status(&bob.token, 200).await;
}

// ---------- rate limiting ----------

#[actix_web::test]
async fn too_many_credential_attempts_from_one_client_get_429_with_retry_after() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "3")]).await;
    for _ in 0..3 {
        let r = app.post_login("nobody@example.com", GOOD_PASSWORD).await;
        assert_eq!(r.status(), 401);
    }
    let limited = app.post_login("nobody@example.com", GOOD_PASSWORD).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(limited.headers()["x-content-type-options"], "nosniff");
    problem(limited, 429, "rate_limited").await;
    // Registration shares the budget; the rest of the API does not.
    let register = app
        .post_register(&json!({"email": "x@example.com", "password": GOOD_PASSWORD}))
        .await;
    problem(register, 429, "rate_limited").await;
    assert_eq!(app.health_live().await.status(), 200);
}

#[actix_web::test]
async fn reading_the_account_does_not_spend_the_credential_budget() {
    // Sign-up and login spend 2 of 3; GET /users/me is not a credential
    // attempt (it counts against the per-user API limit), DELETE /users/me is.
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "3")]).await;
    let user = app.signed_up_user().await;
    for _ in 0..5 {
        app.assert_me_status(&user.token, 200).await;
    }
    let delete = |password: &'static str| {
        app.request(Method::DELETE, "/api/v1/users/me")
            .bearer_auth(&user.token)
            .json(&json!({ "password": password }))
            .send()
    };
    let answer = delete("wrong-password-1").await.unwrap();
    problem(answer, 422, "validation_failed").await;
    let answer = delete("wrong-password-2").await.unwrap();
    problem(answer, 429, "rate_limited").await;
}

#[actix_web::test]
async fn forwarded_for_is_ignored_unless_proxy_headers_are_trusted() {
    let untrusted = spawn_app_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "2")]).await;
    for i in 0..3 {
        let r = untrusted
            .login_forwarded_for(&format!("10.0.0.{i}"), "n@example.com", GOOD_PASSWORD)
            .await;
        assert_eq!(
            r.status(),
            if i < 2 { 401 } else { 429 },
            "spoofed header must not reset the budget"
        );
    }
    let trusted = spawn_app_with(&[
        ("AUTH_RATE_LIMIT_PER_MINUTE", "2"),
        ("TRUST_PROXY_HEADERS", "true"),
    ])
    .await;
    for i in 0..4 {
        let r = trusted
            .login_forwarded_for(&format!("10.0.0.{i}"), "n@example.com", GOOD_PASSWORD)
            .await;
        assert_eq!(r.status(), 401, "each proxied client has its own budget");
    }
}

// ---------- secrets never logged ----------

#[actix_web::test]
async fn passwords_and_tokens_never_reach_the_logs() {
    let app = spawn_app().await;
    let password = "Log-Sentinel-Passphrase-6612";
    app.register("canary@example.com", password).await;
    let pair = app.login("canary@example.com", password).await;
    let refreshed: Value = app
        .refresh(pair["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    // A reuse attempt logs a warning; it must not include the token.
    app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    app.post_login("canary@example.com", "Wrong-Sentinel-Pass-1")
        .await;
    let logs = captured_logs();
    for secret in [
        password,
        "Wrong-Sentinel-Pass-1",
        pair["access_token"].as_str().unwrap(),
        pair["refresh_token"].as_str().unwrap(),
        refreshed["refresh_token"].as_str().unwrap(),
        TEST_JWT_SECRET,
    ] {
        assert!(!logs.contains(secret), "secret in logs");
    }
}

#[actix_web::test]
async fn a_session_in_use_records_when_it_was_last_used() {
    let (app, user) = spawn_app_with_user().await;
    app.sql(&format!(
        "UPDATE sessions SET last_used_at = '2001-01-01 00:00:00' WHERE user_id = {};",
        user.id
    ));
    app.assert_me_status(&user.token, 200).await;
    let last_used = || async {
        let list: Value = app.list_sessions(&user.token).await.json().await.unwrap();
        list["items"][0]["last_used_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let used = last_used().await;
    assert!(!used.starts_with("2001"), "{used}");
    // The todo list checks the session in its own statement: an empty page
    // and a full one each record the use too.
    for todos in [0, 1] {
        if todos == 1 {
            app.create_todo(&user.token, json!({"title": "one"})).await;
        }
        app.sql(&format!(
            "UPDATE sessions SET last_used_at = '2001-01-01 00:00:00' WHERE user_id = {};",
            user.id
        ));
        let page: Value = app.list_todos(&user.token, &[]).await.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), todos);
        // Read straight from the database: any other endpoint would record
        // the use itself.
        let touched = app.scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = {} AND last_used_at > '2002-01-01'",
            user.id
        ));
        assert_eq!(touched, 1, "{todos} todos");
    }
}

#[actix_web::test]
async fn refresh_and_logout_bodies_follow_the_json_rules() {
    let (app, user) = spawn_app_with_user().await;
    let text = app
        .refresh_by_cookie_with_body(&user.refresh_token, "text/plain", "hello")
        .await;
    problem(text, 415, "unsupported_media_type").await;
    let unknown = app
        .post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": user.refresh_token, "extra": 1}),
        )
        .await;
    problem(unknown, 422, "validation_failed").await;
    let null_body = app
        .refresh_by_cookie_with_body(&user.refresh_token, "application/json", "null")
        .await;
    assert_eq!(null_body.status(), 200);
    let broken = app
        .send_body(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            "application/json",
            "{",
        )
        .await;
    problem(broken, 400, "validation_failed").await;
}
