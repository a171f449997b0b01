//! The operations on a key: `encrypt`, `decrypt`, `rewrap`, `datakey`, `hmac`, `sign` and
//! `verify`, each on one item (the request's fields) or on many (`batch_input`, answered as
//! `batch_results`; any failed item makes the answer a 400 that still carries them all).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Map, Response, Result, coerce_int};
use serde_json::{Value, json};

use crate::policy::{Policy, base64_input};
use crate::{TransitState, key_exists, load_current, load_or_create};

pub(crate) fn routes(router: Router<TransitState>) -> Router<TransitState> {
    let op = |pattern: &str| {
        Path::new(pattern)
            .field(Field::string("plaintext"))
            .field(Field::string("ciphertext"))
            .field(Field::string("associated_data"))
            .field(Field::string("context"))
            .field(Field::string("nonce"))
            .field(Field::int("key_version"))
            .field(Field::any("batch_input"))
            .field(Field::string("type"))
            .field(Field::string("input"))
            .field(Field::string("algorithm"))
            .field(Field::string("hash_algorithm"))
            .field(Field::string("signature"))
            .field(Field::string("hmac"))
            .field(Field::string("marshaling_algorithm"))
            .field(Field::bool("prehashed"))
            .field(Field::int("bits"))
            .field(Field::bool("derived"))
            .field(Field::bool("convergent_encryption"))
            .field(Field::string("reference"))
    };
    router
        .path(op("encrypt/{name}").write(encrypt).existence(key_exists))
        .path(op("decrypt/{name}").write(decrypt))
        .path(op("rewrap/{name}").write(rewrap))
        .path(op("datakey/{kind}/{name}").write(datakey))
        .path(op("hmac/{name}").write(hmac))
        .path(op("hmac/{name}/{url_algorithm}").write(hmac))
        .path(op("sign/{name}").write(sign))
        .path(op("sign/{name}/{url_algorithm}").write(sign))
        .path(op("verify/{name}").write(verify))
        .path(op("verify/{name}/{url_algorithm}").write(verify))
}

/// A string field of one item ("" when absent).
fn text(item: &Map, field: &str) -> String {
    match item.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The `key_version` of one item (0 = latest).
fn key_version(item: &Map) -> Result<u32> {
    match item.get("key_version") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => u32::try_from(coerce_int("key_version", v)?)
            .map_err(|_| Error::invalid("key_version cannot be negative")),
    }
}

/// Base64 field of one item, empty when absent.
fn bytes(item: &Map, field: &str) -> Result<Vec<u8>> {
    let value = text(item, field);
    if value.is_empty() { Ok(Vec::new()) } else { base64_input(field, &value) }
}

/// Runs `one` on the request's item, or on each item of `batch_input`.
fn each(req: &Req, one: impl Fn(&Map) -> Result<Map>) -> Result<Option<Response>> {
    let Some(batch) = req.data().get("batch_input").filter(|v| !v.is_null()) else {
        return one(req.data()).map(|data| Some(Response::data(data)));
    };
    let items =
        batch.as_array().ok_or_else(|| Error::invalid("batch_input must be a list of objects"))?;
    if items.is_empty() {
        return Err(Error::invalid("missing batch input to process"));
    }
    let mut failed = false;
    let results: Vec<Value> = items
        .iter()
        .map(|item| {
            let empty = Map::new();
            let item_map = item.as_object().unwrap_or(&empty);
            let mut result = match one(item_map) {
                Ok(map) => Value::Object(map),
                Err(e) => {
                    failed = true;
                    json!({ "error": e.messages().join("; ") })
                }
            };
            // The caller's reference comes back with its result ("" when none, as the
            // reference answers).
            if let Some(out) = result.as_object_mut() {
                let reference = item_map.get("reference").cloned().unwrap_or_else(|| json!(""));
                out.insert("reference".into(), reference);
            }
            result
        })
        .collect();
    let mut data = Map::new();
    data.insert("batch_results".into(), Value::Array(results));
    let mut response = Response::data(data);
    if failed {
        response.status = Some(400);
    }
    Ok(Some(response))
}

async fn existing(state: &TransitState, req: &Req) -> Result<Policy> {
    load_current(state, req, req.capture("name"))
        .await?
        .ok_or_else(|| Error::invalid("encryption key not found"))
}

/// A base64 field an item must carry (`missing` is the reference's words when it does not).
fn required(item: &Map, field: &str, missing: &str) -> Result<Vec<u8>> {
    if !item.contains_key(field) {
        return Err(Error::invalid(missing));
    }
    bytes(item, field)
}

/// Refuses `prehashed`: signing a digest given as input is not supported, and signing its
/// hash instead would give signatures the caller does not expect.
fn refuse_prehashed(item: &Map) -> Result<()> {
    match item.get("prehashed") {
        Some(Value::Bool(true)) => {
            Err(Error::invalid("prehashed input is not supported by this server"))
        }
        Some(Value::String(s)) if s == "true" => {
            Err(Error::invalid("prehashed input is not supported by this server"))
        }
        _ => Ok(()),
    }
}

fn map(value: Value) -> Map {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

async fn encrypt(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let policy = load_or_create(&state, &req, req.capture("name"), true).await?;
    each(&req, |item| {
        let plaintext = required(item, "plaintext", "missing plaintext to encrypt")?;
        let aad = bytes(item, "associated_data")?;
        let (ciphertext, version) = policy.encrypt(&plaintext, key_version(item)?, &aad)?;
        Ok(map(json!({ "ciphertext": ciphertext, "key_version": version })))
    })
}

async fn decrypt(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let policy = existing(&state, &req).await?;
    each(&req, |item| {
        if !item.contains_key("ciphertext") {
            return Err(Error::invalid("missing ciphertext to decrypt"));
        }
        let aad = bytes(item, "associated_data")?;
        let (plaintext, _) = policy.decrypt(&text(item, "ciphertext"), &aad)?;
        Ok(map(json!({ "plaintext": STANDARD.encode(&*plaintext) })))
    })
}

async fn rewrap(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let policy = existing(&state, &req).await?;
    each(&req, |item| {
        if !item.contains_key("ciphertext") {
            return Err(Error::invalid("missing ciphertext to decrypt"));
        }
        let aad = bytes(item, "associated_data")?;
        let (plaintext, _) = policy.decrypt(&text(item, "ciphertext"), &aad)?;
        let (ciphertext, version) = policy.encrypt(&plaintext, key_version(item)?, &aad)?;
        Ok(map(json!({ "ciphertext": ciphertext, "key_version": version })))
    })
}

async fn datakey(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let kind = req.capture("kind").to_string();
    if !matches!(kind.as_str(), "plaintext" | "wrapped") {
        return Err(Error::invalid(format!("invalid type {kind}")));
    }
    let bits = match req.int("bits")? {
        0 => 256,
        b @ (128 | 256 | 512) => b,
        other => return Err(Error::invalid(format!("invalid bit length {other}"))),
    };
    let policy = existing(&state, &req).await?;
    let mut key = zeroize::Zeroizing::new(vec![0u8; (bits / 8) as usize]);
    aws_lc_rs::rand::fill(&mut key).map_err(|_| Error::internal("the random source failed"))?;
    let aad = bytes(req.data(), "associated_data")?;
    let (ciphertext, version) = policy.encrypt(&key, key_version(req.data())?, &aad)?;
    let mut data = map(json!({ "ciphertext": ciphertext, "key_version": version }));
    if kind == "plaintext" {
        data.insert("plaintext".into(), json!(STANDARD.encode(&*key)));
    }
    Ok(Some(Response::data(data)))
}

/// The algorithm named in the URL, else in the item, else `fallback`.
fn algorithm(req: &Req, item: &Map, field: &str) -> String {
    match req.capture("url_algorithm") {
        "" => text(item, field),
        given => given.to_string(),
    }
}

async fn hmac(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    let policy = existing(&state, &req).await?;
    each(&req, |item| {
        let input = required(item, "input", "missing input for HMAC")?;
        let value = policy.hmac(&input, key_version(item)?, &algorithm(&req, item, "algorithm"))?;
        Ok(map(json!({ "hmac": value })))
    })
}

async fn sign(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    refuse_prehashed(req.data())?;
    let policy = existing(&state, &req).await?;
    each(&req, |item| {
        refuse_prehashed(item)?;
        let marshaling = text(item, "marshaling_algorithm");
        if !matches!(marshaling.as_str(), "" | "asn1") {
            return Err(Error::invalid(format!("unsupported marshaling algorithm {marshaling}")));
        }
        let input = bytes(item, "input")?;
        let hash = algorithm(&req, item, "hash_algorithm");
        let (signature, version) = policy.sign(&input, key_version(item)?, &hash)?;
        Ok(map(json!({ "signature": signature, "key_version": version })))
    })
}

async fn verify(state: Arc<TransitState>, req: Req) -> Result<Option<Response>> {
    refuse_prehashed(req.data())?;
    let policy = existing(&state, &req).await?;
    each(&req, |item| {
        refuse_prehashed(item)?;
        let input = bytes(item, "input")?;
        let (signature, tag) = (text(item, "signature"), text(item, "hmac"));
        let valid = match (signature.is_empty(), tag.is_empty()) {
            (false, true) => {
                policy.verify(&input, &signature, &algorithm(&req, item, "hash_algorithm"))?
            }
            (true, false) => {
                policy.verify_hmac(&input, &tag, &algorithm(&req, item, "algorithm"))?
            }
            _ => return Err(Error::invalid("provide one of \"signature\" or \"hmac\"")),
        };
        Ok(map(json!({ "valid": valid })))
    })
}
