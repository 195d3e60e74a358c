//! The data export: JSON of everything about the account, CSV of the
//! todos with the formula guard, as attachments, streamed.

use serde_json::{json, Value};

use crate::helpers::{problem, spawn_app, spawn_app_with_user};

#[actix_web::test]
async fn the_json_export_holds_the_account_and_nothing_of_other_users() {
    let app = spawn_app().await;
    let user = app.signed_up_user().await;
    let other = app.signed_up_user().await;
    app.create_todo(&user.token, json!({"title": "mine", "description": "<b>kept verbatim</b>", "priority": "high", "due_date": "2026-12-24"}))
        .await;
    app.create_todo(&other.token, json!({"title": "not mine"}))
        .await;
    let trashed = app
        .create_todo(&user.token, json!({"title": "in the trash"}))
        .await;
    let response = app
        .delete_todo(&user.token, trashed["id"].as_i64().unwrap(), None)
        .await;
    assert_eq!(response.status(), 204);
    let token = app.create_api_token(&user, &["todos:read"]).await;

    let response = app.export(&user.token, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"securetodo-export-")
            && disposition.ends_with(".json\""),
        "{disposition}"
    );
    let text = response.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["format"], "securetodo.export");
    assert_eq!(export["version"], 1);
    assert_eq!(export["account"]["email"], user.email.as_str());
    assert_eq!(export["account"]["id"], user.id);
    let todos = export["todos"].as_array().unwrap();
    assert_eq!(todos.len(), 2, "the live todo, then the trash");
    assert_eq!(todos[0]["title"], "mine");
    assert!(todos[0]["deleted_at"].is_null());
    assert_eq!(todos[1]["title"], "in the trash");
    assert!(todos[1]["deleted_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(todos[0]["description"], "<b>kept verbatim</b>");
    assert_eq!(todos[0]["priority"], "high");
    assert_eq!(todos[0]["due_date"], "2026-12-24");
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    let tokens = export["api_tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["id"], token["id"]);
    let types: Vec<&str> = export["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for expected in ["user.registered", "auth.login_succeeded", "token.created"] {
        assert!(types.contains(&expected), "{types:?}");
    }
    assert!(export["audit_events"][0]["actor"] == "self");
    // Never a secret, a hash or another user's data.
    let secret = token["token"].as_str().unwrap();
    for absent in [
        &secret[4..],
        "password_hash",
        "token_hash",
        "refresh_token",
        "not mine",
        other.email.as_str(),
    ] {
        assert!(!text.contains(absent), "{absent} in the export");
    }
}

#[actix_web::test]
async fn the_csv_export_has_the_header_rfc4180_quoting_and_the_formula_guard() {
    let (app, user) = spawn_app_with_user().await;
    let titles = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+1+1",
        "-2",
        "@SUM(A1)",
        "\tTab",
        "plain, with \"quotes\"",
    ];
    for title in titles {
        app.create_todo(&user.token, json!({"title": title})).await;
    }
    app.create_todo(
        &user.token,
        json!({"title": "multi", "description": "line one\nline two\r\n=2"}),
    )
    .await;

    let response = app.export(&user.token, Some("csv")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".csv\""));
    let body = response.text().await.unwrap();
    assert!(body.starts_with(
        "id,title,description,completed,priority,due_date,created_at,updated_at,completed_at\r\n"
    ));
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), titles.len() + 1);
    let cell = |title_prefix: &str, column: usize| -> String {
        rows.iter()
            .find(|r| r[1].contains(title_prefix))
            .unwrap_or_else(|| panic!("no row for {title_prefix}"))[column]
            .to_owned()
    };
    assert_eq!(
        cell("HYPERLINK", 1),
        "'=HYPERLINK(\"http://evil.example\",\"x\")"
    );
    assert_eq!(cell("+1+1", 1), "'+1+1");
    assert_eq!(cell("-2", 1), "'-2");
    assert_eq!(cell("@SUM", 1), "'@SUM(A1)");
    assert_eq!(cell("Tab", 1), "Tab", "the title is trimmed on the way in");
    assert_eq!(cell("plain", 1), "plain, with \"quotes\"");
    assert_eq!(cell("multi", 2), "line one\nline two\r\n=2");
    assert_eq!(cell("multi", 3), "false");
    assert_eq!(cell("multi", 4), "normal");
    assert_eq!(cell("multi", 5), "");
    assert!(cell("multi", 6).ends_with('Z'));
}

#[actix_web::test]
async fn a_large_export_is_streamed_whole_in_both_formats() {
    let (app, user) = spawn_app_with_user().await;
    // 1,234 todos: more than two pages of the export.
    let values: Vec<String> = (0..1234)
        .map(|i| {
            format!(
                "({}, 'todo {i}', 'todo {i}', '', false, 1, '2026-01-01 00:00:{:02}', '2026-01-01 00:00:00')",
                user.id,
                i % 60
            )
        })
        .collect();
    app.sql(&format!(
        "INSERT INTO todos (user_id, title, title_sort, description, completed, priority, created_at, updated_at) VALUES {};",
        values.join(", ")
    ));
    let response = app.export(&user.token, Some("json")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not built in memory first"
    );
    let export: Value = response.json().await.unwrap();
    let mut ids: Vec<i64> = export["todos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1234);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1234, "every todo exactly once");

    let body = app
        .export(&user.token, Some("csv"))
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(reader.records().count(), 1234);
}

#[actix_web::test]
async fn the_export_refuses_bad_formats_api_tokens_and_strangers() {
    let (app, user) = spawn_app_with_user().await;
    for query in ["?format=xml", "?format=", "?format=csv&x=1"] {
        let response = app
            .get_auth(&format!("/api/v1/users/me/export{query}"), &user.token)
            .await;
        problem(response, 422, "validation_failed").await;
    }
    let token = app.api_token(&user, &["todos:read", "todos:write"]).await;
    problem(app.export(&token, None).await, 403, "insufficient_scope").await;
    problem(app.export("not-a-token", None).await, 401, "unauthorized").await;
}
