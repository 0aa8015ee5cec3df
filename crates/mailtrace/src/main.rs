//! The `mailtrace` binary: parses the command line and runs one command.

mod cli;
mod commands;
mod config;
mod progress;

use std::process::ExitCode;

// The pipeline allocates lines on one thread and frees them on another; mimalloc handles that
// pattern far better than glibc's arenas (measured with the ingest benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match commands::run(<cli::Cli as clap::Parser>::parse()) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`mailtrace search | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("mailtrace: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
