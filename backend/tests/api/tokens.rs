//! Personal API tokens, tested as an attacker would: the secret shown
//! once and stored as a hash, scopes, the todo endpoints only, expiry,
//! deletion, disable, password change, the 20-token cap, other users.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    error_fields, problem, sorted_statuses, spawn_app, spawn_app_with_user, TestApp, MY_TOKENS,
};

const BOTH: [&str; 2] = ["todos:read", "todos:write"];

/// The status of `GET /todos` with `token`: does the token still work?
async fn todos_status(app: &TestApp, token: &str) -> u16 {
    app.list_todos(token, &[]).await.status().as_u16()
}

async fn insufficient_scope(response: reqwest::Response) {
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\""
    );
    problem(response, 403, "insufficient_scope").await;
}

#[actix_web::test]
async fn a_new_token_shows_its_secret_once_and_only_its_hash_is_stored() {
    let (app, user) = spawn_app_with_user().await;
    let response = app
        .post_api_token(
            &user.token,
            &json!({"name": "  backup script ", "scopes": ["todos:read"], "expires_in_days": 7, "password": user.password}),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let secret = created["token"].as_str().unwrap();
    assert!(secret.starts_with("stp_") && secret.len() >= 47, "{secret}");
    assert_eq!(created["name"], "backup script");
    assert_eq!(created["scopes"], json!(["todos:read"]));
    assert!(created["last_used_at"].is_null());
    let created_at =
        chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires_at - created_at).num_days(), 7);

    // The database holds the hash, never the secret.
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM api_tokens WHERE token_hash = '{secret}'"
        )),
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM api_tokens WHERE length(token_hash) = 64"),
        1
    );
    // The list shows metadata, never the secret.
    let list: Value = app.list_api_tokens(&user.token).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], created["id"]);
    assert!(list["items"][0].get("token").is_none());
    assert!(list["next_cursor"].is_null());
    assert!(!list.to_string().contains(&secret[4..]));
    // Creation is audited, without the secret.
    app.make_admin(user.id);
    let event = app.latest_event(&user.token, "token.created").await;
    assert_eq!(event["detail"]["token_id"], created["id"]);
    assert_eq!(event["detail"]["name"], "backup script");
    assert!(!event.to_string().contains(&secret[4..]));
}

#[actix_web::test]
async fn a_token_works_on_the_todo_endpoints_within_its_scopes() {
    let (app, user) = spawn_app_with_user().await;
    let todo = app
        .create_todo(&user.token, json!({"title": "from the SPA"}))
        .await;
    let id = todo["id"].as_i64().unwrap();
    let read = app.api_token(&user, &["todos:read"]).await;
    let write = app.api_token(&user, &["todos:write"]).await;
    let both = app.api_token(&user, &BOTH).await;

    // todos:read: reads only.
    let page = app.todo_page(&read, &[]).await;
    assert_eq!(page["items"][0]["id"], id);
    assert_eq!(app.get_todo(&read, id).await.status(), 200);
    insufficient_scope(app.post_todo(&read, &json!({"title": "x"})).await).await;
    insufficient_scope(
        app.update_todo(&read, id, &json!({"completed": true}), None)
            .await,
    )
    .await;
    insufficient_scope(app.delete_todo(&read, id, None).await).await;
    insufficient_scope(app.clear_completed(&read, "?completed=true").await).await;

    // todos:write: writes only.
    insufficient_scope(app.list_todos(&write, &[]).await).await;
    insufficient_scope(app.get_todo(&write, id).await).await;
    let created = app
        .create_todo(&write, json!({"title": "from a script"}))
        .await;
    assert_eq!(
        app.update_todo(&write, id, &json!({"completed": true}), None)
            .await
            .status(),
        200
    );

    // Both: everything, and the todos are the user's own.
    let page = app.todo_page(&both, &[]).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let seen = app.todo_page(&user.token, &[]).await;
    assert!(seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == created["id"]));
    assert_eq!(app.delete_todo(&both, id, None).await.status(), 204);
    let cleared = app.clear_completed(&both, "?completed=true").await;
    assert_eq!(cleared.status(), 200);
}

#[actix_web::test]
async fn a_token_cannot_reach_any_other_endpoint_not_even_an_admins() {
    let app = spawn_app().await;
    let admin = app.signed_up_user().await;
    app.make_admin(admin.id);
    let token = app.api_token(&admin, &BOTH).await;
    let doc: Value = serde_json::from_str(&securetodo::openapi::document_json().unwrap()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation["security"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let needs_auth = security.iter().any(|s| s.get("bearer").is_some());
            let takes_tokens = security.iter().any(|s| s.get("api_token").is_some());
            let path = path.replace("{id}", "1");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .request(method.clone(), &path)
                .bearer_auth(&token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            if needs_auth && !takes_tokens || path == "/api/v1/auth/logout" {
                assert_eq!(status, 403, "{method} {path}");
                insufficient_scope(response).await;
                checked += 1;
            } else if takes_tokens {
                assert_ne!(status, 403, "{method} {path} refuses a full-scope token");
                assert_ne!(status, 401, "{method} {path} refuses a full-scope token");
            }
        }
    }
    assert!(checked >= 15, "only {checked} operations checked");
    // The admin's session is untouched.
    app.assert_me_status(&admin.token, 200).await;
}

#[actix_web::test]
async fn unknown_deleted_expired_or_disabled_tokens_are_401() {
    let (app, user) = spawn_app_with_user().await;
    for bogus in [
        "stp_",
        "stp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "stp_' OR 1=1 --",
    ] {
        let response = app.list_todos(bogus, &[]).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        problem(response, 401, "unauthorized").await;
    }

    let deleted = app.create_api_token(&user, &BOTH).await;
    let secret = deleted["token"].as_str().unwrap();
    assert_eq!(todos_status(&app, secret).await, 200);
    let response = app.delete_api_token(&user.token, &deleted["id"]).await;
    assert_eq!(response.status(), 204);
    assert_eq!(todos_status(&app, secret).await, 401);
    problem(
        app.delete_api_token(&user.token, &deleted["id"]).await,
        404,
        "not_found",
    )
    .await;

    let expired = app.create_api_token(&user, &BOTH).await;
    let secret = expired["token"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE api_tokens SET expires_at = '2000-01-01 00:00:00' WHERE id = {}",
        expired["id"]
    ));
    assert_eq!(todos_status(&app, secret).await, 401);
    // An expired token is not listed and does not count as live.
    let list: Value = app.list_api_tokens(&user.token).await.json().await.unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());

    // A disabled user's token stops at once, whatever else happens.
    let live = app.api_token(&user, &BOTH).await;
    app.sql(&format!(
        "UPDATE users SET disabled = true WHERE id = {}",
        user.id
    ));
    assert_eq!(todos_status(&app, &live).await, 401);
}

#[actix_web::test]
async fn tokens_end_when_the_password_changes_or_the_account_is_disabled_or_deleted() {
    let app = spawn_app().await;
    let admin = app.signed_up_user().await;
    app.make_admin(admin.id);

    let user = app.signed_up_user().await;
    let token = app.api_token(&user, &BOTH).await;
    let response = app
        .change_password(
            &user.token,
            &json!({"current_password": user.password, "new_password": "A-Whole-New-Passphrase-31"}),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(todos_status(&app, &token).await, 401);
    let event = app.latest_event(&admin.token, "token.revoked").await;
    assert_eq!(event["target_user_id"], user.id);
    assert_eq!(
        event["detail"],
        json!({"tokens": 1, "reason": "password_changed"})
    );

    let user = app.signed_up_user().await;
    let token = app.api_token(&user, &BOTH).await;
    app.admin_update_user_ok(&admin.token, user.id, json!({"disabled": true}))
        .await;
    assert_eq!(todos_status(&app, &token).await, 401);
    // Enabling the account again does not bring the token back.
    app.admin_update_user(&admin.token, user.id, json!({"disabled": false}))
        .await;
    assert_eq!(todos_status(&app, &token).await, 401);
    let event = app.latest_event(&admin.token, "token.revoked").await;
    assert_eq!(event["detail"]["reason"], "account_disabled");

    let user = app.signed_up_user().await;
    let token = app.api_token(&user, &BOTH).await;
    assert_eq!(
        app.delete_me(&user.token, &user.password).await.status(),
        204
    );
    assert_eq!(todos_status(&app, &token).await, 401);
    assert_eq!(app.rows_of("api_tokens", user.id), 0);
}

#[actix_web::test]
async fn creation_checks_every_field_and_the_password() {
    let (app, user) = spawn_app_with_user().await;
    let valid = json!({"name": "ci", "scopes": ["todos:read"], "expires_in_days": 30, "password": user.password});
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (with("name", json!("")), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("x".repeat(101))), "name"),
        (with("name", json!("line\nbreak")), "name"),
        (with("name", json!(5)), "name"),
        (with("scopes", json!([])), "scopes"),
        (with("scopes", json!(["todos:delete"])), "scopes"),
        (with("scopes", json!(["admin"])), "scopes"),
        (with("scopes", json!("todos:read")), "scopes"),
        (with("expires_in_days", json!(0)), "expires_in_days"),
        (with("expires_in_days", json!(366)), "expires_in_days"),
        (with("expires_in_days", json!(-1)), "expires_in_days"),
        (with("expires_in_days", json!(1.5)), "expires_in_days"),
        (with("user_id", json!(1)), "user_id"),
        (with("token", json!("stp_chosen")), "token"),
        (without("password"), "password"),
        (without("scopes"), "scopes"),
        (with("password", json!("not-my-password")), "password"),
    ];
    for (body, field) in cases {
        let response = app.post_api_token(&user.token, &body).await;
        let p = problem(response, 422, "validation_failed").await;
        assert!(
            error_fields(&p).iter().any(|f| f.starts_with(field)),
            "{body}: {p}"
        );
    }
    let list: Value = app.list_api_tokens(&user.token).await.json().await.unwrap();
    assert!(
        list["items"].as_array().unwrap().is_empty(),
        "nothing was created"
    );
    // The boundaries are accepted; repeated scopes count once.
    for (name, days) in [("x".repeat(100), 1), ("é".repeat(100), 365)] {
        let body = json!({"name": name, "scopes": ["todos:write", "todos:write"], "expires_in_days": days, "password": user.password});
        let response = app.post_api_token(&user.token, &body).await;
        assert_eq!(response.status(), 201, "{name} {days}");
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["scopes"], json!(["todos:write"]));
    }
}

#[actix_web::test]
async fn at_most_twenty_live_tokens_even_when_created_at_once() {
    let (app, user) = spawn_app_with_user().await;
    let body = json!({"name": "ci", "scopes": ["todos:read"], "expires_in_days": 30, "password": user.password});
    for _ in 0..15 {
        assert_eq!(app.post_api_token(&user.token, &body).await.status(), 201);
    }
    // Ten at once for the last five places.
    let racing = (0..10).map(|_| app.post_api_token(&user.token, &body));
    let statuses = sorted_statuses(&futures_util::future::join_all(racing).await);
    assert_eq!(statuses, [[201_u16; 5], [409; 5]].concat());
    problem(
        app.post_api_token(&user.token, &body).await,
        409,
        "quota_exceeded",
    )
    .await;
    // An expired token frees its place.
    app.sql(&format!(
        "UPDATE api_tokens SET expires_at = '2000-01-01 00:00:00' WHERE id = (SELECT MIN(id) FROM api_tokens WHERE user_id = {})",
        user.id
    ));
    assert_eq!(app.post_api_token(&user.token, &body).await.status(), 201);
}

#[actix_web::test]
async fn tokens_of_other_users_can_be_neither_listed_nor_deleted() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    let bobs = app.create_api_token(&bob, &BOTH).await;
    let bobs_secret = bobs["token"].as_str().unwrap();
    problem(
        app.delete_api_token(&alice.token, &bobs["id"]).await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.delete_api_token(&alice.token, "abc").await,
        422,
        "validation_failed",
    )
    .await;
    let list: Value = app
        .list_api_tokens(&alice.token)
        .await
        .json()
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().is_empty());
    assert_eq!(todos_status(&app, bobs_secret).await, 200);
    // Bob's token sees Bob's todos only.
    app.create_todo(&alice.token, json!({"title": "alice's"}))
        .await;
    let page = app.todo_page(bobs_secret, &[]).await;
    assert!(page["items"].as_array().unwrap().is_empty());
    // Deletion is audited.
    assert_eq!(
        app.delete_api_token(&bob.token, &bobs["id"]).await.status(),
        204
    );
    assert!(app.audit_types().contains(&"token.deleted".to_owned()));
}

#[actix_web::test]
async fn last_use_is_recorded_at_most_once_a_minute() {
    let (app, user) = spawn_app_with_user().await;
    let created = app.create_api_token(&user, &["todos:read"]).await;
    let secret = created["token"].as_str().unwrap();
    let id = created["id"].as_i64().unwrap();
    let last_used = || async {
        let list: Value = app.list_api_tokens(&user.token).await.json().await.unwrap();
        list["items"][0]["last_used_at"].clone()
    };
    assert!(last_used().await.is_null());
    assert_eq!(todos_status(&app, secret).await, 200);
    let first = last_used().await;
    assert!(first.is_string());
    // A use within the minute writes nothing.
    let recent = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(30);
    app.sql(&format!(
        "UPDATE api_tokens SET last_used_at = '{}' WHERE id = {id}",
        recent.format("%Y-%m-%d %H:%M:%S%.f")
    ));
    assert_eq!(todos_status(&app, secret).await, 200);
    let unchanged = last_used().await;
    assert!(unchanged
        .as_str()
        .unwrap()
        .starts_with(&recent.format("%Y-%m-%dT%H:%M:%S").to_string()));
    // After a minute, the next use is recorded.
    app.sql(&format!(
        "UPDATE api_tokens SET last_used_at = '2000-01-01 00:00:00' WHERE id = {id}"
    ));
    assert_eq!(todos_status(&app, secret).await, 200);
    assert!(!last_used().await.as_str().unwrap().starts_with("2000"));
}

#[actix_web::test]
async fn a_session_access_token_is_not_mistaken_for_an_api_token() {
    let (app, user) = spawn_app_with_user().await;
    // A JWT works everywhere as before; a token-shaped string never
    // reaches the JWT verifier (and a JWT never reaches the token lookup).
    assert_eq!(todos_status(&app, &user.token).await, 200);
    app.assert_me_status(&user.token, 200).await;
    let response = app.get_me(&format!("stp_{}", user.token)).await;
    problem(response, 401, "unauthorized").await;
}

#[actix_web::test]
async fn tokens_end_when_mfa_is_turned_off_or_reset_by_an_admin() {
    let app = spawn_app().await;
    let admin = app.signed_up_user().await;
    app.make_admin(admin.id);

    let user = app.signed_up_user().await;
    let mfa = app.enable_mfa(&user).await;
    let token = app.api_token(&user, &BOTH).await;
    assert_eq!(todos_status(&app, &token).await, 200);
    let response = app
        .disable_mfa(&user.token, &user.password, &mfa.recovery_codes[0])
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(todos_status(&app, &token).await, 401);
    let event = app.latest_event(&admin.token, "token.revoked").await;
    assert_eq!(event["detail"]["reason"], "mfa_disabled");

    let user = app.signed_up_user().await;
    app.enable_mfa(&user).await;
    let token = app.api_token(&user, &BOTH).await;
    let response = app.admin_reset_mfa(&admin.token, user.id).await;
    assert_eq!(response.status(), 204);
    assert_eq!(todos_status(&app, &token).await, 401);
    let event = app.latest_event(&admin.token, "token.revoked").await;
    assert_eq!(event["detail"]["reason"], "mfa_reset");
}

/// The todo list checks its token in its own database call rather than in
/// the gate (`DeferredCaller`), and keeps the gate's promise: a bad token
/// is 401 and a token without `todos:read` 403 before anything about the
/// query; a cursor works for its owner's list only, whatever the credential.
#[actix_web::test]
async fn the_list_checks_its_token_before_its_query() {
    let (app, user) = spawn_app_with_user().await;
    for title in ["one", "two", "three"] {
        app.create_todo(&user.token, json!({"title": title})).await;
    }
    let read = app.api_token(&user, &["todos:read"]).await;
    let write = app.api_token(&user, &["todos:write"]).await;
    let unknown = format!("{}x", &read[..read.len() - 1]);
    let long = "x".repeat(201);
    let bad_queries: [&[(&str, &str)]; 4] = [
        &[("limit", "abc")],
        &[("q", long.as_str())],
        &[("cursor", "forged")],
        &[("unknown", "1")],
    ];
    for params in bad_queries {
        insufficient_scope(app.list_todos(&write, params).await).await;
        problem(app.list_todos(&unknown, params).await, 401, "unauthorized").await;
        let response = app.list_todos(&read, params).await;
        assert_eq!(response.status(), 422, "{params:?}");
    }
    problem(app.list_todos(&unknown, &[]).await, 401, "unauthorized").await;

    // A cursor from the owner's session list walks on with the token.
    let first = app.todo_page(&user.token, &[("limit", "2")]).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .todo_page(&read, &[("limit", "2"), ("cursor", cursor)])
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    // Another user's token cannot walk it: 422, and nothing of the list.
    let other = app.signed_up_user().await;
    let theirs = app.api_token(&other, &["todos:read"]).await;
    let response = app
        .list_todos(&theirs, &[("limit", "2"), ("cursor", cursor)])
        .await;
    let fields = error_fields(&problem(response, 422, "validation_failed").await);
    assert_eq!(fields, ["cursor"]);
    // A deleted token is 401 on the list at once.
    let tokens: Value = app.get_json(&user.token, MY_TOKENS, &[]).await;
    for token in tokens["items"].as_array().unwrap() {
        let id = token["id"].as_i64().unwrap();
        assert_eq!(app.delete_api_token(&user.token, id).await.status(), 204);
    }
    problem(app.list_todos(&read, &[]).await, 401, "unauthorized").await;
}
