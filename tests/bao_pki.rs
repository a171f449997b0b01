//! `bao pki` helper commands (which use only the documented API) against Coffer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Server, bao, bao_ok};

#[test]
fn bao_pki_issue_verify_sign_and_list_intermediates() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    bao_ok(&bao, &server, &["secrets", "enable", "pki"]);
    bao_ok(&bao, &server, &["secrets", "tune", "-max-lease-ttl=87600h", "pki"]);
    bao_ok(
        &bao,
        &server,
        &["write", "pki/root/generate/internal", "common_name=Root", "key_type=ec", "ttl=8760h"],
    );
    bao_ok(&bao, &server, &["secrets", "enable", "-path=pki_int", "pki"]);
    // `bao pki issue` generates a CSR on pki_int, signs it with the root, and imports it.
    let issued = bao_ok(
        &bao,
        &server,
        &[
            "pki",
            "issue",
            "-issuer_name=intermediate",
            "/pki/issuer/default",
            "/pki_int/",
            "common_name=Intermediate",
            "key_type=ec",
        ],
    );
    assert!(issued.contains("intermediate"), "{issued}");
    let verified = bao_ok(
        &bao,
        &server,
        &["pki", "verify-sign", "pki/issuer/default", "pki_int/issuer/intermediate"],
    );
    for field in ["signature_match", "subject_match", "path_match", "trust_match"] {
        let line = verified.lines().find(|l| l.starts_with(field)).unwrap_or_default().to_string();
        assert!(line.ends_with("true"), "{field}: {verified}");
    }
    let listed = bao_ok(&bao, &server, &["pki", "list-intermediates", "pki/issuer/default"]);
    assert!(
        listed.lines().any(|l| l.starts_with("pki_int/issuer/") && l.trim_end().ends_with("true")),
        "{listed}"
    );
}

/// `bao pki health-check` reads the whole mount (CRLs and delta CRLs, roles, tidy, ACME
/// config, tuning); on a fresh mount it finds what the reference finds (tidy never ran),
/// and no check fails for want of an endpoint.
#[test]
fn bao_pki_health_check_runs_every_check() {
    let Some(bao) = bao() else { return };
    let server = Server::dev();
    bao_ok(&bao, &server, &["secrets", "enable", "pki"]);
    bao_ok(
        &bao,
        &server,
        &["write", "pki/root/generate/internal", "common_name=Root", "ttl=8760h"],
    );
    bao_ok(
        &bao,
        &server,
        &["write", "pki/roles/web", "allowed_domains=example.com", "allow_subdomains=true"],
    );
    let out = common::run_bao(&bao, &server, &["pki", "health-check", "-format=json", "pki/"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let statuses: Vec<(String, String)> =
        report
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(check, results)| {
                results.as_array().unwrap().iter().map(move |r| {
                    (check.clone(), r["status"].as_str().unwrap_or_default().to_string())
                })
            })
            .collect();
    assert!(!statuses.iter().any(|(_, s)| s == "invalid_version"), "{statuses:?}");
    let delta = report["crl_validity_period"].as_array().unwrap();
    assert!(
        delta.iter().any(|r| r["message"].as_str().unwrap_or_default().starts_with("Delta CRL"))
    );
    assert_eq!(report["tidy_last_run"][0]["status"], "critical", "as on the reference");
    assert_eq!(out.status.code(), Some(4), "the reference's exit code for a critical finding");
}
