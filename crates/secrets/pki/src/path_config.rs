//! Mount configuration: `config/urls`, `config/crl`, `config/cluster`, and the CRL rotation
//! endpoints `crl/rotate` and `crl/rotate-delta`. Writes answer 200 with the stored config.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Response, Result};
use serde_json::{Value, json};

use crate::PkiState;
use crate::crl;
use crate::model::{self, ClusterConfig, CrlConfig, UrlsConfig, config_key};

const URL_LISTS: [&str; 4] = [
    "issuing_certificates",
    "crl_distribution_points",
    "delta_crl_distribution_points",
    "ocsp_servers",
];
const CRL_DURATIONS: [&str; 4] =
    ["expiry", "ocsp_expiry", "auto_rebuild_grace_period", "delta_rebuild_interval"];
const CRL_BOOLS: [&str; 5] =
    ["disable", "ocsp_disable", "auto_rebuild", "enable_delta", "allow_expired_cert_revocation"];

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    let mut urls = Path::new("config/urls").field(Field::bool("enable_templating"));
    for name in URL_LISTS {
        urls = urls.field(Field::list(name));
    }
    let mut crl_path = Path::new("config/crl");
    for name in CRL_DURATIONS {
        crl_path = crl_path.field(Field::duration(name));
    }
    for name in CRL_BOOLS {
        crl_path = crl_path.field(Field::bool(name));
    }
    router
        .path(urls.read(read_urls).write(write_urls))
        .path(crl_path.read(read_crl).write(write_crl))
        .path(
            Path::new("config/cluster")
                .field(Field::string("path"))
                .field(Field::string("aia_path"))
                .read(read_cluster)
                .write(write_cluster),
        )
        .path(
            Path::new("config/acme")
                .field(Field::bool("enabled"))
                .read(read_acme)
                .write(write_acme),
        )
        .path(Path::new("crl/rotate").read(|s: Arc<PkiState>, r: Req| rotate(s, r, false)))
        .path(Path::new("crl/rotate-delta").read(|s: Arc<PkiState>, r: Req| rotate(s, r, true)))
}

/// ACME (RFC 8555) is not served by this engine: its configuration reads as the reference's
/// defaults, disabled (so `bao pki health-check` sees ACME off), and cannot be enabled.
fn acme_config() -> Response {
    Response::json(json!({
        "allow_role_ext_key_usage": false,
        "allowed_issuers": ["*"],
        "allowed_roles": ["*"],
        "default_directory_policy": "sign-verbatim",
        "dns_resolver": "",
        "eab_policy": "not-required",
        "enabled": false,
    }))
}

async fn read_acme(_s: Arc<PkiState>, _req: Req) -> Result<Option<Response>> {
    Ok(Some(acme_config()))
}

async fn write_acme(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    // Only "keep it off" is accepted; anything else would be a setting this server ignores.
    if req.bool("enabled")? || req.data().keys().any(|k| k != "enabled") {
        return Err(Error::invalid("ACME is not supported by this server"));
    }
    Ok(Some(acme_config()))
}

async fn read_urls(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let config: UrlsConfig = model::get_config(req.storage(), "urls").await?;
    Ok(Some(Response::json(json!(config))))
}

async fn write_urls(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let mut config: UrlsConfig = model::get_config(req.storage(), "urls").await?;
    for name in URL_LISTS {
        if !req.has(name) {
            continue;
        }
        let list = req.list(name)?;
        for url in &list {
            if url.contains(char::is_whitespace) || !url.contains(':') {
                return Err(Error::invalid(format!("invalid URL in {name}: {url}")));
            }
        }
        match name {
            "issuing_certificates" => config.issuing_certificates = list,
            "crl_distribution_points" => config.crl_distribution_points = list,
            "delta_crl_distribution_points" => config.delta_crl_distribution_points = list,
            _ => config.ocsp_servers = list,
        }
    }
    if req.has("enable_templating") {
        config.enable_templating = req.bool("enable_templating")?;
    }
    model::put(req.storage(), &config_key("urls"), &config).await?;
    Ok(Some(Response::json(json!(config))))
}

/// Seconds in the short form Vault echoes (`72h`, `15m`, `90s`).
fn short_duration(secs: i64) -> String {
    match secs {
        s if s != 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s != 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn crl_json(config: &CrlConfig) -> Value {
    json!({
        "expiry": short_duration(config.expiry),
        "disable": config.disable,
        "ocsp_disable": config.ocsp_disable,
        "ocsp_expiry": short_duration(config.ocsp_expiry),
        "auto_rebuild": config.auto_rebuild,
        "auto_rebuild_grace_period": short_duration(config.auto_rebuild_grace_period),
        "enable_delta": config.enable_delta,
        "delta_rebuild_interval": short_duration(config.delta_rebuild_interval),
        "allow_expired_cert_revocation": config.allow_expired_cert_revocation,
    })
}

async fn read_crl(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let config: CrlConfig = model::get_config(req.storage(), "crl").await?;
    Ok(Some(Response::json(crl_json(&config))))
}

async fn write_crl(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let mut config: CrlConfig = model::get_config(req.storage(), "crl").await?;
    let before = config.clone();
    for name in CRL_DURATIONS.iter().filter(|n| req.has(n)) {
        let value = req.duration(name)?;
        if value < 0 {
            return Err(Error::invalid(format!("{name} must not be negative")));
        }
        match *name {
            "expiry" => config.expiry = value,
            "ocsp_expiry" => config.ocsp_expiry = value,
            "auto_rebuild_grace_period" => config.auto_rebuild_grace_period = value,
            _ => config.delta_rebuild_interval = value,
        }
    }
    for name in CRL_BOOLS.iter().filter(|n| req.has(n)) {
        let value = req.bool(name)?;
        match *name {
            "disable" => config.disable = value,
            "ocsp_disable" => config.ocsp_disable = value,
            "auto_rebuild" => config.auto_rebuild = value,
            "enable_delta" => config.enable_delta = value,
            _ => config.allow_expired_cert_revocation = value,
        }
    }
    if config.expiry == 0 {
        return Err(Error::invalid("expiry must be a positive duration"));
    }
    if config.enable_delta && !config.auto_rebuild {
        return Err(Error::invalid("delta CRLs cannot be enabled without auto_rebuild"));
    }
    if config.auto_rebuild && config.auto_rebuild_grace_period >= config.expiry {
        return Err(Error::invalid(
            "auto_rebuild_grace_period must be shorter than the CRL expiry",
        ));
    }
    model::put(req.storage(), &config_key("crl"), &config).await?;
    if config.disable != before.disable
        || config.enable_delta != before.enable_delta
        || config.expiry != before.expiry
    {
        crl::rebuild(&state, req.storage(), None, false).await?;
    }
    Ok(Some(Response::json(crl_json(&config))))
}

async fn read_cluster(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let config: ClusterConfig = model::get_config(req.storage(), "cluster").await?;
    Ok(Some(Response::json(json!(config))))
}

async fn write_cluster(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let mut config: ClusterConfig = model::get_config(req.storage(), "cluster").await?;
    if req.has("path") {
        config.path = req.str("path")?;
    }
    if req.has("aia_path") {
        config.aia_path = req.str("aia_path")?;
    }
    model::put(req.storage(), &config_key("cluster"), &config).await?;
    Ok(Some(Response::json(json!(config))))
}

async fn rotate(state: Arc<PkiState>, req: Req, delta: bool) -> Result<Option<Response>> {
    if delta {
        let config: CrlConfig = model::get_config(req.storage(), "crl").await?;
        if !config.enable_delta {
            return Ok(Some(Response::json(json!({"success": true})).with_warning(
                "requested rebuild of delta CRL when delta CRL is not enabled; this is a no-op",
            )));
        }
    }
    crl::rebuild(&state, req.storage(), None, delta).await?;
    Ok(Some(Response::json(json!({ "success": true }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_echo_short() {
        assert_eq!(short_duration(72 * 3600), "72h");
        assert_eq!(short_duration(900), "15m");
        assert_eq!(short_duration(90), "90s");
        assert_eq!(short_duration(0), "0s");
    }
}
