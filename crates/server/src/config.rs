//! The server configuration file, HCL in Vault's shape:
//!
//! ```hcl
//! storage "embedded" { path = "/var/lib/coffer" }
//! listener "tcp" {
//!   address       = "127.0.0.1:8200"
//!   tls_cert_file = "/etc/coffer/tls.crt"
//!   tls_key_file  = "/etc/coffer/tls.key"
//! }
//! api_addr = "https://coffer.internal:8200"
//! ```
//!
//! A single-node Vault/OpenBao config with `storage "raft"` or `storage "file"` starts Coffer on
//! its embedded store at the same path; a multi-node raft config is refused.

use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression};

use crate::ServerError;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// In memory: lost at exit (dev and tests).
    Memory,
    /// The embedded store in directory `path`.
    Embedded {
        /// The data directory.
        path: PathBuf,
        /// The storage type named in the file (`embedded`, `raft`, `file`).
        declared_as: String,
    },
}

/// One TCP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// `host:port`.
    pub address: String,
    /// PEM certificate chain, required unless `tls_disable`.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key, required unless `tls_disable`.
    pub tls_key_file: Option<PathBuf>,
    /// Plain HTTP (only when configured).
    pub tls_disable: bool,
    /// Request body limit in bytes.
    pub max_request_size: usize,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The storage backend.
    pub storage: StorageConfig,
    /// The listeners (at least one).
    pub listeners: Vec<ListenerConfig>,
    /// The address clients should use.
    pub api_addr: Option<String>,
    /// Audit devices declared here, enabled at every unseal.
    pub audit: Vec<coffer_audit::DeviceInfo>,
}

fn bad(msg: impl Into<String>) -> ServerError {
    ServerError::Config(msg.into())
}

fn label(block: &Block) -> Option<&str> {
    block.labels.first().map(|l| l.as_str())
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key.as_str() == key).map(|a| &a.expr)
}

fn string_attr(body: &Body, key: &str) -> Result<Option<String>, ServerError> {
    match attr(body, key) {
        None => Ok(None),
        Some(Expression::String(s)) => Ok(Some(s.clone())),
        Some(Expression::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(bad(format!("{key} must be a string"))),
    }
}

fn bool_attr(body: &Body, key: &str) -> Result<bool, ServerError> {
    match attr(body, key) {
        None => Ok(false),
        Some(Expression::Bool(b)) => Ok(*b),
        Some(Expression::Number(n)) => Ok(n.as_i64() == Some(1)),
        Some(Expression::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(true),
            "false" | "0" | "f" | "" => Ok(false),
            _ => Err(bad(format!("{key} must be a bool, got {s:?}"))),
        },
        Some(_) => Err(bad(format!("{key} must be a bool"))),
    }
}

impl Config {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        Config::parse(&text)
    }

    /// Parses configuration text.
    pub fn parse(text: &str) -> Result<Config, ServerError> {
        let body: Body = hcl::from_str(text).map_err(|e| bad(format!("HCL syntax error: {e}")))?;
        let storage_blocks: Vec<&Block> =
            body.blocks().filter(|b| b.identifier.as_str() == "storage").collect();
        let storage = match storage_blocks.as_slice() {
            [] => {
                return Err(bad(
                    "a storage block is required, e.g. storage \"embedded\" { path = \"/var/lib/coffer\" }",
                ));
            }
            [one] => parse_storage(one)?,
            _ => return Err(bad("only one storage block is allowed")),
        };
        let listeners = body
            .blocks()
            .filter(|b| b.identifier.as_str() == "listener")
            .map(parse_listener)
            .collect::<Result<Vec<_>, _>>()?;
        if listeners.is_empty() {
            return Err(bad("at least one listener \"tcp\" block is required"));
        }
        let audit = body
            .blocks()
            .filter(|b| b.identifier.as_str() == "audit")
            .map(parse_audit)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Config { storage, listeners, api_addr: string_attr(&body, "api_addr")?, audit })
    }
}

fn parse_storage(block: &Block) -> Result<StorageConfig, ServerError> {
    let kind = label(block).ok_or_else(|| bad("storage block needs a type label"))?;
    let body = &block.body;
    match kind {
        "inmem" | "memory" => Ok(StorageConfig::Memory),
        "embedded" | "raft" | "file" => {
            if kind == "raft" && body.blocks().any(|b| b.identifier.as_str() == "retry_join") {
                return Err(bad(
                    "multi-node raft is not supported: Coffer runs on its embedded store on one machine, and on PostgreSQL (storage \"postgresql\") for high availability across machines",
                ));
            }
            let path = string_attr(body, "path")?
                .filter(|p| !p.is_empty())
                .ok_or_else(|| bad(format!("storage \"{kind}\" needs a path")))?;
            Ok(StorageConfig::Embedded { path: PathBuf::from(path), declared_as: kind.to_string() })
        }
        other => Err(bad(format!("unknown storage type {other:?}; use \"embedded\""))),
    }
}

/// `audit "file" "<path>" { description = "...", options { file_path = "..." } }`.
fn parse_audit(block: &Block) -> Result<coffer_audit::DeviceInfo, ServerError> {
    let device_type = label(block).ok_or_else(|| bad("audit block needs a type label"))?;
    let path = block.labels.get(1).map(|l| l.as_str()).unwrap_or(device_type);
    let body = &block.body;
    let mut options = serde_json::Map::new();
    let option_body = body.blocks().find(|b| b.identifier.as_str() == "options").map(|b| &b.body);
    if let Some(ob) = option_body {
        for attr in ob.attributes() {
            let key = attr.key.as_str();
            let value = string_attr(ob, key)?.unwrap_or_default();
            options.insert(key.to_string(), serde_json::Value::String(value));
        }
    } else if let Some(Expression::Object(obj)) = attr(body, "options") {
        for (k, v) in obj {
            let value = match v {
                Expression::String(s) => s.clone(),
                Expression::Bool(b) => b.to_string(),
                Expression::Number(n) => n.to_string(),
                _ => return Err(bad("audit options must be strings")),
            };
            options.insert(k.to_string(), serde_json::Value::String(value));
        }
    }
    Ok(coffer_audit::DeviceInfo {
        device_type: device_type.to_string(),
        description: string_attr(body, "description")?.unwrap_or_default(),
        options,
        path: coffer_audit::normalize_path(path),
        local: bool_attr(body, "local")?,
    })
}

fn parse_listener(block: &Block) -> Result<ListenerConfig, ServerError> {
    let kind = label(block).unwrap_or("");
    if kind != "tcp" {
        return Err(bad(format!("unknown listener type {kind:?}; only \"tcp\" is supported")));
    }
    let body = &block.body;
    let tls_disable = bool_attr(body, "tls_disable")?;
    let tls_cert_file = string_attr(body, "tls_cert_file")?.map(PathBuf::from);
    let tls_key_file = string_attr(body, "tls_key_file")?.map(PathBuf::from);
    if !tls_disable && (tls_cert_file.is_none() || tls_key_file.is_none()) {
        return Err(bad(
            "listener \"tcp\" needs tls_cert_file and tls_key_file, or tls_disable = true",
        ));
    }
    let max_request_size = match attr(body, "max_request_size") {
        None => crate::app::DEFAULT_MAX_REQUEST_SIZE,
        Some(Expression::Number(n)) => n
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .filter(|v| *v > 0)
            .unwrap_or(crate::app::DEFAULT_MAX_REQUEST_SIZE),
        Some(_) => return Err(bad("max_request_size must be a number")),
    };
    Ok(ListenerConfig {
        address: string_attr(body, "address")?.unwrap_or_else(|| "127.0.0.1:8200".to_string()),
        tls_cert_file,
        tls_key_file,
        tls_disable,
        max_request_size,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_vault_shaped_config() {
        let c = Config::parse(
            r#"
            storage "raft" {
              path    = "/tmp/x"
              node_id = "n1"
            }
            listener "tcp" {
              address     = "127.0.0.1:8300"
              tls_disable = "true"
            }
            api_addr = "http://127.0.0.1:8300"
            disable_mlock = true
            "#,
        )
        .unwrap();
        assert_eq!(
            c.storage,
            StorageConfig::Embedded { path: "/tmp/x".into(), declared_as: "raft".into() }
        );
        assert!(c.listeners[0].tls_disable);
        assert_eq!(c.listeners[0].address, "127.0.0.1:8300");
    }

    #[test]
    fn refuses_multi_node_raft_and_bad_input() {
        let err = Config::parse(
            "storage \"raft\" {\n path = \"/x\"\n retry_join { leader_api_addr = \"http://a\" }\n}\nlistener \"tcp\" {\n tls_disable = 1\n}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("PostgreSQL"));
        assert!(Config::parse("listener \"tcp\" {}").is_err());
        assert!(
            Config::parse("storage \"embedded\" {\n path = \"/x\"\n}\nlistener \"tcp\" {}")
                .unwrap_err()
                .to_string()
                .contains("tls_cert_file")
        );
        assert!(Config::parse("storage {").is_err());
    }
}
