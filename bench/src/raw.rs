//! The ceiling for certificate issue on this machine: EC P-256 key generation plus one
//! signature, single-threaded, with aws-lc-rs (the library Coffer uses).

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

/// Key generations plus signatures per second on one core over `duration`.
pub fn ec_p256_keygen_and_sign_per_second(duration: Duration) -> f64 {
    let rng = SystemRandom::new();
    let message = [7u8; 512];
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed() < duration {
        let Ok(key) = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING) else { continue };
        if key.sign(&rng, &message).is_ok() {
            done += 1;
        }
    }
    done as f64 / start.elapsed().as_secs_f64()
}
