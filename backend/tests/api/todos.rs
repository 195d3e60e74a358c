//! Todos: create, read, update with ETags, delete, clear completed; the
//! validation rules; filters, search and every sort order walked page by
//! page; and the wall between two users.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use chrono::{DateTime, Utc};
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{
    assert_fields, error_fields, id_of, ids, problem, spawn_app, spawn_app_with_user, TestUser,
    TODOS,
};

/// Query parameters of a list request.
type Params<'a> = Vec<(&'a str, &'a str)>;

fn titles(items: &[Value]) -> Vec<String> {
    let mut titles: Vec<String> = items
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    titles
}

fn etag(response: &Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

fn timestamp(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

// ---------- create and read ----------

#[actix_web::test]
async fn create_todo_returns_201_with_location_etag_and_defaults() {
    let (app, user) = spawn_app_with_user().await;

    let response = app
        .post_todo(&user.token, &json!({"title": "  Buy milk  "}))
        .await;

    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let tag = etag(&response);
    let todo: Value = response.json().await.unwrap();
    let id = id_of(&todo);
    assert_eq!(location, format!("/api/v1/todos/{id}"));
    assert_eq!(tag, format!("\"{id}-1\""));
    assert_eq!(todo["title"], "Buy milk");
    assert_eq!(todo["description"], "");
    assert_eq!(todo["completed"], false);
    assert_eq!(todo["priority"], "normal");
    assert_eq!(todo["due_date"], Value::Null);
    assert_eq!(todo["completed_at"], Value::Null);
    assert!(todo["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(todo["created_at"], todo["updated_at"]);
    assert_fields(
        &todo,
        &[
            "id",
            "title",
            "description",
            "completed",
            "priority",
            "due_date",
            "created_at",
            "updated_at",
            "completed_at",
        ],
    );

    let fetched = app.get_auth(&location, &user.token).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(etag(&fetched), tag);
    assert_eq!(fetched.headers()["cache-control"], "no-store");
    assert_eq!(fetched.json::<Value>().await.unwrap(), todo);
}

#[actix_web::test]
async fn create_todo_accepts_every_writable_field() {
    let (app, user) = spawn_app_with_user().await;

    let todo = app
        .create_todo(
            &user.token,
            json!({
                "title": "File taxes",
                "description": "Forms A and B",
                "priority": "high",
                "due_date": "2027-04-30",
                "completed": true
            }),
        )
        .await;

    assert_eq!(todo["description"], "Forms A and B");
    assert_eq!(todo["priority"], "high");
    assert_eq!(todo["due_date"], "2027-04-30");
    assert_eq!(todo["completed"], true);
    assert_eq!(todo["completed_at"], todo["created_at"]);
    let explicit_null = app
        .create_todo(&user.token, json!({"title": "No date", "due_date": null}))
        .await;
    assert_eq!(explicit_null["due_date"], Value::Null);
}

#[actix_web::test]
async fn title_length_is_checked_after_trimming_in_characters() {
    let (app, user) = spawn_app_with_user().await;
    let padded = format!("  {}\t", "y".repeat(200));
    let cases: Vec<(String, Option<String>)> = vec![
        (String::new(), None),
        ("   \n\t ".into(), None),
        ("\u{3000}".into(), None),
        ("a".into(), Some("a".into())),
        ("x".repeat(200), Some("x".repeat(200))),
        ("é".repeat(200), Some("é".repeat(200))),
        (padded, Some("y".repeat(200))),
        ("x".repeat(201), None),
        ("€".repeat(201), None),
    ];
    for (title, stored) in cases {
        let response = app.post_todo(&user.token, &json!({"title": title})).await;
        match stored {
            Some(stored) => {
                assert_eq!(response.status(), 201, "{title:?}");
                let todo: Value = response.json().await.unwrap();
                assert_eq!(todo["title"], stored);
            }
            None => {
                let p = problem(response, 422, "validation_failed").await;
                assert_eq!(error_fields(&p), ["title"], "{title:?}");
            }
        }
    }
}

#[actix_web::test]
async fn description_may_hold_10000_characters_but_not_10001() {
    let (app, user) = spawn_app_with_user().await;
    let max = "ü".repeat(10_000);

    let todo = app
        .create_todo(&user.token, json!({"title": "long", "description": max}))
        .await;
    assert_eq!(todo["description"].as_str().unwrap(), max);

    let response = app
        .post_todo(
            &user.token,
            &json!({"title": "long", "description": "ü".repeat(10_001)}),
        )
        .await;
    let p = problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["description"]);

    let patched = app
        .update_todo(
            &user.token,
            id_of(&todo),
            &json!({"description": "ü".repeat(10_001)}),
            None,
        )
        .await;
    let p = problem(patched, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["description"]);
}

#[actix_web::test]
async fn invalid_create_bodies_are_422_naming_every_bad_field() {
    let (app, user) = spawn_app_with_user().await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["title"]),
        (json!({"title": null}), vec!["title"]),
        (json!({"title": 42}), vec!["title"]),
        (json!({"title": ["a"]}), vec!["title"]),
        (
            json!({"title": "a", "description": null}),
            vec!["description"],
        ),
        (json!({"title": "a", "description": 7}), vec!["description"]),
        (
            json!({"title": "a", "priority": "urgent"}),
            vec!["priority"],
        ),
        (json!({"title": "a", "priority": "HIGH"}), vec!["priority"]),
        (json!({"title": "a", "priority": 2}), vec!["priority"]),
        (json!({"title": "a", "priority": null}), vec!["priority"]),
        (json!({"title": "a", "completed": "yes"}), vec!["completed"]),
        (json!({"title": "a", "completed": null}), vec!["completed"]),
        (
            json!({"title": "a", "due_date": "2026-02-30"}),
            vec!["due_date"],
        ),
        (
            json!({"title": "a", "due_date": "2026-13-01"}),
            vec!["due_date"],
        ),
        (
            json!({"title": "a", "due_date": "2026-1-5"}),
            vec!["due_date"],
        ),
        (
            json!({"title": "a", "due_date": "05/01/2026"}),
            vec!["due_date"],
        ),
        (
            json!({"title": "a", "due_date": "2026-05-01T00:00:00Z"}),
            vec!["due_date"],
        ),
        (
            json!({"title": "a", "due_date": 20260501}),
            vec!["due_date"],
        ),
        (
            json!({"title": " ", "description": "d".repeat(10_001), "due_date": "soon"}),
            vec!["title", "description", "due_date"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.post_todo(&user.token, &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let p = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), fields, "{body}");
    }
    let page = app.todo_page(&user.token, &[]).await;
    assert_eq!(page["items"], json!([]), "nothing was created");
}

#[actix_web::test]
async fn bodies_that_are_not_json_objects_get_their_own_problems() {
    let (app, user) = spawn_app_with_user().await;

    app.assert_json_bodies_only(
        Method::POST,
        TODOS,
        Some(&user.token),
        "{\"title\":",
        ("text/plain", "title=a"),
    )
    .await;

    let array = app.post_todo(&user.token, &json!([{"title": "a"}])).await;
    problem(array, 422, "validation_failed").await;

    let huge = json!({"title": "a", "description": "x".repeat(70 * 1024)});
    let oversized = app.post_todo(&user.token, &huge).await;
    problem(oversized, 413, "payload_too_large").await;
}

#[actix_web::test]
async fn clients_cannot_set_ids_owners_timestamps_or_versions() {
    let (app, user) = spawn_app_with_user().await;
    let victim = app.signed_up_user().await;
    let existing = app.create_todo(&user.token, json!({"title": "mine"})).await;
    let id = id_of(&existing);
    let fields: Vec<(&str, Value)> = vec![
        ("id", json!(999)),
        ("user_id", json!(victim.id)),
        ("owner", json!(victim.id)),
        ("created_at", json!("2020-01-01T00:00:00Z")),
        ("updated_at", json!("2020-01-01T00:00:00Z")),
        ("completed_at", json!("2020-01-01T00:00:00Z")),
        ("version", json!(1)),
        ("title_sort", json!("a")),
    ];
    for (name, value) in fields {
        let mut body = json!({"title": "mass assignment"});
        body[name] = value.clone();
        let created = app.post_todo(&user.token, &body).await;
        let p = problem(created, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), [name], "POST {name}");

        let patched = app
            .update_todo(&user.token, id, &json!({ name: value }), None)
            .await;
        let p = problem(patched, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), [name], "PATCH {name}");
    }
    let page = app.todo_page(&user.token, &[]).await;
    assert_eq!(ids(page["items"].as_array().unwrap()), [id]);
    let unchanged: Value = app.get_todo(&user.token, id).await.json().await.unwrap();
    assert_eq!(unchanged, existing);
    assert_eq!(app.todo_page(&victim.token, &[]).await["items"], json!([]));
}

#[actix_web::test]
async fn markup_sql_and_template_strings_round_trip_verbatim() {
    let (app, user) = spawn_app_with_user().await;
    // U+0000 is the one character refused (PostgreSQL's text cannot hold
    // it): 422 naming the field on both backends, never a 500.
    for body in [
        json!({"title": "nul \u{0} inside"}),
        json!({"title": "ok", "description": "nul \u{0} inside"}),
    ] {
        let field = if body["description"].is_null() {
            "title"
        } else {
            "description"
        };
        let refused = problem(
            app.post_todo(&user.token, &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{refused}");
    }
    problem(
        app.list_todos(&user.token, &[("q", "a\u{0}b")]).await,
        422,
        "validation_failed",
    )
    .await;
    let strings = [
        "<script>alert('x')</script>",
        "<img src=x onerror=alert(1)>",
        "Robert'); DROP TABLE todos;--",
        "' OR '1'='1",
        "{{7*7}} ${7*7} <%= 7*7 %> #{7*7}",
        "&lt;b&gt; &amp; \"quotes\" `ticks`",
        "emoji 👩‍💻 and RTL \u{202e}txet",
    ];
    for s in strings {
        let created = app
            .create_todo(
                &user.token,
                json!({"title": s, "description": format!("{s}\n{s}")}),
            )
            .await;
        let fetched: Value = app
            .get_todo(&user.token, id_of(&created))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(fetched["title"], s);
        assert_eq!(fetched["description"], format!("{s}\n{s}"));
    }
    let found = app.todo_page(&user.token, &[("q", "drop table")]).await;
    assert_eq!(
        titles(found["items"].as_array().unwrap()),
        ["Robert'); DROP TABLE todos;--"]
    );
    let all = app.todo_page(&user.token, &[("limit", "100")]).await;
    assert_eq!(all["items"].as_array().unwrap().len(), strings.len());
}

#[actix_web::test]
async fn get_todo_of_unknown_or_non_integer_id() {
    let (app, user) = spawn_app_with_user().await;

    problem(app.get_todo(&user.token, 424_242).await, 404, "not_found").await;
    let response = app.get_auth(&format!("{TODOS}/abc"), &user.token).await;
    let p = problem(response, 422, "validation_failed").await;
    assert_eq!(error_fields(&p), ["id"]);
}

#[actix_web::test]
async fn every_todo_endpoint_requires_a_valid_token() {
    let (app, user) = spawn_app_with_user().await;
    let todo = app.create_todo(&user.token, json!({"title": "t"})).await;
    let one = format!("{TODOS}/{}", id_of(&todo));
    let cases = [
        (Method::GET, TODOS.to_owned()),
        (Method::POST, TODOS.to_owned()),
        (Method::DELETE, format!("{TODOS}?completed=true")),
        (Method::GET, one.clone()),
        (Method::PATCH, one.clone()),
        (Method::DELETE, one.clone()),
    ];
    for (method, path) in cases {
        for token in [None, Some("not-a-token")] {
            let response = app
                .send(method.clone(), &path, token, Some(&json!({"title": "x"})))
                .await;
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            problem(response, 401, "unauthorized").await;
        }
    }
    assert_eq!(app.get_todo(&user.token, id_of(&todo)).await.status(), 200);
}

#[actix_web::test]
async fn other_methods_on_todo_resources_are_405() {
    let (app, user) = spawn_app_with_user().await;
    let put_one = app
        .send(
            Method::PUT,
            &format!("{TODOS}/1"),
            Some(&user.token),
            Some(&json!({})),
        )
        .await;
    problem(put_one, 405, "method_not_allowed").await;
    let patch_all = app
        .send(Method::PATCH, TODOS, Some(&user.token), Some(&json!({})))
        .await;
    problem(patch_all, 405, "method_not_allowed").await;
}

// ---------- update ----------

#[actix_web::test]
async fn patch_changes_only_the_fields_sent() {
    let (app, user) = spawn_app_with_user().await;
    let todo = app
        .create_todo(&user.token, json!({"title": "Draft", "description": "notes", "priority": "low", "due_date": "2027-01-01"}))
        .await;
    let id = id_of(&todo);

    let response = app
        .update_todo(&user.token, id, &json!({"title": "  Final  "}), None)
        .await;
    assert_eq!(response.status(), 200);
    let tag = etag(&response);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(tag, format!("\"{id}-2\""));
    assert_eq!(patched["title"], "Final");
    assert_eq!(patched["description"], "notes");
    assert_eq!(patched["priority"], "low");
    assert_eq!(patched["due_date"], "2027-01-01");
    assert_eq!(patched["created_at"], todo["created_at"]);
    assert!(timestamp(&patched["updated_at"]) > timestamp(&todo["updated_at"]));

    let response = app
        .update_todo(
            &user.token,
            id,
            &json!({"description": "", "priority": "high", "due_date": "2027-02-02"}),
            None,
        )
        .await;
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["title"], "Final");
    assert_eq!(patched["description"], "");
    assert_eq!(patched["priority"], "high");
    assert_eq!(patched["due_date"], "2027-02-02");

    let cleared: Value = app
        .update_todo(&user.token, id, &json!({"due_date": null}), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["due_date"], Value::Null);
    assert_eq!(cleared["priority"], "high");

    let stored: Value = app.get_todo(&user.token, id).await.json().await.unwrap();
    assert_eq!(stored, cleared);
}

#[actix_web::test]
async fn completing_sets_completed_at_once_and_reopening_clears_it() {
    let (app, user) = spawn_app_with_user().await;
    let id = id_of(&app.create_todo(&user.token, json!({"title": "t"})).await);

    let done = app
        .update_todo(&user.token, id, &json!({"completed": true}), None)
        .await;
    let done_tag = etag(&done);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["completed"], true);
    assert!(done["completed_at"].is_string());
    assert_eq!(done["completed_at"], done["updated_at"]);

    let again = app
        .update_todo(&user.token, id, &json!({"completed": true}), None)
        .await;
    assert_eq!(etag(&again), done_tag, "no change, no new version");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["completed_at"], done["completed_at"]);
    assert_eq!(again["updated_at"], done["updated_at"]);

    let reopened: Value = app
        .update_todo(&user.token, id, &json!({"completed": false}), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reopened["completed"], false);
    assert_eq!(reopened["completed_at"], Value::Null);
}

#[actix_web::test]
async fn an_empty_patch_changes_nothing() {
    let (app, user) = spawn_app_with_user().await;
    let todo = app.create_todo(&user.token, json!({"title": "t"})).await;
    let id = id_of(&todo);

    for body in [
        json!({}),
        json!({"title": "t", "priority": "normal", "due_date": null}),
    ] {
        let response = app.update_todo(&user.token, id, &body, None).await;
        assert_eq!(response.status(), 200, "{body}");
        assert_eq!(etag(&response), format!("\"{id}-1\""));
        assert_eq!(response.json::<Value>().await.unwrap(), todo);
    }
}

#[actix_web::test]
async fn invalid_patches_are_422_and_change_nothing() {
    let (app, user) = spawn_app_with_user().await;
    let todo = app
        .create_todo(
            &user.token,
            json!({"title": "keep", "due_date": "2027-01-01"}),
        )
        .await;
    let id = id_of(&todo);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"title": null}), vec!["title"]),
        (json!({"title": ""}), vec!["title"]),
        (json!({"title": "x".repeat(201)}), vec!["title"]),
        (json!({"description": null}), vec!["description"]),
        (json!({"priority": null}), vec!["priority"]),
        (json!({"priority": "urgent"}), vec!["priority"]),
        (json!({"completed": null}), vec!["completed"]),
        (json!({"completed": "true"}), vec!["completed"]),
        (json!({"due_date": "2027-02-29"}), vec!["due_date"]),
        (json!({"due_date": ""}), vec!["due_date"]),
        (
            json!({"title": "  ", "due_date": "tomorrow"}),
            vec!["title", "due_date"],
        ),
    ];
    for (body, fields) in cases {
        let response = app.update_todo(&user.token, id, &body, None).await;
        let p = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), fields, "{body}");
    }
    let response = app.get_todo(&user.token, id).await;
    assert_eq!(etag(&response), format!("\"{id}-1\""));
    assert_eq!(response.json::<Value>().await.unwrap(), todo);
}

#[actix_web::test]
async fn patch_with_the_current_etag_succeeds_and_a_stale_one_is_412() {
    let (app, user) = spawn_app_with_user().await;
    let id = id_of(&app.create_todo(&user.token, json!({"title": "v1"})).await);
    let first = etag(&app.get_todo(&user.token, id).await);

    let response = app
        .update_todo(&user.token, id, &json!({"title": "v2"}), Some(&first))
        .await;
    assert_eq!(response.status(), 200);
    let second = etag(&response);
    assert_ne!(second, first);

    let stale = app
        .update_todo(
            &user.token,
            id,
            &json!({"title": "lost update"}),
            Some(&first),
        )
        .await;
    problem(stale, 412, "precondition_failed").await;
    let stored = app.get_todo(&user.token, id).await;
    assert_eq!(etag(&stored), second);
    assert_eq!(stored.json::<Value>().await.unwrap()["title"], "v2");

    let listed = format!("\"0-0\", {second}");
    let cases: Vec<(String, u16)> = vec![
        (listed, 200),
        ("*".into(), 200),
        (
            format!("W/{}", etag(&app.get_todo(&user.token, id).await)),
            412,
        ),
        ("\"garbage\"".into(), 412),
        ("garbage".into(), 412),
    ];
    for (tag, status) in cases {
        let current = etag(&app.get_todo(&user.token, id).await);
        let response = app
            .update_todo(
                &user.token,
                id,
                &json!({"description": tag.clone()}),
                Some(&tag),
            )
            .await;
        assert_eq!(response.status(), status, "If-Match: {tag}");
        if status == 200 {
            assert_ne!(etag(&response), current);
        } else {
            problem(response, 412, "precondition_failed").await;
        }
    }
    let missing = app
        .update_todo(&user.token, 999_999, &json!({"title": "x"}), Some("*"))
        .await;
    problem(missing, 404, "not_found").await;
}

// ---------- delete ----------

#[actix_web::test]
async fn delete_todo_returns_204_and_then_it_is_gone() {
    let (app, user) = spawn_app_with_user().await;
    let id = id_of(&app.create_todo(&user.token, json!({"title": "t"})).await);

    let response = app.delete_todo(&user.token, id, None).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    problem(app.get_todo(&user.token, id).await, 404, "not_found").await;
    let answer = app.delete_todo(&user.token, id, None).await;
    problem(answer, 404, "not_found").await;
}

#[actix_web::test]
async fn delete_honours_if_match() {
    let (app, user) = spawn_app_with_user().await;
    let id = id_of(&app.create_todo(&user.token, json!({"title": "t"})).await);
    let old = etag(&app.get_todo(&user.token, id).await);
    app.update_todo(&user.token, id, &json!({"title": "changed"}), None)
        .await;

    let stale = app.delete_todo(&user.token, id, Some(&old)).await;
    problem(stale, 412, "precondition_failed").await;
    assert_eq!(app.get_todo(&user.token, id).await.status(), 200);

    let current = etag(&app.get_todo(&user.token, id).await);
    let fresh = app.delete_todo(&user.token, id, Some(&current)).await;
    assert_eq!(fresh.status(), 204);
}

#[actix_web::test]
async fn clear_completed_deletes_only_the_callers_completed_todos() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let bob = app.signed_up_user().await;
    for n in 0..5 {
        app.create_todo(
            &alice.token,
            json!({"title": format!("a{n}"), "completed": n < 3}),
        )
        .await;
    }
    for n in 0..2 {
        app.create_todo(
            &bob.token,
            json!({"title": format!("b{n}"), "completed": true}),
        )
        .await;
    }

    let response = app.clear_completed(&alice.token, "?completed=true").await;
    assert_eq!(response.status(), 200);
    let cleared: Value = response.json().await.unwrap();
    assert_eq!(cleared["deleted"], 3);
    assert_eq!(cleared["ids"].as_array().unwrap().len(), 3);

    let left = app.todo_page(&alice.token, &[]).await;
    assert_eq!(titles(left["items"].as_array().unwrap()), ["a3", "a4"]);
    let bobs = app.todo_page(&bob.token, &[("completed", "true")]).await;
    assert_eq!(bobs["items"].as_array().unwrap().len(), 2);

    let again = app.clear_completed(&alice.token, "?completed=true").await;
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({"deleted": 0, "ids": []})
    );
}

#[actix_web::test]
async fn deleting_the_collection_requires_completed_true() {
    let (app, user) = spawn_app_with_user().await;
    app.create_todo(&user.token, json!({"title": "open"})).await;
    app.create_todo(&user.token, json!({"title": "done", "completed": true}))
        .await;
    let cases = [
        ("", "completed"),
        ("?completed=false", "completed"),
        ("?completed=yes", "completed"),
        ("?completed=", "completed"),
        ("?completed=true&all=true", "all"),
    ];
    for (query, field) in cases {
        let response = app.clear_completed(&user.token, query).await;
        let p = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), [field], "{query}");
    }
    assert_eq!(
        app.todo_page(&user.token, &[]).await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

// ---------- isolation ----------

#[actix_web::test]
async fn another_users_todo_is_404_exactly_like_a_missing_one() {
    let app = spawn_app().await;
    let alice = app.signed_up_user().await;
    let mallory = app.signed_up_user().await;
    let secret = app
        .create_todo(
            &alice.token,
            json!({"title": "Alice's secret plan", "description": "hidden", "completed": true}),
        )
        .await;
    let id = id_of(&secret);
    let missing = 987_654;

    // `problem` drops the per-request `request_id` before the comparison.
    let get_missing = problem(
        app.get_todo(&mallory.token, missing).await,
        404,
        "not_found",
    )
    .await;
    let get_foreign = app.get_todo(&mallory.token, id).await;
    assert!(get_foreign.headers().get("etag").is_none());
    assert_eq!(problem(get_foreign, 404, "not_found").await, get_missing);

    let patch = json!({"title": "pwned", "completed": false});
    let patch_missing = problem(
        app.update_todo(&mallory.token, missing, &patch, None).await,
        404,
        "not_found",
    )
    .await;
    let patch_foreign = app.update_todo(&mallory.token, id, &patch, None).await;
    assert_eq!(
        problem(patch_foreign, 404, "not_found").await,
        patch_missing
    );
    let with_tag = app
        .update_todo(&mallory.token, id, &patch, Some(&format!("\"{id}-1\"")))
        .await;
    problem(with_tag, 404, "not_found").await;
    let star = app.update_todo(&mallory.token, id, &patch, Some("*")).await;
    problem(star, 404, "not_found").await;

    let delete_missing = problem(
        app.delete_todo(&mallory.token, missing, None).await,
        404,
        "not_found",
    )
    .await;
    let delete_foreign = app.delete_todo(&mallory.token, id, None).await;
    assert_eq!(
        problem(delete_foreign, 404, "not_found").await,
        delete_missing
    );

    let listed = app.todo_page(&mallory.token, &[]).await;
    assert_eq!(listed["items"], json!([]));
    for q in ["secret", "hidden", "Alice"] {
        let searched = app
            .todo_page(&mallory.token, &[("q", q), ("completed", "true")])
            .await;
        assert_eq!(searched["items"], json!([]), "{q}");
    }
    let cleared = app.clear_completed(&mallory.token, "?completed=true").await;
    assert_eq!(
        cleared.json::<Value>().await.unwrap(),
        json!({"deleted": 0, "ids": []})
    );

    let intact: Value = app.get_todo(&alice.token, id).await.json().await.unwrap();
    assert_eq!(intact, secret);
}

// ---------- lists: filters and search ----------

#[actix_web::test]
async fn list_filters_by_completed_and_priority() {
    let (app, user) = spawn_app_with_user().await;
    for (title, priority, completed) in [
        ("open low", "low", false),
        ("open high", "high", false),
        ("done high", "high", true),
        ("done normal", "normal", true),
    ] {
        app.create_todo(
            &user.token,
            json!({"title": title, "priority": priority, "completed": completed}),
        )
        .await;
    }
    let cases: Vec<(Params, Vec<&str>)> = vec![
        (
            vec![],
            vec!["done high", "done normal", "open high", "open low"],
        ),
        (vec![("completed", "false")], vec!["open high", "open low"]),
        (
            vec![("completed", "true")],
            vec!["done high", "done normal"],
        ),
        (vec![("priority", "high")], vec!["done high", "open high"]),
        (
            vec![("priority", "high"), ("completed", "false")],
            vec!["open high"],
        ),
        (vec![("priority", "low"), ("completed", "true")], vec![]),
    ];
    for (params, expected) in cases {
        let page = app.todo_page(&user.token, &params).await;
        assert_eq!(
            titles(page["items"].as_array().unwrap()),
            expected,
            "{params:?}"
        );
    }
}

#[actix_web::test]
async fn search_is_a_case_insensitive_literal_substring_of_title_or_description() {
    let (app, user) = spawn_app_with_user().await;
    for (title, description, priority, completed) in [
        ("100% juice", "", "normal", false),
        ("100 apples", "", "normal", false),
        ("snake_case names", "", "high", false),
        ("snakecase", "", "high", false),
        (r"C:\temp\file", "", "low", false),
        ("CTEMP", "", "low", false),
        ("Grüße an ÄRGER", "", "normal", true),
        ("quiet", "Ärger im Büro", "high", true),
        ("Buy MILK", "", "high", false),
        ("shopping", "oat milk, 2 litres", "low", false),
        ("nothing", "", "low", false),
    ] {
        app.create_todo(&user.token, json!({"title": title, "description": description, "priority": priority, "completed": completed}))
        .await;
    }
    let cases: Vec<(Params, Vec<&str>)> = vec![
        (vec![("q", "%")], vec!["100% juice"]),
        (vec![("q", "0%")], vec!["100% juice"]),
        (vec![("q", "_")], vec!["snake_case names"]),
        (vec![("q", "e_c")], vec!["snake_case names"]),
        (vec![("q", "\\")], vec![r"C:\temp\file"]),
        (vec![("q", "\\t")], vec![r"C:\temp\file"]),
        (vec![("q", "%%")], vec![]),
        (vec![("q", "JUICE")], vec!["100% juice"]),
        (vec![("q", "milk")], vec!["Buy MILK", "shopping"]),
        (vec![("q", "ärger")], vec!["Grüße an ÄRGER", "quiet"]),
        (vec![("q", "ÄRGER")], vec!["Grüße an ÄRGER", "quiet"]),
        (vec![("q", "büro")], vec!["quiet"]),
        (vec![("q", "milk"), ("priority", "high")], vec!["Buy MILK"]),
        (vec![("q", "milk"), ("completed", "true")], vec![]),
        (
            vec![("q", "ärger"), ("completed", "true"), ("priority", "high")],
            vec!["quiet"],
        ),
        (
            vec![("q", "snake"), ("priority", "high"), ("sort", "title")],
            vec!["snake_case names", "snakecase"],
        ),
        (vec![("q", "no such text")], vec![]),
    ];
    for (params, expected) in cases {
        let page = app.todo_page(&user.token, &params).await;
        assert_eq!(
            titles(page["items"].as_array().unwrap()),
            expected,
            "{params:?}"
        );
    }
    let everything = app
        .todo_page(&user.token, &[("q", ""), ("limit", "100")])
        .await;
    assert_eq!(everything["items"].as_array().unwrap().len(), 11);
}

#[actix_web::test]
async fn search_with_filters_walks_every_page() {
    let (app, user) = spawn_app_with_user().await;
    let mut expected = Vec::new();
    for n in 0..23 {
        let title = if n % 2 == 0 {
            format!("Report {n}")
        } else {
            format!("misc {n}")
        };
        let completed = n % 3 == 0;
        let todo = app
            .create_todo(&user.token, json!({"title": title, "completed": completed}))
            .await;
        if n % 2 == 0 && !completed {
            expected.push(id_of(&todo));
        }
    }
    expected.reverse();
    let (items, pages) = app
        .walk(
            &user.token,
            TODOS,
            &[("q", "REPORT"), ("completed", "false"), ("limit", "2")],
        )
        .await;
    assert_eq!(ids(&items), expected);
    assert_eq!(pages, expected.len().div_ceil(2));
}

// ---------- lists: pages and orders ----------

#[actix_web::test]
async fn list_returns_20_by_default_and_null_next_cursor_on_the_last_page() {
    let (app, user) = spawn_app_with_user().await;
    for n in 0..21 {
        app.create_todo(&user.token, json!({"title": format!("t{n}")}))
            .await;
    }
    let first = app.todo_page(&user.token, &[]).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.todo_page(&user.token, &[("cursor", cursor)]).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["title"], "t0");
    assert_eq!(second["next_cursor"], Value::Null);

    let exact = app.todo_page(&user.token, &[("limit", "21")]).await;
    assert_eq!(exact["items"].as_array().unwrap().len(), 21);
    assert_eq!(exact["next_cursor"], Value::Null, "no empty last page");
    let max = app.todo_page(&user.token, &[("limit", "100")]).await;
    assert_eq!(max["items"].as_array().unwrap().len(), 21);
    assert_eq!(max["next_cursor"], Value::Null);
}

/// The order the SPEC defines, computed independently of the server.
fn expected_order(items: &[Value], sort: &str) -> Vec<i64> {
    let (descending, key) = match sort.strip_prefix('-') {
        Some(key) => (true, key),
        None => (false, sort),
    };
    let rank = |t: &Value| match t["priority"].as_str().unwrap() {
        "low" => 0,
        "normal" => 1,
        _ => 2,
    };
    let due = |t: &Value| t["due_date"].as_str().map(str::to_owned);
    let folded = |t: &Value| t["title"].as_str().unwrap().to_lowercase();
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| {
        let by_key = match key {
            "created_at" => timestamp(&a["created_at"]).cmp(&timestamp(&b["created_at"])),
            "priority" => rank(a).cmp(&rank(b)),
            "title" => folded(a).cmp(&folded(b)),
            "due_date" => due(a).cmp(&due(b)),
            other => panic!("unknown sort {other}"),
        };
        let ordered = by_key.then(id_of(a).cmp(&id_of(b)));
        let ordered = if descending {
            ordered.reverse()
        } else {
            ordered
        };
        if key == "due_date" {
            // Undated todos last, whichever the direction.
            let undated = due(a).is_none().cmp(&due(b).is_none());
            return undated.then(ordered);
        }
        ordered
    });
    ids(&sorted)
}

#[actix_web::test]
async fn every_sort_order_walks_all_pages_with_ties_exactly_once() {
    let (app, user) = spawn_app_with_user().await;
    let neighbour = app.signed_up_user().await;
    let rows = [
        ("Banana", "low", None),
        ("apple", "normal", Some("2026-05-01")),
        ("Apple", "high", Some("2026-05-01")),
        ("cherry", "normal", None),
        ("apple", "low", Some("2026-01-15")),
        ("Äpfel", "high", None),
        ("banana", "normal", Some("2027-03-03")),
        ("date", "normal", Some("2026-05-01")),
        ("Zebra", "low", None),
        ("éclair", "high", Some("2025-12-31")),
        ("apple", "normal", Some("2026-01-15")),
        ("Cherry", "high", None),
        ("fig", "low", Some("2026-05-01")),
        ("Banana", "normal", None),
        ("100% done", "high", Some("2026-01-15")),
    ];
    for (title, priority, due) in rows {
        app.create_todo(
            &user.token,
            json!({"title": title, "priority": priority, "due_date": due}),
        )
        .await;
        app.create_todo(
            &neighbour.token,
            json!({"title": title, "priority": priority, "due_date": due}),
        )
        .await;
    }
    // Three creation instants shared by many todos, as a bulk import makes.
    app.sql(
        "UPDATE todos SET created_at = '2026-03-01 12:00:00' WHERE id % 3 = 0;
         UPDATE todos SET created_at = '2026-03-01 12:00:00.250' WHERE id % 3 = 1;
         UPDATE todos SET created_at = '2026-02-28 23:59:59.999999' WHERE id % 3 = 2;",
    );
    let (all, _) = app.walk(&user.token, TODOS, &[("limit", "100")]).await;
    assert_eq!(all.len(), rows.len());

    for sort in [
        "created_at",
        "-created_at",
        "due_date",
        "-due_date",
        "priority",
        "-priority",
        "title",
        "-title",
    ] {
        let expected = expected_order(&all, sort);
        for limit in ["1", "4", "7"] {
            let (items, pages) = app
                .walk(&user.token, TODOS, &[("sort", sort), ("limit", limit)])
                .await;
            assert_eq!(ids(&items), expected, "sort={sort} limit={limit}");
            let per_page: usize = limit.parse().unwrap();
            assert_eq!(
                pages,
                rows.len().div_ceil(per_page),
                "sort={sort} limit={limit}"
            );
        }
    }
    let (default_order, _) = app.walk(&user.token, TODOS, &[("limit", "4")]).await;
    assert_eq!(ids(&default_order), expected_order(&all, "-created_at"));
}

#[actix_web::test]
async fn due_date_orders_put_undated_todos_last_in_both_directions() {
    let (app, user) = spawn_app_with_user().await;
    for (title, due) in [
        ("undated 1", None),
        ("june", Some("2026-06-01")),
        ("undated 2", None),
        ("january", Some("2026-01-01")),
    ] {
        app.create_todo(&user.token, json!({"title": title, "due_date": due}))
            .await;
    }
    let order = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let ascending = app.todo_page(&user.token, &[("sort", "due_date")]).await;
    assert_eq!(
        order(ascending),
        ["january", "june", "undated 1", "undated 2"]
    );
    let descending = app.todo_page(&user.token, &[("sort", "-due_date")]).await;
    assert_eq!(
        order(descending),
        ["june", "january", "undated 2", "undated 1"]
    );
}

#[actix_web::test]
async fn a_cursor_survives_the_deletion_of_the_item_it_points_at() {
    let (app, user) = spawn_app_with_user().await;
    let mut created = Vec::new();
    for n in 0..6 {
        created.push(id_of(
            &app.create_todo(&user.token, json!({"title": format!("t{n}")}))
                .await,
        ));
    }
    let first = app
        .todo_page(&user.token, &[("sort", "created_at"), ("limit", "3")])
        .await;
    let boundary = id_of(&first["items"][2]);
    app.delete_todo(&user.token, boundary, None).await;

    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .todo_page(
            &user.token,
            &[("sort", "created_at"), ("limit", "3"), ("cursor", cursor)],
        )
        .await;
    assert_eq!(ids(second["items"].as_array().unwrap()), created[3..]);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[actix_web::test]
async fn invalid_list_parameters_are_422_naming_the_parameter() {
    let (app, user) = spawn_app_with_user().await;
    let long_q = "q".repeat(201);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "101")], "limit"),
        (vec![("limit", "-1")], "limit"),
        (vec![("limit", "ten")], "limit"),
        (vec![("limit", "2.5")], "limit"),
        (vec![("limit", "")], "limit"),
        (vec![("sort", "name")], "sort"),
        (vec![("sort", "CREATED_AT")], "sort"),
        (vec![("sort", "+title")], "sort"),
        (vec![("sort", "")], "sort"),
        (vec![("priority", "urgent")], "priority"),
        (vec![("priority", "")], "priority"),
        (vec![("completed", "yes")], "completed"),
        (vec![("completed", "1")], "completed"),
        (vec![("cursor", "abc")], "cursor"),
        (vec![("cursor", "")], "cursor"),
        (vec![("q", long_q.as_str())], "q"),
        (vec![("page", "2")], "page"),
        (vec![("offset", "40")], "offset"),
    ];
    for (params, field) in cases {
        let response = app.list_todos(&user.token, &params).await;
        let p = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), [field], "{params:?}");
    }
    let max_q = "q".repeat(200);
    assert_eq!(
        app.list_todos(&user.token, &[("q", max_q.as_str())])
            .await
            .status(),
        200
    );
}

#[actix_web::test]
async fn cursors_cannot_be_forged_or_reused_with_another_query_or_user() {
    let (app, user) = spawn_app_with_user().await;
    let other = app.signed_up_user().await;
    for n in 0..5 {
        app.create_todo(
            &user.token,
            json!({"title": format!("a{n}"), "completed": n % 2 == 0}),
        )
        .await;
        app.create_todo(&other.token, json!({"title": format!("b{n}")}))
            .await;
    }
    let page = app
        .todo_page(
            &user.token,
            &[("sort", "title"), ("limit", "2"), ("q", "a")],
        )
        .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (body, tag) = cursor.split_once('.').unwrap();

    let mut flipped = body.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{}.{tag}", String::from_utf8(flipped).unwrap());
    let forged_json = r#"{"s":"title","f":"x","v":{"s":""},"id":0}"#;
    let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(forged_json));
    let extended = format!("{cursor}x");
    let bad_cursors: Vec<(Vec<(&str, &str)>, &TestUser)> = vec![
        (
            vec![("sort", "title"), ("q", "a"), ("cursor", &tampered)],
            &user,
        ),
        (
            vec![("sort", "title"), ("q", "a"), ("cursor", &forged)],
            &user,
        ),
        (
            vec![("sort", "title"), ("q", "a"), ("cursor", &extended)],
            &user,
        ),
        (
            vec![("sort", "-title"), ("q", "a"), ("cursor", &cursor)],
            &user,
        ),
        (
            vec![("sort", "created_at"), ("q", "a"), ("cursor", &cursor)],
            &user,
        ),
        (vec![("q", "a"), ("cursor", &cursor)], &user),
        (vec![("sort", "title"), ("cursor", &cursor)], &user),
        (
            vec![("sort", "title"), ("q", "A "), ("cursor", &cursor)],
            &user,
        ),
        (
            vec![
                ("sort", "title"),
                ("q", "a"),
                ("completed", "true"),
                ("cursor", &cursor),
            ],
            &user,
        ),
        (
            vec![
                ("sort", "title"),
                ("q", "a"),
                ("priority", "normal"),
                ("cursor", &cursor),
            ],
            &user,
        ),
        (
            vec![("sort", "title"), ("q", "a"), ("cursor", &cursor)],
            &other,
        ),
    ];
    for (params, who) in bad_cursors {
        let response = app.list_todos(&who.token, &params).await;
        let p = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&p), ["cursor"], "{params:?}");
    }
    let same_query = app
        .todo_page(
            &user.token,
            &[
                ("sort", "title"),
                ("limit", "2"),
                ("q", "a"),
                ("cursor", &cursor),
            ],
        )
        .await;
    assert_eq!(same_query["items"].as_array().unwrap().len(), 2);
    // Case folding is part of the search, so `A` is the same query as `a`.
    let folded = app
        .list_todos(
            &user.token,
            &[("sort", "title"), ("q", "A"), ("cursor", &cursor)],
        )
        .await;
    assert_eq!(folded.status(), 200);
    // The limit may change from page to page.
    let resized = app
        .todo_page(
            &user.token,
            &[
                ("sort", "title"),
                ("limit", "50"),
                ("q", "a"),
                ("cursor", &cursor),
            ],
        )
        .await;
    assert_eq!(resized["items"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn cursors_carry_the_longest_titles() {
    let (app, user) = spawn_app_with_user().await;
    let longest = [
        "😀".repeat(200),
        "\u{1}".repeat(200),
        "İ".repeat(200),
        "\"\\".repeat(100),
    ];
    for title in &longest {
        app.create_todo(&user.token, json!({"title": title})).await;
        app.create_todo(&user.token, json!({"title": title})).await;
    }
    for sort in ["title", "-title"] {
        let (items, pages) = app
            .walk(&user.token, TODOS, &[("sort", sort), ("limit", "1")])
            .await;
        assert_eq!(items.len(), 8, "{sort}");
        assert_eq!(pages, 8, "{sort}");
    }
}
