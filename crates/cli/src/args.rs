//! The command line, declared as data (clap derive). Vault's single-dash long flags
//! (`-format=json`) are accepted by rewriting them to `--format=json` before parsing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Coffer: secrets manager and certificate authority for microservices.
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
    /// Output format: table or json.
    #[arg(long, global = true, default_value = "table")]
    pub format: String,
    /// Print only this field.
    #[arg(long, global = true)]
    pub field: Option<String>,
    /// Server address (default: COFFER_ADDR, VAULT_ADDR, BAO_ADDR, https://127.0.0.1:8200).
    #[arg(long, global = true)]
    pub address: Option<String>,
    /// CA certificate file to trust.
    #[arg(long = "ca-cert", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Directory of CA certificates to trust.
    #[arg(long = "ca-path", global = true)]
    pub ca_path: Option<PathBuf>,
    /// Do not verify the server's certificate (dangerous).
    #[arg(long = "tls-skip-verify", global = true)]
    pub tls_skip_verify: bool,
    /// Client certificate for TLS auth.
    #[arg(long = "client-cert", global = true)]
    pub client_cert: Option<PathBuf>,
    /// Client key for TLS auth.
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
    /// Operator commands: init, unseal, seal, rotate.
    #[command(subcommand)]
    Operator(Operator),
    /// Authenticate with a token and remember it.
    Login {
        /// The token (read from stdin when "-" or absent).
        token: Option<String>,
    },
    /// Read data at a path.
    Read {
        /// The path.
        path: String,
    },
    /// Write data (k=v pairs, k=@file, k=- for stdin) to a path.
    Write {
        /// Write with no data.
        #[arg(short = 'f', long = "force")]
        force: bool,
        /// The path.
        path: String,
        /// k=v pairs.
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
    },
    /// Merge-patch data at a path.
    Patch {
        /// The path.
        path: String,
        /// k=v pairs.
        pairs: Vec<String>,
    },
    /// Key/value secrets.
    #[command(subcommand)]
    Kv(Kv),
    /// Secrets engines.
    #[command(subcommand)]
    Secrets(Secrets),
}

/// `coffer server`.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// Dev mode: in memory, initialised and unsealed, root token printed.
    #[arg(long)]
    pub dev: bool,
    /// The dev root token id.
    #[arg(long = "dev-root-token-id")]
    pub dev_root_token_id: Option<String>,
    /// The dev listen address (default 127.0.0.1:8200).
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
        /// Number of shares.
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
        /// The share (hex or base64; "-" reads stdin).
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

/// Flags of the kv commands.
#[derive(Args, Debug, Clone, Default)]
pub struct KvFlags {
    /// Mount path (the path is then relative to it).
    #[arg(long)]
    pub mount: Option<String>,
    /// Version to read.
    #[arg(long)]
    pub version: Option<u64>,
    /// Versions (comma-separated) for delete/undelete/destroy.
    #[arg(long)]
    pub versions: Option<String>,
    /// Check-and-set version for put/patch.
    #[arg(long)]
    pub cas: Option<i64>,
}

/// `coffer kv ...`.
#[derive(Subcommand, Debug)]
pub enum Kv {
    /// Write a new version.
    Put {
        #[command(flatten)]
        flags: KvFlags,
        /// The secret path.
        path: String,
        /// k=v pairs.
        pairs: Vec<String>,
    },
    /// Read a version.
    Get {
        #[command(flatten)]
        flags: KvFlags,
        /// The secret path.
        path: String,
    },
    /// Merge new values into the latest version.
    Patch {
        #[command(flatten)]
        flags: KvFlags,
        /// The secret path.
        path: String,
        /// k=v pairs.
        pairs: Vec<String>,
    },
    /// List keys.
    List {
        #[command(flatten)]
        flags: KvFlags,
        /// The folder path.
        path: String,
    },
    /// Soft-delete the latest version (or -versions).
    Delete {
        #[command(flatten)]
        flags: KvFlags,
        /// The secret path.
        path: String,
    },
    /// Restore deleted versions.
    Undelete {
        #[command(flatten)]
        flags: KvFlags,
        /// The secret path.
        path: String,
    },
    /// Destroy versions for good.
    Destroy {
        #[command(flatten)]
        flags: KvFlags,
        /// The secret path.
        path: String,
    },
    /// Key metadata.
    #[command(subcommand)]
    Metadata(KvMetadata),
}

/// `coffer kv metadata ...`.
#[derive(Subcommand, Debug)]
pub enum KvMetadata {
    /// Read the metadata and versions of a key.
    Get {
        #[command(flatten)]
        flags: KvFlags,
        /// The secret path.
        path: String,
    },
    /// Set max versions, check-and-set, deletion delay or custom metadata.
    Put {
        #[command(flatten)]
        flags: KvFlags,
        /// Versions to keep.
        #[arg(long = "max-versions")]
        max_versions: Option<u64>,
        /// Require check-and-set.
        #[arg(long = "cas-required")]
        cas_required: Option<bool>,
        /// Delete versions after this duration.
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
        flags: KvFlags,
        /// The secret path.
        path: String,
    },
}

/// `coffer secrets ...`.
#[derive(Subcommand, Debug)]
pub enum Secrets {
    /// Enable a secrets engine.
    Enable {
        /// Mount path (default: the type).
        #[arg(long)]
        path: Option<String>,
        /// KV version.
        #[arg(long)]
        version: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
        /// Default lease TTL.
        #[arg(long = "default-lease-ttl")]
        default_lease_ttl: Option<String>,
        /// Maximum lease TTL.
        #[arg(long = "max-lease-ttl")]
        max_lease_ttl: Option<String>,
        /// Engine type (kv, kv-v2, pki, ...).
        engine_type: String,
    },
    /// Disable a secrets engine (its data is deleted).
    Disable {
        /// Mount path.
        path: String,
    },
    /// List secrets engines.
    List {
        /// Show TTLs and options too.
        #[arg(long)]
        detailed: bool,
    },
    /// Tune a secrets engine.
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
        /// Mount path.
        path: String,
    },
}

/// Rewrites Vault-style single-dash long flags (`-format=json`, `-dev`) to `--format=json`.
/// Single letters (`-f`), `-` alone and negative numbers are left alone.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut after_separator = false;
    for arg in args {
        if arg == "--" {
            after_separator = true;
        }
        let name_len = arg.trim_start_matches('-').split('=').next().map_or(0, str::len);
        let single_dash_long = !after_separator
            && arg.starts_with('-')
            && !arg.starts_with("--")
            && name_len >= 2
            && arg.chars().nth(1).is_some_and(|c| c.is_ascii_alphabetic());
        out.push(if single_dash_long { format!("-{arg}") } else { arg });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn vault_style_flags_become_long_flags() {
        assert_eq!(
            norm(&["coffer", "-format=json", "status"]),
            ["coffer", "--format=json", "status"]
        );
        assert_eq!(norm(&["kv", "get", "-field=x", "a"]), ["kv", "get", "--field=x", "a"]);
        assert_eq!(norm(&["write", "-f", "p"]), ["write", "-f", "p"]);
        assert_eq!(norm(&["write", "p", "k=-1", "-"]), ["write", "p", "k=-1", "-"]);
        assert_eq!(norm(&["--", "-abc"]), ["--", "-abc"]);
        assert_eq!(norm(&["-5"]), ["-5"]);
    }

    #[test]
    fn the_cli_declaration_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
