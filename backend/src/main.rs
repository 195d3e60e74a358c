//! Entry point: load `.env`, start logging, run the command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use securetodo::cli::{self, Cli};
use securetodo::config::LogFormat;

fn main() -> ExitCode {
    let dotenv_problem = match dotenvy::dotenv() {
        Err(e) if !e.not_found() => Some(e.to_string()),
        _ => None,
    };
    // Read before the other settings: their errors must be logged in the
    // chosen format too.
    let log_format = LogFormat::parse(std::env::var("LOG_FORMAT").ok().as_deref());
    securetodo::logging::init(log_format.as_ref().ok().copied().unwrap_or_default());
    if let Err(e) = log_format {
        log::error!("{e}");
        return ExitCode::FAILURE;
    }
    if let Some(problem) = dotenv_problem {
        log::error!("could not read .env: {problem}");
        return ExitCode::FAILURE;
    }
    match cli::run(Cli::parse(), securetodo::startup::serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
