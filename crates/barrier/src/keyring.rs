//! The keyring (numbered data keys) and the ciphertext format shared by data and keyring.
//!
//! Ciphertext: `term (u32 big-endian) | version (1) | nonce (12 random bytes) |
//! AES-256-GCM(plaintext) | tag (16)`, with the storage key as associated data. The keyring
//! itself is sealed the same way with the unseal key under the reserved term 0.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::BarrierError;

/// Length of every key in the chain (AES-256).
pub const KEY_LEN: usize = 32;
/// The ciphertext format version written today.
const VERSION: u8 = 1;
/// `term | version | nonce`.
const HEADER_LEN: usize = 4 + 1 + NONCE_LEN;
/// Length of the AES-GCM authentication tag.
const TAG_LEN: usize = 16;
/// The term under which the keyring itself is sealed with the unseal key.
pub(crate) const KEYRING_TERM: u32 = 0;

/// One term of the keyring: a data key and when it was installed.
pub(crate) struct TermKey {
    raw: Zeroizing<[u8; KEY_LEN]>,
    aead: LessSafeKey,
    install_time: SystemTime,
}

/// Every data key ever installed, by term, and the term new writes use.
pub(crate) struct Keyring {
    terms: BTreeMap<u32, TermKey>,
    active: u32,
}

/// The keyring as persisted (inside the ciphertext at `core/keyring`), borrowed for writing.
#[derive(Serialize)]
struct KeyringOut<'a> {
    active_term: u32,
    terms: Vec<TermOut<'a>>,
}

#[derive(Serialize)]
struct TermOut<'a> {
    term: u32,
    key: &'a str,
    install_time: u64,
}

/// The keyring as read back; the hex keys are wiped when this is dropped.
#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyringIn {
    active_term: u32,
    terms: Vec<TermIn>,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct TermIn {
    term: u32,
    key: String,
    install_time: u64,
}

impl TermKey {
    fn from_raw(
        raw: Zeroizing<[u8; KEY_LEN]>,
        install_time: SystemTime,
    ) -> Result<Self, BarrierError> {
        Ok(TermKey { aead: aead_key(&raw[..])?, raw, install_time })
    }

    /// When this key was installed (whole seconds, as persisted).
    pub(crate) fn install_time(&self) -> SystemTime {
        self.install_time
    }

    /// The AEAD key.
    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.aead
    }
}

impl Keyring {
    /// A keyring with term 1 holding a fresh random key.
    pub(crate) fn generate(rng: &SystemRandom) -> Result<Self, BarrierError> {
        let mut terms = BTreeMap::new();
        terms.insert(1, TermKey::from_raw(random_key(rng)?, now_secs())?);
        Ok(Keyring { terms, active: 1 })
    }

    /// A copy of this keyring with one more term, holding a fresh key, made active.
    pub(crate) fn rotated(&self, rng: &SystemRandom) -> Result<Self, BarrierError> {
        let next = self.active.checked_add(1).ok_or(BarrierError::Crypto)?;
        let mut terms = BTreeMap::new();
        for (&term, key) in &self.terms {
            terms.insert(term, TermKey::from_raw(key.raw.clone(), key.install_time)?);
        }
        terms.insert(next, TermKey::from_raw(random_key(rng)?, now_secs())?);
        Ok(Keyring { terms, active: next })
    }

    /// The active term number.
    pub(crate) fn active_term(&self) -> u32 {
        self.active
    }

    /// The key of the active term.
    pub(crate) fn active(&self) -> Result<&TermKey, BarrierError> {
        // Holds by construction (generate, rotated and decode all insert the active term);
        // an error rather than a panic keeps that promise checkable.
        self.terms.get(&self.active).ok_or(BarrierError::Crypto)
    }

    /// The key of `term`, if the keyring has it.
    pub(crate) fn term(&self, term: u32) -> Option<&TermKey> {
        self.terms.get(&term)
    }

    /// The keyring as JSON, in a buffer that is wiped on drop.
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let hex: Vec<(u32, Zeroizing<String>, u64)> = self
            .terms
            .iter()
            .map(|(&term, key)| (term, hex_encode(&key.raw[..]), unix_secs(key.install_time)))
            .collect();
        let out = KeyringOut {
            active_term: self.active,
            terms: hex
                .iter()
                .map(|(term, key, install_time)| TermOut {
                    term: *term,
                    key: key.as_str(),
                    install_time: *install_time,
                })
                .collect(),
        };
        // Large enough that the writer never reallocates (which would leave unwiped copies).
        let mut buf = Zeroizing::new(Vec::with_capacity(64 + 160 * self.terms.len()));
        serde_json::to_writer(&mut *buf, &out).map_err(|_| BarrierError::Crypto)?;
        Ok(buf)
    }

    /// Parses the JSON written by [`Keyring::encode`].
    pub(crate) fn decode(json: &[u8]) -> Result<Self, BarrierError> {
        let corrupt = || BarrierError::Corrupt(crate::KEYRING_PATH.to_string());
        let parsed: KeyringIn = serde_json::from_slice(json).map_err(|_| corrupt())?;
        let mut terms = BTreeMap::new();
        for t in &parsed.terms {
            let raw = hex_decode_key(&t.key).ok_or_else(corrupt)?;
            let install_time = UNIX_EPOCH + Duration::from_secs(t.install_time);
            if t.term == KEYRING_TERM
                || terms.insert(t.term, TermKey::from_raw(raw, install_time)?).is_some()
            {
                return Err(corrupt());
            }
        }
        if !terms.contains_key(&parsed.active_term) {
            return Err(corrupt());
        }
        Ok(Keyring { terms, active: parsed.active_term })
    }
}

/// Builds an AES-256-GCM key; fails unless `raw` is 32 bytes.
pub(crate) fn aead_key(raw: &[u8]) -> Result<LessSafeKey, BarrierError> {
    if raw.len() != KEY_LEN {
        return Err(BarrierError::InvalidKey);
    }
    let unbound = UnboundKey::new(&AES_256_GCM, raw).map_err(|_| BarrierError::InvalidKey)?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts `plaintext` under `key` (known as `term`), bound to `aad`.
pub(crate) fn seal(
    rng: &SystemRandom,
    key: &LessSafeKey,
    term: u32,
    aad: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, BarrierError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| BarrierError::Crypto)?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&term.to_be_bytes());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let body = out.get_mut(HEADER_LEN..).ok_or(BarrierError::Crypto)?;
    let sealed = key.seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        body,
    );
    match sealed {
        Ok(tag) => {
            out.extend_from_slice(tag.as_ref());
            Ok(out)
        }
        Err(_) => {
            out.zeroize();
            Err(BarrierError::Crypto)
        }
    }
}

/// The term a ciphertext claims, after checking its length and version.
pub(crate) fn term_of(ciphertext: &[u8]) -> Option<u32> {
    if ciphertext.len() < HEADER_LEN + TAG_LEN || ciphertext.get(4) != Some(&VERSION) {
        return None;
    }
    let term: [u8; 4] = ciphertext.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(term))
}

/// Decrypts a ciphertext made by [`seal`] with the same key and `aad`; `None` when it was
/// altered, moved to another key, or sealed under another key.
pub(crate) fn open(key: &LessSafeKey, aad: &str, ciphertext: &[u8]) -> Option<Vec<u8>> {
    term_of(ciphertext)?;
    let nonce: [u8; NONCE_LEN] = ciphertext.get(5..HEADER_LEN)?.try_into().ok()?;
    let mut buf = ciphertext.get(HEADER_LEN..)?.to_vec();
    match key.open_in_place(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut buf,
    ) {
        Ok(plain) => {
            let len = plain.len();
            // Wipe the tag bytes left past the plaintext before shrinking.
            if let Some(tail) = buf.get_mut(len..) {
                tail.zeroize();
            }
            buf.truncate(len);
            Some(buf)
        }
        Err(_) => {
            buf.zeroize();
            None
        }
    }
}

fn random_key(rng: &SystemRandom) -> Result<Zeroizing<[u8; KEY_LEN]>, BarrierError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill(&mut key[..]).map_err(|_| BarrierError::Crypto)?;
    Ok(key)
}

fn now_secs() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_secs(SystemTime::now()))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Lower-case hex without branches on the key bytes.
fn hex_encode(bytes: &[u8]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(bytes.len() * 2));
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            // 0xff when nibble > 9: shift to 'a'..'f' (39 = 'a' - '0' - 10).
            let letter = (9u16.wrapping_sub(u16::from(nibble)) >> 8) as u8;
            out.push(char::from(nibble + b'0' + (letter & 39)));
        }
    }
    out
}

/// Decodes 64 hex digits into a key, without branches on the digit values.
fn hex_decode_key(hex: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    // 0xff when a < b, else 0: the borrow of a 16-bit subtraction.
    fn lt(a: u8, b: u8) -> u8 {
        (u16::from(a).wrapping_sub(u16::from(b)) >> 8) as u8
    }
    fn digit(c: u8) -> (u8, u8) {
        let d = c.wrapping_sub(b'0');
        let l = (c | 0x20).wrapping_sub(b'a');
        let is_d = lt(d, 10);
        let is_l = lt(l, 6);
        ((d & is_d) | (l.wrapping_add(10) & is_l), is_d | is_l)
    }
    let bytes = hex.as_bytes();
    if bytes.len() != KEY_LEN * 2 {
        return None;
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    let mut valid = 0xffu8;
    for (out, pair) in key.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, hi_ok) = digit(pair.first().copied().unwrap_or(0));
        let (lo, lo_ok) = digit(pair.get(1).copied().unwrap_or(0));
        *out = (hi << 4) | lo;
        valid &= hi_ok & lo_ok;
    }
    (valid == 0xff).then_some(key)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn hex_roundtrip() {
        let bytes: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37)).collect();
        let hex = hex_encode(&bytes);
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex.as_str(), expected);
        assert_eq!(&hex_decode_key(&hex).unwrap()[..], &bytes[..]);
        assert_eq!(&hex_decode_key(&hex.to_uppercase()).unwrap()[..], &bytes[..]);
        assert!(hex_decode_key(&hex[..62]).is_none());
        let bad = format!("g{}", &hex[1..]);
        assert!(hex_decode_key(&bad).is_none());
    }

    #[test]
    fn keyring_roundtrip_and_rotation() {
        let rng = SystemRandom::new();
        let ring = Keyring::generate(&rng).unwrap().rotated(&rng).unwrap();
        assert_eq!(ring.active_term(), 2);
        let back = Keyring::decode(&ring.encode().unwrap()).unwrap();
        assert_eq!(back.active_term(), 2);
        for term in [1, 2] {
            assert_eq!(back.term(term).unwrap().raw[..], ring.term(term).unwrap().raw[..]);
        }
        assert_ne!(back.term(1).unwrap().raw[..], back.term(2).unwrap().raw[..]);
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(Keyring::decode(b"not json").is_err());
        assert!(Keyring::decode(br#"{"active_term":3,"terms":[]}"#).is_err());
        let zero = format!(
            r#"{{"active_term":0,"terms":[{{"term":0,"key":"{}","install_time":0}}]}}"#,
            "00".repeat(32)
        );
        assert!(Keyring::decode(zero.as_bytes()).is_err());
    }

    #[test]
    fn seal_open_roundtrip_and_tamper() {
        let rng = SystemRandom::new();
        let key = aead_key(&[9u8; 32]).unwrap();
        let ct = seal(&rng, &key, 7, "a/b", b"hello").unwrap();
        assert_eq!(term_of(&ct), Some(7));
        assert_eq!(ct.len(), HEADER_LEN + 5 + TAG_LEN);
        assert_eq!(open(&key, "a/b", &ct).unwrap(), b"hello");
        assert!(open(&key, "a/c", &ct).is_none());
        // The term is not authenticated here: it only selects the key, and another term's
        // key fails the tag. Every other byte is.
        for i in 4..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 1;
            assert!(open(&key, "a/b", &bad).is_none(), "flip at {i}");
        }
        for len in 0..ct.len() {
            assert!(open(&key, "a/b", &ct[..len]).is_none());
        }
        let other = aead_key(&[8u8; 32]).unwrap();
        assert!(open(&other, "a/b", &ct).is_none());
        assert!(aead_key(&[1u8; 16]).is_err());
    }
}
