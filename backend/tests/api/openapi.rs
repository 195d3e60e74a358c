//! The OpenAPI document: committed copy, served copy and router agree.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::spawn_app;

const PUBLIC_OPERATIONS: [&str; 6] = [
    "register",
    "login",
    "verify_mfa",
    "refresh",
    "live",
    "ready",
];

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

#[test]
fn committed_document_matches_the_code() {
    let generated = securetodo::openapi::document_json().unwrap();
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date with the code: run `just openapi` \
         (or `cargo run -- openapi > openapi/openapi.json`) and commit the result"
    );
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op.clone()));
        }
    }
    ops
}

#[actix_web::test]
async fn served_document_is_the_generated_one_and_host_independent() {
    let app = spawn_app().await;
    let served: Value = app
        .get("/api-docs/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let generated: Value =
        serde_json::from_str(&securetodo::openapi::document_json().unwrap()).unwrap();
    assert_eq!(served, generated);
    assert!(
        served.get("servers").is_none(),
        "no host- or port-dependent fields"
    );
    assert!(!served.to_string().contains(&app.address));
    assert_eq!(served["openapi"].as_str().unwrap().get(..3), Some("3.1"));
}

#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let doc: Value = serde_json::from_str(&securetodo::openapi::document_json().unwrap()).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 12, "{} operations", ops.len());
    for (method, path, _) in ops {
        let concrete = path.replace("{id}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.request(method.clone(), &concrete).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {path} is documented but answers {status}"
        );
    }
}

#[test]
fn protected_operations_require_bearer_and_public_ones_do_not() {
    let doc: Value = serde_json::from_str(&securetodo::openapi::document_json().unwrap()).unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        let security = op
            .get("security")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // Each requirement is an alternative: an access token, or (on the
        // todo endpoints only) an API token.
        let requires_bearer = security.iter().any(|s| s.get("bearer").is_some())
            && security
                .iter()
                .all(|s| s.get("bearer").is_some() || s.get("api_token").is_some());
        let takes_api_tokens = security.iter().any(|s| s.get("api_token").is_some());
        assert_eq!(
            takes_api_tokens,
            path.starts_with("/api/v1/todos"),
            "{method} {path} ({id}): API tokens work on the todo endpoints and nowhere else"
        );
        if PUBLIC_OPERATIONS.contains(&id.as_str()) {
            assert!(!requires_bearer, "{method} {path} ({id}) must be public");
        } else if id != "logout" {
            assert!(
                requires_bearer,
                "{method} {path} ({id}) must declare bearer security"
            );
        }
    }
}

#[test]
fn every_error_response_is_problem_json_and_every_operation_has_an_id_and_tag() {
    let doc: Value = serde_json::from_str(&securetodo::openapi::document_json().unwrap()).unwrap();
    for (method, path, op) in operations(&doc) {
        assert!(
            op["operationId"].is_string(),
            "{method} {path}: no operationId"
        );
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path}: no tag"
        );
        for (status, response) in op["responses"].as_object().unwrap() {
            if status.starts_with('4') || status.starts_with('5') {
                let content = response["content"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
                assert!(
                    content.keys().all(|k| k == "application/problem+json"),
                    "{method} {path} {status}: {content:?}"
                );
                let schema = &content["application/problem+json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
        }
        if let Some(body) = op.get("requestBody") {
            assert!(
                body["content"].get("application/json").is_some(),
                "{method} {path}: body not JSON"
            );
        }
    }
}

/// Swagger UI's "Try it out" fills an optional query parameter with the
/// parameter's `example`/`examples` or its schema's `example`/`default`, and
/// sends it: `q=milk` became a filter that hid the user's own todos.
#[test]
fn optional_query_parameters_start_empty_in_swagger_ui() {
    let doc: Value = serde_json::from_str(&securetodo::openapi::document_json().unwrap()).unwrap();
    let mut checked = 0;
    for (method, path, op) in operations(&doc) {
        for param in op["parameters"].as_array().into_iter().flatten() {
            if param["in"] != "query" || param["required"] == true {
                continue;
            }
            let name = param["name"].as_str().unwrap();
            let at = format!("{method} {path} ?{name}");
            assert!(param.get("example").is_none(), "{at}: parameter example");
            assert!(param.get("examples").is_none(), "{at}: parameter examples");
            let schema = &param["schema"];
            assert!(schema.get("example").is_none(), "{at}: schema example");
            assert!(schema.get("default").is_none(), "{at}: schema default");
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} optional query parameters found"
    );

    // The examples stay on the schemas, for readers and for the contract
    // tests' examples phase.
    let param = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["schema"]["examples"]
            .clone()
    };
    assert_eq!(param("/api/v1/todos", "q"), serde_json::json!(["milk"]));
    assert_eq!(
        param("/api/v1/todos", "priority"),
        serde_json::json!(["normal"])
    );
    assert_eq!(
        param("/api/v1/admin/users", "q"),
        serde_json::json!(["example.com"])
    );
    assert_eq!(
        param("/api/v1/admin/audit-events", "type"),
        serde_json::json!(["auth.login_failed"])
    );
}
