//! Builds the application: pool, migrations, middleware, routes, listener.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::{fn_service, Server, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, Logger};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use actix_extensible_rate_limit::backend::memory::InMemoryBackend;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::config::Settings;
use crate::db::{self, Db, DbPool};
use crate::error::ApiError;
use crate::pagination::CursorKey;
use crate::state::AppState;
use crate::{api, middleware, openapi};
use secrecy::ExposeSecret;

/// `securetodo serve`: builds the application and serves until SIGINT or
/// SIGTERM.
pub fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone()).await?;
        log::info!(
            "SecureTodo listening on http://{}:{} ({:?})",
            settings.host,
            app.port(),
            settings.app_env
        );
        app.run_until_stopped().await?;
        log::info!("server stopped");
        Ok(())
    })
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Opens the database (applying migrations), binds the listener and
    /// builds the server. Port 0 picks a free port; `port()` reports it.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let pool = {
            let database = settings.database.clone();
            let size = pool_size();
            web::block(move || db::build_pool(&database, size)).await??
        };
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("binding {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let hasher = {
            let cost = settings.bcrypt_cost;
            web::block(move || PasswordHasher::new(cost)).await??
        };
        let state = web::Data::new(AppState {
            db: Db::new(pool),
            jwt: JwtKeys::new(&settings),
            hasher,
            rate_limits: InMemoryBackend::builder().build(),
            cursor_key: CursorKey::derive(settings.jwt_secret.expose_secret().as_bytes()),
            settings,
        });
        let server = run(listener, state)?;
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`): stops accepting,
    /// lets in-flight requests finish, then drops the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Two connections per core. A query holds its connection for tens of
/// microseconds and WAL lets readers run beside the one writer, so more
/// connections than cores to run them only add page caches (memory) and
/// writers queueing in SQLite's sleeping busy handler (write latency).
fn pool_size() -> u32 {
    u32::try_from(cores() * 2).unwrap_or(4).clamp(2, 16)
}

/// Blocking threads per worker, for `web::block` (Diesel calls and bcrypt):
/// one per pooled connection plus one per concurrent hash (the hasher allows
/// one per core). actix's default, 512 divided among the workers, starts a
/// thread for nearly every in-flight request (100-260 threads at 64
/// connections), which only queue for a connection, and costs memory
/// (stacks, malloc arenas) and context switches.
fn blocking_threads(pool: &DbPool) -> usize {
    usize::try_from(pool.max_size()).unwrap_or(4) + cores()
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::ACCEPT,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .supports_credentials()
        .max_age(600)
        // Same-origin browsers also send `Origin` on POST; a non-matching
        // origin simply gets no CORS headers, so the browser hides the answer.
        .block_on_origin_mismatch(false);
    for origin in &settings.cors_allowed_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

fn run(listener: TcpListener, state: web::Data<AppState>) -> anyhow::Result<Server> {
    let frontend_dir = state.settings.frontend_dir.clone().filter(|dir| {
        let exists = dir.join("index.html").is_file();
        if !exists {
            log::warn!(
                "FRONTEND_DIR {} has no index.html; not serving the SPA",
                dir.display()
            );
        }
        exists
    });
    let document = openapi::ApiDoc::openapi();
    let state_pool = state.db.pool().clone();
    let server = HttpServer::new(move || {
        let settings = &state.settings;
        let app = App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(crate::extract::MAX_BODY_BYTES))
            .wrap(cors(settings))
            // `%U` is the path without the query string; no headers, no cookies.
            .wrap(
                Logger::new(r#"%a "%{METHOD}xi %U" %s %b %Dms"#)
                    .custom_request_replace("METHOD", |req| req.method().to_string()),
            )
            .wrap(from_fn(middleware::security_headers))
            .configure(|cfg| api::configure(cfg, &state))
            .service(web::resource("/swagger-ui").route(web::get().to(|| async {
                HttpResponse::MovedPermanently()
                    .insert_header((header::LOCATION, "/swagger-ui/"))
                    .finish()
            })))
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}")
                    .url("/api-docs/openapi.json", document.clone()),
            );
        match &frontend_dir {
            Some(dir) => {
                let index = dir.join("index.html");
                app.service(
                    actix_files::Files::new("/", dir)
                        .index_file("index.html")
                        .prefer_utf8(true)
                        // Test tooling lives beside the SPA in development;
                        // it is not part of the site.
                        .path_filter(|path, _| {
                            !path.components().any(|c| {
                                matches!(
                                    c.as_os_str().to_str(),
                                    Some(
                                        "node_modules"
                                            | "e2e"
                                            | "package.json"
                                            | "package-lock.json"
                                    )
                                ) || c
                                    .as_os_str()
                                    .to_str()
                                    .is_some_and(|s| s.starts_with('.') || s.ends_with(".md"))
                            })
                        })
                        .default_handler(fn_service(move |req: ServiceRequest| {
                            let index = index.clone();
                            async move { spa_fallback(req, &index).await }
                        })),
                )
            }
            None => app.default_service(web::to(api::not_found)),
        }
    })
    .worker_max_blocking_threads(blocking_threads(&state_pool))
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}

/// Unknown non-API paths render the SPA (client-side routes such as
/// `/dashboard`); anything else, or a path that looks like a file, is 404.
async fn spa_fallback(
    req: ServiceRequest,
    index: &std::path::Path,
) -> Result<ServiceResponse, actix_web::Error> {
    let (req, _) = req.into_parts();
    let is_page = matches!(*req.method(), Method::GET | Method::HEAD)
        && !req.path().starts_with("/api")
        && !req
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .contains('.');
    if is_page {
        let file = actix_files::NamedFile::open(index)?;
        let response = file.into_response(&req);
        return Ok(ServiceResponse::new(req, response));
    }
    let response = actix_web::ResponseError::error_response(&ApiError::NotFound);
    Ok(ServiceResponse::new(req, response))
}
