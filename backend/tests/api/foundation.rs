//! Health, error shapes, security headers, CORS, static files, logging.

use reqwest::Method;

use crate::helpers::{captured_logs, problem, spawn_app, spawn_app_with};

const SECURITY_HEADERS: [(&str, Option<&str>); 6] = [
    ("content-security-policy", None),
    ("x-content-type-options", Some("nosniff")),
    ("referrer-policy", Some("no-referrer")),
    ("x-frame-options", Some("DENY")),
    ("permissions-policy", None),
    ("cross-origin-opener-policy", Some("same-origin")),
];

fn assert_security_headers(response: &reqwest::Response) {
    for (name, expected) in SECURITY_HEADERS {
        let value = response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing on {}", response.url()))
            .to_str()
            .unwrap();
        if let Some(expected) = expected {
            assert_eq!(value, expected, "{name}");
        }
    }
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
}

#[actix_web::test]
async fn health_live_and_ready_answer_200() {
    let app = spawn_app().await;
    for path in ["/health/live", "/health/ready"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

#[actix_web::test]
async fn ready_is_503_problem_when_the_database_does_not_answer() {
    let app = spawn_app().await;
    // Break the schema under the running server.
    app.sql("DROP TABLE __diesel_schema_migrations;");
    let response = app.health_ready().await;
    let body = problem(response, 503, "service_unavailable").await;
    assert!(
        !body.to_string().contains("__diesel"),
        "internal detail leaked: {body}"
    );
    assert_eq!(app.health_live().await.status(), 200);
}

#[actix_web::test]
async fn database_file_and_parent_directory_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/new/dir/app.db", dir.path().display());
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    assert!(app.db_path.is_file());
    assert!(dir.path().join("new/dir/app.db").is_file());
}

#[actix_web::test]
async fn memory_database_works_across_requests() {
    let app = spawn_app_with(&[("DATABASE_URL", "sqlite::memory:")]).await;
    for _ in 0..5 {
        assert_eq!(app.health_ready().await.status(), 200);
    }
}

#[actix_web::test]
async fn unknown_api_route_is_404_problem() {
    let app = spawn_app().await;
    for path in ["/api/v1/nope", "/api/v2/todos", "/api/whatever/deep/path"] {
        let response = app.get(path).await;
        assert_security_headers(&response);
        problem(response, 404, "not_found").await;
    }
}

#[actix_web::test]
async fn wrong_method_is_405_problem() {
    let app = spawn_app().await;
    let response = app.send(Method::POST, "/health/live", None, None).await;
    assert_security_headers(&response);
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    problem(response, 405, "method_not_allowed").await;
}

#[actix_web::test]
async fn every_405_lists_exactly_the_documented_methods_in_allow() {
    // RFC 9110 (15.5.6): a 405 must carry `Allow`. The lists are written
    // by hand in api/mod.rs; the document is the reference (HEAD is routed
    // on the health probes only, and is not an OpenAPI operation there).
    let app = spawn_app().await;
    let doc: serde_json::Value =
        serde_json::from_str(&securetodo::openapi::document_json().unwrap()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let mut expected: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        if path.starts_with("/health/") {
            expected.push("HEAD".into());
        }
        expected.sort();
        let response = app
            .send(Method::TRACE, &path.replace("{id}", "1"), None, None)
            .await;
        let allow = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let mut listed: Vec<String> = allow.split(", ").map(str::to_owned).collect();
        listed.sort();
        assert_eq!(listed, expected, "Allow on {path}");
        problem(response, 405, "method_not_allowed").await;
    }
}

#[actix_web::test]
async fn security_headers_are_on_success_error_and_static_responses() {
    let app = spawn_app().await;
    for path in [
        "/health/live",
        "/api/v1/missing",
        "/",
        "/js/app.js",
        "/nope.js",
    ] {
        let response = app.get(path).await;
        assert_security_headers(&response);
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "HSTS over http"
        );
    }
}

#[actix_web::test]
async fn api_responses_are_not_cached() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/missing").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[actix_web::test]
async fn hsts_is_sent_for_https_only_when_proxy_headers_are_trusted() {
    let trusted = spawn_app_with(&[("TRUST_PROXY_HEADERS", "true")]).await;
    let response = trusted
        .health_live_with(&[("X-Forwarded-Proto", "https")])
        .await;
    let hsts = response.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(hsts.starts_with("max-age="), "{hsts}");

    let untrusted = spawn_app().await;
    let response = untrusted
        .health_live_with(&[("X-Forwarded-Proto", "https")])
        .await;
    assert!(response
        .headers()
        .get("strict-transport-security")
        .is_none());
}

#[actix_web::test]
async fn cors_preflight_from_an_allowed_origin_is_answered_with_headers() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let response = app
        .preflight(
            "https://app.example.com",
            &[(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )],
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    assert_security_headers(&response);
}

#[actix_web::test]
async fn cors_refuses_other_origins_and_never_sends_a_wildcard() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let preflight = app.preflight("https://evil.example", &[]).await;
    assert!(preflight
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert_security_headers(&preflight);
    problem(preflight, 403, "forbidden").await;

    let simple = app
        .health_live_with(&[("Origin", "https://evil.example")])
        .await;
    assert!(simple
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let allowed = app
        .health_live_with(&[("Origin", "https://app.example.com")])
        .await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

/// Abuse case 8: a refused origin got `Access-Control-Allow-Credentials` and
/// `Expose-Headers` (without `Allow-Origin`). It must get no CORS header.
#[actix_web::test]
async fn a_refused_origin_gets_no_cors_headers_at_all() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let cors_headers = |response: &reqwest::Response| -> Vec<String> {
        response
            .headers()
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name.starts_with("access-control-"))
            .collect()
    };
    for (method, path) in [
        (Method::GET, "/health/live"),
        (Method::GET, "/api/v1/users/me"),
        (Method::POST, "/api/v1/auth/login"),
    ] {
        let response = app
            .request(method.clone(), path)
            .header("Origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(
            cors_headers(&response),
            Vec::<String>::new(),
            "{method} {path}"
        );
        assert_security_headers(&response);
    }
    let preflight = app.preflight("https://evil.example", &[]).await;
    assert_eq!(cors_headers(&preflight), Vec::<String>::new());

    let allowed = app
        .health_live_with(&[("Origin", "https://app.example.com")])
        .await;
    let headers = cors_headers(&allowed);
    assert!(
        headers.contains(&"access-control-allow-origin".to_owned()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"access-control-allow-credentials".to_owned()),
        "{headers:?}"
    );
}

#[actix_web::test]
async fn no_cors_headers_without_configured_origins() {
    let app = spawn_app().await;
    let response = app
        .health_live_with(&[("Origin", "https://app.example.com")])
        .await;
    assert_eq!(response.status(), 200);
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[actix_web::test]
async fn static_files_have_correct_content_types() {
    let app = spawn_app().await;
    let cases = [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/js/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/logo.svg", "image/svg+xml"),
    ];
    for (path, expected) in cases {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(expected), "{path}: {content_type}");
    }
}

#[actix_web::test]
async fn client_side_routes_fall_back_to_index_but_missing_files_are_404() {
    let app = spawn_app().await;
    let response = app.get("/dashboard").await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("SecureTodo test"));
    problem(app.get("/missing.js").await, 404, "not_found").await;
}

#[actix_web::test]
async fn empty_frontend_dir_disables_static_files() {
    let app = spawn_app_with(&[("FRONTEND_DIR", "")]).await;
    problem(app.get("/").await, 404, "not_found").await;
    assert_eq!(app.health_live().await.status(), 200);
}

#[actix_web::test]
async fn swagger_ui_is_served_offline_with_a_redirect() {
    let app = spawn_app().await;
    let redirect = app.get("/swagger-ui").await;
    assert_eq!(redirect.status(), 301);
    assert_eq!(redirect.headers()["location"], "/swagger-ui/");
    let page = app.get("/swagger-ui/").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("style-src 'self' 'unsafe-inline'"), "{csp}");
    assert!(page.text().await.unwrap().contains("swagger"));
    let doc = app.get("/api-docs/openapi.json").await;
    assert_eq!(doc.status(), 200);
    let doc: serde_json::Value = doc.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    // Only Swagger UI gets the inline-style allowance.
    let csp = app.get("/").await.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

#[actix_web::test]
async fn access_log_never_records_query_strings_or_authorization() {
    let app = spawn_app().await;
    app.request(Method::GET, "/health/live?token=query-secret-4242")
        .header("Authorization", "Bearer header-secret-4242")
        .header("Cookie", "refresh_token=cookie-secret-4242")
        .send()
        .await
        .unwrap();
    let logs = captured_logs();
    assert!(
        logs.contains("\"GET /health/live\""),
        "the request was not logged: {logs}"
    );
    for secret in [
        "query-secret-4242",
        "header-secret-4242",
        "cookie-secret-4242",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into logs");
    }
}

#[actix_web::test]
async fn graceful_stop_finishes_and_refuses_new_connections() {
    let app = spawn_app().await;
    assert_eq!(app.health_live().await.status(), 200);
    app.stop().await;
    let fresh = reqwest::Client::new();
    assert!(fresh.get(app.url("/health/live")).send().await.is_err());
}

#[actix_web::test]
async fn test_tooling_beside_the_spa_is_not_served() {
    let app = spawn_app().await;
    for path in ["/node_modules/pkg/index.js", "/package.json", "/README.md"] {
        problem(app.get(path).await, 404, "not_found").await;
    }
}

#[actix_web::test]
async fn health_answers_head_requests_for_monitors() {
    let app = spawn_app().await;
    let response = app.send(Method::HEAD, "/health/ready", None, None).await;
    assert_eq!(response.status(), 200);
}
