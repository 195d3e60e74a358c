//! Builds the application: pool, migrations, middleware, routes, listener.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::{fn_service, Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::http::{header, Method};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::create_queue::CreateQueue;
use crate::app::retention::RetentionPolicy;
use crate::auth::jwt::JwtKeys;
use crate::auth::mfa::MfaKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::rate_limit::{RateLimits, RATELIMIT, RATELIMIT_POLICY};
use crate::config::Settings;
use crate::db::{self, Db, DbPool};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::pagination::CursorKey;
use crate::state::AppState;
use crate::{api, background, middleware, observe, openapi};

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
    /// The `METRICS_ADDR` listener: its port and its server.
    metrics: Option<(u16, Server)>,
    /// Periodic work (retention, metrics upkeep), ended with the server.
    tasks: Vec<actix_web::rt::task::JoinHandle<()>>,
}

impl Application {
    /// Opens the database (applying migrations), binds the listener and
    /// builds the server. Port 0 picks a free port; `port()` reports it.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let pool = {
            let database = settings.database.clone();
            let size = pool_size();
            let migrate = if settings.migrate_on_start {
                db::Migrate::Apply
            } else {
                db::Migrate::RequireApplied
            };
            let development = settings.app_env == crate::config::AppEnv::Development;
            web::block(move || {
                if let (true, crate::config::DatabaseUrl::Postgres(url)) = (development, &database)
                {
                    db::create_missing_postgres_database(url)?;
                }
                db::open_pool(&database, size, migrate)
            })
            .await??
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
            rate_limits: RateLimits::new(&settings).await,
            cursor_key: CursorKey::from_settings(&settings),
            mfa: MfaKeys::new(&settings.mfa_encryption_key),
            creates: CreateQueue::new(),
            settings,
        });
        let metrics = match &state.settings.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind((addr.host.as_str(), addr.port))
                    .with_context(|| format!("binding METRICS_ADDR {}:{}", addr.host, addr.port))?;
                Some((listener, Arc::new(Metrics::new()?)))
            }
            None => None,
        };
        let mut tasks = vec![background::spawn_retention(
            state.db.pool().clone(),
            RetentionPolicy::from_settings(&state.settings),
            background::RETENTION_FIRST_DELAY,
            background::RETENTION_INTERVAL,
        )];
        let server = run(
            listener,
            state.clone(),
            metrics.as_ref().map(|(_, m)| Arc::clone(m)),
        )?;
        let metrics = match metrics {
            Some((listener, metrics)) => {
                tasks.push(background::spawn_metrics_upkeep(
                    Arc::clone(&metrics),
                    background::METRICS_UPKEEP_INTERVAL,
                ));
                let port = listener.local_addr()?.port();
                Some((port, run_metrics(listener, state, metrics)?))
            }
            None => None,
        };
        Ok(Self {
            port,
            server,
            metrics,
            tasks,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `METRICS_ADDR` listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or `handle().stop()`): stops accepting,
    /// lets in-flight requests finish, then drops the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self
            .metrics
            .map(|(_, server)| (server.handle(), actix_web::rt::spawn(server)));
        let result = self.server.await;
        for task in &self.tasks {
            task.abort();
        }
        if let Some((handle, server)) = metrics {
            handle.stop(true).await;
            let _ = server.await;
        }
        result
    }
}

/// The `METRICS_ADDR` listener: `GET /metrics` and nothing else, on one
/// worker. It stops when the main server stops.
fn run_metrics(
    listener: TcpListener,
    state: web::Data<AppState>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Server> {
    let metrics = web::Data::from(metrics);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(crate::metrics::scrape))
            .default_service(web::to(|| async { HttpResponse::NotFound().finish() }))
    })
    .workers(1)
    .worker_max_blocking_threads(1)
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(1)
    .run();
    Ok(server)
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

/// Blocking threads per worker, for `web::block` (Diesel calls and bcrypt).
/// Each of the `cores()` workers has its own blocking pool, so together
/// they get one thread per pooled connection plus one per concurrent hash
/// (the hasher allows one per core), split evenly. actix's default, 512
/// divided among the workers, starts a thread for nearly every in-flight
/// request (100-260 threads at 64 connections), which only queue for a
/// connection, and costs memory (stacks, malloc arenas) and context
/// switches; so did giving every worker the whole budget (12 threads on 2
/// cores for 4 connections and 2 hashes).
fn blocking_threads(pool: &DbPool) -> usize {
    let workers = cores();
    let connections = usize::try_from(pool.max_size()).unwrap_or(4);
    connections.div_ceil(workers) + cores().div_ceil(workers)
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
            header::IF_NONE_MATCH,
            header::ACCEPT,
        ])
        .allowed_header(HeaderName::from_static(crate::request_context::HEADER))
        .allowed_header(HeaderName::from_static("idempotency-key"))
        .expose_headers([
            HeaderName::from_static(crate::request_context::HEADER),
            HeaderName::from_static("idempotent-replayed"),
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::CONTENT_DISPOSITION,
            RATELIMIT,
            RATELIMIT_POLICY,
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

/// Where the OpenAPI document is served (and where Swagger UI reads it).
const OPENAPI_PATH: &str = "/api-docs/openapi.json";

fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<Server> {
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
    let document = web::Bytes::from(openapi::document_bytes()?);
    let state_pool = state.db.pool().clone();
    let server = HttpServer::new(move || {
        let settings = &state.settings;
        let mut app = App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(crate::extract::MAX_BODY_BYTES));
        if let Some(metrics) = &metrics {
            app = app.app_data(web::Data::from(Arc::clone(metrics)));
        }
        let app = app
            .wrap(cors(settings))
            .wrap(from_fn(middleware::security_headers))
            // Outermost: the request id and context cover everything inside,
            // and the access line and metrics see the final status.
            .wrap(from_fn(observe::observe))
            .configure(api::configure)
            // Metrics are served on METRICS_ADDR only; here the path is a
            // plain 404 (not the SPA page), so a scraper pointed at the
            // public port fails loudly instead of parsing HTML.
            .service(web::resource("/metrics").to(api::not_found))
            .service(web::resource("/swagger-ui").route(web::get().to(|| async {
                HttpResponse::MovedPermanently()
                    .insert_header((header::LOCATION, "/swagger-ui/"))
                    .finish()
            })))
            .service(web::resource(OPENAPI_PATH).route(web::get().to({
                let document = document.clone();
                move || {
                    let document = document.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type(header::ContentType::json())
                            .body(document)
                    }
                }
            })))
            .service(
                SwaggerUi::new("/swagger-ui/{_:.*}")
                    .config(utoipa_swagger_ui::Config::new([OPENAPI_PATH])),
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
    .workers(cores())
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
