//! The rules that must hold under concurrent requests, on either backend
//! (SQLite's database-wide write lock, or PostgreSQL's row locks and
//! conditional writes with no global lock). Each test lines its requests up
//! behind a held write lock (`hold_write_lock_for`), so that they all reach
//! their write transaction before any of them commits, and then race.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{sorted_statuses, spawn_app, spawn_app_with_user, REGISTER};

const HOLD: Duration = Duration::from_millis(800);

#[actix_web::test]
async fn of_two_racing_refreshes_one_wins_and_reuse_ends_the_session() {
    let (app, user) = spawn_app_with_user().await;
    let lock = app.hold_write_lock_for(HOLD);
    let responses = join_all((0..2).map(|_| app.refresh(&user.refresh_token))).await;
    lock.join().unwrap();
    // Exactly one rotation; the other saw a used token: never a 500.
    assert_eq!(sorted_statuses(&responses), [200, 401]);
    let mut winner = None;
    for response in responses {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if status == 200 {
            winner = Some(body["refresh_token"].as_str().unwrap().to_owned());
        }
    }
    // The loser presented a token already used: reuse detection ended the
    // whole session, so the winner's new token is dead too.
    let winner = winner.unwrap();
    assert_eq!(app.refresh(&winner).await.status(), 401);
    assert_eq!(app.me_status(&user.token).await, 401);
    assert!(app
        .audit_types()
        .iter()
        .any(|t| t == "auth.refresh_reuse_detected"));
}

#[actix_web::test]
async fn concurrent_wrong_passwords_all_count() {
    let (app, user) = spawn_app_with_user().await;
    let lock = app.hold_write_lock_for(HOLD);
    let responses =
        join_all((0..4).map(|_| app.post_login(&user.email, "Wrong-Passphrase-000"))).await;
    lock.join().unwrap();
    assert!(responses.iter().all(|r| r.status() == 401));
    // No lost update: four failures, four counted (the fifth would lock).
    assert_eq!(
        app.scalar(&format!(
            "SELECT failed_logins FROM users WHERE id = {}",
            user.id
        )),
        4
    );
    let fifth = app.post_login(&user.email, "Wrong-Passphrase-000").await;
    assert_eq!(fifth.status(), 401);
    assert!(app.locked_until(user.id).is_some(), "the fifth locks");
}

#[actix_web::test]
async fn concurrent_registrations_of_one_email_make_one_account_and_409s() {
    let app = spawn_app().await;
    let lock = app.hold_write_lock_for(HOLD);
    let body = json!({"email": "race@example.com", "password": "Racing-Passphrase-2291"});
    let responses = join_all((0..5).map(|_| app.post_json(REGISTER, &body))).await;
    lock.join().unwrap();
    assert_eq!(sorted_statuses(&responses), [201, 409, 409, 409, 409]);
    for response in responses.into_iter().filter(|r| r.status() == 409) {
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "email_taken");
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM users WHERE email = 'race@example.com'"),
        1
    );
}

#[actix_web::test]
async fn concurrent_edits_with_one_etag_let_exactly_one_through() {
    let (app, user) = spawn_app_with_user().await;
    let created = app
        .create_todo(&user.token, json!({"title": "shared"}))
        .await;
    let id = created["id"].as_i64().unwrap();
    let etag = app.get_todo(&user.token, id).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let lock = app.hold_write_lock_for(HOLD);
    let edits = (0..3).map(|n| {
        let body = json!({"title": format!("edit {n}")});
        let etag = etag.clone();
        let token = user.token.clone();
        let app = &app;
        async move { app.update_todo(&token, id, &body, Some(&etag)).await }
    });
    let responses = join_all(edits).await;
    lock.join().unwrap();
    assert_eq!(sorted_statuses(&responses), [200, 412, 412]);
    assert_eq!(
        app.scalar(&format!("SELECT version FROM todos WHERE id = {id}")),
        2,
        "one change, one version"
    );
}
