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
    uuid_shaped(&hex::encode(random_bytes(16)))
}

/// 32 hex digits as 8-4-4-4-12.
fn uuid_shaped(h: &str) -> String {
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A UUID-shaped id for a request (8-4-4-4-12 lower hex), as Vault prints in responses and
/// audit entries. Unlike [`new_uuid`] it is not secret and not drawn from the secure
/// generator on every call: each thread seeds a 128-bit state once from the secure generator
/// and then steps it (a Weyl sequence through a bijective mixer), so ids never repeat within
/// a thread and, with random 128-bit seeds, do not collide across threads or restarts.
/// Requests are frequent and their ids only need to be unique; use [`new_uuid`] for
/// anything that must be unguessable (accessors, secret ids, nonces).
pub fn request_id() -> String {
    use std::cell::Cell;
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    thread_local! {
        static STATE: Cell<(u64, u64)> = Cell::new({
            let seed = random_bytes(16);
            let half = |r: std::ops::Range<usize>| {
                u64::from_le_bytes(seed[r].try_into().unwrap_or_default())
            };
            (half(0..8), half(8..16))
        });
    }
    let (high, low) = STATE.with(|state| {
        let (counter, key) = state.get();
        let next = counter.wrapping_add(GOLDEN);
        state.set((next, key));
        // Two different bijections of (counter, key): distinct counters give distinct ids.
        (mix(next ^ key), mix(next.wrapping_add(key).rotate_left(29) ^ GOLDEN))
    });
    uuid_shaped(&format!("{high:016x}{low:016x}"))
}

/// A bijective 64-bit mixer (the SplitMix64 finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
    fn request_ids_are_uuid_shaped_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        let other_thread = std::thread::spawn(request_id).join().unwrap_or_default();
        assert!(!ids.contains(&other_thread));
        for id in ids.iter().take(10).chain([&other_thread]) {
            let parts: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.chars().all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }

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
