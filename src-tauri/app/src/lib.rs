//! The Meterdesk binary: without a subcommand it opens the console window,
//! with one it is the CLI. Both are thin layers over `meterdesk_engine`.

pub mod cli;
pub mod clock;
#[cfg(test)]
mod command_map;
pub mod commands;
pub mod console;
pub mod files;
pub mod mail;
pub mod paths;
pub mod wire;

use clap::Parser;

/// Runs the binary and returns the process exit code.
pub fn main() -> i32 {
    let args = cli::Args::parse();
    match args.command {
        None => console::run(args.workspace),
        Some(command) => cli::run(command, args.workspace, args.json),
    }
}
