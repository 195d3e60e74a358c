//! `Idempotency-Key` on `POST /todos` and `POST /todos/{id}/restore`.

use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, spawn_app_with_user, TODOS};

const BODY: &str = r#"{"title":"Pay rent","priority":"high"}"#;

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[actix_web::test]
async fn a_repeated_create_replays_the_first_response_without_a_second_todo() {
    let (app, user) = spawn_app_with_user().await;
    let first = app
        .post_todo_with_key(&user.token, BODY, "rent-2026-12")
        .await;
    assert_eq!(first.status(), 201);
    assert_eq!(header(&first, "idempotent-replayed"), None);
    let location = header(&first, "location").unwrap();
    let tag = header(&first, "etag").unwrap();
    let body = first.bytes().await.unwrap();

    let again = app
        .post_todo_with_key(&user.token, BODY, "rent-2026-12")
        .await;
    assert_eq!(again.status(), 201);
    assert_eq!(
        header(&again, "idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(header(&again, "location").unwrap(), location);
    assert_eq!(header(&again, "etag").unwrap(), tag);
    assert_eq!(again.bytes().await.unwrap(), body);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 1);

    // A new key acts again; no key always acts.
    assert_eq!(
        app.post_todo_with_key(&user.token, BODY, "rent-2027-01")
            .await
            .status(),
        201
    );
    app.create_todo(
        &user.token,
        json!({"title": "Pay rent", "priority": "high"}),
    )
    .await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 3);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_422() {
    let (app, user) = spawn_app_with_user().await;
    app.post_todo_with_key(&user.token, BODY, "k1").await;
    // Byte for byte: the same JSON spelled differently is another body.
    for other in [
        r#"{"title":"Pay rent","priority":"low"}"#,
        r#"{"title": "Pay rent","priority":"high"}"#,
        r#"{"priority":"high","title":"Pay rent"}"#,
    ] {
        let response = app.post_todo_with_key(&user.token, other, "k1").await;
        problem(response, 422, "idempotency_key_reused").await;
    }
    // Another endpoint with the same key is another request too.
    let restore = app.restore_todo(&user.token, 1, Some("k1")).await;
    problem(restore, 422, "idempotency_key_reused").await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 1);
}

#[actix_web::test]
async fn keys_belong_to_one_user() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    let first = app.post_todo_with_key(&alice.token, BODY, "shared").await;
    let first: Value = first.json().await.unwrap();
    let response = app.post_todo_with_key(&bob.token, BODY, "shared").await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "idempotent-replayed"), None);
    let bobs: Value = response.json().await.unwrap();
    assert_ne!(bobs["id"], first["id"], "Bob never sees Alice's response");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 2);
}

#[actix_web::test]
async fn malformed_keys_are_400_naming_the_header() {
    let (app, user) = spawn_app_with_user().await;
    let too_long = "k".repeat(256);
    let bad: Vec<reqwest::header::HeaderValue> = vec![
        reqwest::header::HeaderValue::from_static(""),
        reqwest::header::HeaderValue::from_str(&too_long).unwrap(),
        reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        reqwest::header::HeaderValue::from_bytes(b"tab\there").unwrap(),
    ];
    for value in bad {
        let response = app
            .request(reqwest::Method::POST, TODOS)
            .bearer_auth(&user.token)
            .header("content-type", "application/json")
            .header("idempotency-key", value.clone())
            .body(BODY)
            .send()
            .await
            .unwrap();
        let body = problem(response, 400, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "Idempotency-Key", "{value:?}");
    }
    let twice = app
        .request(reqwest::Method::POST, TODOS)
        .bearer_auth(&user.token)
        .header("content-type", "application/json")
        .header("idempotency-key", "a")
        .header("idempotency-key", "b")
        .body(BODY)
        .send()
        .await
        .unwrap();
    problem(twice, 400, "validation_failed").await;
    assert_eq!(
        app.post_todo_with_key(&user.token, BODY, &"k".repeat(255))
            .await
            .status(),
        201
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 1);
}

#[actix_web::test]
async fn a_duplicate_while_the_first_is_in_flight_is_409() {
    let (app, user) = spawn_app_with_user().await;
    // The first request has claimed the key and not finished yet.
    let fingerprint = securetodo::app::idempotency::fingerprint("POST", TODOS, BODY.as_bytes());
    let now = chrono::Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S%.6f");
    app.sql(&format!(
        "INSERT INTO idempotency_keys (user_id, idempotency_key, fingerprint, created_at)
         VALUES ({}, 'busy', '{fingerprint}', '{now}');",
        user.id
    ));
    let response = app.post_todo_with_key(&user.token, BODY, "busy").await;
    problem(response, 409, "conflict").await;
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 0);

    // A claim abandoned for over a minute (the first request died) is
    // taken over.
    app.sql("UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00';");
    assert_eq!(
        app.post_todo_with_key(&user.token, BODY, "busy")
            .await
            .status(),
        201
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 1);
}

#[actix_web::test]
async fn concurrent_identical_creates_make_one_todo() {
    let (app, user) = spawn_app_with_user().await;
    let requests = (0..12).map(|_| app.post_todo_with_key(&user.token, BODY, "race"));
    let responses = futures_util::future::join_all(requests).await;
    let mut bodies = Vec::new();
    let mut fresh = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => {
                if header(&response, "idempotent-replayed").is_none() {
                    fresh += 1;
                }
                bodies.push(response.json::<Value>().await.unwrap());
            }
            409 => {
                problem(response, 409, "conflict").await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(fresh, 1);
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 1);
    // Once the first has finished, every retry replays it.
    let late = app.post_todo_with_key(&user.token, BODY, "race").await;
    assert_eq!(late.status(), 201);
    assert_eq!(late.json::<Value>().await.unwrap(), bodies[0]);
}

#[actix_web::test]
async fn a_repeated_restore_replays_and_a_failed_one_acts_again() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let todo = app.create_todo(token, json!({"title": "undo me"})).await;
    let id = todo["id"].as_i64().unwrap();
    app.delete_todo(token, id, None).await;

    let first = app.restore_todo(token, id, Some("undo-1")).await;
    assert_eq!(first.status(), 200);
    let again = app.restore_todo(token, id, Some("undo-1")).await;
    assert_eq!(again.status(), 200, "replayed, not 404");
    assert_eq!(
        header(&again, "idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(again.json::<Value>().await.unwrap(), todo);

    // A 404 is not remembered: the key is free again and acts.
    problem(
        app.restore_todo(token, 999, Some("undo-2")).await,
        404,
        "not_found",
    )
    .await;
    problem(
        app.restore_todo(token, 999, Some("undo-2")).await,
        404,
        "not_found",
    )
    .await;
    // Nor a quota refusal.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys"), 1);
}

#[actix_web::test]
async fn keys_expire_after_24_hours_and_the_retention_pass_removes_them() {
    let (app, user) = spawn_app_with_user().await;
    app.post_todo_with_key(&user.token, BODY, "daily").await;
    app.sql("UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00';");
    // Expired: the key acts again.
    let response = app.post_todo_with_key(&user.token, BODY, "daily").await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "idempotent-replayed"), None);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 2);

    app.sql("UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00';");
    let report = app.prune(&[]);
    assert!(report.contains("idempotency_keys: 1"), "{report}");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM idempotency_keys"), 0);
}
