//! The `evident` binary: CLI parsing, configuration, output and the `server` command.
//! `main.rs` only calls [`main_with_args`].

mod cli;
mod commands;
mod config;
mod output;

use std::ffi::OsString;

use clap::Parser;
use evident_client::ClientError;

pub use cli::Cli;

/// Exit codes scripts can rely on.
pub mod exit {
    pub const OK: i32 = 0;
    /// Any other failure.
    pub const FAILURE: i32 = 1;
    /// Bad usage or input (also clap's code for usage errors).
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    /// Missing or invalid token, or not allowed.
    pub const AUTH: i32 = 4;
    /// Conflict, e.g. an ambiguous reference.
    pub const CONFLICT: i32 = 5;
    /// The server could not be reached or failed.
    pub const UNAVAILABLE: i32 = 6;
    /// An assertion did not hold (e.g. non-compliant).
    pub const NON_COMPLIANT: i32 = 7;
}

/// Runs the CLI and returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            exit_code(&e)
        }
    }
}

fn exit_code(e: &anyhow::Error) -> i32 {
    use evident_client::ClientError as C;
    match e.downcast_ref::<ClientError>() {
        Some(C::Api { status, .. }) => match status.as_u16() {
            401 | 403 => exit::AUTH,
            404 => exit::NOT_FOUND,
            409 => exit::CONFLICT,
            400..=499 => exit::USAGE,
            _ => exit::UNAVAILABLE,
        },
        Some(C::Connect { .. }) | Some(C::Decode(_)) => exit::UNAVAILABLE,
        Some(C::Host(_)) => exit::USAGE,
        None if e.downcast_ref::<evident_core::refs::RefError>().is_some()
            || e.downcast_ref::<evident_core::fingerprint::FingerprintError>()
                .is_some() =>
        {
            exit::USAGE
        }
        None => exit::FAILURE,
    }
}
