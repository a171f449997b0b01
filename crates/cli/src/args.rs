//! The command line, declared as data (clap derive); `--help` is generated from it, and so is
//! the set of flag names that `argv` accepts with Vault's single dash (`-format=json`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Coffer: secrets manager and certificate authority for microservices.
///
/// Flags take one dash or two (`-format=json`, `--format json`), as in Vault's CLI.
#[derive(Parser, Debug)]
#[command(name = "coffer", version, about)]
pub struct Cli {
    /// Flags shared by every client command.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags of every client command.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Output format.
    #[arg(long, global = true, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only this field, raw (no newline when stdout is not a terminal).
    #[arg(long, global = true)]
    pub field: Option<String>,
    /// Server address [default: COFFER_ADDR, VAULT_ADDR, BAO_ADDR or https://127.0.0.1:8200].
    #[arg(long, global = true)]
    pub address: Option<String>,
    /// PEM file of CA certificates to trust [COFFER_CACERT, VAULT_CACERT, BAO_CACERT].
    #[arg(long = "ca-cert", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Directory of PEM CA certificates to trust [COFFER_CAPATH, VAULT_CAPATH, BAO_CAPATH].
    #[arg(long = "ca-path", global = true)]
    pub ca_path: Option<PathBuf>,
    /// Do not verify the server's certificate. Dangerous [COFFER_SKIP_VERIFY, VAULT_SKIP_VERIFY].
    #[arg(long = "tls-skip-verify", global = true)]
    pub tls_skip_verify: bool,
    /// Client certificate (PEM) for TLS certificate auth [COFFER_CLIENT_CERT, VAULT_CLIENT_CERT].
    #[arg(long = "client-cert", global = true)]
    pub client_cert: Option<PathBuf>,
    /// Key of the client certificate [COFFER_CLIENT_KEY, VAULT_CLIENT_KEY].
    #[arg(long = "client-key", global = true)]
    pub client_key: Option<PathBuf>,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Server(ServerArgs),
    /// Show the seal status (exit 2 when sealed).
    Status,
    /// Print the version.
    Version,
    /// Initialise, unseal, seal, rotate the encryption key.
    #[command(subcommand)]
    Operator(Operator),
    /// Check a token and remember it in ~/.coffer-token.
    Login {
        /// The token ("-" or absent: read from stdin).
        token: Option<String>,
    },
    /// Read data at a path.
    Read {
        /// The path.
        path: String,
    },
    /// Write data to a path: k=v, k=@file, k=- (stdin); "-" or "@file" alone: a JSON object.
    Write {
        /// Write even with no data (the body is `null`).
        #[arg(short = 'f', long = "force")]
        force: bool,
        /// The path.
        path: String,
        /// The data.
        pairs: Vec<String>,
    },
    /// List keys under a path.
    List {
        /// The path.
        path: String,
    },
    /// Delete data at a path.
    Delete {
        /// The path.
        path: String,
        /// Request parameters (k=v), sent as the query string.
        pairs: Vec<String>,
    },
    /// Merge data into a path (JSON merge patch).
    Patch {
        /// The path.
        path: String,
        /// The data, as for `write`.
        pairs: Vec<String>,
    },
    /// Key/value secrets (KV v1 and v2).
    #[command(subcommand)]
    Kv(Kv),
    /// Secrets engines.
    #[command(subcommand)]
    Secrets(Secrets),
}

/// `coffer server`.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Dev mode: in memory, initialised and unsealed, root token printed. Never in production.
    #[arg(long)]
    pub dev: bool,
    /// The root token id in dev mode.
    #[arg(long = "dev-root-token-id")]
    pub dev_root_token_id: Option<String>,
    /// The listen address in dev mode [default: 127.0.0.1:8200].
    #[arg(long = "dev-listen-address")]
    pub dev_listen_address: Option<String>,
    /// The configuration file (HCL).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `coffer operator ...`.
#[derive(Subcommand, Debug)]
pub enum Operator {
    /// Initialise the server: unseal key shares and a root token.
    Init {
        /// Number of key shares.
        #[arg(long = "key-shares", default_value_t = 5)]
        key_shares: u32,
        /// Shares needed to unseal.
        #[arg(long = "key-threshold", default_value_t = 3)]
        key_threshold: u32,
        /// Only report whether the server is initialised (exit 2 when not).
        #[arg(long)]
        status: bool,
    },
    /// Enter one unseal key share.
    Unseal {
        /// The share, hex or base64 ("-" or absent: read from stdin).
        key: Option<String>,
        /// Discard the shares entered so far.
        #[arg(long)]
        reset: bool,
    },
    /// Seal the server.
    Seal,
    /// Rotate the barrier encryption key.
    Rotate,
}

/// The mount flag of every kv command.
#[derive(Args, Debug, Clone, Default)]
pub struct KvMount {
    /// Mount path; the path argument is then relative to it.
    #[arg(long)]
    pub mount: Option<String>,
}

/// The version list of kv delete/undelete/destroy.
#[derive(Args, Debug, Clone, Default)]
pub struct KvVersions {
    /// Versions (comma-separated).
    #[arg(long)]
    pub versions: Option<String>,
}

/// `coffer kv ...`.
#[derive(Subcommand, Debug)]
pub enum Kv {
    /// Write a new version (v1: replace the data).
    Put {
        #[command(flatten)]
        mount: KvMount,
        /// Check-and-set: the current version (0: only if absent; -1: no check).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        cas: i64,
        /// The secret path.
        path: String,
        /// The data, as for `write`.
        pairs: Vec<String>,
    },
    /// Read a version.
    Get {
        #[command(flatten)]
        mount: KvMount,
        /// The version (latest when absent).
        #[arg(long)]
        version: Option<u64>,
        /// The secret path.
        path: String,
    },
    /// Merge new data into the latest version (v2 only).
    Patch {
        #[command(flatten)]
        mount: KvMount,
        /// Check-and-set: the current version (-1: no check).
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        cas: i64,
        /// The secret path.
        path: String,
        /// The data, as for `write`.
        pairs: Vec<String>,
    },
    /// List keys.
    List {
        #[command(flatten)]
        mount: KvMount,
        /// The folder path.
        path: String,
    },
    /// Soft-delete the latest version, or -versions.
    Delete {
        #[command(flatten)]
        mount: KvMount,
        #[command(flatten)]
        versions: KvVersions,
        /// The secret path.
        path: String,
    },
    /// Restore soft-deleted versions (v2 only).
    Undelete {
        #[command(flatten)]
        mount: KvMount,
        #[command(flatten)]
        versions: KvVersions,
        /// The secret path.
        path: String,
    },
    /// Destroy versions for good (v2 only).
    Destroy {
        #[command(flatten)]
        mount: KvMount,
        #[command(flatten)]
        versions: KvVersions,
        /// The secret path.
        path: String,
    },
    /// Key metadata (v2 only).
    #[command(subcommand)]
    Metadata(KvMetadata),
}

/// `coffer kv metadata ...`.
#[derive(Subcommand, Debug)]
pub enum KvMetadata {
    /// Read the metadata and versions of a key.
    Get {
        #[command(flatten)]
        mount: KvMount,
        /// The secret path.
        path: String,
    },
    /// Set versions kept, check-and-set, deletion delay or custom metadata.
    Put {
        #[command(flatten)]
        mount: KvMount,
        /// Versions to keep (0: the mount's setting).
        #[arg(long = "max-versions")]
        max_versions: Option<u64>,
        /// Require check-and-set on writes.
        #[arg(long = "cas-required", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        cas_required: Option<bool>,
        /// Delete versions this long after they are written (0s: never).
        #[arg(long = "delete-version-after")]
        delete_version_after: Option<String>,
        /// Custom metadata k=v (repeatable).
        #[arg(long = "custom-metadata")]
        custom_metadata: Vec<String>,
        /// The secret path.
        path: String,
    },
    /// Delete the key and all its versions.
    Delete {
        #[command(flatten)]
        mount: KvMount,
        /// The secret path.
        path: String,
    },
}

/// `coffer secrets ...`.
#[derive(Subcommand, Debug)]
pub enum Secrets {
    /// Enable a secrets engine.
    Enable {
        /// Mount path [default: the engine type].
        #[arg(long)]
        path: Option<String>,
        /// Engine version (kv: 1 or 2).
        #[arg(long)]
        version: Option<u32>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Default lease TTL [default: the system's].
        #[arg(long = "default-lease-ttl")]
        default_lease_ttl: Option<String>,
        /// Maximum lease TTL [default: the system's].
        #[arg(long = "max-lease-ttl")]
        max_lease_ttl: Option<String>,
        /// Engine type (kv, kv-v2, pki, ...).
        engine_type: String,
    },
    /// Disable a secrets engine: its data and leases are deleted.
    Disable {
        /// Mount path.
        path: String,
    },
    /// List secrets engines.
    List {
        /// Show TTLs, options, UUIDs and versions too.
        #[arg(long)]
        detailed: bool,
    },
    /// Tune a secrets engine; unset flags leave settings unchanged.
    Tune {
        /// Default lease TTL.
        #[arg(long = "default-lease-ttl")]
        default_lease_ttl: Option<String>,
        /// Maximum lease TTL.
        #[arg(long = "max-lease-ttl")]
        max_lease_ttl: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Engine version (kv: 2 upgrades a v1 mount in place).
        #[arg(long)]
        version: Option<u32>,
        /// Mount path.
        path: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_declaration_is_consistent() {
        Cli::command().debug_assert();
    }
}
