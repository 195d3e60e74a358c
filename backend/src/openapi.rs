//! The OpenAPI document: the same value is served, printed by
//! `securetodo openapi`, and committed as `openapi/openapi.json`.

use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SecureTodo API",
        description = "A secure multi-user ToDo JSON API. Errors are `application/problem+json` (RFC 9457) with a stable `code`.",
        license(name = "MIT", identifier = "MIT")
    ),
    paths(
        api::auth::register,
        api::auth::login,
        api::auth::verify_mfa,
        api::auth::refresh,
        api::auth::logout,
        api::auth::logout_all,
        api::users::get_me,
        api::users::change_password,
        api::users::delete_me,
        api::users::list_sessions,
        api::users::delete_session,
        api::export::export_account,
        api::tokens::create_api_token,
        api::tokens::list_api_tokens,
        api::tokens::delete_api_token,
        api::mfa::start_totp_enrolment,
        api::mfa::confirm_totp_enrolment,
        api::mfa::regenerate_recovery_codes,
        api::mfa::disable_mfa,
        api::todos::list_todos,
        api::todos::create_todo,
        api::todos::clear_completed_todos,
        api::todos::get_todo,
        api::todos::update_todo,
        api::todos::delete_todo,
        api::todos::list_trash,
        api::todos::restore_todo,
        api::todos::empty_trash,
        api::todos::list_changes,
        api::admin::list_users,
        api::admin::update_user,
        api::admin::delete_user,
        api::admin::revoke_user_sessions,
        api::admin::reset_user_mfa,
        api::admin::list_audit_events,
        api::health::live,
        api::health::ready,
    ),
    components(schemas(Problem, FieldError, crate::domain::AuditEventType)),
    modifiers(&BearerAuth, &QueryExamplesOnSchemas),
    tags(
        (name = "auth", description = "Registration, login, token refresh and logout"),
        (name = "users", description = "The caller's own account and sessions"),
        (name = "tokens", description = "Personal API tokens for scripts and external clients: `Authorization: Bearer stp_...` on the todo endpoints, within the token's scopes"),
        (name = "mfa", description = "The caller's second factor: TOTP enrolment, recovery codes, turning MFA off"),
        (name = "todos", description = "The caller's todos: lists with filters, search, sorting and cursor pages; create (with `Idempotency-Key`), read (with `If-None-Match`), update with `If-Match`, delete to the trash; the trash (list, restore, empty) and delta sync"),
        (name = "admin", description = "User management and the audit log (role `admin` only)"),
        (name = "health", description = "Liveness and readiness probes")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from `POST /api/v1/auth/login`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("stp_ API token")
                    .description(Some(
                        "A personal API token (`stp_...`) from `POST /api/v1/users/me/tokens`. \
                         It works on the `/api/v1/todos` endpoints only: `GET` needs the \
                         `todos:read` scope, other methods `todos:write` (the roles listed on \
                         each operation). Anywhere else, or without the scope, it is 403 \
                         `insufficient_scope`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Swagger UI's "Try it out" fills each optional query parameter with its
/// `example` (or its schema's `example` or `default`) and sends it, so an
/// example `q=milk` became a real filter that hid the user's todos. Optional
/// query parameters therefore keep their examples in the JSON Schema
/// `examples` list of their schema: shown by Swagger UI but not filled in,
/// and still used by the contract tests' examples phase.
struct QueryExamplesOnSchemas;

impl Modify for QueryExamplesOnSchemas {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for param in operation.parameters.iter_mut().flatten() {
                    let utoipa::openapi::RefOr::T(param) = param else {
                        continue;
                    };
                    let optional = param.required != utoipa::openapi::Required::True;
                    if param.parameter_in != ParameterIn::Query || !optional {
                        continue;
                    }
                    // `Parameter::example` is private: edit the JSON form.
                    let Ok(mut json) = serde_json::to_value(&*param) else {
                        continue;
                    };
                    move_examples_to_schema(&mut json);
                    if let Ok(updated) = serde_json::from_value(json) {
                        *param = updated;
                    }
                }
            }
        }
    }
}

fn move_examples_to_schema(param: &mut serde_json::Value) {
    let Some(param) = param.as_object_mut() else {
        return;
    };
    let mut examples: Vec<serde_json::Value> = param.remove("example").into_iter().collect();
    let Some(schema) = param.get_mut("schema").and_then(|s| s.as_object_mut()) else {
        return;
    };
    examples.extend(schema.remove("example"));
    if examples.is_empty() {
        return;
    }
    let list = schema
        .entry("examples")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(list) = list.as_array_mut() {
        for example in examples {
            if !list.contains(&example) {
                list.push(example);
            }
        }
    }
}

/// The document as compact JSON, as `/api-docs/openapi.json` serves it.
/// Serialised once at start and shared by the workers: the document's
/// tree (hundreds of small maps and strings) is not kept in memory.
pub fn document_bytes() -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(&ApiDoc::openapi())?)
}

/// The document as pretty JSON with a trailing newline.
pub fn document_json() -> anyhow::Result<String> {
    let mut json = ApiDoc::openapi().to_pretty_json()?;
    json.push('\n');
    Ok(json)
}
