//! HTTP routes: one module per resource; `configure` is the whole router.

pub mod admin;
pub mod auth;
pub mod health;
pub mod todos;
pub mod users;

use actix_web::{web, HttpResponse, Resource};

use crate::auth::rate_limit::limiter;
use crate::error::ApiError;
use crate::startup::AppState;

/// Registers every route. Each handler also carries `#[utoipa::path]` and is
/// listed in `openapi::ApiDoc`; a test walks the document and checks that
/// every documented operation is routed.
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<AppState>) {
    let settings = &state.settings;
    let per_minute = settings.auth_rate_limit_per_minute;
    let trust = settings.trust_proxy_headers;
    let credentials = || limiter(&state.rate_limits, "credentials", per_minute, trust);
    let refresh = || limiter(&state.rate_limits, "refresh", per_minute, trust);

    cfg.service(
        resource("/health/live")
            .route(web::get().to(health::live))
            .route(web::head().to(health::live)),
    )
    .service(
        resource("/health/ready")
            .route(web::get().to(health::ready))
            .route(web::head().to(health::ready)),
    )
    .service(
        web::scope("/api/v1")
            .service(
                resource("/auth/register")
                    .route(web::post().to(auth::register))
                    .wrap(credentials()),
            )
            .service(
                resource("/auth/login")
                    .route(web::post().to(auth::login))
                    .wrap(credentials()),
            )
            .service(
                resource("/auth/refresh")
                    .route(web::post().to(auth::refresh))
                    .wrap(refresh()),
            )
            .service(resource("/auth/logout").route(web::post().to(auth::logout)))
            .service(resource("/auth/logout-all").route(web::post().to(auth::logout_all)))
            .service(
                // Only DELETE checks a password; reading the account is not
                // a credential attempt and must not spend that budget.
                resource("/users/me")
                    .route(web::get().to(users::get_me))
                    .route(web::delete().to(users::delete_me).wrap(credentials())),
            )
            .service(
                resource("/users/me/password")
                    .route(web::put().to(users::change_password))
                    .wrap(credentials()),
            )
            .service(resource("/users/me/sessions").route(web::get().to(users::list_sessions)))
            .service(
                resource("/users/me/sessions/{id}").route(web::delete().to(users::delete_session)),
            )
            .service(
                resource("/todos")
                    .route(web::get().to(todos::list_todos))
                    .route(web::post().to(todos::create_todo))
                    .route(web::delete().to(todos::clear_completed_todos)),
            )
            .service(
                resource("/todos/{id}")
                    .route(web::get().to(todos::get_todo))
                    .route(web::patch().to(todos::update_todo))
                    .route(web::delete().to(todos::delete_todo)),
            )
            .service(resource("/admin/users").route(web::get().to(admin::list_users)))
            .service(
                resource("/admin/users/{id}")
                    .route(web::patch().to(admin::update_user))
                    .route(web::delete().to(admin::delete_user)),
            )
            .service(
                resource("/admin/users/{id}/sessions")
                    .route(web::delete().to(admin::revoke_user_sessions)),
            )
            .service(resource("/admin/audit-events").route(web::get().to(admin::list_audit_events)))
            .default_service(web::to(not_found)),
    )
    .service(web::scope("/api").default_service(web::to(not_found)));
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// A resource whose unmatched methods answer 405 problem+json.
pub fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}
