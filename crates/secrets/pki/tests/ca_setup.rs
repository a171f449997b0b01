//! CA setup beyond a single root: key types, intermediates signed by another mount, PEM
//! bundle imports, several issuers per mount, CSR signing and sign-verbatim.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Engine, Scratch, cert_text, openssl, text, verify};
use serde_json::{Value, json};

fn pem(value: &Value) -> &str {
    value.as_str().unwrap()
}

#[tokio::test]
async fn every_key_type_makes_a_root_that_issues_verifiable_leaves() {
    for (key_type, bits, leaf_usage) in [
        ("rsa", 2048, "Digital Signature, Key Encipherment"),
        ("ec", 384, "Digital Signature, Key Agreement"),
        ("ec", 521, "Digital Signature, Key Agreement"),
        ("ed25519", 0, "Digital Signature"),
    ] {
        let engine = Engine::new();
        let root = engine
            .write(
                "root/generate/exported",
                json!({"common_name": "Root", "key_type": key_type, "key_bits": bits, "ttl": "24h",
                       "organization": "Coffer", "country": "DE", "max_path_length": 1,
                       "permitted_dns_domains": "example.com", "issuer_name": "first", "key_name": "root-key"}),
            )
            .await;
        assert_eq!(root["private_key_type"], key_type);
        assert_eq!(root["issuer_name"], "first");
        assert_eq!(root["key_name"], "root-key");
        let label = match key_type {
            "rsa" => "RSA PRIVATE KEY",
            "ec" => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        assert!(
            pem(&root["private_key"]).starts_with(&format!("-----BEGIN {label}-----")),
            "{key_type}"
        );
        engine
            .write(
                "roles/web",
                json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": key_type, "key_bits": bits}),
            )
            .await;
        let leaf =
            engine.write("issue/web", json!({"common_name": "a.example.com", "ttl": "1h"})).await;
        let scratch = Scratch::new();
        let out = verify(
            &scratch,
            pem(&leaf["certificate"]),
            pem(&root["certificate"]),
            &[],
            Some("sslserver"),
        );
        assert!(out.status.success(), "{key_type} {bits}: {}", text(&out));
        let dump = cert_text(&scratch, pem(&leaf["certificate"]));
        assert!(
            dump.contains(&format!("Key Usage: critical\n                {leaf_usage}\n")),
            "{key_type}: {dump}"
        );
        let root_dump = cert_text(&scratch, pem(&root["certificate"]));
        assert!(root_dump.contains("pathlen:1"), "{root_dump}");
        assert!(root_dump.contains("Permitted:\n                  DNS:example.com"), "{root_dump}");
        assert!(root_dump.contains("C = DE, O = Coffer, CN = Root"), "{root_dump}");
        // Names outside the CA's name constraints fail openssl's check even when a role allows them.
        engine.write("roles/any", json!({"allow_any_name": true, "key_type": "any"})).await;
        let other = engine
            .write(
                "issue/any",
                json!({"common_name": "b.other.org", "key_type": "ec", "ttl": "1h"}),
            )
            .await;
        let out =
            verify(&scratch, pem(&other["certificate"]), pem(&root["certificate"]), &[], None);
        assert!(!out.status.success(), "{}", text(&out));
    }
}

#[tokio::test]
async fn intermediate_signed_by_another_mount_issues_a_verifiable_chain() {
    let root_mount = Engine::new();
    let root = root_mount.ec_root("Root CA").await;
    let inter_mount = Engine::new();
    let csr = inter_mount
        .write(
            "intermediate/generate/internal",
            json!({"common_name": "Intermediate CA", "key_type": "rsa", "key_name": "int"}),
        )
        .await;
    assert!(pem(&csr["csr"]).starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert!(csr["key_id"].as_str().is_some_and(|k| !k.is_empty()));
    assert_eq!(
        root_mount.write_err("root/sign-intermediate", json!({})).await.to_string(),
        "\"csr\" is empty"
    );
    let signed = root_mount
        .write(
            "root/sign-intermediate",
            json!({"csr": csr["csr"], "format": "pem_bundle", "ttl": "43800h"}),
        )
        .await;
    assert_eq!(signed["issuing_ca"].as_str().unwrap().trim(), pem(&root["certificate"]).trim());
    let chain = signed["ca_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2, "the new CA heads its chain: {chain:?}");
    assert!(pem(&signed["certificate"]).starts_with(pem(&chain[0]).trim()));
    assert_eq!(pem(&chain[1]).trim(), pem(&root["certificate"]).trim());
    let imported = inter_mount
        .write("intermediate/set-signed", json!({"certificate": signed["certificate"]}))
        .await;
    let ids = imported["imported_issuers"].as_array().unwrap();
    assert_eq!(ids.len(), 2, "{imported}");
    let mapping = imported["mapping"].as_object().unwrap();
    assert_eq!(
        mapping.values().filter(|k| k.as_str() == Some(csr["key_id"].as_str().unwrap())).count(),
        1
    );
    let default = inter_mount.read_data("config/issuers").await;
    let default_issuer = inter_mount.read_data("issuer/default").await;
    assert_eq!(default["default"], default_issuer["issuer_id"]);
    assert_eq!(default_issuer["key_id"], csr["key_id"]);
    assert_eq!(default_issuer["ca_chain"].as_array().unwrap().len(), 2);
    // A generated root records its revocation signature algorithm; an imported issuer none.
    assert_eq!(default_issuer["revocation_signature_algorithm"], "");
    let root_issuer = root_mount.read_data("issuer/default").await;
    assert_eq!(root_issuer["revocation_signature_algorithm"], "ECDSAWithSHA256");
    let again = inter_mount
        .write("intermediate/set-signed", json!({"certificate": signed["certificate"]}))
        .await;
    assert_eq!(again["imported_issuers"], Value::Null);
    assert_eq!(again["existing_issuers"].as_array().unwrap().len(), 2);

    inter_mount
        .write("roles/svc", json!({"allowed_domains": "svc.test", "allow_subdomains": true}))
        .await;
    let leaf = inter_mount.write("issue/svc", json!({"common_name": "api.svc.test"})).await;
    assert_eq!(leaf["private_key_type"], "rsa");
    assert!(pem(&leaf["private_key"]).starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let chain: Vec<&str> =
        leaf["ca_chain"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1].trim(), pem(&root["certificate"]).trim());
    let scratch = Scratch::new();
    let out = verify(
        &scratch,
        pem(&leaf["certificate"]),
        pem(&root["certificate"]),
        &[chain[0]],
        Some("sslserver"),
    );
    assert!(out.status.success(), "{}", text(&out));
    // The intermediate is in the root mount's store, its chain endpoint serves issuer then root.
    assert!(
        root_mount
            .list("certs/")
            .await
            .contains(&signed["serial_number"].as_str().unwrap().to_string())
    );
    let (_, chain_body) = inter_mount.read_raw("ca_chain").await;
    assert_eq!(String::from_utf8(chain_body).unwrap().matches("BEGIN CERTIFICATE").count(), 2);
    let remove = inter_mount
        .write("issue/svc", json!({"common_name": "b.svc.test", "remove_roots_from_chain": true}))
        .await;
    assert_eq!(remove["ca_chain"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn config_ca_imports_a_bundle_with_its_key() {
    let source = Engine::new();
    let root = source
        .write("root/generate/exported", json!({"common_name": "Imported Root", "key_type": "ec"}))
        .await;
    let target = Engine::new();
    let bundle = format!("{}\n{}\n", pem(&root["private_key"]), pem(&root["certificate"]));
    let imported = target.write("config/ca", json!({"pem_bundle": bundle})).await;
    assert_eq!(imported["imported_issuers"].as_array().unwrap().len(), 1);
    assert_eq!(imported["imported_keys"].as_array().unwrap().len(), 1);
    // A TTL shorter than the root's: with the mount's default (the root's own lifetime) the
    // leaf would outlive the root by a second whenever a second boundary falls between the
    // two requests, which is refused, as Vault refuses it.
    target.write("roles/r", json!({"allow_any_name": true, "key_type": "ec", "ttl": "1h"})).await;
    let leaf = target.write("issue/r", json!({"common_name": "x.test"})).await;
    let scratch = Scratch::new();
    let out = verify(&scratch, pem(&leaf["certificate"]), pem(&root["certificate"]), &[], None);
    assert!(out.status.success(), "{}", text(&out));
    let err = target.write_err("config/ca", json!({"pem_bundle": "nothing"})).await;
    assert_eq!(err.status(), 400);
    let leaf_only =
        target.write_err("issuers/import/cert", json!({"pem_bundle": leaf["certificate"]})).await;
    assert!(leaf_only.to_string().contains("non-CA"), "{leaf_only}");
}

#[tokio::test]
async fn keys_read_back_as_the_reference_shows_them() {
    let engine = Engine::new();
    let root = engine
        .write("root/generate/internal", json!({"common_name": "Root", "key_type": "ec"}))
        .await;
    let made = engine.write("keys/generate/internal", json!({"key_type": "ec"})).await;
    let keys: Vec<String> = made.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["key_id", "key_name", "key_type"]);
    let key = engine.read_data(&format!("key/{}", root["key_id"].as_str().unwrap())).await;
    let scratch = Scratch::new();
    let dump = common::cert_text(&scratch, root["certificate"].as_str().unwrap());
    let skid = dump.split("Subject Key Identifier:").nth(1).unwrap().split_whitespace().next();
    assert_eq!(key["subject_key_id"].as_str().map(str::to_uppercase).as_deref(), skid);
    let listed =
        engine.call(coffer_types::Operation::List, "keys/", json!({})).await.unwrap().unwrap();
    let info = &listed.data.unwrap()["key_info"];
    assert_eq!(info[root["key_id"].as_str().unwrap()]["is_default"], true);
    assert_eq!(info[made["key_id"].as_str().unwrap()]["is_default"], false);
}

#[tokio::test]
async fn several_issuers_per_mount_with_a_default() {
    let engine = Engine::new();
    let first = engine
        .write(
            "root/generate/internal",
            json!({"common_name": "One", "key_type": "ec", "issuer_name": "one"}),
        )
        .await;
    let second = engine
        .write(
            "root/generate/internal",
            json!({"common_name": "Two", "key_type": "ec", "issuer_name": "two"}),
        )
        .await;
    let listed =
        engine.call(coffer_types::Operation::List, "issuers/", json!({})).await.unwrap().unwrap();
    let data = listed.data.unwrap();
    assert_eq!(data["keys"].as_array().unwrap().len(), 2);
    assert_eq!(data["key_info"][first["issuer_id"].as_str().unwrap()]["is_default"], true);
    assert_eq!(data["key_info"][second["issuer_id"].as_str().unwrap()]["issuer_name"], "two");
    let dup = engine
        .write_err(
            "root/generate/internal",
            json!({"common_name": "Three", "key_type": "ec", "issuer_name": "two"}),
        )
        .await;
    assert!(dup.to_string().contains("already in use"), "{dup}");

    let by_name = engine.read_data("issuer/two").await;
    assert_eq!(by_name["issuer_id"], second["issuer_id"]);
    assert_eq!(by_name["usage"], "crl-signing,issuing-certificates,ocsp-signing,read-only");
    assert_eq!(by_name["leaf_not_after_behavior"], "err");
    let renamed = engine
        .write("issuer/two", json!({"issuer_name": "deux", "leaf_not_after_behavior": "truncate"}))
        .await;
    assert_eq!(renamed["issuer_name"], "deux");
    assert_eq!(engine.read_data("issuer/deux").await["leaf_not_after_behavior"], "truncate");

    engine
        .write("roles/r", json!({"allow_any_name": true, "key_type": "ec", "issuer_ref": "deux"}))
        .await;
    let leaf = engine.write("issue/r", json!({"common_name": "x.test", "ttl": "87600h"})).await;
    assert_eq!(leaf["issuing_ca"], second["certificate"]);
    assert_eq!(leaf["expiration"], second["expiration"], "truncate caps at the issuer's NotAfter");
    let via_path = engine
        .write(
            &format!("issuer/{}/issue/r", first["issuer_id"].as_str().unwrap()),
            json!({"common_name": "y.test"}),
        )
        .await;
    assert_eq!(via_path["issuing_ca"], first["certificate"]);

    let config = engine.write("config/issuers", json!({"default": "deux"})).await;
    assert_eq!(config["default"], second["issuer_id"]);
    let (_, body) = engine.read_raw("ca/pem").await;
    assert_eq!(String::from_utf8(body).unwrap().trim(), pem(&second["certificate"]).trim());

    engine.call(coffer_types::Operation::Delete, "issuer/deux", json!({})).await.unwrap();
    assert_eq!(engine.read_data("config/issuers").await["default"], "");
    let response = engine.read("ca/pem").await.unwrap();
    assert_eq!(response.status, Some(204));
    assert!(engine.read("issuer/deux/json").await.is_none());
}

fn openssl_csr(scratch: &Scratch, algorithm: &[&str], subject: &str, san: Option<&str>) -> String {
    let key = scratch.path("csr.key");
    let out = openssl(&[&["genpkey", "-out", key.to_str().unwrap()], algorithm].concat());
    assert!(out.status.success(), "{}", text(&out));
    let csr = scratch.path("req.csr");
    let mut args = vec![
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        subject,
        "-out",
        csr.to_str().unwrap(),
    ];
    let ext;
    if let Some(san) = san {
        ext = format!("subjectAltName={san}");
        args.extend(["-addext", &ext]);
    }
    let out = openssl(&args);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(csr).unwrap()
}

#[tokio::test]
async fn sign_takes_names_from_the_csr_and_checks_its_key() {
    let engine = Engine::new();
    let root = engine.ec_root("Root").await;
    engine
        .write("roles/default", json!({"allowed_domains": "example.com", "allow_subdomains": true}))
        .await;
    engine
        .write(
            "roles/ec",
            json!({"allowed_domains": "example.com", "allow_subdomains": true, "key_type": "ec"}),
        )
        .await;
    let scratch = Scratch::new();
    let ec_csr = openssl_csr(
        &scratch,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=a.example.com",
        Some("DNS:b.example.com"),
    );
    let err = engine.write_err("sign/default", json!({"csr": ec_csr})).await;
    assert_eq!(err.to_string(), "role requires keys of type rsa");
    let signed =
        engine.write("sign/ec", json!({"csr": ec_csr, "common_name": "ignored.example.com"})).await;
    assert!(signed.get("private_key").is_none());
    let dump = cert_text(&scratch, pem(&signed["certificate"]));
    assert!(dump.contains("CN = a.example.com"), "{dump}");
    assert!(dump.contains("DNS:b.example.com") && dump.contains("DNS:a.example.com"), "{dump}");
    let out = verify(
        &scratch,
        pem(&signed["certificate"]),
        pem(&root["certificate"]),
        &[],
        Some("sslclient"),
    );
    assert!(out.status.success(), "{}", text(&out));
    let bad = openssl_csr(
        &scratch,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=a.example.com",
        Some("DNS:evil.org"),
    );
    let err = engine.write_err("sign/ec", json!({"csr": bad})).await;
    assert_eq!(err.to_string(), "subject alternate name evil.org not allowed by this role");
    // cert-manager's all-string body.
    let rsa_csr = openssl_csr(
        &scratch,
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "/CN=c.example.com",
        None,
    );
    let cm = engine
        .write(
            "sign/default",
            json!({"common_name": "c.example.com", "alt_names": "c.example.com", "ip_sans": "", "uri_sans": "",
                   "ttl": "2160h0m0s", "csr": rsa_csr, "exclude_cn_from_sans": "true"}),
        )
        .await;
    assert!(pem(&cm["certificate"]).starts_with("-----BEGIN CERTIFICATE-----"));

    // sign-verbatim keeps the CSR's subject and names, whatever they are.
    let verbatim_csr = openssl_csr(
        &scratch,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/O=Acme/CN=anything.org",
        Some("URI:spiffe://x/y"),
    );
    let verbatim = engine
        .write(
            "sign-verbatim",
            json!({"csr": verbatim_csr, "ext_key_usage": "ClientAuth", "ttl": "1h"}),
        )
        .await;
    let dump = cert_text(&scratch, pem(&verbatim["certificate"]));
    assert!(dump.contains("O = Acme, CN = anything.org"), "{dump}");
    assert!(dump.contains("URI:spiffe://x/y"), "{dump}");
    assert!(dump.contains("TLS Web Client Authentication"), "{dump}");
    let ca_csr = engine
        .write(
            "intermediate/generate/internal",
            json!({"common_name": "sub", "key_type": "ec", "add_basic_constraints": true}),
        )
        .await;
    let err = engine.write_err("sign-verbatim", json!({"csr": ca_csr["csr"]})).await;
    assert_eq!(err.status(), 400);
}

#[tokio::test]
async fn spiffe_uri_sans_follow_the_role_globs() {
    let engine = Engine::new();
    let root = engine.ec_root("Mesh Root").await;
    engine
        .write(
            "roles/mesh",
            json!({"allowed_uri_sans": "spiffe://cluster.local/ns/*/sa/*", "require_cn": false, "key_type": "ec",
                   "allow_any_name": false}),
        )
        .await;
    let leaf = engine
        .write("issue/mesh", json!({"uri_sans": "spiffe://cluster.local/ns/prod/sa/web"}))
        .await;
    let scratch = Scratch::new();
    let dump = cert_text(&scratch, pem(&leaf["certificate"]));
    assert!(dump.contains("URI:spiffe://cluster.local/ns/prod/sa/web"), "{dump}");
    let out = verify(&scratch, pem(&leaf["certificate"]), pem(&root["certificate"]), &[], None);
    assert!(out.status.success(), "{}", text(&out));
    let err =
        engine.write_err("issue/mesh", json!({"uri_sans": "spiffe://evil/ns/prod/sa/web"})).await;
    assert!(err.to_string().contains("spiffe://evil/ns/prod/sa/web"), "{err}");
}

#[tokio::test]
async fn role_defaults_match_vault_and_patch_merges() {
    let engine = Engine::new();
    let role = engine.write("roles/x", json!({})).await;
    for (field, value) in [
        ("allow_localhost", json!(true)),
        ("allow_ip_sans", json!(true)),
        ("allow_wildcard_certificates", json!(true)),
        ("server_flag", json!(true)),
        ("client_flag", json!(true)),
        ("key_type", json!("rsa")),
        ("key_bits", json!(2048)),
        ("use_csr_common_name", json!(true)),
        ("require_cn", json!(true)),
        ("not_before_duration", json!(30)),
        ("issuer_ref", json!("default")),
        ("cn_validations", json!(["email", "hostname"])),
        ("allowed_domains", json!([])),
    ] {
        assert_eq!(role[field], value, "{field}");
    }
    let ec = engine.write("roles/e", json!({"key_type": "ec"})).await;
    assert_eq!(ec["key_bits"], 256);
    let patched =
        engine.call(coffer_types::Operation::Patch, "roles/e", json!({"ttl": "1h"})).await.unwrap();
    let patched = common::data_of(patched);
    assert_eq!(patched["ttl"], 3600);
    assert_eq!(patched["key_type"], "ec");
    let err = engine.write_err("roles/bad", json!({"key_type": "rsa", "key_bits": 1024})).await;
    assert_eq!(err.status(), 400);
    let err = engine.write_err("roles/bad", json!({"ttl": "2h", "max_ttl": "1h"})).await;
    assert_eq!(err.status(), 400);
    assert_eq!(engine.list("roles/").await, vec!["e".to_string(), "x".to_string()]);
    engine.call(coffer_types::Operation::Delete, "roles/x", json!({})).await.unwrap();
    assert!(engine.read("roles/x").await.is_none());
    let any = engine.write("roles/any", json!({"key_type": "any", "allow_any_name": true})).await;
    assert_eq!(any["key_bits"], 0);
    engine.ec_root("Root").await;
    let err = engine.write_err("issue/any", json!({"common_name": "a.test"})).await;
    assert!(err.to_string().contains("role key type \"any\""), "{err}");
}

#[tokio::test]
async fn warnings_and_delete_answers_as_the_reference_gives_them() {
    use coffer_types::Operation;
    let engine = Engine::new();
    let root = engine.ec_root("Root").await;
    let update = |path: &'static str, data: Value| {
        let engine = &engine;
        async move { engine.call(Operation::Update, path, data).await.unwrap().unwrap() }
    };
    let lease_role =
        update("roles/leased", json!({"allow_any_name": true, "generate_lease": true}));
    assert!(lease_role.await.warnings[0].starts_with("it is encouraged to disable generate_lease"));
    let csr_role = json!({"allow_any_name": true, "use_csr_sans": true, "key_type": "any"});
    update("roles/csr", csr_role).await;
    let scratch = Scratch::new();
    let csr = openssl_csr(
        &scratch,
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=a.example.com",
        None,
    );
    let signed =
        update("sign/csr", json!({"csr": csr, "alt_names": "x.example.com", "ttl": "1h"})).await;
    assert_eq!(
        signed.warnings,
        ["the alt_names field was provided but the role is set with \"use_csr_sans\" set to true"]
    );
    let other = Engine::new();
    let made = other
        .call(Operation::Update, "intermediate/generate/internal", json!({"common_name": "I"}))
        .await
        .unwrap()
        .unwrap();
    assert!(made.warnings[0].ends_with("after fixing this problem for the root mount."));
    let bundle = pem(&root["certificate"]).to_string();
    let imported =
        other.call(Operation::Update, "issuers/import/cert", json!({"pem_bundle": bundle})).await;
    let imported = imported.unwrap().unwrap();
    assert!(imported.warnings[0].starts_with("This mount hasn't configured any authority"));

    let id = root["issuer_id"].as_str().unwrap().to_string();
    let gone = engine.call(Operation::Delete, "issuer/nope", json!({})).await.unwrap().unwrap();
    assert_eq!((gone.status, gone.warnings.len()), (Some(200), 0));
    let deleted = engine.call(Operation::Delete, "issuer/default", json!({})).await.unwrap();
    let deleted = deleted.unwrap();
    assert_eq!(deleted.status, Some(200));
    assert!(
        deleted.warnings[0].starts_with(&format!("Deleted issuer {id} (via issuer_ref default)"))
    );
    let wiped = engine.call(Operation::Delete, "root", json!({})).await.unwrap().unwrap();
    assert!(wiped.warnings[0].starts_with("DELETE /root deletes all keys and issuers"));
    // ACME is not served: its config reads as off, and no change is taken.
    assert_eq!(engine.read_data("config/acme").await["enabled"], false);
    for change in [json!({"enabled": true}), json!({"enabled": false, "allowed_roles": ["web"]})] {
        let err = engine.write_err("config/acme", change).await;
        assert_eq!(err.to_string(), "ACME is not supported by this server");
    }
    engine.write("config/acme", json!({"enabled": false})).await;
}
