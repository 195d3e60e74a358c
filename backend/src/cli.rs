//! The `securetodo` command line: serve, migrate, create-admin, openapi, prune.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::accounts::{self, CreateAdminOutcome};
use crate::auth::password::hash_blocking;
use crate::config::Settings;
use crate::domain::{Email, Password};

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
    /// Create an admin account. The password comes from
    /// SECURETODO_ADMIN_PASSWORD or standard input (not echoed on a
    /// terminal), never from an argument.
    CreateAdmin {
        /// The admin's email address (the registration rules apply).
        #[arg(long, value_name = "EMAIL")]
        email: String,
        /// If an account with this email exists (someone may have registered
        /// it first), make it an enabled admin with the given password, clear
        /// its lock and end its sessions. Without it, an existing account is
        /// refused and nothing changes.
        #[arg(long)]
        promote_existing: bool,
    },
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
    /// Run one retention pass (ended sessions, retired refresh tokens, old
    /// audit events), print what it removed and exit.
    Prune,
}

/// Runs the command. `serve` runs the server (`startup::serve`), handed in
/// by `main` so that this module sits below `startup`, not above it.
pub fn run(cli: Cli, serve: fn(Settings) -> anyhow::Result<()>) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            let json = crate::openapi::document_json()?;
            let mut out = std::io::stdout().lock();
            match out.write_all(json.as_bytes()).and_then(|()| out.flush()) {
                // The reader stopped early (`securetodo openapi | head`): like
                // other Unix tools, end quietly and successfully.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                written => Ok(written?),
            }
        }
        Command::Serve => {
            let settings = Settings::from_env()?;
            settings.log_warnings();
            serve(settings)
        }
        Command::Prune => {
            let settings = Settings::from_env()?;
            match crate::app::retention::prune_database(&settings)? {
                Some(report) => writeln!(std::io::stdout().lock(), "{report}")?,
                None => log::warn!("retention pass skipped: another instance is running one"),
            }
            Ok(())
        }
        Command::Migrate => {
            let settings = Settings::from_env()?;
            let pool = crate::db::build_pool(&settings.database, 1)?;
            drop(pool);
            log::info!("migrations are up to date");
            Ok(())
        }
        Command::CreateAdmin {
            email,
            promote_existing,
        } => {
            let settings = Settings::from_env()?;
            // Check the email before asking for a password.
            let email = Email::parse(&email).map_err(|m| anyhow::anyhow!("email {m}"))?;
            let password = match std::env::var("SECURETODO_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => read_password()?,
            };
            let outcome = create_admin(&settings, &email, password, promote_existing)?;
            log::info!("{outcome}");
            Ok(())
        }
    }
}

/// Reads the password: without echo from a terminal, or one line from
/// piped standard input.
fn read_password() -> anyhow::Result<String> {
    let mut stderr = std::io::stderr();
    // A prompt on stderr so that stdout stays clean for scripts.
    let _ = write!(stderr, "Admin password: ");
    let _ = stderr.flush();
    let password = if std::io::stdin().is_terminal() {
        rpassword::read_password().context("reading the password from the terminal")?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        anyhow::bail!("no password given (set SECURETODO_ADMIN_PASSWORD or type one)");
    }
    Ok(password)
}

/// Creates the admin, or with `promote_existing` promotes the existing
/// account with that email (`app::accounts::create_admin`), applying the
/// registration rules to the password. Returns a sentence for the log.
pub fn create_admin(
    settings: &Settings,
    email: &Email,
    password: String,
    promote_existing: bool,
) -> anyhow::Result<String> {
    let password = Password::parse(password, email).map_err(|m| anyhow::anyhow!("password {m}"))?;
    let pool = crate::db::build_pool(&settings.database, 1)?;
    let hash = hash_blocking(password.expose(), settings.bcrypt_cost)?;
    let outcome = pool.with_conn(|conn| -> anyhow::Result<CreateAdminOutcome> {
        Ok(crate::db::transaction(conn, |conn| {
            accounts::create_admin(conn, email, &hash, promote_existing)
        })?)
    })?;
    Ok(match outcome {
        CreateAdminOutcome::Created { id } => {
            format!("created admin {} (id {id})", email.as_str())
        }
        CreateAdminOutcome::Promoted { id, sessions_ended } => format!(
            "promoted existing user {} (id {id}) to admin with the given password; \
             {sessions_ended} session(s) ended",
            email.as_str()
        ),
    })
}
