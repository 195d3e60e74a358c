//! The OpenAPI document: the same value is served, printed by
//! `securetodo openapi`, and committed as `openapi/openapi.json`.

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
        api::auth::refresh,
        api::auth::logout,
        api::auth::logout_all,
        api::users::get_me,
        api::users::change_password,
        api::users::delete_me,
        api::users::list_sessions,
        api::users::delete_session,
        api::todos::list_todos,
        api::todos::create_todo,
        api::todos::clear_completed_todos,
        api::todos::get_todo,
        api::todos::update_todo,
        api::todos::delete_todo,
        api::admin::list_users,
        api::admin::update_user,
        api::admin::delete_user,
        api::admin::revoke_user_sessions,
        api::admin::list_audit_events,
        api::health::live,
        api::health::ready,
    ),
    components(schemas(Problem, FieldError, crate::domain::AuditEventType)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, token refresh and logout"),
        (name = "users", description = "The caller's own account and sessions"),
        (name = "todos", description = "The caller's todos: lists with filters, search, sorting and cursor pages; create, read, update with `If-Match`, delete"),
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
    }
}

/// The document as pretty JSON with a trailing newline.
pub fn document_json() -> anyhow::Result<String> {
    let mut json = ApiDoc::openapi().to_pretty_json()?;
    json.push('\n');
    Ok(json)
}
