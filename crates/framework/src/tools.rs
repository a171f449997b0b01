//! `random[/:source][/:bytes]` and `hash[/:algorithm]`: random bytes and digests for clients
//! without a crypto library, served under `sys/tools/` and by transit (hvac's
//! `generate_random_bytes` and `hash_data`, `bao write sys/tools/...`).

use std::sync::Arc;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_types::{Error, Response, Result};
use serde_json::json;

use crate::{Field, Path, Req, Router};

/// The most random bytes one request may ask for (as the reference).
const MAX_RANDOM_BYTES: i64 = 128 * 1024;

/// Adds the random and hash routes under `prefix` (`tools/` in sys, "" in transit).
pub fn routes<S: Send + Sync + 'static>(router: Router<S>, prefix: &str) -> Router<S> {
    let random = |pattern: String| {
        Path::new(&pattern)
            .field(Field::int("bytes").default(json!(32)))
            .field(Field::string("format").default(json!("base64")))
            .field(Field::string("source").default(json!("platform")))
            .write(random::<S>)
    };
    let hash = |pattern: String| {
        Path::new(&pattern)
            .field(Field::string("input"))
            .field(Field::string("format").default(json!("hex")))
            .field(Field::string("algorithm").default(json!("sha2-256")))
            .write(hash::<S>)
    };
    router
        .path(random(format!("{prefix}random")))
        .path(random(format!("{prefix}random/{{bytes_in_url}}")))
        .path(random(format!("{prefix}random/{{source_in_url}}/{{bytes_in_url}}")))
        .path(hash(format!("{prefix}hash")))
        .path(hash(format!("{prefix}hash/{{algorithm_in_url}}")))
}

/// Bytes as `format` asks: `hex` or `base64`; `quote` puts the bad value in quotes, as the
/// reference's random endpoint does (its hash endpoint does not).
fn encode(bytes: &[u8], format: &str, quote: bool) -> Result<String> {
    match format {
        "hex" => Ok(hex::encode(bytes)),
        "base64" => Ok(STANDARD.encode(bytes)),
        other => {
            let shown = if quote { format!("{other:?}") } else { other.to_string() };
            Err(Error::invalid(format!(
                "unsupported encoding format {shown}; must be \"hex\" or \"base64\""
            )))
        }
    }
}

async fn random<S>(_state: Arc<S>, req: Req) -> Result<Option<Response>> {
    let in_url = req.capture("bytes_in_url");
    let bytes = if in_url.is_empty() {
        req.int("bytes")?
    } else {
        in_url.parse::<i64>().map_err(|_| {
            Error::invalid(format!("error parsing url-set byte count: {in_url:?} is not a number"))
        })?
    };
    let source = match req.capture("source_in_url") {
        "" => req.str("source")?,
        given => given.to_string(),
    };
    let mut warnings = Vec::new();
    match source.as_str() {
        "platform" => {}
        "seal" | "all" => warnings
            .push("no seal/entropy augmentation available, using platform entropy source".into()),
        other => {
            return Err(Error::invalid(format!(
                "unsupported entropy source {other:?}; must be \"platform\" or \"seal\", or \"all\""
            )));
        }
    }
    if bytes < 1 {
        return Err(Error::invalid("'bytes' cannot be less than 1"));
    }
    if bytes > MAX_RANDOM_BYTES {
        return Err(Error::invalid(format!("'bytes' should be less than {MAX_RANDOM_BYTES}")));
    }
    let mut buffer = vec![0u8; bytes as usize];
    aws_lc_rs::rand::fill(&mut buffer).map_err(|_| Error::internal("the random source failed"))?;
    let encoded = encode(&buffer, &req.str("format")?, true)?;
    let mut response = Response::json(json!({ "random_bytes": encoded }));
    response.warnings = warnings;
    Ok(Some(response))
}

/// The digest named as the reference names it (SHA-2 and SHA-3 families).
fn algorithm(name: &str) -> Result<&'static digest::Algorithm> {
    match name {
        "sha2-224" => Ok(&digest::SHA224),
        "sha2-256" => Ok(&digest::SHA256),
        "sha2-384" => Ok(&digest::SHA384),
        "sha2-512" => Ok(&digest::SHA512),
        "sha3-256" => Ok(&digest::SHA3_256),
        "sha3-384" => Ok(&digest::SHA3_384),
        "sha3-512" => Ok(&digest::SHA3_512),
        other => Err(Error::invalid(format!("unsupported algorithm {other}"))),
    }
}

async fn hash<S>(_state: Arc<S>, req: Req) -> Result<Option<Response>> {
    let name = match req.capture("algorithm_in_url") {
        "" => req.str("algorithm")?,
        given => given.to_string(),
    };
    let algorithm = algorithm(&name)?;
    let format = req.str("format")?;
    let input = STANDARD
        .decode(req.str("input")?)
        .map_err(|e| Error::invalid(format!("unable to decode input as base64: {e}")))?;
    let sum = encode(digest::digest(algorithm, &input).as_ref(), &format, false)?;
    Ok(Some(Response::json(json!({ "sum": sum }))))
}
