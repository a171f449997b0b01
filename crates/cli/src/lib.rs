//! The `coffer` command line: the server, and a client compatible with Vault's CLI in flags,
//! requests and output (`status`, `operator`, `login`, `read`/`write`/`list`/`delete`/`patch`,
//! `kv`, `secrets`).
//!
//! Exit codes: 0 success; 1 an error from the server or the connection (and a missing
//! `-field`); 2 a usage error, a sealed server for `status`, or nothing found at a path.
#![forbid(unsafe_code)]

mod args;
mod argv;
mod generic;
mod kv;
mod kv_path;
mod login;
mod operator;
mod output;
mod pairs;
mod secrets;
mod status;
mod token_file;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use coffer_client::{Client, ClientConfig};
use coffer_types::SecretString;

use args::{Cli, Command, Global, ServerArgs};

/// A mistake in the command line found after parsing; exits with 2 like clap's own errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The first non-empty variable of `names`.
fn env_first(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

fn env_flag(names: &[&str]) -> bool {
    env_first(names).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "t"))
}

/// The token from `COFFER_TOKEN`, `VAULT_TOKEN`, `BAO_TOKEN`, then `~/.coffer-token`.
fn token() -> Option<String> {
    env_first(&["COFFER_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"]).or_else(token_file::load)
}

/// Builds the API client from flags and `COFFER_*`, `VAULT_*`, `BAO_*` variables.
fn client(global: &Global) -> anyhow::Result<Client> {
    let path_of = |flag: &Option<std::path::PathBuf>, vars: &[&str]| {
        flag.clone().or_else(|| env_first(vars).map(Into::into))
    };
    let config = ClientConfig {
        address: global
            .address
            .clone()
            .or_else(|| env_first(&["COFFER_ADDR", "VAULT_ADDR", "BAO_ADDR"]))
            .unwrap_or_else(|| "https://127.0.0.1:8200".into()),
        token: token().map(SecretString::new),
        ca_cert: path_of(&global.ca_cert, &["COFFER_CACERT", "VAULT_CACERT", "BAO_CACERT"]),
        ca_path: path_of(&global.ca_path, &["COFFER_CAPATH", "VAULT_CAPATH", "BAO_CAPATH"]),
        tls_skip_verify: global.tls_skip_verify
            || env_flag(&["COFFER_SKIP_VERIFY", "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"]),
        client_cert: path_of(
            &global.client_cert,
            &["COFFER_CLIENT_CERT", "VAULT_CLIENT_CERT", "BAO_CLIENT_CERT"],
        ),
        client_key: path_of(
            &global.client_key,
            &["COFFER_CLIENT_KEY", "VAULT_CLIENT_KEY", "BAO_CLIENT_KEY"],
        ),
        timeout: None,
    };
    Client::new(config).map_err(|e| anyhow::anyhow!("Error initializing client: {e}"))
}

/// Logs to stderr; `RUST_LOG` overrides the default level. The server logs `info` with
/// timestamps; client commands only show warnings (the skip-verify one), as bare lines.
fn init_tracing(server: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if server { "info" } else { "warn" })
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if server {
        builder.try_init()
    } else {
        builder.without_time().with_target(false).try_init()
    };
}

fn run_server(args: ServerArgs) -> ExitCode {
    init_tracing(true);
    let options = coffer_server::ServerOptions {
        dev: args.dev,
        dev_root_token_id: args.dev_root_token_id,
        dev_listen_address: args.dev_listen_address,
        config: args.config,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
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

async fn run_client(global: Global, command: Command) -> anyhow::Result<u8> {
    let client = client(&global)?;
    let g = &global;
    match command {
        Command::Server(_) | Command::Version => Ok(0),
        Command::Status => status::status(&client, g).await,
        Command::Operator(op) => operator::run(&client, g, op).await,
        Command::Login { token } => login::login(&client, g, token).await,
        Command::Read { path } => generic::read(&client, g, &path).await,
        Command::Write { force, path, pairs } => {
            generic::write(&client, g, &path, &pairs, force).await
        }
        Command::List { path } => generic::list(&client, g, &path).await,
        Command::Delete { path, pairs } => generic::delete(&client, g, &path, &pairs).await,
        Command::Patch { path, pairs } => generic::patch(&client, g, &path, &pairs).await,
        Command::Kv(kv) => kv::run(&client, g, kv).await,
        Command::Secrets(s) => secrets::run(&client, g, s).await,
    }
}

/// Runs the command line with the process's arguments; returns the exit code.
pub fn main() -> ExitCode {
    let argv = argv::normalize(std::env::args(), &Cli::command());
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Server(args) => return run_server(args),
        Command::Version => {
            println!("Coffer v{}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    init_tracing(false);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run_client(cli.global, cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            // `{:#}` joins the context chain: "Error reading x: Error making API request...".
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}
