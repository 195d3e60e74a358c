//! The `securetodo` command line: serve, migrate, create-admin, openapi, prune.

use std::io::{BufRead, Write};

use anyhow::Context;
use clap::{Parser, Subcommand};
use diesel::Connection;

use crate::auth::password::hash_blocking;
use crate::config::Settings;
use crate::db::models::{audit, user};
use crate::domain::{Email, Password, Role};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(
    name = "securetodo",
    version,
    about = "SecureTodo: a secure multi-user ToDo API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an admin, or promote an existing user. The password comes from
    /// SECURETODO_ADMIN_PASSWORD or standard input, never from an argument.
    CreateAdmin {
        #[arg(long)]
        email: String,
    },
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
    /// Run one retention pass (ended sessions, retired refresh tokens, old
    /// audit events), print what it removed and exit.
    Prune,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            let json = crate::openapi::document_json()?;
            std::io::stdout().lock().write_all(json.as_bytes())?;
            Ok(())
        }
        Command::Serve => {
            let settings = Settings::from_env()?;
            settings.log_warnings();
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
        Command::Prune => {
            let settings = Settings::from_env()?;
            let report = crate::app::retention::prune_database(&settings)?;
            writeln!(std::io::stdout().lock(), "{report}")?;
            Ok(())
        }
        Command::Migrate => {
            let settings = Settings::from_env()?;
            let pool = crate::db::build_pool(&settings.database, 1)?;
            drop(pool);
            log::info!("migrations are up to date");
            Ok(())
        }
        Command::CreateAdmin { email } => {
            let settings = Settings::from_env()?;
            let password = match std::env::var("SECURETODO_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => read_password_from_stdin()?,
            };
            let outcome = create_admin(&settings, &email, password)?;
            log::info!("{outcome}");
            Ok(())
        }
    }
}

fn read_password_from_stdin() -> anyhow::Result<String> {
    let mut stderr = std::io::stderr();
    // A prompt on stderr so that stdout stays clean for scripts.
    let _ = write!(stderr, "Admin password: ");
    let _ = stderr.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Creates the admin or promotes the existing account with that email,
/// applying the registration rules. Returns a sentence for the log.
pub fn create_admin(settings: &Settings, email: &str, password: String) -> anyhow::Result<String> {
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("email {m}"))?;
    let pool = crate::db::build_pool(&settings.database, 1)?;
    let mut conn = pool.get()?;
    if let Some(existing) = user::find_by_email(&mut conn, email.as_str())? {
        // Promotion keeps the user's own password: never overwrite it here.
        use crate::db::schema::users::dsl;
        use diesel::prelude::*;
        conn.transaction(|conn| -> anyhow::Result<()> {
            diesel::update(dsl::users.find(existing.id))
                .set((
                    dsl::role.eq(Role::Admin.as_str()),
                    dsl::disabled.eq(false),
                    dsl::updated_at.eq(user::now()),
                ))
                .execute(conn)?;
            if existing.role != Role::Admin.as_str() {
                audit::record(
                    conn,
                    audit::kind::ROLE_CHANGED,
                    None,
                    Some(existing.id),
                    None,
                    serde_json::json!({"from": existing.role, "to": "admin", "via": "cli"}),
                )?;
            }
            if existing.disabled {
                audit::record(
                    conn,
                    audit::kind::USER_ENABLED,
                    None,
                    Some(existing.id),
                    None,
                    serde_json::json!({"via": "cli"}),
                )?;
            }
            Ok(())
        })?;
        return Ok(format!(
            "promoted existing user {} (id {}) to admin",
            email.as_str(),
            existing.id
        ));
    }
    let password =
        Password::parse(password, &email).map_err(|m| anyhow::anyhow!("password {m}"))?;
    let hash = hash_blocking(password.expose(), settings.bcrypt_cost)?;
    let now = user::now();
    let created = conn.transaction(|conn| -> anyhow::Result<user::User> {
        let created = user::insert(
            conn,
            &user::NewUser {
                email: email.as_str(),
                password_hash: &hash,
                role: Role::Admin.as_str(),
                created_at: now,
                updated_at: now,
            },
        )?
        .context("the email was registered concurrently; run the command again")?;
        audit::record(
            conn,
            audit::kind::ADMIN_CREATED,
            None,
            Some(created.id),
            None,
            serde_json::json!({"via": "cli"}),
        )?;
        Ok(created)
    })?;
    Ok(format!(
        "created admin {} (id {})",
        created.email, created.id
    ))
}
