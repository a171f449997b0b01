//! A named key (the reference calls it a policy): its type, its versions and their key
//! material, its settings, and what each version can do (AEAD, HMAC, signatures).

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, Algorithm, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce,
    UnboundKey,
};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SystemRandom, fill};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair, UnparsedPublicKey,
};
use aws_lc_rs::{constant_time, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_types::{Error, Result, unix_now};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::{Zeroize, Zeroizing};

/// The key types served.
const TYPES: &[&str] =
    &["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "ed25519", "ecdsa-p256", "hmac"];

/// The key types that encrypt (the only ones an encrypt may create).
pub(crate) const ENCRYPTION_TYPES: &[&str] = &["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"];

/// The prefix of every ciphertext, signature and HMAC (kept as `vault:` for interop).
const PREFIX: &str = "vault:v";

/// One version of a key. Its key material never shows in `Debug` output and is wiped from
/// memory when the value is dropped.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct KeyVersion {
    /// Key material, base64: the AEAD key, PKCS#8 of a signing key, or the HMAC key.
    key: String,
    /// The HMAC key of this version, base64 (every key type can HMAC).
    hmac_key: String,
    /// Unix seconds of creation.
    time: i64,
    /// RFC 3339 creation time.
    creation_time: String,
    /// The public key: base64 (Ed25519) or PEM (ECDSA); "" for symmetric keys.
    #[serde(default)]
    public_key: String,
}

impl Drop for KeyVersion {
    fn drop(&mut self) {
        self.key.zeroize();
        self.hmac_key.zeroize();
    }
}

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersion")
            .field("key", &"[redacted]")
            .field("hmac_key", &"[redacted]")
            .field("creation_time", &self.creation_time)
            .finish()
    }
}

/// A named key and its versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Policy {
    pub name: String,
    pub key_type: String,
    versions: BTreeMap<u32, KeyVersion>,
    pub latest_version: u32,
    pub min_decryption_version: u32,
    pub min_encryption_version: u32,
    pub deletion_allowed: bool,
    pub exportable: bool,
    pub allow_plaintext_backup: bool,
    pub auto_rotate_period: i64,
    /// Size of HMAC keys of type `hmac`, bytes.
    #[serde(default)]
    pub key_size: usize,
}

fn random(len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    fill(&mut bytes).map_err(|_| Error::internal("the random source failed"))?;
    Ok(bytes)
}

fn decode(text: &str) -> Result<Zeroizing<Vec<u8>>> {
    STANDARD
        .decode(text)
        .map(Zeroizing::new)
        .map_err(|_| Error::internal("corrupt transit key material"))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> =
        body.as_bytes().chunks(64).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// Base64 input as the reference takes it.
pub(crate) fn base64_input(field: &str, text: &str) -> Result<Vec<u8>> {
    STANDARD.decode(text).map_err(|_| Error::invalid(format!("unable to decode {field} as base64")))
}

impl Policy {
    /// A new key of `key_type` with its first version.
    pub(crate) fn new(name: &str, key_type: &str, key_size: i64) -> Result<Policy> {
        if !TYPES.contains(&key_type) {
            return Err(Error::invalid(format!("unknown key type {key_type}")));
        }
        // HMAC keys are 32 to 512 bytes, as the reference allows; other types ignore it.
        if key_type == "hmac" && key_size != 0 && !(32..=512).contains(&key_size) {
            return Err(Error::invalid(format!("invalid key_size {key_size}")));
        }
        let mut policy = Policy {
            name: name.to_string(),
            key_type: key_type.to_string(),
            versions: BTreeMap::new(),
            latest_version: 0,
            min_decryption_version: 1,
            min_encryption_version: 0,
            deletion_allowed: false,
            exportable: false,
            allow_plaintext_backup: false,
            auto_rotate_period: 0,
            key_size: if key_type == "hmac" && key_size != 0 { key_size as usize } else { 32 },
        };
        policy.rotate()?;
        Ok(policy)
    }

    /// Adds a new latest version.
    pub(crate) fn rotate(&mut self) -> Result<()> {
        let (key, public_key) = match self.key_type.as_str() {
            "aes128-gcm96" => (random(16)?, String::new()),
            "aes256-gcm96" | "chacha20-poly1305" => (random(32)?, String::new()),
            "hmac" => (random(self.key_size)?, String::new()),
            "ed25519" => {
                let pair =
                    Ed25519KeyPair::generate().map_err(|_| Error::internal("keygen failed"))?;
                let pkcs8 = pair.to_pkcs8v1().map_err(|_| Error::internal("keygen failed"))?;
                let public = STANDARD.encode(pair.public_key().as_ref());
                (Zeroizing::new(pkcs8.as_ref().to_vec()), public)
            }
            _ => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
                    .map_err(|_| Error::internal("keygen failed"))?;
                let pkcs8 = pair.to_pkcs8v1().map_err(|_| Error::internal("keygen failed"))?;
                let spki =
                    pair.public_key().as_der().map_err(|_| Error::internal("keygen failed"))?;
                (Zeroizing::new(pkcs8.as_ref().to_vec()), pem("PUBLIC KEY", spki.as_ref()))
            }
        };
        let version = self.latest_version + 1;
        let created = SystemTime::now();
        self.versions.insert(
            version,
            KeyVersion {
                key: STANDARD.encode(&*key),
                hmac_key: STANDARD.encode(&*random(32)?),
                time: unix_now(),
                creation_time: humantime::format_rfc3339_nanos(created).to_string(),
                public_key,
            },
        );
        self.latest_version = version;
        Ok(())
    }

    /// Whether `auto_rotate_period` says the latest version is due for rotation at `now`.
    pub(crate) fn rotation_due(&self, now: i64) -> bool {
        self.auto_rotate_period > 0
            && self
                .versions
                .get(&self.latest_version)
                .is_some_and(|v| v.time + self.auto_rotate_period <= now)
    }

    fn aead(&self) -> Option<&'static Algorithm> {
        match self.key_type.as_str() {
            "aes128-gcm96" => Some(&AES_128_GCM),
            "aes256-gcm96" => Some(&AES_256_GCM),
            "chacha20-poly1305" => Some(&CHACHA20_POLY1305),
            _ => None,
        }
    }

    fn signs(&self) -> bool {
        matches!(self.key_type.as_str(), "ed25519" | "ecdsa-p256")
    }

    /// The `keys/:name` read shape.
    pub(crate) fn to_json(&self) -> Value {
        let keys: serde_json::Map<String, Value> = self
            .versions
            .iter()
            .map(|(n, v)| {
                let shown = if self.signs() {
                    let name = if self.key_type == "ed25519" { "ed25519" } else { "P-256" };
                    json!({"certificate_chain": "", "creation_time": v.creation_time, "name": name, "public_key": v.public_key})
                } else {
                    json!(v.time)
                };
                (n.to_string(), shown)
            })
            .collect();
        let aead = self.aead().is_some();
        json!({
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "auto_rotate_period": self.auto_rotate_period,
            "deletion_allowed": self.deletion_allowed,
            "derived": false,
            "exportable": self.exportable,
            "imported_key": false,
            "keys": keys,
            "latest_version": self.latest_version,
            "min_available_version": 0,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "name": self.name,
            "soft_deleted": false,
            "supports_decryption": aead,
            "supports_derivation": aead || self.key_type == "ed25519",
            "supports_encryption": aead,
            "supports_signing": self.signs(),
            "type": self.key_type,
        })
    }

    /// The version an operation uses: `requested` (0 = latest), within the policy's bounds.
    fn version_for_new(&self, requested: u32) -> Result<(u32, &KeyVersion)> {
        let version = if requested == 0 { self.latest_version } else { requested };
        if version < self.min_encryption_version || version > self.latest_version {
            return Err(Error::invalid("requested version for encryption is not allowed"));
        }
        let key =
            self.versions.get(&version).ok_or_else(|| Error::invalid("invalid key version"))?;
        Ok((version, key))
    }

    /// The version named by a `vault:vN:` value, allowed for decryption or verification.
    fn version_for_old(&self, text: &str) -> Result<(u32, &KeyVersion, String)> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error::invalid("invalid ciphertext: no prefix"))?;
        let (number, body) = rest
            .split_once(':')
            .ok_or_else(|| Error::invalid("invalid ciphertext: wrong number of fields"))?;
        let version: u32 = number.parse().map_err(|_| {
            Error::invalid("invalid ciphertext: version number could not be decoded")
        })?;
        if version < self.min_decryption_version {
            return Err(Error::invalid(
                "ciphertext or signature version is disallowed by policy (too old)",
            ));
        }
        let key =
            self.versions.get(&version).ok_or_else(|| Error::invalid("invalid key version"))?;
        Ok((version, key, body.to_string()))
    }

    fn aead_key(&self, version: &KeyVersion) -> Result<LessSafeKey> {
        let algorithm = self.aead().ok_or_else(|| {
            Error::invalid(format!("key type {} does not support encryption", self.key_type))
        })?;
        let key = decode(&version.key)?;
        let unbound =
            UnboundKey::new(algorithm, &key).map_err(|_| Error::internal("corrupt transit key"))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// `vault:vN:<base64 nonce ‖ ciphertext ‖ tag>`, and the version used.
    pub(crate) fn encrypt(
        &self,
        plaintext: &[u8],
        version: u32,
        aad: &[u8],
    ) -> Result<(String, u32)> {
        let (version, key) = self.version_for_new(version)?;
        let sealing = self.aead_key(key)?;
        let mut nonce = [0u8; NONCE_LEN];
        fill(&mut nonce).map_err(|_| Error::internal("the random source failed"))?;
        let mut buffer = plaintext.to_vec();
        sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buffer,
            )
            .map_err(|_| Error::internal("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        Ok((format!("{PREFIX}{version}:{}", STANDARD.encode(out)), version))
    }

    /// The plaintext of a ciphertext, and the version that made it.
    pub(crate) fn decrypt(
        &self,
        ciphertext: &str,
        aad: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, u32)> {
        let (version, key, body) = self.version_for_old(ciphertext)?;
        let opening = self.aead_key(key)?;
        let raw = STANDARD
            .decode(body)
            .map_err(|_| Error::invalid("invalid ciphertext: could not decode base64"))?;
        let tag = opening.algorithm().tag_len();
        if raw.len() < NONCE_LEN + tag {
            return Err(Error::invalid("invalid ciphertext length"));
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::invalid("invalid ciphertext length"))?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let len = opening
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .map_err(|_| Error::invalid("cipher: message authentication failed"))?
            .len();
        buffer.truncate(len);
        Ok((buffer, version))
    }

    fn hmac_key(&self, version: &KeyVersion, algorithm: &str) -> Result<hmac::Key> {
        let digest = match algorithm {
            "sha2-224" => hmac::HMAC_SHA224,
            "sha2-256" | "" => hmac::HMAC_SHA256,
            "sha2-384" => hmac::HMAC_SHA384,
            "sha2-512" => hmac::HMAC_SHA512,
            other => return Err(Error::invalid(format!("unsupported algorithm {other}"))),
        };
        let material = if self.key_type == "hmac" { &version.key } else { &version.hmac_key };
        Ok(hmac::Key::new(digest, &decode(material)?))
    }

    /// `vault:vN:<base64 HMAC>` of `input`.
    pub(crate) fn hmac(&self, input: &[u8], version: u32, algorithm: &str) -> Result<String> {
        let (version, key) = self.version_for_new(version)?;
        let tag = hmac::sign(&self.hmac_key(key, algorithm)?, input);
        Ok(format!("{PREFIX}{version}:{}", STANDARD.encode(tag.as_ref())))
    }

    /// Whether `value` is the HMAC of `input`.
    pub(crate) fn verify_hmac(&self, input: &[u8], value: &str, algorithm: &str) -> Result<bool> {
        let (_, key, body) = self.version_for_old(value)?;
        let given = STANDARD
            .decode(body)
            .map_err(|_| Error::invalid("invalid HMAC: could not decode base64"))?;
        let expected = hmac::sign(&self.hmac_key(key, algorithm)?, input);
        Ok(constant_time::verify_slices_are_equal(expected.as_ref(), &given).is_ok())
    }

    fn check_hash(&self, hash_algorithm: &str) -> Result<()> {
        match (self.key_type.as_str(), hash_algorithm) {
            ("ed25519", _) | ("ecdsa-p256", "" | "sha2-256") => Ok(()),
            ("ecdsa-p256", other) => Err(Error::invalid(format!(
                "unsupported hash algorithm {other} for ecdsa-p256 keys"
            ))),
            (other, _) => Err(Error::invalid(format!("key type {other} does not support signing"))),
        }
    }

    /// `vault:vN:<base64 signature>` of `input`.
    pub(crate) fn sign(
        &self,
        input: &[u8],
        version: u32,
        hash_algorithm: &str,
    ) -> Result<(String, u32)> {
        self.check_hash(hash_algorithm)?;
        let (version, key) = self.version_for_new(version)?;
        let pkcs8 = decode(&key.key)?;
        let signature = if self.key_type == "ed25519" {
            let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
                .map_err(|_| Error::internal("corrupt transit key"))?;
            pair.sign(input).as_ref().to_vec()
        } else {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8)
                .map_err(|_| Error::internal("corrupt transit key"))?;
            pair.sign(&SystemRandom::new(), input)
                .map_err(|_| Error::internal("signing failed"))?
                .as_ref()
                .to_vec()
        };
        Ok((format!("{PREFIX}{version}:{}", STANDARD.encode(signature)), version))
    }

    /// Whether `signature` signs `input`.
    pub(crate) fn verify(
        &self,
        input: &[u8],
        signature: &str,
        hash_algorithm: &str,
    ) -> Result<bool> {
        self.check_hash(hash_algorithm)?;
        let (_, key, body) = self.version_for_old(signature)?;
        let signature = STANDARD
            .decode(body)
            .map_err(|_| Error::invalid("invalid signature: could not decode base64"))?;
        let pkcs8 = decode(&key.key)?;
        let valid = if self.key_type == "ed25519" {
            let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
                .map_err(|_| Error::internal("corrupt transit key"))?;
            UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref()).verify(input, &signature)
        } else {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8)
                .map_err(|_| Error::internal("corrupt transit key"))?;
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, pair.public_key().as_ref())
                .verify(input, &signature)
        };
        Ok(valid.is_ok())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_due_for_rotation_once_its_period_has_run_out() {
        let mut policy = Policy::new("k", "aes256-gcm96", 0).unwrap();
        let now = unix_now();
        assert!(!policy.rotation_due(now + 10 * 3600), "no period, never due");
        policy.auto_rotate_period = 3600;
        assert!(!policy.rotation_due(now));
        assert!(policy.rotation_due(now + 3600));
        policy.rotate().unwrap();
        assert!(!policy.rotation_due(unix_now()), "the new version starts a new period");
    }

    #[test]
    fn key_material_stays_out_of_debug_output() {
        let policy = Policy::new("k", "hmac", 32).unwrap();
        let key = policy.versions[&1].key.clone();
        let shown = format!("{policy:?}");
        assert!(!shown.contains(&key) && shown.contains("[redacted]"), "{shown}");
    }
}
