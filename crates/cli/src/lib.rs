//! The `coffer` command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Coffer: secrets manager and certificate authority for microservices.
#[derive(Parser)]
#[command(name = "coffer", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server.
    Server {
        /// Dev mode: in memory, initialised and unsealed, root token printed.
        #[arg(long, alias = "dev")]
        dev: bool,
        /// The dev root token id.
        #[arg(long)]
        dev_root_token_id: Option<String>,
        /// The dev listen address (default 127.0.0.1:8200).
        #[arg(long)]
        dev_listen_address: Option<String>,
        /// The configuration file.
        #[arg(long)]
        config: Option<std::path::PathBuf>,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Server { dev, dev_root_token_id, dev_listen_address, config } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                .init();
            let options = coffer_server::ServerOptions { dev, dev_root_token_id, dev_listen_address, config };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("Error: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            match runtime.block_on(coffer_server::run(options)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
