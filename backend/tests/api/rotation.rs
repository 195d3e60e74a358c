//! `JWT_PREVIOUS_SECRETS`: rotating the signing key without signing anyone
//! out. Tokens name their key (`kid`); retired keys still verify the tokens
//! and cursors they signed while listed, and only the current key signs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::helpers::{problem, spawn_app_with, TestApp, ADMIN_USERS, TEST_JWT_SECRET};

const NEW_SECRET: &str = "rotated-secret-0123456789abcdef0123456789";

/// The same database (SQLite file or PostgreSQL database) served with
/// other keys. The first app must live on: it owns the database.
async fn restarted(first: &TestApp, keys: &[(&str, &str)]) -> TestApp {
    let url = first.database.url();
    let mut vars = vec![("DATABASE_URL", url.as_str())];
    vars.extend_from_slice(keys);
    spawn_app_with(&vars).await
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

#[actix_web::test]
async fn tokens_name_their_key_by_a_digest_never_the_key() {
    let app = spawn_app_with(&[]).await;
    let user = app.signed_up_user().await;
    let header = header_of(&user.token);
    let kid = header["kid"].as_str().unwrap();
    assert_eq!(kid.len(), 16);
    assert!(!TEST_JWT_SECRET.contains(kid));
    assert_eq!(header["alg"], "HS256");
}

#[actix_web::test]
async fn a_token_and_a_cursor_of_a_retired_key_work_while_the_key_is_listed() {
    // Signed under the old key (TEST_JWT_SECRET).
    let old = spawn_app_with(&[]).await;
    let admin = old.signed_up_user().await;
    old.make_admin(admin.id);
    old.signed_up_user().await;
    let page: Value = old
        .get_json(&admin.token, ADMIN_USERS, &[("limit", "1")])
        .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();

    // Rotated, the old key listed as previous: both still work.
    let rotated = restarted(
        &old,
        &[
            ("JWT_SECRET", NEW_SECRET),
            ("JWT_PREVIOUS_SECRETS", TEST_JWT_SECRET),
        ],
    )
    .await;
    rotated.assert_me_status(&admin.token, 200).await;
    let next = rotated
        .get_json(
            &admin.token,
            ADMIN_USERS,
            &[("limit", "1"), ("cursor", &cursor)],
        )
        .await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1);
    // Only the current key signs: a fresh token names the new key, which
    // the old deployment does not know.
    let fresh = rotated.login(&admin.email, &admin.password).await;
    let fresh_token = fresh["access_token"].as_str().unwrap();
    assert_ne!(
        header_of(fresh_token)["kid"],
        header_of(&admin.token)["kid"]
    );
    old.assert_me_status(fresh_token, 401).await;

    // The old key no longer listed: neither works.
    let retired = restarted(&old, &[("JWT_SECRET", NEW_SECRET)]).await;
    retired.assert_me_status(&admin.token, 401).await;
    let response = retired
        .request(reqwest::Method::GET, ADMIN_USERS)
        .bearer_auth(fresh_token)
        .query(&[("limit", "1"), ("cursor", cursor.as_str())])
        .send()
        .await
        .unwrap();
    problem(response, 422, "validation_failed").await;
    retired.assert_me_status(fresh_token, 200).await;
}
