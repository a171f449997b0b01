//! The HTTP shell of Coffer: the Vault-compatible `/v1` API over hyper, the TLS listener, the
//! server configuration file, and the registry of built-in engines handed to the core.
#![forbid(unsafe_code)]

mod app;
mod client_cert;
pub mod config;
mod http_request;
mod http_response;
mod listener;

use std::path::PathBuf;
use std::sync::Arc;

use coffer_core::{Core, CoreConfig, MountEntry, Registry};
use coffer_storage::{MemoryStorage, SharedStorage, SqliteStorage};
use tokio::sync::watch;

pub use app::{App, DEFAULT_MAX_REQUEST_SIZE};
pub use config::{Config, ListenerConfig, StorageConfig};
pub use http_response::{HttpResponse, render, render_error};
pub use listener::{Listener, tls_config};

/// How `coffer server` was asked to start.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Dev mode: memory storage, initialised and unsealed at start, root token printed.
    pub dev: bool,
    /// The root token id to use in dev mode (random when `None`).
    pub dev_root_token_id: Option<String>,
    /// The listen address in dev mode (default `127.0.0.1:8200`).
    pub dev_listen_address: Option<String>,
    /// The configuration file (HCL).
    pub config: Option<PathBuf>,
}

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("{0}")]
    Io(String),
    /// The core failed to start.
    #[error("{0}")]
    Core(#[from] coffer_types::Error),
}

/// The built-in engines.
pub fn registry() -> Registry {
    Registry::new()
        .secrets("kv", coffer_kv::factory)
        .secrets("pki", coffer_pki::factory)
        .secrets("database", coffer_database::factory)
        .secrets("transit", coffer_transit::factory)
        .auth("approle", coffer_approle::factory)
        .auth("userpass", coffer_userpass::factory)
        .auth("jwt", coffer_jwt::factory)
        .auth("oidc", coffer_jwt::factory)
        .auth("kubernetes", coffer_kubernetes::factory)
        .auth("cert", coffer_cert_auth::factory)
}

/// Opens the configured storage; returns it with the name `sys/seal-status` reports.
pub fn open_storage(config: &StorageConfig) -> Result<(SharedStorage, &'static str), ServerError> {
    match config {
        StorageConfig::Memory => Ok((Arc::new(MemoryStorage::new()), "inmem")),
        StorageConfig::Embedded { path, declared_as } => {
            if declared_as != "embedded" {
                tracing::warn!(
                    "storage \"{declared_as}\" is served by Coffer's embedded store at {}",
                    path.display()
                );
            }
            std::fs::create_dir_all(path)
                .map_err(|e| ServerError::Io(format!("cannot create {}: {e}", path.display())))?;
            let db = SqliteStorage::open(path.join("coffer.db"))
                .map_err(|e| ServerError::Io(format!("cannot open the embedded store: {e}")))?;
            Ok((Arc::new(db), "embedded"))
        }
    }
}

fn dev_config(options: &ServerOptions) -> Config {
    Config {
        storage: StorageConfig::Memory,
        listeners: vec![ListenerConfig {
            address: options.dev_listen_address.clone().unwrap_or_else(|| "127.0.0.1:8200".into()),
            tls_cert_file: None,
            tls_key_file: None,
            tls_disable: true,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
        }],
        api_addr: None,
        audit: Vec::new(),
    }
}

/// Runs the server until SIGTERM or SIGINT, then drains in-flight requests.
pub async fn run(options: ServerOptions) -> Result<(), ServerError> {
    let config = match (&options.config, options.dev) {
        (Some(path), false) => Config::load(path)?,
        (None, true) => dev_config(&options),
        (Some(_), true) => {
            return Err(ServerError::Config("use either --dev or --config, not both".into()));
        }
        (None, false) => {
            return Err(ServerError::Config("a --config file (or --dev) is required".into()));
        }
    };
    let (storage, storage_type) = open_storage(&config.storage)?;
    let core = Core::new(storage, registry(), CoreConfig::new(storage_type));
    core.declare_audit_devices(config.audit.clone());
    let app = App::new(core.clone());

    let mut listeners = Vec::new();
    for listener in &config.listeners {
        listeners.push(Listener::bind(listener, app.clone()).await?);
    }

    if options.dev {
        let mut kv = MountEntry::new("secret/", "kv", "key/value secret storage", "");
        let mut options_map = serde_json::Map::new();
        options_map.insert("version".into(), "2".into());
        kv.options = Some(options_map);
        let init = core.init_dev(options.dev_root_token_id.as_deref(), &[kv]).await?;
        let key = init.keys.first().map(|k| hex::encode(k.as_slice())).unwrap_or_default();
        let addr = listeners.first().and_then(|l| l.local_addr().ok());
        tracing::warn!(
            "dev mode is enabled: storage is in memory and the server starts unsealed; never use it in production"
        );
        println!(
            "WARNING! dev mode is enabled! In this mode, Coffer runs entirely in-memory\nand starts unsealed with a single unseal key.\n\n    $ export VAULT_ADDR='http://{}'\n\nUnseal Key: {key}\nRoot Token: {}\n",
            addr.map(|a| a.to_string()).unwrap_or_default(),
            init.root_token.expose()
        );
    }
    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            tracing::info!(address = %addr, tls = l.is_tls(), "listening");
        }
    }

    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(tokio::spawn(l.serve(rx.clone())));
    }
    spawn_reopen_on_sighup(core.clone());
    wait_for_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP reopens the audit files (log rotation).
fn spawn_reopen_on_sighup(core: Arc<Core>) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reopening audit devices");
                core.reopen_audit();
            }
        });
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
