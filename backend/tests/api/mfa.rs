//! Multi-factor authentication through the API, with real TOTP codes
//! computed by the test (totp-rs) from the secret the enrolment shows.
//!
//! TOTP codes are used once per user: a test that signs in twice within
//! one 30-second step uses the next step's code (accepted: clock skew) or
//! a recovery code, or forgets the used steps explicitly.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A fresh app with one user whose MFA is on.
async fn app_with_mfa_user() -> (TestApp, TestUser, Mfa) {
    let (app, user) = spawn_app_with_user().await;
    let mfa = app.enable_mfa(&user).await;
    (app, user, mfa)
}

fn set_cookie_names(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let text = v.to_str().unwrap();
            text.split('=').next().unwrap().to_owned()
        })
        .collect()
}

#[actix_web::test]
async fn enrolment_needs_the_password_and_shows_secret_uri_and_qr_code() {
    let (app, user) = spawn_app_with_user().await;

    let wrong = app.start_totp(&user.token, "Not-The-Password-1").await;
    let body = problem(wrong, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["password"]);

    let response = app.start_totp(&user.token, &user.password).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let enrolment: Value = response.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    // Base32 of at least 160 bits.
    assert!(secret.len() >= 32, "{secret}");
    assert!(secret
        .chars()
        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    assert!(totp_secret(secret).len() * 8 >= 160);
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    let account = user.email.replace('@', "%40");
    assert!(
        uri.starts_with(&format!("otpauth://totp/SecureTodo:{account}?")),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")));
    assert!(uri.contains("issuer=SecureTodo"));
    // SHA1, 6 digits and 30 s are the defaults the URI leaves implicit.
    assert!(!uri.contains("algorithm=") && !uri.contains("digits=") && !uri.contains("period="));
    let svg = enrolment["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
    assert!(!svg.contains("<script") && !svg.contains("href"));

    // Pending: MFA is off and the password alone still signs in.
    assert_eq!(app.me(&user.token).await["mfa_enabled"], false);
    let pair = app.login(&user.email, &user.password).await;
    assert!(pair["access_token"].is_string());
    assert_eq!(pair["user"]["mfa_enabled"], false);
}

#[actix_web::test]
async fn confirming_turns_mfa_on_returns_ten_codes_once_and_ends_other_sessions() {
    let (app, user) = spawn_app_with_user().await;
    let other = app.login(&user.email, &user.password).await;
    let other_token = other["access_token"].as_str().unwrap();

    let nothing_pending = app.confirm_totp(&user.token, "123456").await;
    problem(nothing_pending, 409, "conflict").await;

    let response = app.start_totp(&user.token, &user.password).await;
    let enrolment: Value = response.json().await.unwrap();
    let secret = totp_secret(enrolment["secret"].as_str().unwrap());

    for bad in ["12345", "abcdef", ""] {
        let malformed = app.confirm_totp(&user.token, bad).await;
        let body = problem(malformed, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), ["code"], "{bad}");
    }
    let wrong = app
        .confirm_totp(&user.token, &totp_code(&secret, -3600))
        .await;
    let body = problem(wrong, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["code"]);
    app.assert_me_status(other_token, 200).await;

    let response = app.confirm_totp(&user.token, &totp_code(&secret, 0)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let codes = recovery_codes(response).await;
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().collect::<HashSet<_>>().len(), 10);
    for code in &codes {
        // 24 characters of a 32-letter alphabet: 120 bits each.
        let letters: String = code.chars().filter(|c| *c != '-').collect();
        assert_eq!(letters.len(), 24, "{code}");
    }

    assert_eq!(app.me(&user.token).await["mfa_enabled"], true);
    app.assert_me_status(other_token, 401).await;
    let again = app.confirm_totp(&user.token, &totp_code(&secret, 30)).await;
    problem(again, 409, "conflict").await;
    let restart = app.start_totp(&user.token, &user.password).await;
    problem(restart, 409, "conflict").await;
    // Only hashes are stored.
    for code in &codes {
        let letters: String = code.chars().filter(|c| *c != '-').collect();
        assert_eq!(
            app.scalar(&format!(
                "SELECT COUNT(*) FROM mfa_recovery_codes WHERE code_hash LIKE '%{letters}%'"
            )),
            0
        );
    }
    assert_eq!(app.rows_of("mfa_recovery_codes", user.id), 10);
}

#[actix_web::test]
async fn login_with_mfa_on_gives_only_an_mfa_token_and_no_cookie() {
    let (app, user, mfa) = app_with_mfa_user().await;

    let response = app.post_login(&user.email, &user.password).await;
    assert_eq!(response.status(), 200);
    assert!(set_cookie_names(&response).is_empty());
    let body: Value = response.json().await.unwrap();
    assert_fields(&body, &["mfa_required", "mfa_token", "expires_in"]);
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["expires_in"], 300);
    let mfa_token = body["mfa_token"].as_str().unwrap();

    // Useless as a bearer token, anywhere.
    app.assert_me_status(mfa_token, 401).await;
    let todos = app.list_todos(mfa_token, &[]).await;
    problem(todos, 401, "unauthorized").await;
    let refresh = app.refresh(mfa_token).await;
    assert_eq!(refresh.status(), 401);

    let response = app
        .mfa_with_code(mfa_token, &totp_code(&mfa.secret, 30))
        .await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookie_names(&response);
    assert!(
        cookies.contains(&"securetodo_refresh".to_owned()),
        "{cookies:?}"
    );
    assert!(
        cookies.contains(&"securetodo_device".to_owned()),
        "{cookies:?}"
    );
    let pair: Value = response.json().await.unwrap();
    let token = pair["access_token"].as_str().unwrap();
    assert_eq!(pair["user"]["mfa_enabled"], true);
    app.assert_me_status(token, 200).await;
    // The refresh token works like any other.
    let refreshed = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200);

    // Single use: the token is gone, even with a fresh recovery code.
    let reuse = app
        .mfa_with_recovery_code(mfa_token, &mfa.recovery_codes[0])
        .await;
    problem(reuse, 401, "invalid_credentials").await;
}

#[actix_web::test]
async fn a_totp_code_already_accepted_is_refused_when_presented_again() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let code = totp_code(&mfa.secret, 30);
    let first = app.mfa_token(&user.email, &user.password).await;
    assert_eq!(app.mfa_with_code(&first, &code).await.status(), 200);

    let second = app.mfa_token(&user.email, &user.password).await;
    let replay = app.mfa_with_code(&second, &code).await;
    problem(replay, 401, "invalid_credentials").await;
    let event = {
        let admin = app.signed_up_user().await;
        app.make_admin(admin.id);
        app.latest_event(&admin.token, "mfa.code_failed").await
    };
    assert_eq!(event["detail"]["reason"], "replayed");
    assert_eq!(event["target_user_id"], user.id);
    // The token survived the refusal; a recovery code still signs in.
    let recovered = app
        .mfa_with_recovery_code(&second, &mfa.recovery_codes[0])
        .await;
    assert_eq!(recovered.status(), 200);
}

#[actix_web::test]
async fn two_racing_uses_of_one_code_cannot_both_win() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let code = totp_code(&mfa.secret, 30);
    let a = app.mfa_token(&user.email, &user.password).await;
    let b = app.mfa_token(&user.email, &user.password).await;
    let (ra, rb) = tokio::join!(app.mfa_with_code(&a, &code), app.mfa_with_code(&b, &code));
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);

    // One token, two different valid factors at once: one session only.
    app.forget_used_totp_steps(user.id);
    let c = app.mfa_token(&user.email, &user.password).await;
    let fresh = totp_code(&mfa.secret, 0);
    let (rc, rd) = tokio::join!(
        app.mfa_with_code(&c, &fresh),
        app.mfa_with_recovery_code(&c, &mfa.recovery_codes[1])
    );
    let mut statuses = [rc.status().as_u16(), rd.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
}

#[actix_web::test]
async fn the_mfa_step_validates_its_body() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let token = app.mfa_token(&user.email, &user.password).await;
    let code = totp_code(&mfa.secret, 30);
    let cases = [
        (json!({"mfa_token": token}), "code"),
        (
            json!({"mfa_token": token, "code": code, "recovery_code": mfa.recovery_codes[0]}),
            "code",
        ),
        (json!({"mfa_token": token, "code": "12345"}), "code"),
        (
            json!({"mfa_token": token, "recovery_code": "nope"}),
            "recovery_code",
        ),
        (json!({"mfa_token": "", "code": code}), "mfa_token"),
        (
            json!({"mfa_token": token, "code": code, "user_id": 1}),
            "user_id",
        ),
        (json!({"code": code}), "mfa_token"),
    ];
    for (body, field) in cases {
        let response = app.post_mfa(&body).await;
        let problem = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem), [field], "{body}");
    }
    app.assert_json_bodies_only(
        Method::POST,
        MFA_LOGIN,
        None,
        "{\"mfa_token\":",
        ("text/plain", "code=123456"),
    )
    .await;
    // None of that spent an attempt: the right code still works.
    let unknown = app.mfa_with_code("not-a-token-we-issued", &code).await;
    problem(unknown, 401, "invalid_credentials").await;
    assert_eq!(app.mfa_with_code(&token, &code).await.status(), 200);
}

#[actix_web::test]
async fn the_mfa_token_dies_after_five_wrong_codes() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let token = app.mfa_token(&user.email, &user.password).await;
    for _ in 0..5 {
        let wrong = app
            .mfa_with_code(&token, &totp_code(&mfa.secret, -3600))
            .await;
        problem(wrong, 401, "invalid_credentials").await;
    }
    let right = app.mfa_with_code(&token, &totp_code(&mfa.secret, 30)).await;
    problem(right, 401, "invalid_credentials").await;
}

#[actix_web::test]
async fn the_mfa_token_expires_after_five_minutes() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let token = app.mfa_token(&user.email, &user.password).await;
    // Five minutes pass (the challenge's clock is moved back, portably).
    app.sql(&format!(
        "UPDATE mfa_challenges SET expires_at = '2000-01-01 00:00:00' WHERE user_id = {}",
        user.id
    ));
    let late = app.mfa_with_code(&token, &totp_code(&mfa.secret, 30)).await;
    problem(late, 401, "invalid_credentials").await;
}

#[actix_web::test]
async fn wrong_codes_lock_strangers_out_but_never_the_owners_device() {
    let (app, user, mfa) = app_with_mfa_user().await;
    // The owner signs in once from their browser, which keeps the device cookie.
    let token = app.mfa_token(&user.email, &user.password).await;
    let response = app.mfa_with_code(&token, &totp_code(&mfa.secret, 30)).await;
    assert_eq!(response.status(), 200);
    let device = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().unwrap().strip_prefix("securetodo_device="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .next()
        .unwrap();

    // Someone who knows the password guesses codes.
    for _ in 0..5 {
        let stolen = app.mfa_token(&user.email, &user.password).await;
        let wrong = app
            .mfa_with_code(&stolen, &totp_code(&mfa.secret, -3600))
            .await;
        problem(wrong, 401, "invalid_credentials").await;
    }
    assert!(app.locked_until(user.id).is_some());
    // Locked: the password alone gets the same refusal as a wrong one.
    let refused = app.post_login(&user.email, &user.password).await;
    problem(refused, 401, "invalid_credentials").await;

    // The owner's browser spends its own budget and gets in.
    app.forget_used_totp_steps(user.id);
    let response = app
        .login_from_device(&user.email, &user.password, &device)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["mfa_token"].as_str().unwrap();
    let response = app.mfa_with_code(token, &totp_code(&mfa.secret, 0)).await;
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn the_mfa_step_is_rate_limited_with_the_credentials() {
    let app = spawn_app_with(&[("AUTH_RATE_LIMIT_PER_MINUTE", "6")]).await;
    let user = app.signed_up_user().await; // register + login: 2
    let mfa = app.enable_mfa(&user).await; // start + confirm: 4
    let token = app.mfa_token(&user.email, &user.password).await; // 5
    let wrong = app
        .mfa_with_code(&token, &totp_code(&mfa.secret, -3600))
        .await; // 6
    assert_eq!(wrong.status(), 401);
    let limited = app.mfa_with_code(&token, &totp_code(&mfa.secret, 30)).await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
}

#[actix_web::test]
async fn a_recovery_code_signs_in_once() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let code = &mfa.recovery_codes[4];
    let token = app.mfa_token(&user.email, &user.password).await;
    // Typed loosely (upper case, spaces for dashes), it is the same code.
    let typed = code.to_uppercase().replace('-', " ");
    assert_eq!(
        app.mfa_with_recovery_code(&token, &typed).await.status(),
        200
    );
    let token = app.mfa_token(&user.email, &user.password).await;
    let again = app.mfa_with_recovery_code(&token, code).await;
    problem(again, 401, "invalid_credentials").await;
}

#[actix_web::test]
async fn regenerating_recovery_codes_needs_password_and_code_and_retires_the_old_set() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let code = totp_code(&mfa.secret, 30);

    let wrong_password = app
        .regenerate_recovery_codes(&user.token, "Not-The-Password-1", &code)
        .await;
    let body = problem(wrong_password, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["password"]);
    let wrong_code = app
        .regenerate_recovery_codes(&user.token, &user.password, &totp_code(&mfa.secret, -3600))
        .await;
    let body = problem(wrong_code, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["code"]);

    let response = app
        .regenerate_recovery_codes(&user.token, &user.password, &code)
        .await;
    let fresh = recovery_codes(response).await;
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !mfa.recovery_codes.contains(c)));

    let token = app.mfa_token(&user.email, &user.password).await;
    let old = app
        .mfa_with_recovery_code(&token, &mfa.recovery_codes[0])
        .await;
    problem(old, 401, "invalid_credentials").await;
    assert_eq!(
        app.mfa_with_recovery_code(&token, &fresh[0]).await.status(),
        200
    );
}

#[actix_web::test]
async fn turning_mfa_off_needs_password_and_code() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let wrong_password = app
        .disable_mfa(
            &user.token,
            "Not-The-Password-1",
            &totp_code(&mfa.secret, 30),
        )
        .await;
    let body = problem(wrong_password, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["password"]);
    let wrong_code = app
        .disable_mfa(&user.token, &user.password, &totp_code(&mfa.secret, -3600))
        .await;
    let body = problem(wrong_code, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["code"]);
    let malformed = app.disable_mfa(&user.token, &user.password, "12").await;
    let body = problem(malformed, 422, "validation_failed").await;
    assert_eq!(error_fields(&body), ["code"]);
    assert_eq!(app.me(&user.token).await["mfa_enabled"], true);

    // A recovery code is a code too.
    let response = app
        .disable_mfa(&user.token, &user.password, &mfa.recovery_codes[2])
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.me(&user.token).await["mfa_enabled"], false);
    let pair = app.login(&user.email, &user.password).await;
    assert!(pair["access_token"].is_string());
    let off_again = app
        .disable_mfa(&user.token, &user.password, &totp_code(&mfa.secret, 30))
        .await;
    problem(off_again, 409, "conflict").await;
}

#[actix_web::test]
async fn wrong_codes_inside_a_session_end_it_at_the_fifth() {
    let (app, user, mfa) = app_with_mfa_user().await;
    for _ in 0..5 {
        let wrong = app
            .disable_mfa(&user.token, &user.password, &totp_code(&mfa.secret, -3600))
            .await;
        assert_ne!(wrong.status(), 204);
    }
    app.assert_me_status(&user.token, 401).await;
}

#[actix_web::test]
async fn an_admin_resets_a_users_mfa_and_ends_their_sessions() {
    let (app, user, mfa) = app_with_mfa_user().await;
    let admin = app.signed_up_user().await;
    app.make_admin(admin.id);
    let outsider = app.signed_up_user().await;

    let forbidden = app.admin_reset_mfa(&outsider.token, user.id).await;
    problem(forbidden, 403, "forbidden").await;
    let missing = app.admin_reset_mfa(&admin.token, 999_999).await;
    problem(missing, 404, "not_found").await;
    let bad_id = app.admin_reset_mfa(&admin.token, "x").await;
    problem(bad_id, 422, "validation_failed").await;

    let listed = app.admin_find_user(&admin.token, &user.email).await;
    assert_eq!(listed["mfa_enabled"], true);

    let pending = app.mfa_token(&user.email, &user.password).await;
    let response = app.admin_reset_mfa(&admin.token, user.id).await;
    assert_eq!(response.status(), 204);
    app.assert_me_status(&user.token, 401).await;
    // A login that was waiting for its code is over too.
    let late = app
        .mfa_with_code(&pending, &totp_code(&mfa.secret, 30))
        .await;
    problem(late, 401, "invalid_credentials").await;

    let listed = app.admin_find_user(&admin.token, &user.email).await;
    assert_eq!(listed["mfa_enabled"], false);
    let pair = app.login(&user.email, &user.password).await;
    assert!(pair["access_token"].is_string());
    let event = app.latest_event(&admin.token, "admin.mfa_reset").await;
    assert_eq!(event["actor_user_id"], admin.id);
    assert_eq!(event["target_user_id"], user.id);
    assert_eq!(event["detail"]["was_enabled"], true);
}

#[actix_web::test]
async fn every_step_is_audited_and_no_event_or_log_holds_a_secret_or_code() {
    let (app, user) = spawn_app_with_user().await;
    let admin = app.signed_up_user().await;
    app.make_admin(admin.id);

    let enrolment: Value = app
        .start_totp(&user.token, &user.password)
        .await
        .json()
        .await
        .unwrap();
    let secret_b32 = enrolment["secret"].as_str().unwrap().to_owned();
    let secret = totp_secret(&secret_b32);
    let confirm_code = totp_code(&secret, 0);
    let recovery = recovery_codes(app.confirm_totp(&user.token, &confirm_code).await).await;
    let wrong_code = totp_code(&secret, -3600);
    let token = app.mfa_token(&user.email, &user.password).await;
    app.mfa_with_code(&token, &wrong_code).await;
    let pair: Value = app
        .mfa_with_recovery_code(&token, &recovery[0])
        .await
        .json()
        .await
        .unwrap();
    let session = pair["access_token"].as_str().unwrap();
    let fresh = recovery_codes(
        app.regenerate_recovery_codes(session, &user.password, &totp_code(&secret, 30))
            .await,
    )
    .await;
    let response = app.disable_mfa(session, &user.password, &fresh[0]).await;
    assert_eq!(response.status(), 204);
    // Nor does any later response: the account shows only the flag.
    let me = app.me(session).await;
    assert_eq!(me["mfa_enabled"], false);
    assert!(!me.to_string().contains(&secret_b32));
    app.admin_reset_mfa(&admin.token, user.id).await;

    let types = app.audit_types();
    for expected in [
        "mfa.enrolment_started",
        "mfa.enabled",
        "mfa.code_failed",
        "mfa.recovery_code_used",
        "mfa.recovery_codes_regenerated",
        "mfa.disabled",
        "admin.mfa_reset",
    ] {
        assert!(types.iter().any(|t| t == expected), "{expected}: {types:?}");
    }
    let success = app.latest_event(&admin.token, "auth.login_succeeded").await;
    assert_eq!(success["detail"]["mfa"], "recovery_code");

    let (events, _) = app.walk(&admin.token, AUDIT_EVENTS, &[]).await;
    let events = serde_json::to_string(&events).unwrap();
    let logs = captured_logs();
    let mut secrets = vec![secret_b32.clone(), confirm_code, wrong_code, token.clone()];
    secrets.extend(recovery.iter().cloned());
    secrets.extend(fresh.iter().cloned());
    for secret in &secrets {
        assert!(!events.contains(secret.as_str()), "audit holds {secret}");
        assert!(!logs.contains(secret.as_str()), "log holds {secret}");
    }
}

#[actix_web::test]
async fn mfa_routes_need_a_session() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::POST, MY_TOTP),
        (Method::POST, MY_TOTP_CONFIRM),
        (Method::POST, MY_RECOVERY_CODES),
        (Method::DELETE, MY_MFA),
    ] {
        let response = app
            .send(method.clone(), path, None, Some(&json!({"password": "x"})))
            .await;
        problem(response, 401, "unauthorized").await;
    }
}
