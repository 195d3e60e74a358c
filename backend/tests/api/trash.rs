//! The trash: delete and clear-completed move todos there; they are
//! invisible everywhere else until restored (unchanged) or purged. The
//! todo quota counts them. `If-None-Match` on a todo.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, ids, problem, sorted_statuses, spawn_app, spawn_app_with, spawn_app_with_user, TODOS,
    TRASH,
};

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[actix_web::test]
async fn a_deleted_todo_is_invisible_everywhere_until_restored_unchanged() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let kept = app.create_todo(token, json!({"title": "Keep milk"})).await;
    let todo = app
        .create_todo(token, json!({"title": "Buy milk", "priority": "high"}))
        .await;
    let id = id_of(&todo);
    let before = app.get_todo(token, id).await;
    let tag = etag(&before);

    assert_eq!(app.delete_todo(token, id, None).await.status(), 204);

    problem(app.get_todo(token, id).await, 404, "not_found").await;
    let patch = app
        .update_todo(token, id, &json!({"title": "x"}), None)
        .await;
    problem(patch, 404, "not_found").await;
    problem(app.delete_todo(token, id, None).await, 404, "not_found").await;
    for (params, expected) in [
        (vec![], vec![id_of(&kept)]),
        (vec![("q", "milk")], vec![id_of(&kept)]),
        (vec![("priority", "high")], vec![]),
        (
            vec![("completed", "false"), ("sort", "title")],
            vec![id_of(&kept)],
        ),
    ] {
        let page = app.todo_page(token, &params).await;
        assert_eq!(
            ids(page["items"].as_array().unwrap()),
            expected,
            "{params:?}"
        );
    }

    let trash = app.trash_page(token, &[]).await;
    let items = trash["items"].as_array().unwrap();
    assert_eq!(ids(items), [id]);
    assert!(trash["next_cursor"].is_null());
    let deleted_at = items[0]["deleted_at"].as_str().unwrap();
    assert!(deleted_at.ends_with('Z'), "{deleted_at}");
    let mut listed = items[0].clone();
    listed.as_object_mut().unwrap().remove("deleted_at");
    assert_eq!(listed, todo);

    let restored = app.restore_todo(token, id, None).await;
    assert_eq!(restored.status(), 200);
    assert_eq!(etag(&restored), tag, "the same version comes back");
    assert_eq!(restored.json::<Value>().await.unwrap(), todo);
    let again = app.get_todo(token, id).await;
    assert_eq!(etag(&again), tag);
    assert_eq!(again.json::<Value>().await.unwrap(), todo);
    assert!(app.trash_page(token, &[]).await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // Restored means live: a second restore finds nothing in the trash.
    problem(app.restore_todo(token, id, None).await, 404, "not_found").await;
}

#[actix_web::test]
async fn restore_is_404_unless_the_todo_is_in_the_callers_trash() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let mallory = app.signed_up_user().await;
    let live = id_of(
        &app.create_todo(&alice.token, json!({"title": "live"}))
            .await,
    );
    let trashed = id_of(
        &app.create_todo(&alice.token, json!({"title": "gone"}))
            .await,
    );
    app.delete_todo(&alice.token, trashed, None).await;

    for (token, id) in [
        (&alice.token, live),
        (&alice.token, 999_999),
        (&mallory.token, trashed),
        (&mallory.token, live),
    ] {
        problem(app.restore_todo(token, id, None).await, 404, "not_found").await;
    }
    // Mallory sees none of it and cannot empty it.
    let theirs = app.trash_page(&mallory.token, &[]).await;
    assert!(theirs["items"].as_array().unwrap().is_empty());
    let emptied: Value = app.empty_trash(&mallory.token).await.json().await.unwrap();
    assert_eq!(emptied, json!({"deleted": 0}));
    assert_eq!(
        app.restore_todo(&alice.token, trashed, None).await.status(),
        200
    );

    let bad = app
        .send(
            Method::POST,
            &format!("{TODOS}/abc/restore"),
            Some(&alice.token),
            None,
        )
        .await;
    problem(bad, 422, "validation_failed").await;
}

#[actix_web::test]
async fn clear_completed_moves_them_to_the_trash_and_names_them_for_undo() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let open = id_of(&app.create_todo(token, json!({"title": "open"})).await);
    let done1 = id_of(
        &app.create_todo(token, json!({"title": "d1", "completed": true}))
            .await,
    );
    let done2 = id_of(
        &app.create_todo(token, json!({"title": "d2", "completed": true}))
            .await,
    );

    let response = app.clear_completed(token, "?completed=true").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["deleted"], 2);
    let mut cleared: Vec<i64> = serde_json::from_value(body["ids"].clone()).unwrap();
    cleared.sort();
    assert_eq!(cleared, [done1, done2]);
    assert_eq!(
        ids(app.todo_page(token, &[]).await["items"].as_array().unwrap()),
        [open]
    );
    let mut trashed = ids(app.trash_page(token, &[]).await["items"]
        .as_array()
        .unwrap());
    trashed.sort();
    assert_eq!(trashed, [done1, done2]);

    // Undo: restore each.
    for id in cleared {
        assert_eq!(app.restore_todo(token, id, None).await.status(), 200);
    }
    let page = app.todo_page(token, &[("completed", "true")]).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    // Nothing completed left to clear a second time? Two again.
    let again: Value = app
        .clear_completed(token, "?completed=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["deleted"], 2);
}

#[actix_web::test]
async fn the_trash_pages_most_recently_deleted_first() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let deleted = app.create_numbered_todos(token, 7).await;
    // Delete in a shuffled order; the trash lists the reverse of it.
    let order = [3, 0, 6, 1, 5, 2, 4].map(|i| deleted[i]);
    for id in order {
        assert_eq!(app.delete_todo(token, id, None).await.status(), 204);
    }
    let (items, pages) = app.walk(token, TRASH, &[("limit", "2")]).await;
    assert_eq!(pages, 4);
    let mut expected = order.to_vec();
    expected.reverse();
    assert_eq!(ids(&items), expected);
    let times: Vec<&str> = items
        .iter()
        .map(|t| t["deleted_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

#[actix_web::test]
async fn invalid_trash_parameters_are_422() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    for i in 0..3 {
        let id = id_of(
            &app.create_todo(&alice.token, json!({"title": format!("a{i}")}))
                .await,
        );
        app.delete_todo(&alice.token, id, None).await;
    }
    let page = app.trash_page(&alice.token, &[("limit", "1")]).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    // A list cursor of the todos is not a trash cursor, and Alice's cursor
    // is not Bob's.
    app.create_todo(&alice.token, json!({"title": "x"})).await;
    app.create_todo(&alice.token, json!({"title": "y"})).await;
    let list = app.todo_page(&alice.token, &[("limit", "1")]).await;
    let list_cursor = list["next_cursor"].as_str().unwrap().to_owned();
    for (token, params) in [
        (&alice.token, vec![("limit", "0")]),
        (&alice.token, vec![("limit", "101")]),
        (&alice.token, vec![("cursor", "garbage")]),
        (&alice.token, vec![("cursor", list_cursor.as_str())]),
        (&alice.token, vec![("sort", "title")]),
        (&bob.token, vec![("cursor", cursor.as_str())]),
    ] {
        let response = app.list_trash(token, &params).await;
        problem(response, 422, "validation_failed").await;
    }
    for (method, path) in [
        (Method::GET, TRASH),
        (Method::DELETE, TRASH),
        (Method::POST, "/api/v1/todos/1/restore"),
    ] {
        let response = app.send(method, path, None, None).await;
        problem(response, 401, "unauthorized").await;
    }
    let response = app.send(Method::PUT, TRASH, Some(&alice.token), None).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, DELETE");
}

#[actix_web::test]
async fn emptying_the_trash_purges_for_good_and_only_the_trash() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let live = id_of(&app.create_todo(token, json!({"title": "live"})).await);
    let mut gone = Vec::new();
    for i in 0..3 {
        let id = id_of(
            &app.create_todo(token, json!({"title": format!("g{i}")}))
                .await,
        );
        app.delete_todo(token, id, None).await;
        gone.push(id);
    }
    let response = app.empty_trash(token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"deleted": 3})
    );
    assert!(app.trash_page(token, &[]).await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    for id in gone {
        problem(app.restore_todo(token, id, None).await, 404, "not_found").await;
    }
    assert_eq!(app.get_todo(token, live).await.status(), 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 1);
}

#[actix_web::test]
async fn the_retention_pass_purges_trash_older_than_the_retention_period() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let old = id_of(&app.create_todo(token, json!({"title": "old"})).await);
    let recent = id_of(&app.create_todo(token, json!({"title": "recent"})).await);
    let live = id_of(&app.create_todo(token, json!({"title": "live"})).await);
    app.delete_todo(token, old, None).await;
    app.delete_todo(token, recent, None).await;
    app.sql(&format!(
        "UPDATE todos SET deleted_at = '2000-01-01 00:00:00' WHERE id = {old};"
    ));

    let report = app.prune(&[("TRASH_RETENTION_DAYS", "30")]);
    assert!(report.contains("trashed_todos: 1"), "{report}");
    assert_eq!(
        ids(app.trash_page(token, &[]).await["items"]
            .as_array()
            .unwrap()),
        [recent]
    );
    problem(app.restore_todo(token, old, None).await, 404, "not_found").await;
    assert_eq!(app.get_todo(token, live).await.status(), 200);
    let again = app.prune(&[]);
    assert!(again.contains("trashed_todos: 0"), "{again}");
}

#[actix_web::test]
async fn the_quota_counts_live_and_trashed_todos() {
    let app = spawn_app_with(&[("MAX_TODOS_PER_USER", "3")]).await;
    let user = app.signed_up_user().await;
    let other = app.signed_up_user().await;
    let token = &user.token;
    let created = app.create_numbered_todos(token, 3).await;
    let over = app
        .post_todo(token, &json!({"title": "one too many"}))
        .await;
    problem(over, 409, "quota_exceeded").await;
    // Someone else's quota is their own.
    app.create_todo(&other.token, json!({"title": "mine"}))
        .await;

    // The trash still counts; emptying it gives the room back.
    app.delete_todo(token, created[0], None).await;
    let still = app
        .post_todo(token, &json!({"title": "still too many"}))
        .await;
    problem(still, 409, "quota_exceeded").await;
    app.empty_trash(token).await;
    app.create_todo(token, json!({"title": "fits again"})).await;
    problem(
        app.post_todo(token, &json!({"title": "full"})).await,
        409,
        "quota_exceeded",
    )
    .await;
    assert_eq!(app.rows_of("todos", user.id), 3);
}

#[actix_web::test]
async fn a_zero_quota_means_no_limit() {
    let app = spawn_app_with(&[("MAX_TODOS_PER_USER", "0")]).await;
    let user = app.signed_up_user().await;
    app.create_numbered_todos(&user.token, 5).await;
}

#[actix_web::test]
async fn the_quota_is_exact_under_concurrent_creates() {
    let app = spawn_app_with(&[("MAX_TODOS_PER_USER", "5")]).await;
    let user = app.signed_up_user().await;
    app.create_todo(&user.token, json!({"title": "first"}))
        .await;
    let bodies: Vec<Value> = (0..16).map(|i| json!({"title": format!("r{i}")})).collect();
    let requests = bodies.iter().map(|body| app.post_todo(&user.token, body));
    let statuses = sorted_statuses(&futures_util::future::join_all(requests).await);
    assert_eq!(statuses, [vec![201_u16; 4], vec![409; 12]].concat());
    assert_eq!(app.scalar("SELECT COUNT(*) FROM todos"), 5);
    assert_eq!(
        app.scalar(&format!(
            "SELECT todo_count FROM users WHERE id = {}",
            user.id
        )),
        5
    );
}

#[actix_web::test]
async fn if_none_match_answers_304_while_the_version_is_current() {
    let (app, user) = spawn_app_with_user().await;
    let token = &user.token;
    let id = id_of(&app.create_todo(token, json!({"title": "cache me"})).await);
    let tag = etag(&app.get_todo(token, id).await);

    for matching in [
        tag.clone(),
        format!("W/{tag}"),
        "*".to_owned(),
        format!("\"x\", {tag}"),
    ] {
        let response = app.get_todo_if_none_match(token, id, &matching).await;
        assert_eq!(response.status(), 304, "{matching}");
        assert_eq!(etag(&response), tag);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    for other in ["\"0-0\"", "garbage", "\"other\""] {
        let response = app.get_todo_if_none_match(token, id, other).await;
        assert_eq!(response.status(), 200, "{other}");
    }
    app.update_todo(token, id, &json!({"title": "changed"}), None)
        .await;
    let response = app.get_todo_if_none_match(token, id, &tag).await;
    assert_eq!(response.status(), 200);
    assert_ne!(etag(&response), tag);
    // A trashed todo is 404, whatever the tag.
    app.delete_todo(token, id, None).await;
    problem(
        app.get_todo_if_none_match(token, id, "*").await,
        404,
        "not_found",
    )
    .await;
}
