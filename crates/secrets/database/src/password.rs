//! Generated passwords (Vault's default policy: 20 characters of `[A-Za-z0-9-]` with at least
//! one upper-case letter, one lower-case letter, one digit and one dash) and the SCRAM-SHA-256
//! verifier PostgreSQL stores, for `password_authentication = "scram-sha-256"`.

use std::num::NonZeroU32;

use aws_lc_rs::{digest, hmac, pbkdf2};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coffer_types::{SecretString, random_bytes};
use zeroize::Zeroize;

/// Length of generated passwords.
const LENGTH: usize = 20;
/// The alphabet of generated passwords.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";
/// Iterations of the SCRAM verifier (PostgreSQL's default).
const SCRAM_ITERATIONS: u32 = 4096;

/// A fresh password meeting the default policy.
pub(crate) fn generate() -> SecretString {
    loop {
        let candidate = draw(LENGTH);
        let has = |pred: fn(&u8) -> bool| candidate.as_bytes().iter().any(pred);
        if has(u8::is_ascii_uppercase)
            && has(u8::is_ascii_lowercase)
            && has(u8::is_ascii_digit)
            && has(|b| *b == b'-')
        {
            return SecretString::new(candidate);
        }
    }
}

/// `len` characters of [`ALPHABET`], without modulo bias.
fn draw(len: usize) -> String {
    // 252 = 63 * 4: rejecting larger bytes keeps every character equally likely.
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2) {
            if b < limit && out.len() < len {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// The SCRAM-SHA-256 verifier of `password` with a fresh salt, in PostgreSQL's format
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, RFC 7677).
pub(crate) fn scram_verifier(password: &SecretString) -> SecretString {
    scram_with_salt(password, &random_bytes(16), SCRAM_ITERATIONS)
}

fn scram_with_salt(password: &SecretString, salt: &[u8], iterations: u32) -> SecretString {
    let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.expose().as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    salted.zeroize();
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    SecretString::new(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_meet_the_policy() {
        for _ in 0..200 {
            let p = generate();
            let p = p.expose();
            assert_eq!(p.len(), 20);
            assert!(p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            assert!(p.bytes().any(|b| b.is_ascii_uppercase()));
            assert!(p.bytes().any(|b| b.is_ascii_lowercase()));
            assert!(p.bytes().any(|b| b.is_ascii_digit()));
            assert!(p.contains('-'));
        }
        assert_ne!(generate().expose(), generate().expose());
    }

    #[test]
    fn scram_verifier_matches_rfc7677_vector() {
        // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
        // 4096 iterations; the server signature derives from this ServerKey.
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap_or_default();
        let v = scram_with_salt(&SecretString::new("pencil"), &salt, 4096);
        assert_eq!(
            v.expose(),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
        assert!(
            scram_verifier(&SecretString::new("x")).expose().starts_with("SCRAM-SHA-256$4096:")
        );
    }
}
