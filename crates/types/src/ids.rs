//! Random identifiers in the formats clients see: UUID-shaped hex and base62 strings.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `len` bytes from the system's secure random generator.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    // The system generator only fails when the OS has no entropy source at all; there is no
    // safe way to continue issuing identifiers then.
    #[allow(clippy::expect_used)]
    SystemRandom::new().fill(&mut buf).expect("the operating system's random generator failed");
    buf
}

/// A random UUID-shaped lower-hex string (8-4-4-4-12), as Vault prints request and entity ids.
pub fn new_uuid() -> String {
    let h = hex::encode(random_bytes(16));
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A random string of `len` base62 characters, without modulo bias.
pub fn random_base62(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2) {
            // 248 = 62 * 4: rejecting larger bytes keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        let t = random_base62(24);
        assert_eq!(t.len(), 24);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(random_base62(24), t);
    }
}
