//! Issuers and keys: lookup by id, name or `default`; storing new ones; PEM bundle import;
//! chain building; and the signing context (certificate + key) the issuing paths use.

use coffer_storage::{SharedStorage, WriteOp};
use coffer_types::{Error, Result, new_uuid};
use rcgen::{Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::certutil::CertInfo;
use crate::keys::PrivateKey;
use crate::model::{
    self, CertEntry, DEFAULT_USAGE, IssuerEntry, IssuersConfig, KeyEntry, KeysConfig, b64,
    cert_key, config_key, issuer_key, key_key,
};
use crate::pem;

/// An issuer that can sign: its entry, parsed certificate and private key, and the rcgen
/// signers made from them (importing a key and parsing a certificate cost more than signing,
/// so an issuer kept in the mount's issue cache makes each signer once).
pub(crate) struct SigningIssuer {
    /// The stored issuer.
    pub entry: IssuerEntry,
    /// Its certificate.
    pub cert: CertInfo,
    /// Its key.
    pub key: PrivateKey,
    /// rcgen signers by `signature_bits`, made on first use.
    signers: std::sync::Mutex<Vec<(i64, Arc<Issuer<'static, KeyPair>>)>>,
}

impl SigningIssuer {
    /// The rcgen issuer over this certificate, signing with `signature_bits` (0 = auto).
    pub(crate) fn rcgen(&self, signature_bits: i64) -> Result<Arc<Issuer<'static, KeyPair>>> {
        let made = self.signers.lock().ok().and_then(|signers| {
            signers.iter().find(|(bits, _)| *bits == signature_bits).map(|(_, s)| s.clone())
        });
        if let Some(signer) = made {
            return Ok(signer);
        }
        let key = self.key.signer(signature_bits)?;
        let issuer = Arc::new(
            Issuer::from_ca_cert_der(&CertificateDer::from(self.cert.der.as_slice()), key)
                .map_err(|e| {
                    Error::internal(format!("unable to use the issuer certificate: {e}"))
                })?,
        );
        if let Ok(mut signers) = self.signers.lock() {
            signers.push((signature_bits, issuer.clone()));
        }
        Ok(issuer)
    }
}

/// Checks an issuer or key name: letters, digits, `-` and `_`, not `default`.
pub(crate) fn validate_name(kind: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Ok(());
    }
    if name == "default" {
        return Err(Error::invalid(format!("reserved {kind} name: default")));
    }
    let ok = name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(Error::invalid(format!("invalid {kind} name: {name}"))) }
}

fn name_index(kind: &str, name: &str) -> String {
    format!("{kind}-name/{name}")
}

/// The id an issuer reference (`default`, a UUID or a name) points to.
pub(crate) async fn resolve_issuer_id(storage: &SharedStorage, reference: &str) -> Result<String> {
    let reference = reference.trim();
    if reference.is_empty() || reference == "default" {
        let config: IssuersConfig = model::get_config(storage, "issuers").await?;
        if config.default.is_empty() {
            return Err(Error::invalid("no default issuer currently configured"));
        }
        return Ok(config.default);
    }
    if storage.get(&issuer_key(reference)).await?.is_some() {
        return Ok(reference.to_string());
    }
    match model::get::<String>(storage, &name_index("issuer", reference)).await? {
        Some(id) => Ok(id),
        None => {
            Err(Error::invalid(format!("unable to find PKI issuer for reference: {reference}")))
        }
    }
}

/// The issuer a reference points to.
pub(crate) async fn load_issuer(storage: &SharedStorage, reference: &str) -> Result<IssuerEntry> {
    let id = resolve_issuer_id(storage, reference).await?;
    model::get(storage, &issuer_key(&id)).await?.ok_or_else(|| {
        Error::invalid(format!("unable to find PKI issuer for reference: {reference}"))
    })
}

/// The issuer a reference points to, with its key; 400 when it has none.
pub(crate) async fn load_signing(
    storage: &SharedStorage,
    reference: &str,
) -> Result<SigningIssuer> {
    let entry = load_issuer(storage, reference).await?;
    signing_from_entry(storage, entry).await
}

/// The signing context of a loaded issuer.
pub(crate) async fn signing_from_entry(
    storage: &SharedStorage,
    entry: IssuerEntry,
) -> Result<SigningIssuer> {
    if entry.key_id.is_empty() {
        return Err(Error::invalid(format!(
            "issuer {} has no private key and cannot sign",
            entry.id
        )));
    }
    let key: KeyEntry = model::get(storage, &key_key(&entry.key_id)).await?.ok_or_else(|| {
        Error::internal(format!("key {} of issuer {} is missing", entry.key_id, entry.id))
    })?;
    let cert = CertInfo::from_pem(&entry.certificate)?;
    Ok(SigningIssuer { entry, cert, key: key.private_key()?, signers: Default::default() })
}

/// Every issuer of the mount.
pub(crate) async fn list_issuers(storage: &SharedStorage) -> Result<Vec<IssuerEntry>> {
    let mut out = Vec::new();
    for id in storage.list("issuer/").await? {
        if let Some(entry) = model::get::<IssuerEntry>(storage, &issuer_key(&id)).await? {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Every key of the mount.
pub(crate) async fn list_keys(storage: &SharedStorage) -> Result<Vec<KeyEntry>> {
    let mut out = Vec::new();
    for id in storage.list("key/").await? {
        if let Some(entry) = model::get::<KeyEntry>(storage, &key_key(&id)).await? {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The key a reference (`default`, a UUID or a name) points to.
pub(crate) async fn load_key(storage: &SharedStorage, reference: &str) -> Result<KeyEntry> {
    let reference = reference.trim();
    let id = if reference.is_empty() || reference == "default" {
        let config: KeysConfig = model::get_config(storage, "keys").await?;
        config.default
    } else if storage.get(&key_key(reference)).await?.is_some() {
        reference.to_string()
    } else {
        model::get::<String>(storage, &name_index("key", reference)).await?.unwrap_or_default()
    };
    if id.is_empty() {
        return Err(Error::invalid(format!("unable to find PKI key for reference: {reference}")));
    }
    model::get(storage, &key_key(&id))
        .await?
        .ok_or_else(|| Error::invalid(format!("unable to find PKI key for reference: {reference}")))
}

async fn check_unique_name(
    storage: &SharedStorage,
    kind: &str,
    name: &str,
    own_id: &str,
) -> Result<()> {
    if name.is_empty() {
        return Ok(());
    }
    validate_name(kind, name)?;
    match model::get::<String>(storage, &name_index(kind, name)).await? {
        Some(id) if id != own_id => {
            Err(Error::invalid(format!("{kind} name already in use: {name}")))
        }
        _ => Ok(()),
    }
}

/// Stores a new key under `name` (may be empty); returns its entry. A key whose public half is
/// already stored is not stored twice: the existing entry is returned with `false`.
pub(crate) async fn store_key(
    storage: &SharedStorage,
    key: &PrivateKey,
    name: &str,
) -> Result<(KeyEntry, bool)> {
    let spki = key.spki()?;
    for existing in list_keys(storage).await? {
        if existing.private_key()?.spki()? == spki {
            return Ok((existing, false));
        }
    }
    check_unique_name(storage, "key", name, "").await?;
    let entry = KeyEntry {
        id: new_uuid(),
        name: name.to_string(),
        spec: key.spec,
        pkcs8: b64(key.pkcs8()?),
    };
    let mut ops = vec![model::put_op(key_key(&entry.id), &entry)?];
    if !name.is_empty() {
        ops.push(model::put_op(name_index("key", name), &entry.id)?);
    }
    let mut config: KeysConfig = model::get_config(storage, "keys").await?;
    if config.default.is_empty() {
        config.default = entry.id.clone();
        ops.push(model::put_op(config_key("keys"), &config)?);
    }
    storage.batch(ops).await?;
    Ok((entry, true))
}

/// Stores a new issuer for `cert` signed with `key_id` ("" for none): name index, the
/// certificate in the cert store, the default when there is none (or when it follows the
/// latest), then rebuilds every chain. `revocation_algorithm` is recorded as given ("" for
/// imported issuers, as the reference).
pub(crate) async fn store_issuer(
    storage: &SharedStorage,
    cert: &CertInfo,
    key_id: &str,
    name: &str,
    revocation_algorithm: &str,
) -> Result<IssuerEntry> {
    check_unique_name(storage, "issuer", name, "").await?;
    let entry = IssuerEntry {
        id: new_uuid(),
        name: name.to_string(),
        key_id: key_id.to_string(),
        certificate: cert.pem(),
        ca_chain: vec![cert.pem()],
        leaf_not_after_behavior: "err".into(),
        usage: DEFAULT_USAGE.into(),
        serial_number: cert.serial_colon(),
        not_after: cert.not_after,
        revocation_signature_algorithm: revocation_algorithm.to_string(),
        ..Default::default()
    };
    let serial = crate::certutil::serial_key(&cert.serial);
    let stored =
        CertEntry { der: b64(&cert.der), not_after: cert.not_after, issuer_id: String::new() };
    let mut ops = vec![
        model::put_op(issuer_key(&entry.id), &entry)?,
        model::put_op(cert_key(&serial), &stored)?,
        WriteOp::Put {
            key: model::index_entry(model::CERT_INDEX, cert.not_after, &serial),
            value: Vec::new(),
        },
    ];
    if !name.is_empty() {
        ops.push(model::put_op(name_index("issuer", name), &entry.id)?);
    }
    let mut config: IssuersConfig = model::get_config(storage, "issuers").await?;
    if !key_id.is_empty() && (config.default.is_empty() || config.default_follows_latest_issuer) {
        config.default = entry.id.clone();
        ops.push(model::put_op(config_key("issuers"), &config)?);
    }
    storage.batch(ops).await?;
    rebuild_chains(storage).await?;
    Ok(model::get(storage, &issuer_key(&entry.id)).await?.unwrap_or(entry))
}

/// Renames an issuer, keeping the name index right.
pub(crate) async fn rename_issuer(
    storage: &SharedStorage,
    entry: &mut IssuerEntry,
    name: &str,
) -> Result<Vec<WriteOp>> {
    let mut ops = Vec::new();
    if entry.name == name {
        return Ok(ops);
    }
    check_unique_name(storage, "issuer", name, &entry.id).await?;
    if !entry.name.is_empty() {
        ops.push(WriteOp::Delete { key: name_index("issuer", &entry.name) });
    }
    if !name.is_empty() {
        ops.push(model::put_op(name_index("issuer", name), &entry.id)?);
    }
    entry.name = name.to_string();
    Ok(ops)
}

/// Deletes an issuer (not its key); clears the default when it pointed there.
pub(crate) async fn delete_issuer(storage: &SharedStorage, entry: &IssuerEntry) -> Result<bool> {
    let mut ops = vec![
        WriteOp::Delete { key: issuer_key(&entry.id) },
        WriteOp::Delete { key: format!("crl/{}", entry.id) },
    ];
    if !entry.name.is_empty() {
        ops.push(WriteOp::Delete { key: name_index("issuer", &entry.name) });
    }
    let mut config: IssuersConfig = model::get_config(storage, "issuers").await?;
    let was_default = config.default == entry.id;
    if was_default {
        config.default = String::new();
        ops.push(model::put_op(config_key("issuers"), &config)?);
    }
    storage.batch(ops).await?;
    rebuild_chains(storage).await?;
    Ok(was_default)
}

/// Recomputes `ca_chain` of every issuer: itself, then parents found among the issuers by
/// name, key id and signature, up to a self-signed root (or a manual chain when set).
pub(crate) async fn rebuild_chains(storage: &SharedStorage) -> Result<()> {
    let issuers = list_issuers(storage).await?;
    let parsed: Vec<(IssuerEntry, CertInfo)> = issuers
        .into_iter()
        .filter_map(|e| CertInfo::from_pem(&e.certificate).ok().map(|c| (e, c)))
        .collect();
    let mut ops = Vec::new();
    for (entry, cert) in &parsed {
        let chain = match &entry.manual_chain {
            Some(refs) if !refs.is_empty() => {
                let mut chain = Vec::new();
                for reference in refs {
                    let found = parsed.iter().find(|(e, _)| {
                        &e.id == reference || (&e.name == reference && !e.name.is_empty())
                    });
                    if let Some((e, _)) = found {
                        chain.push(e.certificate.clone());
                    }
                }
                chain
            }
            _ => {
                let mut chain = vec![entry.certificate.clone()];
                let mut current = cert;
                let mut seen = vec![entry.id.as_str()];
                while !current.self_issued() && chain.len() < 10 {
                    let parent = parsed
                        .iter()
                        .find(|(e, c)| !seen.contains(&e.id.as_str()) && current.issued_by(c));
                    let Some((parent_entry, parent_cert)) = parent else { break };
                    chain.push(parent_entry.certificate.clone());
                    seen.push(parent_entry.id.as_str());
                    current = parent_cert;
                }
                chain
            }
        };
        if chain != entry.ca_chain {
            let mut updated = entry.clone();
            updated.ca_chain = chain;
            ops.push(model::put_op(issuer_key(&entry.id), &updated)?);
        }
    }
    if !ops.is_empty() {
        storage.batch(ops).await?;
    }
    Ok(())
}

/// What an import did, in Vault's response shape.
#[derive(Debug, Default)]
pub(crate) struct ImportResult {
    /// Issuers created.
    pub imported_issuers: Vec<String>,
    /// Keys created.
    pub imported_keys: Vec<String>,
    /// Issuers that were already there.
    pub existing_issuers: Vec<String>,
    /// Keys that were already there.
    pub existing_keys: Vec<String>,
    /// Issuer id -> key id ("" when keyless), for every issuer touched.
    pub mapping: serde_json::Map<String, Value>,
}

impl ImportResult {
    /// The response data.
    pub(crate) fn to_json(&self) -> Value {
        let list = |v: &Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
        json!({
            "imported_issuers": list(&self.imported_issuers),
            "imported_keys": list(&self.imported_keys),
            "existing_issuers": list(&self.existing_issuers),
            "existing_keys": list(&self.existing_keys),
            "mapping": self.mapping,
        })
    }
}

/// Imports a PEM bundle of CA certificates and (when `allow_keys`) private keys.
pub(crate) async fn import_bundle(
    storage: &SharedStorage,
    text: &str,
    allow_keys: bool,
) -> Result<ImportResult> {
    let blocks = pem::decode_all(text)?;
    if blocks.is_empty() {
        return Err(Error::invalid("no data found in PEM bundle"));
    }
    let mut result = ImportResult::default();
    let mut certs = Vec::new();
    for block in blocks {
        match block.label.as_str() {
            "CERTIFICATE" => certs.push(CertInfo::parse(&block.der)?),
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" if allow_keys => {
                let key = PrivateKey::from_der(&block.der)?;
                let (entry, created) = store_key(storage, &key, "").await?;
                if created {
                    result.imported_keys.push(entry.id)
                } else {
                    result.existing_keys.push(entry.id)
                }
            }
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                return Err(Error::invalid("private keys are not accepted on this path"));
            }
            other => {
                return Err(Error::invalid(format!("unsupported PEM block in bundle: {other}")));
            }
        }
    }
    let mut key_spkis = Vec::new();
    for key in list_keys(storage).await? {
        key_spkis.push((key.private_key()?.spki()?, key.id.clone()));
    }
    let existing = list_issuers(storage).await?;
    for cert in certs {
        if !cert.is_ca {
            return Err(Error::invalid("refusing to import non-CA certificate"));
        }
        check_name_encoding(&cert)?;
        let key_id = key_spkis
            .iter()
            .find(|(spki, _)| *spki == cert.spki)
            .map(|(_, id)| id.clone())
            .unwrap_or_default();
        let pem_text = cert.pem();
        if let Some(found) = existing.iter().find(|e| e.certificate.trim() == pem_text.trim()) {
            let mut found = found.clone();
            if found.key_id.is_empty() && !key_id.is_empty() {
                found.key_id = key_id.clone();
                model::put(storage, &issuer_key(&found.id), &found).await?;
                let mut config: IssuersConfig = model::get_config(storage, "issuers").await?;
                if config.default.is_empty() {
                    config.default = found.id.clone();
                    model::put(storage, &config_key("issuers"), &config).await?;
                }
            }
            result.mapping.insert(found.id.clone(), json!(found.key_id));
            result.existing_issuers.push(found.id);
            continue;
        }
        let entry = store_issuer(storage, &cert, &key_id, "", "").await?;
        result.mapping.insert(entry.id.clone(), json!(entry.key_id));
        result.imported_issuers.push(entry.id);
    }
    Ok(result)
}

/// rcgen re-encodes an issuer's name from the parsed certificate and supports one attribute
/// per RDN only: refuse other certificates at import instead of failing at issue time.
fn check_name_encoding(cert: &CertInfo) -> Result<()> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, parsed) = X509Certificate::from_der(&cert.der)
        .map_err(|_| Error::invalid("unable to parse certificate"))?;
    if parsed.subject().iter().any(|rdn| rdn.iter().count() != 1) {
        return Err(Error::invalid(
            "CA certificates with multi-valued RDNs in the subject are not supported",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("issuer", "root-2026_a").is_ok());
        assert!(validate_name("issuer", "").is_ok());
        assert!(validate_name("issuer", "default").is_err());
        assert!(validate_name("issuer", "a b").is_err());
    }
}
