//! Shamir secret sharing over GF(2^8), byte-compatible with HashiCorp Vault's shares.
//!
//! A share of an `n`-byte secret is `n + 1` bytes: the value of one random polynomial per
//! secret byte (the secret byte is its intercept) evaluated at the share's x-coordinate,
//! followed by that x-coordinate. The x-coordinates of one split are distinct, non-zero and
//! random. The field uses the AES reduction polynomial `x^8 + x^4 + x^3 + x + 1` (0x11b),
//! as Vault's `shamir` package does, so shares move freely between Coffer and Vault.
//!
//! The arithmetic touches secret bytes only through branch-free, table-free code: a
//! multiplication is eight masked shift-and-add steps, an inverse is `a^254`.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

/// Why a split or combine was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    /// `parts` was smaller than `threshold`.
    #[error("parts cannot be less than threshold")]
    PartsLessThanThreshold,
    /// More than 255 parts were requested (there are only 255 non-zero x-coordinates).
    #[error("parts cannot exceed 255")]
    TooManyParts,
    /// A threshold below 2 would hand the secret to every share holder.
    #[error("threshold must be at least 2")]
    ThresholdTooSmall,
    /// The secret to split was empty.
    #[error("cannot split an empty secret")]
    EmptySecret,
    /// Fewer than two shares were given to combine.
    #[error("less than two parts cannot be used to reconstruct the secret")]
    TooFewShares,
    /// The shares did not all have the same length.
    #[error("all parts must be the same length")]
    LengthMismatch,
    /// A share was shorter than two bytes (one secret byte plus the x-coordinate).
    #[error("parts must be at least two bytes")]
    ShareTooShort,
    /// Two shares had the same x-coordinate.
    #[error("duplicate part detected")]
    DuplicateShare,
    /// The system's random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// Multiplies in GF(2^8) modulo 0x11b, in constant time: eight rounds of a masked add of
/// `a` and a masked reduction, with no branch or table lookup on either operand.
pub(crate) fn gf_mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut product = 0u8;
    for _ in 0..8 {
        // 0xff when the low bit of b is set, else 0x00.
        let take = 0u8.wrapping_sub(b & 1);
        product ^= a & take;
        // 0xff when shifting a out of the field needs a reduction, else 0x00.
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// The multiplicative inverse `a^254` (and 0 for 0), by square-and-multiply over the public
/// exponent 254 = 0b1111_1110, so the sequence of operations never depends on `a`.
pub(crate) fn gf_inv(a: u8) -> u8 {
    let mut result = 1u8;
    for bit in (0..8).rev() {
        result = gf_mul(result, result);
        if (254u8 >> bit) & 1 == 1 {
            result = gf_mul(result, a);
        }
    }
    result
}

/// Evaluates the polynomial with the given coefficients (intercept first) at `x` (Horner).
fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    coefficients.iter().rev().fold(0u8, |acc, &c| gf_mul(acc, x) ^ c)
}

/// Fills `buf` from the system random generator.
fn fill_random(rng: &SystemRandom, buf: &mut [u8]) -> Result<(), ShamirError> {
    rng.fill(buf).map_err(|_| ShamirError::Random)
}

/// `parts` distinct random x-coordinates in 1..=255: a Fisher-Yates shuffle of all of them,
/// with rejection sampling so that every order is equally likely.
fn random_x_coordinates(rng: &SystemRandom, parts: usize) -> Result<Vec<u8>, ShamirError> {
    let mut xs: Vec<u8> = (1..=255u8).collect();
    for i in (1..xs.len()).rev() {
        let bound = i as u32 + 1;
        // Largest multiple of `bound` that fits in a u32: values at or above it are biased.
        let zone = u32::MAX - (u32::MAX % bound);
        let j = loop {
            let mut raw = [0u8; 4];
            fill_random(rng, &mut raw)?;
            let v = u32::from_be_bytes(raw);
            if v < zone {
                break (v % bound) as usize;
            }
        };
        xs.swap(i, j);
    }
    xs.truncate(parts);
    Ok(xs)
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Vec<u8>>, ShamirError> {
    if parts < threshold {
        return Err(ShamirError::PartsLessThanThreshold);
    }
    if parts > 255 {
        return Err(ShamirError::TooManyParts);
    }
    if threshold < 2 {
        return Err(ShamirError::ThresholdTooSmall);
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    let rng = SystemRandom::new();
    let xs = random_x_coordinates(&rng, parts)?;

    // One polynomial per secret byte: the intercept, then threshold-1 random coefficients.
    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    let mut shares: Vec<Vec<u8>> = xs
        .iter()
        .map(|&x| {
            let mut share = Vec::with_capacity(secret.len() + 1);
            share.resize(secret.len(), 0);
            share.push(x);
            share
        })
        .collect();
    for (idx, &byte) in secret.iter().enumerate() {
        let (intercept, random) = coefficients.split_at_mut(1);
        intercept.fill(byte);
        if let Err(e) = fill_random(&rng, random) {
            shares.iter_mut().for_each(|s| s.zeroize());
            return Err(e);
        }
        for share in &mut shares {
            let x = share.last().copied().unwrap_or(0);
            if let Some(y) = share.get_mut(idx) {
                *y = evaluate(&coefficients, x);
            }
        }
    }
    Ok(shares)
}

/// Recovers the secret from at least `threshold` shares made by [`split`] (or by Vault).
///
/// Fewer shares than the threshold yield a wrong value, not an error: the shares carry no
/// threshold, so nothing can tell.
pub fn combine(shares: &[Vec<u8>]) -> Result<Vec<u8>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::TooFewShares);
    }
    let share_len = shares.first().map_or(0, Vec::len);
    if share_len < 2 {
        return Err(ShamirError::ShareTooShort);
    }
    if shares.iter().any(|s| s.len() != share_len) {
        return Err(ShamirError::LengthMismatch);
    }
    let secret_len = share_len - 1;
    // The x-coordinates are public (they travel in clear at the end of every share).
    let xs: Vec<u8> = shares.iter().map(|s| s.last().copied().unwrap_or(0)).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs.iter().skip(i + 1).any(|other| other == x) {
            return Err(ShamirError::DuplicateShare);
        }
    }

    // Lagrange basis at x = 0: l_i = prod_{j != i} x_j / (x_j - x_i); subtraction is XOR.
    let weights: Vec<u8> = xs
        .iter()
        .enumerate()
        .map(|(i, &xi)| {
            xs.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(1u8, |acc, (_, &xj)| gf_mul(acc, gf_mul(xj, gf_inv(xj ^ xi))))
        })
        .collect();

    let mut secret = Zeroizing::new(vec![0u8; secret_len]);
    for (share, &weight) in shares.iter().zip(&weights) {
        for (out, &y) in secret.iter_mut().zip(share.iter()) {
            *out ^= gf_mul(y, weight);
        }
    }
    Ok(secret.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    /// Reference multiplication (schoolbook, with branches) to check the constant-time one.
    fn slow_mul(a: u8, b: u8) -> u8 {
        let mut p: u16 = 0;
        for i in 0..8 {
            if (b >> i) & 1 == 1 {
                p ^= u16::from(a) << i;
            }
        }
        for i in (8..16).rev() {
            if (p >> i) & 1 == 1 {
                p ^= 0x11b << (i - 8);
            }
        }
        p as u8
    }

    #[test]
    fn known_answers() {
        // FIPS-197 section 4.2: {57} * {83} = {c1}; {53} and {ca} are inverses.
        assert_eq!(gf_mul(0x57, 0x83), 0xc1);
        assert_eq!(gf_mul(0x57, 0x13), 0xfe);
        assert_eq!(gf_mul(0x53, 0xca), 0x01);
        assert_eq!(gf_inv(0x53), 0xca);
        assert_eq!(gf_inv(0), 0);
        assert_eq!(gf_inv(1), 1);
    }

    #[test]
    fn field_laws_hold_for_every_element() {
        for a in 0..=255u8 {
            assert_eq!(gf_mul(a, 1), a);
            assert_eq!(gf_mul(a, 0), 0);
            if a != 0 {
                assert_eq!(gf_mul(a, gf_inv(a)), 1, "inverse of {a:#04x}");
            }
            for b in 0..=255u8 {
                let ab = gf_mul(a, b);
                assert_eq!(ab, gf_mul(b, a));
                assert_eq!(ab, slow_mul(a, b));
            }
        }
        // Associativity and distributivity over a spread of triples (all 2^24 is slow).
        for a in (0..=255u8).step_by(7) {
            for b in (0..=255u8).step_by(5) {
                for c in 0..=255u8 {
                    assert_eq!(gf_mul(gf_mul(a, b), c), gf_mul(a, gf_mul(b, c)));
                    assert_eq!(gf_mul(a, b ^ c), gf_mul(a, b) ^ gf_mul(a, c));
                }
            }
        }
    }

    #[test]
    fn split_rejects_bad_parameters() {
        assert_eq!(split(b"x", 2, 3), Err(ShamirError::PartsLessThanThreshold));
        assert_eq!(split(b"x", 256, 3), Err(ShamirError::TooManyParts));
        assert_eq!(split(b"x", 5, 1), Err(ShamirError::ThresholdTooSmall));
        assert_eq!(split(b"", 5, 3), Err(ShamirError::EmptySecret));
    }

    #[test]
    fn combine_rejects_bad_shares() {
        assert_eq!(combine(&[]), Err(ShamirError::TooFewShares));
        assert_eq!(combine(&[vec![1, 2]]), Err(ShamirError::TooFewShares));
        assert_eq!(combine(&[vec![1], vec![2]]), Err(ShamirError::ShareTooShort));
        assert_eq!(combine(&[vec![1, 2], vec![1, 2, 3]]), Err(ShamirError::LengthMismatch));
        assert_eq!(combine(&[vec![1, 2], vec![3, 2]]), Err(ShamirError::DuplicateShare));
    }

    #[test]
    fn shares_have_the_vault_layout() {
        let secret = [7u8; 32];
        let shares = split(&secret, 255, 3).unwrap();
        assert_eq!(shares.len(), 255);
        let mut xs: Vec<u8> = shares.iter().map(|s| s[32]).collect();
        assert!(shares.iter().all(|s| s.len() == 33));
        xs.sort_unstable();
        assert_eq!(xs, (1..=255u8).collect::<Vec<_>>());
    }

    #[test]
    fn combines_a_hand_made_split() {
        // Secret 0x42 with polynomial 0x42 + 0x05 x: at x=1 -> 0x47, at x=2 -> 0x42^0x0a.
        let shares = vec![vec![0x47, 1], vec![0x42 ^ gf_mul(5, 2), 2]];
        assert_eq!(combine(&shares).unwrap(), vec![0x42]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_threshold_subset_recovers(
            secret in proptest::collection::vec(any::<u8>(), 1..64),
            threshold in 2usize..8,
            extra in 0usize..6,
            seed in any::<u64>(),
        ) {
            let parts = threshold + extra;
            let shares = split(&secret, parts, threshold).unwrap();
            prop_assert_eq!(shares.len(), parts);
            // A pseudo-random subset of exactly `threshold` shares, in a scrambled order.
            let mut idx: Vec<usize> = (0..parts).collect();
            let mut s = seed;
            for i in (1..idx.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                idx.swap(i, (s >> 33) as usize % (i + 1));
            }
            let subset: Vec<Vec<u8>> =
                idx[..threshold].iter().map(|&i| shares[i].clone()).collect();
            prop_assert_eq!(combine(&subset).unwrap(), secret.clone());
            // More than the threshold works too.
            prop_assert_eq!(combine(&shares).unwrap(), secret);
        }

        #[test]
        fn fewer_than_threshold_does_not_recover(
            secret in proptest::array::uniform32(any::<u8>()),
            threshold in 3usize..8,
        ) {
            let shares = split(&secret, threshold, threshold).unwrap();
            let recovered = combine(&shares[..threshold - 1]).unwrap();
            prop_assert_ne!(recovered, secret.to_vec());
        }

        #[test]
        fn combine_never_panics(shares in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..6), 0..6)) {
            let _ = combine(&shares);
        }
    }
}
