//! The parsers of untrusted input never panic: random bytes, and real DER with bytes flipped
//! or cut short.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use coffer_pki::fuzzing;
use proptest::prelude::*;

fn real_der() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let engine = common::Engine::new();
        let root = engine.ec_root("Fuzz Root").await;
        let csr = engine
            .write(
                "intermediate/generate/exported",
                serde_json::json!({"common_name": "x", "key_type": "ec", "format": "der"}),
            )
            .await;
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let cert_der = b64
            .decode(
                root["certificate"]
                    .as_str()
                    .unwrap()
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        (
            cert_der,
            b64.decode(csr["csr"].as_str().unwrap()).unwrap(),
            b64.decode(csr["private_key"].as_str().unwrap()).unwrap(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_are_refused_without_panicking(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::csr(&data);
        fuzzing::certificate(&data);
        fuzzing::private_key(&data);
        fuzzing::ocsp_request(&data);
        fuzzing::pem_bundle(&String::from_utf8_lossy(&data));
    }

    #[test]
    fn mutated_der_is_refused_without_panicking(index in 0usize..4096, value in any::<u8>(), cut in 0usize..4096) {
        let (cert, csr, key) = real_der();
        for der in [cert, csr, key] {
            let mut flipped = der.clone();
            let i = index % flipped.len();
            flipped[i] ^= value | 1;
            fuzzing::certificate(&flipped);
            fuzzing::csr(&flipped);
            fuzzing::private_key(&flipped);
            fuzzing::ocsp_request(&flipped);
            let short = &der[..cut % der.len()];
            prop_assert!(!fuzzing::certificate(short));
            fuzzing::csr(short);
            fuzzing::private_key(short);
        }
    }
}

#[test]
fn the_real_inputs_parse() {
    let (cert, csr, key) = real_der();
    assert!(fuzzing::certificate(&cert));
    assert!(fuzzing::csr(&csr));
    assert!(fuzzing::private_key(&key));
    assert!(!fuzzing::ocsp_request(&cert));
    assert!(fuzzing::pem_bundle("-----BEGIN X-----\nAAAA\n-----END X-----\n"));
}
