//! Delta sync: `GET /todos/changes`. A client that applies every response
//! and keeps the last token converges to the server's state, also while
//! other clients write.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};

use crate::helpers::{id_of, ids, problem, spawn_app, spawn_app_with_user, TestApp, TODOS};

fn deleted(page: &Value) -> Vec<i64> {
    serde_json::from_value(page["deleted_ids"].clone()).unwrap()
}

fn token_of(page: &Value) -> String {
    page["sync_token"].as_str().unwrap().to_owned()
}

/// A client's copy of its todos, kept by delta sync.
#[derive(Default)]
struct Replica {
    todos: BTreeMap<i64, Value>,
    token: Option<String>,
}

impl Replica {
    /// Applies one response; checks that no id is in both lists.
    fn apply(&mut self, page: &Value) {
        let items = page["items"].as_array().unwrap();
        let changed: HashSet<i64> = ids(items).into_iter().collect();
        for id in deleted(page) {
            assert!(
                !changed.contains(&id),
                "id {id} both changed and deleted: {page}"
            );
            self.todos.remove(&id);
        }
        for item in items {
            self.todos.insert(id_of(item), item.clone());
        }
        self.token = Some(token_of(page));
    }

    /// Syncs until the server says there is no more; returns the calls made.
    async fn sync(&mut self, app: &TestApp, token: &str, limit: i64) -> usize {
        let mut calls = 0;
        loop {
            let page = app
                .changes_page(token, self.token.as_deref(), Some(limit))
                .await;
            self.apply(&page);
            calls += 1;
            assert!(calls < 10_000, "sync does not end");
            if !page["has_more"].as_bool().unwrap() {
                return calls;
            }
        }
    }
}

/// Every live todo of the user, as the list shows them.
async fn server_state(app: &TestApp, token: &str) -> BTreeMap<i64, Value> {
    let (items, _) = app.walk(token, TODOS, &[("limit", "100")]).await;
    items.into_iter().map(|t| (id_of(&t), t)).collect()
}

#[actix_web::test]
async fn a_first_sync_pages_through_every_live_todo() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let mut live = app.create_numbered_todos(token, 7).await;
    app.delete_todo(token, live.remove(2), None).await;

    let first = app.changes_page(token, None, Some(3)).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    assert!(first["has_more"].as_bool().unwrap());
    // A todo trashed before the first sync is nothing the client knows of.
    assert!(deleted(&first).is_empty());

    let mut replica = Replica::default();
    replica.apply(&first);
    let calls = replica.sync(&app, token, 3).await;
    assert_eq!(calls, 1);
    assert_eq!(replica.todos, server_state(&app, token).await);
    assert_eq!(replica.todos.keys().copied().collect::<Vec<_>>(), live);

    // Nothing changed: an empty answer, and the token still works.
    let idle = app
        .changes_page(token, replica.token.as_deref(), None)
        .await;
    assert!(idle["items"].as_array().unwrap().is_empty());
    assert!(deleted(&idle).is_empty());
    assert!(!idle["has_more"].as_bool().unwrap());

    let default = app.changes_page(token, None, None).await;
    assert_eq!(default["items"].as_array().unwrap().len(), 6);
}

#[actix_web::test]
async fn changes_since_a_token_are_each_listed_once_in_their_latest_state() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let edited = id_of(&app.create_todo(token, json!({"title": "edit me"})).await);
    let trashed = id_of(&app.create_todo(token, json!({"title": "trash me"})).await);
    let restored = id_of(&app.create_todo(token, json!({"title": "restore me"})).await);
    let purged = id_of(&app.create_todo(token, json!({"title": "purge me"})).await);
    let untouched = id_of(&app.create_todo(token, json!({"title": "leave me"})).await);
    // Trashed before the token, purged after it: listed again.
    app.delete_todo(token, purged, None).await;
    let since = token_of(&app.changes_page(token, None, None).await);

    app.update_todo(token, edited, &json!({"title": "edited once"}), None)
        .await;
    app.update_todo(token, edited, &json!({"title": "edited twice"}), None)
        .await;
    app.delete_todo(token, trashed, None).await;
    app.delete_todo(token, restored, None).await;
    app.restore_todo(token, restored, None).await;
    app.empty_trash(token).await;
    let created = id_of(&app.create_todo(token, json!({"title": "new"})).await);
    let created_then_trashed = id_of(&app.create_todo(token, json!({"title": "blink"})).await);
    app.delete_todo(token, created_then_trashed, None).await;

    let page = app.changes_page(token, Some(&since), None).await;
    let items = page["items"].as_array().unwrap();
    let mut changed = ids(items);
    changed.sort();
    assert_eq!(changed, [edited, restored, created]);
    let latest = items.iter().find(|t| id_of(t) == edited).unwrap();
    assert_eq!(latest["title"], "edited twice");
    let mut gone = deleted(&page);
    gone.sort();
    assert_eq!(gone, [trashed, purged, created_then_trashed]);
    assert!(!changed.contains(&untouched));
    assert!(!page["has_more"].as_bool().unwrap());

    // The same token again gives the same answer (a lost response is
    // simply asked again).
    let repeat = app.changes_page(token, Some(&since), None).await;
    assert_eq!(repeat["items"], page["items"]);
}

#[actix_web::test]
async fn incremental_pages_split_one_bulk_change_without_losing_any() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let mut replica = Replica::default();
    for i in 0..9 {
        app.create_todo(token, json!({"title": format!("d{i}"), "completed": true}))
            .await;
    }
    replica.sync(&app, token, 4).await;
    // One change (clear completed) trashes nine todos at one sequence
    // number; pages of two still deliver each exactly once.
    app.clear_completed(token, "?completed=true").await;
    let mut seen = Vec::new();
    loop {
        let page = app
            .changes_page(token, replica.token.as_deref(), Some(2))
            .await;
        seen.extend(deleted(&page));
        replica.apply(&page);
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen.len(), 9);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 9);
    assert!(replica.todos.is_empty());
}

#[actix_web::test]
async fn tokens_are_the_callers_own_and_unforgeable() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    app.create_todo(&alice.token, json!({"title": "secret"}))
        .await;
    let alices = token_of(&app.changes_page(&alice.token, None, None).await);
    let list_cursor = {
        app.create_todo(&alice.token, json!({"title": "two"})).await;
        let page = app.todo_page(&alice.token, &[("limit", "1")]).await;
        page["next_cursor"].as_str().unwrap().to_owned()
    };
    let (body, tag) = alices.split_once('.').unwrap();
    let forged = format!("{body}x.{tag}");
    for since in [
        alices.as_str(),
        "garbage",
        forged.as_str(),
        list_cursor.as_str(),
        "",
    ] {
        let response = app.changes(&bob.token, Some(since), None).await;
        let body = problem(response, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "since", "{since}");
    }
    for limit in [0, 501, -1] {
        let response = app.changes(&alice.token, None, Some(limit)).await;
        problem(response, 422, "validation_failed").await;
    }
    let unknown = app
        .request(reqwest::Method::GET, "/api/v1/todos/changes?after=1")
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    problem(unknown, 422, "validation_failed").await;
    problem(
        app.changes("not-a-token", None, None).await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(
        app.changes(&alice.token, None, Some(500)).await.status(),
        200
    );
}

#[actix_web::test]
async fn a_token_older_than_the_kept_history_is_410_and_a_new_sync_recovers() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let gone = id_of(&app.create_todo(token, json!({"title": "gone"})).await);
    let kept = id_of(&app.create_todo(token, json!({"title": "kept"})).await);
    let old_token = token_of(&app.changes_page(token, None, None).await);
    app.delete_todo(token, gone, None).await;
    app.empty_trash(token).await;
    let recent_token = token_of(&app.changes_page(token, None, None).await);

    // The purge's tombstone outlives the retention period and is pruned.
    app.sql("UPDATE todo_tombstones SET purged_at = '2000-01-01 00:00:00';");
    let report = app.prune(&[]);
    assert!(report.contains("todo_tombstones: 1"), "{report}");

    let expired = app.changes(token, Some(&old_token), None).await;
    problem(expired, 410, "sync_expired").await;
    // A token issued after the pruned change is still good.
    assert_eq!(
        app.changes(token, Some(&recent_token), None).await.status(),
        200
    );
    // Starting over works.
    let mut replica = Replica::default();
    replica.sync(&app, token, 10).await;
    assert_eq!(replica.todos.keys().copied().collect::<Vec<_>>(), [kept]);
}

/// A tiny deterministic generator, so that a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

/// One writer: `steps` random creates, edits, completions, deletes,
/// restores, clear-completed and empty-trash calls on the user's todos.
async fn writer(app: &TestApp, token: &str, seed: u64, steps: usize) {
    let mut dice = Dice(seed);
    for step in 0..steps {
        let live: Vec<i64> = ids(app.todo_page(token, &[("limit", "50")]).await["items"]
            .as_array()
            .unwrap());
        let trashed: Vec<i64> = ids(app.trash_page(token, &[("limit", "50")]).await["items"]
            .as_array()
            .unwrap());
        let pick = |d: &mut Dice, from: &[i64]| from[d.roll(from.len() as u64) as usize];
        match dice.roll(20) {
            0..=5 => {
                let completed = dice.roll(3) == 0;
                app.post_todo(
                    token,
                    &json!({"title": format!("w{seed}-{step}"), "completed": completed}),
                )
                .await;
            }
            6..=9 if !live.is_empty() => {
                let id = pick(&mut dice, &live);
                let body =
                    json!({"title": format!("edit {seed}-{step}"), "completed": dice.roll(2) == 0});
                app.update_todo(token, id, &body, None).await;
            }
            10..=12 if !live.is_empty() => {
                app.delete_todo(token, pick(&mut dice, &live), None).await;
            }
            13..=15 if !trashed.is_empty() => {
                app.restore_todo(token, pick(&mut dice, &trashed), None)
                    .await;
            }
            16 => {
                app.clear_completed(token, "?completed=true").await;
            }
            17 => {
                app.empty_trash(token).await;
            }
            _ => {}
        }
    }
}

#[actix_web::test]
async fn clients_syncing_during_concurrent_writes_converge_to_the_server_state() {
    let (app, user) = spawn_app_with_user().await;
    let token = user.token.as_str();
    for i in 0..20 {
        app.create_todo(
            token,
            json!({"title": format!("seed {i}"), "completed": i % 4 == 0}),
        )
        .await;
    }
    let writers =
        futures_util::future::join_all([11u64, 23, 37].map(|seed| writer(&app, token, seed, 40)));
    // Two clients: one from the start with small pages, one joining late.
    let clients = async {
        let mut early = Replica::default();
        let mut late = Replica::default();
        let mut dice = Dice(99);
        for round in 0..60 {
            let limit = 1 + dice.roll(4) as i64;
            let page = app
                .changes_page(token, early.token.as_deref(), Some(limit))
                .await;
            early.apply(&page);
            if round >= 20 {
                let page = app
                    .changes_page(token, late.token.as_deref(), Some(limit + 1))
                    .await;
                late.apply(&page);
            }
        }
        (early, late)
    };
    let (_, (mut early, mut late)) = futures_util::join!(writers, clients);

    early.sync(&app, token, 3).await;
    late.sync(&app, token, 500).await;
    let server = server_state(&app, token).await;
    assert!(!server.is_empty());
    assert_eq!(early.todos, server, "the early client diverged");
    assert_eq!(late.todos, server, "the late client diverged");
}
