//! The `coffer` command line: the server, and a Vault-compatible client (`status`, `operator`,
//! `login`, `read`/`write`/`list`/`delete`/`patch`, `kv`, `secrets`).
#![forbid(unsafe_code)]

mod args;
mod generic;
mod kv;
mod operator;
mod output;
mod pairs;
mod secrets;
mod token_file;

use std::process::ExitCode;

use clap::Parser;
use coffer_client::{Client, ClientConfig};
use coffer_types::SecretString;

use args::{Cli, Command, Global, ServerArgs};

fn env_first(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

fn env_flag(names: &[&str]) -> bool {
    env_first(names)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "t" | "yes"))
}

/// Builds the API client from flags and `COFFER_*`, `VAULT_*`, `BAO_*` variables.
fn client(global: &Global) -> anyhow::Result<Client> {
    let address = global
        .address
        .clone()
        .or_else(|| env_first(&["COFFER_ADDR", "VAULT_ADDR", "BAO_ADDR"]))
        .unwrap_or_else(|| "https://127.0.0.1:8200".into());
    let token = env_first(&["COFFER_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"]).or_else(token_file::load);
    let config = ClientConfig {
        address,
        token: token.map(SecretString::new),
        ca_cert: global.ca_cert.clone().or_else(|| {
            env_first(&["COFFER_CACERT", "VAULT_CACERT", "BAO_CACERT"]).map(Into::into)
        }),
        ca_path: global.ca_path.clone().or_else(|| {
            env_first(&["COFFER_CAPATH", "VAULT_CAPATH", "BAO_CAPATH"]).map(Into::into)
        }),
        tls_skip_verify: global.tls_skip_verify
            || env_flag(&["COFFER_SKIP_VERIFY", "VAULT_SKIP_VERIFY", "BAO_SKIP_VERIFY"]),
        client_cert: global.client_cert.clone(),
        client_key: global.client_key.clone(),
        timeout: None,
    };
    Ok(Client::new(config)?)
}

fn run_server(args: ServerArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = coffer_server::ServerOptions {
        dev: args.dev,
        dev_root_token_id: args.dev_root_token_id,
        dev_listen_address: args.dev_listen_address,
        config: args.config,
    };
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

async fn run_client(global: Global, command: Command) -> anyhow::Result<u8> {
    let client = client(&global)?;
    let g = &global;
    match command {
        Command::Server(_) => Ok(2),
        Command::Status => generic::status(&client, g).await,
        Command::Operator(op) => operator::run(&client, g, op).await,
        Command::Login { token } => generic::login(&client, token).await,
        Command::Read { path } => generic::read(&client, g, &path).await,
        Command::Write { force, path, pairs } => {
            generic::write(&client, g, &path, &pairs, force).await
        }
        Command::List { path } => generic::list(&client, g, &path).await,
        Command::Delete { path } => generic::delete(&client, &path).await,
        Command::Patch { path, pairs } => generic::patch(&client, g, &path, &pairs).await,
        Command::Kv(kv) => kv::run(&client, g, kv).await,
        Command::Secrets(s) => secrets::run(&client, g, s).await,
    }
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(args::normalize_args(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Command::Server(args) = cli.command {
        return run_server(args);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run_client(cli.global, cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
