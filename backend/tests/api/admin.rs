//! Administration: permissions, the last-admin rule, immediate effect of
//! changes, audit events, pagination and search.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{
    assert_fields, error_fields, ids, problem, spawn_app, spawn_app_with, spawn_app_with_user,
    TestApp, TestUser,
};

// ---------- arrangement ----------

/// A fresh app with one admin (made by SQL, as the CLI would).
async fn app_with_admin() -> (TestApp, TestUser) {
    let app = spawn_app().await;
    let admin = app.signed_up_user().await;
    app.make_admin(admin.id);
    (app, admin)
}

fn insert_todos(app: &TestApp, user_id: i64, n: usize) {
    for i in 0..n {
        app.sql(&format!(
            "INSERT INTO todos (user_id, title, title_sort, description, completed, priority, created_at, updated_at, version) \
             VALUES ({user_id}, 'todo {i}', 'todo {i}', '', FALSE, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1); \
             UPDATE users SET todo_count = todo_count + 1 WHERE id = {user_id};"
        ));
    }
}

// ---------- permissions ----------

/// Every admin endpoint and method, against a fresh victim for the ones
/// that change something.
fn admin_endpoints(victim: i64) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/admin/users".into(), None),
        (
            Method::PATCH,
            format!("/api/v1/admin/users/{victim}"),
            Some(json!({"disabled": false})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/users/{victim}/sessions"),
            None,
        ),
        (Method::GET, "/api/v1/admin/audit-events".into(), None),
        (
            Method::DELETE,
            format!("/api/v1/admin/users/{victim}"),
            None,
        ),
    ]
}

#[actix_web::test]
async fn anonymous_callers_get_401_on_every_admin_endpoint() {
    let (app, _admin) = app_with_admin().await;
    let victim = app.signed_up_user().await;
    for (method, path, body) in admin_endpoints(victim.id) {
        for token in [None, Some("not-a-jwt"), Some("a.b.c")] {
            let response = app.send(method.clone(), &path, token, body.as_ref()).await;
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer",
                "{method} {path}"
            );
            problem(response, 401, "unauthorized").await;
        }
    }
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {}",
            victim.id
        )),
        1
    );
}

#[actix_web::test]
async fn users_get_403_on_every_admin_endpoint_and_change_nothing() {
    let (app, _admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    let victim = app.signed_up_user().await;
    let events_before = app.audit_types().len();
    for (method, path, body) in admin_endpoints(victim.id) {
        let response = app
            .send(method.clone(), &path, Some(&user.token), body.as_ref())
            .await;
        problem(response, 403, "forbidden").await;
    }
    // Not even on themselves.
    let response = app
        .admin_update_user(&user.token, user.id, json!({"role": "admin"}))
        .await;
    problem(response, 403, "forbidden").await;
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM users WHERE role = 'admin'"),
        1
    );
    app.assert_me_status(&victim.token, 200).await;
    assert_eq!(app.audit_types().len(), events_before);
}

#[actix_web::test]
async fn admins_succeed_on_every_admin_endpoint() {
    let (app, admin) = app_with_admin().await;
    let victim = app.signed_up_user().await;
    for (method, path, body) in admin_endpoints(victim.id) {
        let response = app
            .send(method.clone(), &path, Some(&admin.token), body.as_ref())
            .await;
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}

#[actix_web::test]
async fn other_methods_on_admin_resources_are_405() {
    let (app, admin) = app_with_admin().await;
    for (method, path) in [
        (Method::POST, "/api/v1/admin/users"),
        (Method::PUT, "/api/v1/admin/users/1"),
        (Method::GET, "/api/v1/admin/users/1"),
        (Method::GET, "/api/v1/admin/users/1/sessions"),
        (Method::DELETE, "/api/v1/admin/audit-events"),
    ] {
        let response = app.send(method, path, Some(&admin.token), None).await;
        problem(response, 405, "method_not_allowed").await;
    }
}

#[actix_web::test]
async fn unknown_or_malformed_target_ids() {
    let (app, admin) = app_with_admin().await;
    for id in ["999999", "0", "-1"] {
        for (method, path, body) in [
            (
                Method::PATCH,
                format!("/api/v1/admin/users/{id}"),
                Some(json!({})),
            ),
            (Method::DELETE, format!("/api/v1/admin/users/{id}"), None),
            (
                Method::DELETE,
                format!("/api/v1/admin/users/{id}/sessions"),
                None,
            ),
        ] {
            let response = app
                .send(method, &path, Some(&admin.token), body.as_ref())
                .await;
            problem(response, 404, "not_found").await;
        }
    }
    for id in ["abc", "1.5", "99999999999999999999"] {
        let response = app.admin_update_user(&admin.token, id, json!({})).await;
        let body = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), ["id"]);
    }
}

// ---------- PATCH validation ----------

#[actix_web::test]
async fn patch_rejects_invalid_bodies_naming_the_field() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    let cases = [
        (json!({"role": "superuser"}), "role"),
        (json!({"role": "Admin"}), "role"),
        (json!({"role": ""}), "role"),
        (json!({"role": null}), "role"),
        (json!({"role": 1}), "role"),
        (json!({"disabled": "yes"}), "disabled"),
        (json!({"disabled": 1}), "disabled"),
        (json!({"disabled": null}), "disabled"),
        (json!({"email": "x@example.com"}), "email"),
        (json!({"id": 5}), "id"),
        (json!({"password_hash": "x"}), "password_hash"),
        (
            json!({"role": "user", "created_at": "2020-01-01T00:00:00Z"}),
            "created_at",
        ),
        (json!([{"role": "admin"}]), "body"),
    ];
    for (body, field) in cases {
        let response = app
            .admin_update_user(&admin.token, user.id, body.clone())
            .await;
        assert_eq!(response.status(), 422, "{body}");
        let problem_body = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&problem_body), [field], "{body}");
    }
    app.assert_json_bodies_only(
        Method::PATCH,
        &format!("/api/v1/admin/users/{}", user.id),
        Some(&admin.token),
        "{\"role\":",
        ("text/plain", "{\"role\":\"admin\"}"),
    )
    .await;
    let me = app.me(&user.token).await;
    assert_eq!(me["role"], "user");
    assert_eq!(me["disabled"], false);
}

#[actix_web::test]
async fn patch_returns_the_user_and_records_nothing_when_nothing_changes() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    let before = app.audit_types().len();
    for body in [
        json!({}),
        json!({"role": "user"}),
        json!({"disabled": false}),
        json!({"role": "user", "disabled": false}),
    ] {
        let response = app.admin_update_user(&admin.token, user.id, body).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["id"], user.id);
        assert_eq!(body["email"], user.email.as_str());
        assert_eq!(body["role"], "user");
        assert_eq!(body["disabled"], false);
        assert!(body.get("password_hash").is_none());
    }
    assert_eq!(app.audit_types().len(), before);
    app.assert_me_status(&user.token, 200).await;
}

// ---------- immediate effect ----------

#[actix_web::test]
async fn promotion_and_demotion_apply_to_an_already_issued_token() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    assert_eq!(app.admin_list_status(&user.token).await, 403);

    let body = app
        .admin_update_user_ok(&admin.token, user.id, json!({"role": "admin"}))
        .await;
    assert_eq!(body["role"], "admin");
    assert_eq!(app.admin_list_status(&user.token).await, 200);
    assert_eq!(app.me(&user.token).await["role"], "admin");

    app.admin_update_user_ok(&admin.token, user.id, json!({"role": "user"}))
        .await;
    let response = app.admin_list_audit_events(&user.token, "").await;
    problem(response, 403, "forbidden").await;
    // Demotion is not a logout: the session itself still works.
    app.assert_me_status(&user.token, 200).await;
}

#[actix_web::test]
async fn disabling_ends_sessions_at_once_and_enabling_does_not_bring_them_back() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    let second = app.login(&user.email, &user.password).await;
    let second_token = second["access_token"].as_str().unwrap().to_owned();

    let body = app
        .admin_update_user_ok(&admin.token, user.id, json!({"disabled": true}))
        .await;
    assert_eq!(body["disabled"], true);

    for token in [&user.token, &second_token] {
        let response = app.get_me(token).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        problem(response, 401, "unauthorized").await;
    }
    let response = app.refresh(&user.refresh_token).await;
    problem(response, 401, "unauthorized").await;
    app.refused_login(&user.email, &user.password).await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = {} AND revoked_at IS NULL",
            user.id
        )),
        0
    );

    app.admin_update_user_ok(&admin.token, user.id, json!({"disabled": false}))
        .await;
    app.assert_me_status(&user.token, 401).await;
    app.assert_me_status(&second_token, 401).await;
    let response = app.refresh(&user.refresh_token).await;
    problem(response, 401, "unauthorized").await;
    let pair = app.login(&user.email, &user.password).await;
    let fresh = pair["access_token"].as_str().unwrap();
    app.assert_me_status(fresh, 200).await;
}

#[actix_web::test]
async fn revoking_sessions_ends_every_session_of_the_target_only() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    let other = app.signed_up_user().await;
    let second = app.login(&user.email, &user.password).await;

    let response = app.admin_revoke_sessions(&admin.token, user.id).await;
    assert_eq!(response.status(), 204);

    app.assert_me_status(&user.token, 401).await;
    app.assert_me_status(second["access_token"].as_str().unwrap(), 401)
        .await;
    for refresh in [
        user.refresh_token.as_str(),
        second["refresh_token"].as_str().unwrap(),
    ] {
        let response = app.refresh(refresh).await;
        problem(response, 401, "unauthorized").await;
    }
    app.assert_me_status(&other.token, 200).await;
    assert_eq!(app.admin_list_status(&admin.token).await, 200);
    // The account itself is untouched: the user can log in again.
    app.login(&user.email, &user.password).await;

    let event = app
        .latest_event(&admin.token, "admin.sessions_revoked")
        .await;
    assert_eq!(event["actor_user_id"], admin.id);
    assert_eq!(event["target_user_id"], user.id);
    assert_eq!(event["detail"], json!({"sessions_ended": 2}));
}

#[actix_web::test]
async fn an_admin_revoking_their_own_sessions_is_logged_out() {
    let (app, admin) = app_with_admin().await;
    let response = app.admin_revoke_sessions(&admin.token, admin.id).await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.admin_list_status(&admin.token).await, 401);
}

// ---------- delete ----------

#[actix_web::test]
async fn deleting_a_user_removes_their_todos_and_sessions() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    let keep = app.signed_up_user().await;
    insert_todos(&app, user.id, 3);
    insert_todos(&app, keep.id, 2);

    let response = app.admin_delete_user(&admin.token, user.id).await;
    assert_eq!(response.status(), 204);

    let id = user.id;
    assert_eq!(
        app.scalar(&format!("SELECT COUNT(*) FROM users WHERE id = {id}")),
        0
    );
    assert_eq!(app.rows_of("todos", id), 0);
    assert_eq!(app.rows_of("sessions", id), 0);
    assert_eq!(app.rows_of("todos", keep.id), 2);
    app.assert_me_status(&user.token, 401).await;
    app.refused_login(&user.email, &user.password).await;
    let response = app.admin_delete_user(&admin.token, user.id).await;
    problem(response, 404, "not_found").await;

    let event = app.latest_event(&admin.token, "admin.user_deleted").await;
    assert_eq!(event["actor_user_id"], admin.id);
    assert_eq!(event["target_user_id"], user.id);
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(
        event["detail"],
        json!({"email": user.email, "role": "user"})
    );
}

#[actix_web::test]
async fn an_admin_may_delete_another_admin_and_themselves_while_one_remains() {
    let (app, first) = app_with_admin().await;
    let second = app.signed_up_user().await;
    app.make_admin(second.id);

    let response = app.admin_delete_user(&first.token, first.id).await;
    assert_eq!(response.status(), 204);
    app.assert_me_status(&first.token, 401).await;
    assert_eq!(app.active_admins(), 1);

    let response = app.admin_delete_user(&second.token, second.id).await;
    problem(response, 409, "last_admin").await;
    assert_eq!(app.active_admins(), 1);
}

// ---------- the last admin ----------

#[actix_web::test]
async fn the_last_active_admin_cannot_be_demoted_disabled_or_deleted() {
    let (app, admin) = app_with_admin().await;
    let events_before = app.audit_types().len();
    for body in [
        json!({"role": "user"}),
        json!({"disabled": true}),
        json!({"role": "user", "disabled": true}),
        json!({"role": "admin", "disabled": true}),
    ] {
        let response = app
            .admin_update_user(&admin.token, admin.id, body.clone())
            .await;
        let body = problem(response, 409, "last_admin").await;
        assert!(body.get("errors").is_none());
    }
    let response = app.admin_delete_user(&admin.token, admin.id).await;
    problem(response, 409, "last_admin").await;
    let response = app.delete_me(&admin.token, &admin.password).await;
    problem(response, 409, "last_admin").await;

    assert_eq!(app.active_admins(), 1);
    assert_eq!(app.admin_list_status(&admin.token).await, 200);
    assert_eq!(app.audit_types().len(), events_before);
}

#[actix_web::test]
async fn a_disabled_admin_does_not_count_as_the_remaining_admin() {
    let (app, admin) = app_with_admin().await;
    let dormant = app.signed_up_user().await;
    app.make_admin(dormant.id);
    app.sql(&format!(
        "UPDATE users SET disabled = TRUE WHERE id = {}",
        dormant.id
    ));

    let response = app
        .admin_update_user(&admin.token, admin.id, json!({"role": "user"}))
        .await;
    problem(response, 409, "last_admin").await;
    let response = app.delete_me(&admin.token, &admin.password).await;
    problem(response, 409, "last_admin").await;

    // The disabled admin is not protected: it can be demoted or deleted.
    app.admin_update_user_ok(&admin.token, dormant.id, json!({"role": "user"}))
        .await;
    app.make_admin(dormant.id);
    // Enabling them again makes two active admins.
    app.admin_update_user_ok(&admin.token, dormant.id, json!({"disabled": false}))
        .await;
    assert_eq!(app.active_admins(), 2);
    app.admin_update_user_ok(&admin.token, admin.id, json!({"role": "user"}))
        .await;
}

#[actix_web::test]
async fn an_admin_may_demote_or_disable_themselves_while_another_remains() {
    let (app, first) = app_with_admin().await;
    let second = app.signed_up_user().await;
    app.make_admin(second.id);

    let body = app
        .admin_update_user_ok(&first.token, first.id, json!({"role": "user"}))
        .await;
    assert_eq!(body["role"], "user");
    let response = app.admin_list_users(&first.token, "").await;
    problem(response, 403, "forbidden").await;

    // Now `second` is the last one, also against themselves.
    let response = app
        .admin_update_user(&second.token, second.id, json!({"disabled": true}))
        .await;
    problem(response, 409, "last_admin").await;

    // Promote `first` again, then `second` disables themselves.
    app.admin_update_user_ok(&second.token, first.id, json!({"role": "admin"}))
        .await;
    let pair = app.login(&first.email, &first.password).await;
    let first_token = pair["access_token"].as_str().unwrap().to_owned();
    app.admin_update_user_ok(&second.token, second.id, json!({"disabled": true}))
        .await;
    assert_eq!(app.admin_list_status(&second.token).await, 401);
    assert_eq!(app.admin_list_status(&first_token).await, 200);
    assert_eq!(app.active_admins(), 1);
}

#[actix_web::test]
async fn self_deletion_of_an_admin_is_allowed_while_another_remains() {
    let (app, first) = app_with_admin().await;
    let second = app.signed_up_user().await;
    app.make_admin(second.id);
    let response = app.delete_me(&first.token, &first.password).await;
    assert_eq!(response.status(), 204);
    let response = app.delete_me(&second.token, &second.password).await;
    problem(response, 409, "last_admin").await;
    assert_eq!(app.active_admins(), 1);
}

/// One admin action in a race: who acts, on whom, and how.
#[derive(Debug, Clone, Copy)]
enum Action {
    Demote,
    Disable,
    AdminDelete,
    /// `DELETE /api/v1/users/me` (the target is the actor).
    SelfDelete,
}

async fn act(app: &TestApp, actor: &TestUser, target: i64, action: Action) -> Response {
    match action {
        Action::Demote => {
            app.admin_update_user(&actor.token, target, json!({"role": "user"}))
                .await
        }
        Action::Disable => {
            app.admin_update_user(&actor.token, target, json!({"disabled": true}))
                .await
        }
        Action::AdminDelete => app.admin_delete_user(&actor.token, target).await,
        Action::SelfDelete => app.delete_me(&actor.token, &actor.password).await,
    }
}

/// Two admins, `a` and `b`, are the only ones; `a` acts on `a_target` and
/// `b` on `b_target` at the same moment.
async fn race(
    app: &TestApp,
    a: &TestUser,
    b: &TestUser,
    a_target: i64,
    b_target: i64,
    action: Action,
) -> [u16; 2] {
    let (ra, rb) = tokio::join!(act(app, a, a_target, action), act(app, b, b_target, action));
    [ra.status().as_u16(), rb.status().as_u16()]
}

async fn two_admins(app: &TestApp) -> (TestUser, TestUser) {
    let a = app.signed_up_user().await;
    let b = app.signed_up_user().await;
    // Earlier rounds' survivors are demoted, so these two are the last.
    app.sql(&format!(
        "UPDATE users SET role = CASE WHEN id IN ({}, {}) THEN 'admin' ELSE 'user' END",
        a.id, b.id
    ));
    (a, b)
}

#[actix_web::test]
async fn the_last_two_admins_acting_at_once_cannot_both_succeed() {
    // Each pair of requests is held at the database's write lock until both
    // have passed the permission check, so both transactions really run one
    // after the other and the second must see the first one's change.
    for action in [
        Action::Demote,
        Action::Disable,
        Action::AdminDelete,
        Action::SelfDelete,
    ] {
        for on_each_other in [false, true] {
            if matches!(action, Action::SelfDelete) && on_each_other {
                continue;
            }
            let app = spawn_app().await;
            let (a, b) = two_admins(&app).await;
            let (a_target, b_target) = if on_each_other {
                (b.id, a.id)
            } else {
                (a.id, b.id)
            };
            let lock = app.hold_write_lock_for(Duration::from_millis(1000));
            let statuses = race(&app, &a, &b, a_target, b_target, action).await;
            lock.join().unwrap();
            let case = format!("{action:?}, on each other: {on_each_other}: {statuses:?}");
            let mut sorted = statuses;
            sorted.sort_unstable();
            let ok = if matches!(action, Action::Demote | Action::Disable) {
                200
            } else {
                204
            };
            assert_eq!(sorted, [ok, 409], "{case}");
            assert_eq!(app.active_admins(), 1, "{case}");
        }
    }
}

#[actix_web::test]
async fn unsynchronised_races_of_the_last_two_admins_always_leave_one() {
    // Free-running: the loser may also arrive after the winner's change and
    // be refused at the door (403 after a demotion, 401 after a disable or a
    // deletion). Never may both succeed.
    let app = spawn_app().await;
    let actions = [
        Action::Demote,
        Action::Disable,
        Action::AdminDelete,
        Action::SelfDelete,
    ];
    for round in 0..24 {
        let (a, b) = two_admins(&app).await;
        let action = actions[round % actions.len()];
        let on_each_other = round % 8 >= 4 && !matches!(action, Action::SelfDelete);
        let (a_target, b_target) = if on_each_other {
            (b.id, a.id)
        } else {
            (a.id, b.id)
        };
        let statuses = race(&app, &a, &b, a_target, b_target, action).await;
        let case =
            format!("round {round}, {action:?}, on each other: {on_each_other}: {statuses:?}");
        let successes = statuses.iter().filter(|s| **s == 200 || **s == 204).count();
        assert_eq!(successes, 1, "{case}");
        assert!(
            statuses.iter().any(|s| [409, 403, 401].contains(s)),
            "{case}"
        );
        assert_eq!(app.active_admins(), 1, "{case}");
    }
}

// ---------- audit events ----------

#[actix_web::test]
async fn admin_actions_are_audited_with_actor_target_ip_and_detail() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;

    assert_eq!(
        app.admin_update_user(&admin.token, user.id, json!({"role": "admin"}))
            .await
            .status(),
        200
    );
    let event = app.latest_event(&admin.token, "admin.role_changed").await;
    assert_eq!(event["type"], "admin.role_changed");
    assert_eq!(event["actor_user_id"], admin.id);
    assert_eq!(event["target_user_id"], user.id);
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["detail"], json!({"from": "user", "to": "admin"}));
    let created =
        chrono::DateTime::parse_from_rfc3339(event["created_at"].as_str().unwrap()).unwrap();
    assert!(event["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        (chrono::Utc::now() - created.with_timezone(&chrono::Utc))
            .num_seconds()
            .abs()
            < 60
    );

    // One request changing both records both.
    let response = app
        .admin_update_user(
            &admin.token,
            user.id,
            json!({"role": "user", "disabled": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let event = app.latest_event(&admin.token, "admin.role_changed").await;
    assert_eq!(event["detail"], json!({"from": "admin", "to": "user"}));
    let event = app.latest_event(&admin.token, "admin.user_disabled").await;
    assert_eq!(event["actor_user_id"], admin.id);
    assert_eq!(event["target_user_id"], user.id);
    assert_eq!(
        event["detail"],
        json!({"disabled": true, "sessions_ended": 1})
    );

    assert_eq!(
        app.admin_update_user(&admin.token, user.id, json!({"disabled": false}))
            .await
            .status(),
        200
    );
    let event = app.latest_event(&admin.token, "admin.user_enabled").await;
    assert_eq!(event["actor_user_id"], admin.id);
    assert_eq!(event["target_user_id"], user.id);
    assert_eq!(event["detail"], json!({"disabled": false}));

    assert_eq!(
        app.admin_revoke_sessions(&admin.token, user.id)
            .await
            .status(),
        204
    );
    assert_eq!(
        app.admin_delete_user(&admin.token, user.id).await.status(),
        204
    );

    let types = app.audit_types();
    let admin_types: Vec<&str> = types
        .iter()
        .map(String::as_str)
        .filter(|t| t.starts_with("admin."))
        .collect();
    assert_eq!(
        admin_types,
        [
            "admin.role_changed",
            "admin.role_changed",
            "admin.user_disabled",
            "admin.user_enabled",
            "admin.sessions_revoked",
            "admin.user_deleted",
        ]
    );

    // Nothing secret anywhere in the log.
    let hash_prefix = "$2";
    let all = app
        .walk(&admin.token, "/api/v1/admin/audit-events?limit=100", &[])
        .await
        .0;
    let text = serde_json::to_string(&all).unwrap();
    for secret in [
        admin.password.as_str(),
        user.password.as_str(),
        admin.token.as_str(),
        user.token.as_str(),
        admin.refresh_token.as_str(),
        user.refresh_token.as_str(),
        hash_prefix,
    ] {
        assert!(!text.contains(secret), "audit log contains a secret");
    }
    for event in &all {
        assert!(event["detail"].is_object(), "{event}");
        assert_fields(
            event,
            &[
                "id",
                "type",
                "actor_user_id",
                "target_user_id",
                "ip",
                "created_at",
                "detail",
            ],
        );
    }
}

#[actix_web::test]
async fn audit_ip_is_the_peer_unless_proxy_headers_are_trusted() {
    let (app, admin) = app_with_admin().await;
    let user = app.signed_up_user().await;
    let response = app
        .request(
            Method::DELETE,
            &format!("/api/v1/admin/users/{}/sessions", user.id),
        )
        .bearer_auth(&admin.token)
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let event = app
        .latest_event(&admin.token, "admin.sessions_revoked")
        .await;
    assert_eq!(event["ip"], "127.0.0.1");

    let app = spawn_app_with(&[("TRUST_PROXY_HEADERS", "true")]).await;
    let admin = app.signed_up_user().await;
    app.make_admin(admin.id);
    let user = app.signed_up_user().await;
    let response = app
        .request(Method::PATCH, &format!("/api/v1/admin/users/{}", user.id))
        .bearer_auth(&admin.token)
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.9")
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let event = app.latest_event(&admin.token, "admin.user_disabled").await;
    assert_eq!(event["ip"], "203.0.113.9");
}

#[actix_web::test]
async fn audit_events_filter_by_exact_type_newest_first() {
    let (app, admin) = app_with_admin().await;
    for _ in 0..3 {
        app.signed_up_user().await;
    }
    let page = app
        .get_json(
            &admin.token,
            "/api/v1/admin/audit-events?type=user.registered",
            &[],
        )
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|e| e["type"] == "user.registered"));
    let got = ids(items);
    let mut sorted = got.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(got, sorted);
    assert!(page["next_cursor"].is_null());

    for no_match in ["user", "USER.REGISTERED", "user.registered%", "%"] {
        let page = app
            .get_json(
                &admin.token,
                &format!("/api/v1/admin/audit-events?type={}", urlencode(no_match)),
                &[],
            )
            .await;
        assert_eq!(page["items"], json!([]), "{no_match}");
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[actix_web::test]
async fn audit_event_pages_walk_every_event_exactly_once() {
    let (app, admin) = app_with_admin().await;
    for _ in 0..6 {
        app.signed_up_user().await;
    }
    let total = app.scalar("SELECT COUNT(*) FROM audit_events");
    let events = app
        .walk(&admin.token, "/api/v1/admin/audit-events?limit=4", &[])
        .await
        .0;
    // The walk's own requests record nothing, so the count is stable.
    assert_eq!(events.len() as i64, total);
    let got = ids(&events);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
    assert!(got.windows(2).all(|w| w[0] > w[1]));

    let logins = app
        .walk(
            &admin.token,
            "/api/v1/admin/audit-events?type=auth.login_succeeded&limit=2",
            &[],
        )
        .await
        .0;
    assert_eq!(logins.len(), 7);
    assert!(logins.iter().all(|e| e["type"] == "auth.login_succeeded"));
    let exact = app
        .get_json(
            &admin.token,
            "/api/v1/admin/audit-events?type=auth.login_succeeded&limit=7",
            &[],
        )
        .await;
    assert!(
        exact["next_cursor"].is_null(),
        "a full last page has no next cursor"
    );
}

// ---------- user list ----------

#[actix_web::test]
async fn user_list_items_carry_todo_count_and_last_login() {
    let (app, admin) = app_with_admin().await;
    let busy = app.signed_up_user().await;
    let idle = app.signed_up_user().await;
    let never = app
        .register("never.logged.in@example.com", "Quiet-Lantern-Orchard-71")
        .await;
    insert_todos(&app, busy.id, 5);
    insert_todos(&app, admin.id, 1);

    let page = app.get_json(&admin.token, "/api/v1/admin/users", &[]).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let by_id = |id: i64| items.iter().find(|i| i["id"] == id).unwrap().clone();
    assert_eq!(by_id(busy.id)["todo_count"], 5);
    assert_eq!(by_id(idle.id)["todo_count"], 0);
    assert_eq!(by_id(admin.id)["todo_count"], 1);
    let never_id = never["id"].as_i64().unwrap();
    assert_eq!(by_id(never_id)["todo_count"], 0);
    assert!(by_id(never_id)["last_login_at"].is_null());
    assert!(by_id(busy.id)["last_login_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_fields(
        &by_id(busy.id),
        &[
            "id",
            "email",
            "role",
            "disabled",
            "mfa_enabled",
            "created_at",
            "todo_count",
            "last_login_at",
        ],
    );
    assert_eq!(by_id(admin.id)["role"], "admin");
    assert_eq!(by_id(busy.id)["email"], busy.email.as_str());
}

#[actix_web::test]
async fn user_pages_walk_every_user_exactly_once_newest_first() {
    let (app, admin) = app_with_admin().await;
    let mut expected = vec![admin.id];
    for i in 0..9 {
        let user = app.signed_up_user().await;
        if i % 3 == 0 {
            app.make_admin(user.id);
        }
        insert_todos(&app, user.id, i);
        expected.push(user.id);
    }
    expected.sort_unstable_by(|a, b| b.cmp(a));
    for limit in [1, 2, 3, 10, 100] {
        let users = app
            .walk(
                &admin.token,
                &format!("/api/v1/admin/users?limit={limit}"),
                &[],
            )
            .await
            .0;
        assert_eq!(ids(&users), expected, "limit {limit}");
    }

    let admins = app
        .walk(&admin.token, "/api/v1/admin/users?role=admin&limit=2", &[])
        .await
        .0;
    assert_eq!(admins.len(), 4);
    assert!(admins.iter().all(|u| u["role"] == "admin"));
    let users = app
        .walk(&admin.token, "/api/v1/admin/users?role=user&limit=2", &[])
        .await
        .0;
    assert_eq!(users.len(), 6);
    assert!(users.iter().all(|u| u["role"] == "user"));
    let total: i64 = users
        .iter()
        .chain(&admins)
        .map(|u| u["todo_count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 36);
}

#[actix_web::test]
async fn user_search_is_a_case_insensitive_literal_substring() {
    let (app, admin) = app_with_admin().await;
    // Inserted directly: not every one of these is an address registration
    // accepts, but search must treat any stored character literally.
    for email in [
        "100%off@example.com",
        "1000off@example.com",
        "a_b@example.com",
        "axb@example.com",
        "back\\slash@example.com",
        "mixed.case@example.com",
    ] {
        app.sql(&format!(
            "INSERT INTO users (email, password_hash, role, created_at, updated_at) \
             VALUES ('{email}', 'x', 'user', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ));
    }
    let emails = |items: Vec<Value>| -> Vec<String> {
        let mut e: Vec<String> = items
            .iter()
            .map(|i| i["email"].as_str().unwrap().to_owned())
            .collect();
        e.sort();
        e
    };
    let search = |q: &str| format!("/api/v1/admin/users?limit=2&q={}", urlencode(q));
    for (q, expected) in [
        ("%", &["100%off@example.com"][..]),
        ("0%o", &["100%off@example.com"]),
        ("_", &["a_b@example.com"]),
        ("a_b", &["a_b@example.com"]),
        ("\\", &["back\\slash@example.com"]),
        ("MIXED.case", &["mixed.case@example.com"]),
        ("OFF@", &["100%off@example.com", "1000off@example.com"]),
        ("nobody-here", &[]),
    ] {
        assert_eq!(
            emails(app.walk(&admin.token, &search(q), &[]).await.0),
            expected,
            "q={q}"
        );
    }
    // Empty matches everyone; combined with the role filter.
    let everyone = app
        .walk(&admin.token, "/api/v1/admin/users?q=", &[])
        .await
        .0;
    let registered = app.scalar("SELECT COUNT(*) FROM users");
    assert_eq!(everyone.len() as i64, registered);
    let admins = app
        .walk(
            &admin.token,
            &format!("{}&role=admin", search("EXAMPLE.com")),
            &[],
        )
        .await
        .0;
    assert_eq!(ids(&admins), [admin.id]);
}

#[actix_web::test]
async fn invalid_list_parameters_are_422_naming_the_parameter() {
    let (app, admin) = app_with_admin().await;
    let long_q = "a".repeat(255);
    let long_type = "t".repeat(65);
    let cases: Vec<(String, &str)> = vec![
        ("/api/v1/admin/users?limit=0".into(), "limit"),
        ("/api/v1/admin/users?limit=101".into(), "limit"),
        ("/api/v1/admin/users?limit=-1".into(), "limit"),
        ("/api/v1/admin/users?limit=abc".into(), "limit"),
        ("/api/v1/admin/users?limit=".into(), "limit"),
        ("/api/v1/admin/users?role=root".into(), "role"),
        ("/api/v1/admin/users?role=Admin".into(), "role"),
        ("/api/v1/admin/users?role=".into(), "role"),
        ("/api/v1/admin/users?cursor=garbage".into(), "cursor"),
        ("/api/v1/admin/users?cursor=".into(), "cursor"),
        (format!("/api/v1/admin/users?q={long_q}"), "q"),
        ("/api/v1/admin/users?sort=email".into(), "sort"),
        ("/api/v1/admin/audit-events?limit=0".into(), "limit"),
        ("/api/v1/admin/audit-events?limit=1000".into(), "limit"),
        ("/api/v1/admin/audit-events?type=".into(), "type"),
        (
            format!("/api/v1/admin/audit-events?type={long_type}"),
            "type",
        ),
        ("/api/v1/admin/audit-events?cursor=a.b".into(), "cursor"),
        ("/api/v1/admin/audit-events?actor=1".into(), "actor"),
    ];
    for (path, field) in cases {
        let response = app.get_auth(&path, &admin.token).await;
        let body = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), [field], "{path}");
    }
}

#[actix_web::test]
async fn a_cursor_only_continues_the_list_and_filters_it_was_issued_for() {
    let (app, admin) = app_with_admin().await;
    for _ in 0..4 {
        app.signed_up_user().await;
    }
    let page = app
        .get_json(&admin.token, "/api/v1/admin/users?role=user&limit=2", &[])
        .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let ok = app
        .admin_list_users(&admin.token, &format!("?role=user&limit=3&cursor={cursor}"))
        .await;
    assert_eq!(ok.status(), 200, "the limit may change between pages");
    for other in [
        format!("/api/v1/admin/users?cursor={cursor}"),
        format!("/api/v1/admin/users?role=admin&cursor={cursor}"),
        format!("/api/v1/admin/users?role=user&q=user&cursor={cursor}"),
        format!("/api/v1/admin/audit-events?cursor={cursor}"),
    ] {
        let response = app.get_auth(&other, &admin.token).await;
        let body = problem(response, 422, "validation_failed").await;
        assert_eq!(error_fields(&body), ["cursor"], "{other}");
    }
    // A tampered cursor is refused too.
    let (body, tag) = cursor.split_once('.').unwrap();
    let mut tampered = body.to_owned();
    tampered.replace_range(0..1, if body.starts_with('e') { "f" } else { "e" });
    let response = app
        .admin_list_users(&admin.token, &format!("?role=user&cursor={tampered}.{tag}"))
        .await;
    problem(response, 422, "validation_failed").await;

    let page = app
        .get_json(
            &admin.token,
            "/api/v1/admin/audit-events?type=user.registered&limit=1",
            &[],
        )
        .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let response = app
        .admin_list_audit_events(
            &admin.token,
            &format!("?type=auth.login_succeeded&cursor={cursor}"),
        )
        .await;
    problem(response, 422, "validation_failed").await;
    let response = app
        .admin_list_users(&admin.token, &format!("?cursor={cursor}"))
        .await;
    problem(response, 422, "validation_failed").await;
}

#[actix_web::test]
async fn non_admins_get_403_before_any_input_is_validated() {
    let (app, user) = spawn_app_with_user().await;
    let cases: Vec<(Method, &str, Option<Value>)> = vec![
        (
            Method::GET,
            "/api/v1/admin/users?limit=0&role=root&bogus=1",
            None,
        ),
        (
            Method::GET,
            "/api/v1/admin/audit-events?cursor=forged",
            None,
        ),
        (
            Method::PATCH,
            "/api/v1/admin/users/abc",
            Some(json!({"role": "emperor"})),
        ),
        (Method::DELETE, "/api/v1/admin/users/not-a-number", None),
        (Method::DELETE, "/api/v1/admin/users/x/sessions", None),
    ];
    for (method, path, body) in cases {
        let response = app
            .send(method.clone(), path, Some(&user.token), body.as_ref())
            .await;
        problem(response, 403, "forbidden").await;
        let anonymous = app.send(method.clone(), path, None, body.as_ref()).await;
        problem(anonymous, 401, "unauthorized").await;
    }
}
