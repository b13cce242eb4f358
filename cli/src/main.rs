//! `ecs-cost-saver`: the engineers' command line. Where each service stands and why, its next
//! transitions, keep-alives by name, and waking through the deployed `wake` function. It plans
//! with the library the functions run and reads the deployed stack's settings, so it says what
//! the functions will do. Exit codes: see `failure.rs` and the README.

mod args;
mod commands;
mod failure;
mod settings;
mod table;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let tty = std::io::stdout().is_terminal();
    let out = table::Output {
        json: cli.json || cli.format.map_or(!tty, |f| f == args::Format::Json),
        colour: tty && std::env::var_os("NO_COLOR").is_none(),
    };
    match commands::dispatch(&cli, &out).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ecs-cost-saver: {}", e.message);
            ExitCode::from(e.code as u8)
        }
    }
}
