//! HTTP routes: one module per resource; `configure` is the whole router.

pub mod admin;
pub mod auth;
pub mod dto;
pub mod export;
pub mod health;
pub mod mfa;
pub mod problems;
pub mod todos;
pub mod tokens;
pub mod users;

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse, Resource, ResponseError};

use crate::app::Actor;
use crate::auth::extract::{api_token_gate, client_ip, require_admin};
use crate::auth::rate_limit::{limit_credentials, limit_refresh};
use crate::auth::AuthUser;
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Registers every route. Each handler also carries `#[utoipa::path]` and is
/// listed in `openapi::ApiDoc`; a test walks the document and checks that
/// every documented operation is routed.
///
/// Rate limits: the endpoints that take credentials wear `credentials()`
/// (per client); every other authenticated endpoint counts against the
/// caller's own limit when its `AuthUser`/`Caller` extractor runs.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let credentials = || from_fn(limit_credentials);
    let refresh = || from_fn(limit_refresh);

    cfg.service(
        resource("/health/live", "GET, HEAD")
            .route(web::get().to(health::live))
            .route(web::head().to(health::live)),
    )
    .service(
        resource("/health/ready", "GET, HEAD")
            .route(web::get().to(health::ready))
            .route(web::head().to(health::ready)),
    )
    .service(
        web::scope("/api/v1")
            .service(
                resource("/auth/register", "POST")
                    .route(web::post().to(auth::register))
                    .wrap(credentials()),
            )
            .service(
                resource("/auth/login", "POST")
                    .route(web::post().to(auth::login))
                    .wrap(credentials()),
            )
            .service(
                resource("/auth/mfa", "POST")
                    .route(web::post().to(auth::verify_mfa))
                    .wrap(credentials()),
            )
            .service(
                resource("/auth/refresh", "POST")
                    .route(web::post().to(auth::refresh))
                    .wrap(refresh()),
            )
            .service(resource("/auth/logout", "POST").route(web::post().to(auth::logout)))
            .service(resource("/auth/logout-all", "POST").route(web::post().to(auth::logout_all)))
            .service(
                // Only DELETE checks a password; reading the account is not
                // a credential attempt and must not spend that budget.
                resource("/users/me", "GET, DELETE")
                    .route(web::get().to(users::get_me))
                    .route(web::delete().to(users::delete_me).wrap(credentials())),
            )
            .service(
                resource("/users/me/password", "PUT")
                    .route(web::put().to(users::change_password))
                    .wrap(credentials()),
            )
            .service(
                resource("/users/me/sessions", "GET").route(web::get().to(users::list_sessions)),
            )
            .service(
                resource("/users/me/sessions/{id}", "DELETE")
                    .route(web::delete().to(users::delete_session)),
            )
            // Every MFA change checks a password or a code: credential
            // attempts, counted like a login.
            .service(
                resource("/users/me/mfa", "DELETE")
                    .route(web::delete().to(mfa::disable_mfa))
                    .wrap(credentials()),
            )
            .service(
                resource("/users/me/mfa/totp", "POST")
                    .route(web::post().to(mfa::start_totp_enrolment))
                    .wrap(credentials()),
            )
            .service(
                resource("/users/me/mfa/totp/confirm", "POST")
                    .route(web::post().to(mfa::confirm_totp_enrolment))
                    .wrap(credentials()),
            )
            .service(
                resource("/users/me/mfa/recovery-codes", "POST")
                    .route(web::post().to(mfa::regenerate_recovery_codes))
                    .wrap(credentials()),
            )
            .service(
                resource("/users/me/export", "GET").route(web::get().to(export::export_account)),
            )
            .service(
                resource("/users/me/tokens", "GET, POST")
                    .route(web::get().to(tokens::list_api_tokens))
                    // Creating a token checks the password.
                    .route(web::post().to(tokens::create_api_token).wrap(credentials())),
            )
            .service(
                resource("/users/me/tokens/{id}", "DELETE")
                    .route(web::delete().to(tokens::delete_api_token)),
            )
            .service(
                resource("/todos", "GET, POST, DELETE")
                    .route(web::get().to(todos::list_todos))
                    .route(web::post().to(todos::create_todo))
                    .route(web::delete().to(todos::clear_completed_todos)),
            )
            // Before `/todos/{id}`, which would take `trash` and `changes`
            // for ids.
            .service(
                resource("/todos/trash", "GET, DELETE")
                    .route(web::get().to(todos::list_trash))
                    .route(web::delete().to(todos::empty_trash)),
            )
            .service(resource("/todos/changes", "GET").route(web::get().to(todos::list_changes)))
            .service(
                resource("/todos/{id}/restore", "POST").route(web::post().to(todos::restore_todo)),
            )
            .service(
                resource("/todos/{id}", "GET, PATCH, DELETE")
                    .route(web::get().to(todos::get_todo))
                    .route(web::patch().to(todos::update_todo))
                    .route(web::delete().to(todos::delete_todo)),
            )
            // The gate answers 401/403 before any parameter or body is
            // read, so a non-admin learns nothing from validation errors.
            .service(
                resource("/admin/users", "GET")
                    .route(web::get().to(admin::list_users))
                    .wrap(from_fn(require_admin)),
            )
            .service(
                resource("/admin/users/{id}", "PATCH, DELETE")
                    .route(web::patch().to(admin::update_user))
                    .route(web::delete().to(admin::delete_user))
                    .wrap(from_fn(require_admin)),
            )
            .service(
                resource("/admin/users/{id}/sessions", "DELETE")
                    .route(web::delete().to(admin::revoke_user_sessions))
                    .wrap(from_fn(require_admin)),
            )
            .service(
                resource("/admin/users/{id}/mfa", "DELETE")
                    .route(web::delete().to(admin::reset_user_mfa))
                    .wrap(from_fn(require_admin)),
            )
            .service(
                resource("/admin/audit-events", "GET")
                    .route(web::get().to(admin::list_audit_events))
                    .wrap(from_fn(require_admin)),
            )
            .default_service(web::to(not_found))
            .wrap(from_fn(api_token_gate)),
    )
    .service(web::scope("/api").default_service(web::to(not_found)));
}

/// Runs the use case `f` with the authenticated caller as its actor, in
/// one write transaction.
pub(crate) async fn write_as<T, F>(
    state: &AppState,
    req: &HttpRequest,
    user: &AuthUser,
    f: F,
) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Conn<'_>, &Actor) -> ApiResult<T> + Send + 'static,
{
    let actor = Actor {
        user_id: user.user_id,
        ip: client_ip(req, state.settings.trust_proxy_headers),
    };
    state.db.write(move |tx| f(tx, &actor)).await
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// 405 problem+json with the `Allow` header that RFC 9110 requires.
pub fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = ApiError::MethodNotAllowed.error_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A resource whose unmatched methods answer 405 problem+json; `allow`
/// lists the methods routed on it (a test checks it against the document).
pub fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move { method_not_allowed(allow) }))
}
