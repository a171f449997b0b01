//! Issuer and key management: `issuers/` (list), `issuer/:ref` (read, update, patch,
//! delete), `config/issuers` (and `root/replace`), `config/keys`, `keys/`, `key/:ref`,
//! `keys/generate/:type` and `keys/import`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Map, Response, Result};
use serde_json::{Value, json};

use crate::PkiState;
use crate::issuers;
use crate::keys::{KeySpec, PrivateKey};
use crate::model::{
    self, IssuerEntry, IssuersConfig, KeyEntry, KeysConfig, config_key, issuer_key, key_key,
};

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    let issuer_fields = |p: &str| {
        let mut path = Path::new(p)
            .field(Field::string("issuer_name"))
            .field(Field::string("leaf_not_after_behavior"))
            .field(Field::list("manual_chain"))
            .field(Field::list("usage"))
            .field(Field::string("revocation_signature_algorithm"))
            .field(Field::bool("enable_aia_url_templating"));
        for name in [
            "issuing_certificates",
            "crl_distribution_points",
            "delta_crl_distribution_points",
            "ocsp_servers",
        ] {
            path = path.field(Field::list(name));
        }
        path
    };
    router
        .path(Path::new("issuers/").list(list_issuers))
        .path(
            issuer_fields("issuer/{ref}")
                .read(read_issuer)
                .write(update_issuer)
                .patch(update_issuer)
                .delete(delete_issuer),
        )
        .path(
            Path::new("config/issuers")
                .field(Field::string("default"))
                .field(Field::bool("default_follows_latest_issuer"))
                .read(read_issuers_config)
                .write(write_issuers_config),
        )
        .path(Path::new("root/replace").field(Field::string("default")).write(write_issuers_config))
        .path(
            Path::new("config/keys")
                .field(Field::string("default"))
                .read(read_keys_config)
                .write(write_keys_config),
        )
        .path(Path::new("keys/").list(list_keys))
        .path(
            Path::new("key/{ref}")
                .field(Field::string("key_name"))
                .read(read_key)
                .write(update_key)
                .delete(delete_key),
        )
        .path(
            Path::new("keys/generate/{type}")
                .field(Field::string("key_name"))
                .field(Field::string("key_type"))
                .field(Field::int("key_bits"))
                .write(generate_key),
        )
        .path(
            Path::new("keys/import")
                .field(Field::string("key_name"))
                .field(Field::string("pem_bundle"))
                .write(import_key),
        )
}

async fn list_issuers(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let config: IssuersConfig = model::get_config(req.storage(), "issuers").await?;
    let mut keys = Vec::new();
    let mut info = Map::new();
    for entry in issuers::list_issuers(req.storage()).await? {
        info.insert(
            entry.id.clone(),
            json!({
                "is_default": entry.id == config.default,
                "issuer_name": entry.name,
                "key_id": entry.key_id,
                "serial_number": entry.serial_number,
            }),
        );
        keys.push(entry.id);
    }
    Ok(Some(Response::json(json!({ "keys": keys, "key_info": info }))))
}

fn issuer_json(entry: &IssuerEntry) -> Value {
    let mut value = json!({
        "ca_chain": entry.ca_chain,
        "certificate": entry.certificate,
        "crl_distribution_points": entry.crl_distribution_points,
        "delta_crl_distribution_points": entry.delta_crl_distribution_points,
        "issuer_id": entry.id,
        "issuer_name": entry.name,
        "issuing_certificates": entry.issuing_certificates,
        "key_id": entry.key_id,
        "leaf_not_after_behavior": entry.leaf_not_after_behavior,
        "manual_chain": entry.manual_chain,
        "ocsp_servers": entry.ocsp_servers,
        "revocation_signature_algorithm": entry.revocation_signature_algorithm,
        "revoked": entry.revoked,
        "usage": entry.usage,
    });
    if let (true, Some(map)) = (entry.revoked, value.as_object_mut()) {
        map.insert("revocation_time".into(), json!(entry.revocation_time));
        map.insert(
            "revocation_time_rfc3339".into(),
            json!(crate::certutil::rfc3339(entry.revocation_time)),
        );
    }
    value
}

async fn read_issuer(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let entry = issuers::load_issuer(req.storage(), req.capture("ref")).await?;
    Ok(Some(Response::json(issuer_json(&entry))))
}

async fn update_issuer(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.issuer_lock.lock().await;
    let mut entry = issuers::load_issuer(req.storage(), req.capture("ref")).await?;
    let mut ops = Vec::new();
    if req.has("issuer_name") {
        let name = req.str("issuer_name")?;
        ops.extend(issuers::rename_issuer(req.storage(), &mut entry, &name).await?);
    }
    if req.has("leaf_not_after_behavior") {
        let behavior = req.str("leaf_not_after_behavior")?;
        if !matches!(behavior.as_str(), "err" | "truncate" | "permit") {
            return Err(Error::invalid(format!("invalid leaf_not_after_behavior: {behavior}")));
        }
        entry.leaf_not_after_behavior = behavior;
    }
    if req.has("usage") {
        let usage = req.list("usage")?;
        for u in &usage {
            if !matches!(
                u.as_str(),
                "read-only" | "issuing-certificates" | "crl-signing" | "ocsp-signing"
            ) {
                return Err(Error::invalid(format!("unknown usage: {u}")));
            }
        }
        entry.usage = usage.join(",");
    }
    if req.has("revocation_signature_algorithm") {
        entry.revocation_signature_algorithm = req.str("revocation_signature_algorithm")?;
    }
    if req.has("enable_aia_url_templating") {
        entry.enable_aia_url_templating = req.bool("enable_aia_url_templating")?;
    }
    if req.has("manual_chain") {
        let chain = req.list("manual_chain")?;
        entry.manual_chain = if chain.is_empty() || chain == ["self"] { None } else { Some(chain) };
    }
    for (name, list) in [
        ("issuing_certificates", &mut entry.issuing_certificates),
        ("crl_distribution_points", &mut entry.crl_distribution_points),
        ("delta_crl_distribution_points", &mut entry.delta_crl_distribution_points),
        ("ocsp_servers", &mut entry.ocsp_servers),
    ] {
        if req.has(name) {
            *list = req.list(name)?;
        }
    }
    ops.push(model::put_op(issuer_key(&entry.id), &entry)?);
    req.storage().batch(ops).await?;
    if req.has("manual_chain") {
        issuers::rebuild_chains(req.storage()).await?;
    }
    let entry = issuers::load_issuer(req.storage(), &entry.id).await?;
    Ok(Some(Response::json(issuer_json(&entry))))
}

async fn delete_issuer(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.issuer_lock.lock().await;
    // The reference answers 200 with an envelope, even for an issuer that is not there.
    let mut response = Response { status: Some(200), ..Default::default() };
    let reference = req.capture("ref");
    let Ok(entry) = issuers::load_issuer(req.storage(), reference).await else {
        return Ok(Some(response));
    };
    if issuers::delete_issuer(req.storage(), &entry).await? {
        response.warnings.push(format!(
            "Deleted issuer {} (via issuer_ref {reference}); this was configured as the default issuer. \
             Operations without an explicit issuer will not work until a new default is configured.",
            entry.id
        ));
    }
    Ok(Some(response))
}

async fn read_issuers_config(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let config: IssuersConfig = model::get_config(req.storage(), "issuers").await?;
    Ok(Some(Response::json(json!(config))))
}

async fn write_issuers_config(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.issuer_lock.lock().await;
    let mut config: IssuersConfig = model::get_config(req.storage(), "issuers").await?;
    if req.has("default") {
        let reference = req.str("default")?;
        if reference.is_empty() || reference == "default" {
            return Err(Error::invalid(
                "invalid issuer specification; must be non-empty and can't be 'default'",
            ));
        }
        config.default = issuers::resolve_issuer_id(req.storage(), &reference).await?;
    }
    if req.has("default_follows_latest_issuer") {
        config.default_follows_latest_issuer = req.bool("default_follows_latest_issuer")?;
    }
    model::put(req.storage(), &config_key("issuers"), &config).await?;
    Ok(Some(Response::json(json!(config))))
}

async fn read_keys_config(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let config: KeysConfig = model::get_config(req.storage(), "keys").await?;
    Ok(Some(Response::json(json!(config))))
}

async fn write_keys_config(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.issuer_lock.lock().await;
    let key = issuers::load_key(req.storage(), &req.str("default")?).await?;
    let config = KeysConfig { default: key.id };
    model::put(req.storage(), &config_key("keys"), &config).await?;
    Ok(Some(Response::json(json!(config))))
}

fn key_json(entry: &KeyEntry) -> Value {
    json!({
        "key_id": entry.id,
        "key_name": entry.name,
        "key_type": entry.spec.kind.as_str(),
    })
}

async fn list_keys(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let mut keys = Vec::new();
    let mut info = Map::new();
    let config: KeysConfig = model::get_config(req.storage(), "keys").await?;
    for entry in issuers::list_keys(req.storage()).await? {
        let is_default = entry.id == config.default;
        info.insert(entry.id.clone(), json!({ "is_default": is_default, "key_name": entry.name }));
        keys.push(entry.id);
    }
    Ok(Some(Response::json(json!({ "keys": keys, "key_info": info }))))
}

async fn read_key(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let entry = issuers::load_key(req.storage(), req.capture("ref")).await?;
    let mut data = key_json(&entry);
    let key_id = entry.private_key()?.subject_key_id()?;
    let colon_hex: Vec<String> = key_id.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(map) = data.as_object_mut() {
        map.insert("subject_key_id".into(), json!(colon_hex.join(":")));
    }
    Ok(Some(Response::json(data)))
}

async fn update_key(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.issuer_lock.lock().await;
    let mut entry = issuers::load_key(req.storage(), req.capture("ref")).await?;
    let name = req.str("key_name")?;
    issuers::validate_name("key", &name)?;
    if name != entry.name {
        if !name.is_empty()
            && model::get::<String>(req.storage(), &format!("key-name/{name}")).await?.is_some()
        {
            return Err(Error::invalid(format!("key name already in use: {name}")));
        }
        let mut ops = Vec::new();
        if !entry.name.is_empty() {
            ops.push(coffer_storage::WriteOp::Delete { key: format!("key-name/{}", entry.name) });
        }
        if !name.is_empty() {
            ops.push(model::put_op(format!("key-name/{name}"), &entry.id)?);
        }
        entry.name = name;
        ops.push(model::put_op(key_key(&entry.id), &entry)?);
        req.storage().batch(ops).await?;
    }
    Ok(Some(Response::json(key_json(&entry))))
}

async fn delete_key(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let _guard = state.issuer_lock.lock().await;
    let Ok(entry) = issuers::load_key(req.storage(), req.capture("ref")).await else {
        return Ok(None);
    };
    if let Some(issuer) =
        issuers::list_issuers(req.storage()).await?.iter().find(|i| i.key_id == entry.id)
    {
        return Err(Error::invalid(format!(
            "unable to delete key: key is in use by issuer {}",
            issuer.id
        )));
    }
    let mut ops = vec![coffer_storage::WriteOp::Delete { key: key_key(&entry.id) }];
    if !entry.name.is_empty() {
        ops.push(coffer_storage::WriteOp::Delete { key: format!("key-name/{}", entry.name) });
    }
    let mut config: KeysConfig = model::get_config(req.storage(), "keys").await?;
    if config.default == entry.id {
        config.default.clear();
        ops.push(model::put_op(config_key("keys"), &config)?);
    }
    req.storage().batch(ops).await?;
    Ok(None)
}

async fn generate_key(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let exported = match req.capture("type") {
        "internal" => false,
        "exported" => true,
        other => return Err(Error::invalid(format!("unsupported key generation type: {other}"))),
    };
    let spec = KeySpec::parse(&req.str("key_type")?, req.int("key_bits")?)?;
    let name = req.str("key_name")?;
    issuers::validate_name("key", &name)?;
    let key = PrivateKey::generate(spec).await?;
    let _guard = state.issuer_lock.lock().await;
    let (entry, _) = issuers::store_key(req.storage(), &key, &name).await?;
    let mut data = key_json(&entry);
    if let (true, Some(map)) = (exported, data.as_object_mut()) {
        map.insert("private_key".into(), json!(key.to_pem(crate::keys::KeyFormat::Traditional)?));
    }
    Ok(Some(Response::json(data)))
}

async fn import_key(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let key = PrivateKey::from_pem(&req.str("pem_bundle")?)?;
    let name = req.str("key_name")?;
    issuers::validate_name("key", &name)?;
    let _guard = state.issuer_lock.lock().await;
    let (entry, created) = issuers::store_key(req.storage(), &key, &name).await?;
    let mut response = Response::json(key_json(&entry));
    if !created {
        response
            .warnings
            .push("the key was already present; the existing entry was returned".into());
    }
    Ok(Some(response))
}
