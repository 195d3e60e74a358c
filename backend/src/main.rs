//! Entry point: load `.env`, start logging, run the command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use securetodo::cli::{self, Cli};

fn main() -> ExitCode {
    let dotenv_problem = match dotenvy::dotenv() {
        Err(e) if !e.not_found() => Some(e.to_string()),
        _ => None,
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
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
