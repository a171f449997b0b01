//! Real-world policies (in `tests/corpus/`), parsed and checked the way a server uses them.
//!
//! Contents:
//! 1. every corpus file parses, and the default policy too
//! 2. one test per policy: admin, provisioner, kv-read-only, approle-app, pki-issue, legacy,
//!    json-form, token-creator, per-entity (templated), hcl1-style, ci-deployer
//! 3. several policies attached to one token
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use coffer_policy::{Acl, AclRequest, AliasInfo, Policy, TemplateContext, default_policy_text};
use coffer_types::{Map, Operation};
use serde_json::{Value, json};

const CORPUS: &[(&str, &str)] = &[
    ("admin", include_str!("corpus/admin.hcl")),
    ("provisioner", include_str!("corpus/provisioner.hcl")),
    ("kv-read-only", include_str!("corpus/kv-read-only.hcl")),
    ("approle-app", include_str!("corpus/approle-app.hcl")),
    ("pki-issue", include_str!("corpus/pki-issue.hcl")),
    ("legacy", include_str!("corpus/legacy.hcl")),
    ("json-form", include_str!("corpus/json-form.json")),
    ("token-creator", include_str!("corpus/token-creator.hcl")),
    ("per-entity", include_str!("corpus/per-entity.hcl")),
    ("hcl1-style", include_str!("corpus/hcl1-style.hcl")),
    ("ci-deployer", include_str!("corpus/ci-deployer.hcl")),
];

fn policy(name: &str) -> Policy {
    let (_, text) = CORPUS.iter().find(|(n, _)| *n == name).expect("corpus entry");
    Policy::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn acl(name: &str) -> Acl {
    Acl::new(&[policy(name)])
}

fn params(v: Value) -> Map {
    v.as_object().cloned().unwrap_or_default()
}

fn allowed(acl: &Acl, path: &str, op: Operation) -> bool {
    acl.check(path, op, &Map::new()).allowed
}

fn caps(acl: &Acl, path: &str) -> String {
    acl.capability_names_for(path).join(",")
}

#[test]
fn every_corpus_policy_parses_without_warnings() {
    for (name, text) in CORPUS {
        let p = Policy::parse(*name, text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!p.paths.is_empty(), "{name}");
        assert!(p.warnings.is_empty(), "{name}: {:?}", p.warnings);
        assert_eq!(p.raw, *text);
    }
    let default = Policy::parse("default", default_policy_text()).unwrap();
    assert!(default.is_templated());
    assert_eq!(default.paths.len(), 17);
}

#[test]
fn admin() {
    let acl = acl("admin");
    let d = acl.check("sys/health", Operation::Read, &Map::new());
    assert!(d.allowed && d.sudo);
    assert_eq!(d.granting_policies, ["admin"]);
    assert!(allowed(&acl, "sys/policies/acl", Operation::List));
    assert!(allowed(&acl, "sys/policies/acl/", Operation::List));
    assert!(allowed(&acl, "sys/policies/acl/dev", Operation::Create));
    assert!(allowed(&acl, "auth/approle/role/x", Operation::Delete));
    assert!(allowed(&acl, "sys/auth/approle", Operation::Create));
    assert!(!allowed(&acl, "sys/auth/approle", Operation::Read));
    assert!(!allowed(&acl, "secret/data/anything", Operation::Patch));
    assert_eq!(caps(&acl, "secret/data/anything"), "create,delete,list,read,sudo,update");
    assert_eq!(caps(&acl, "sys/mounts"), "read");
    assert_eq!(caps(&acl, "sys/seal"), "deny");
    assert!(acl.any_capability_under("secret/"));
    assert!(!acl.any_capability_under("pki/"));
}

#[test]
fn provisioner() {
    let acl = acl("provisioner");
    assert!(allowed(&acl, "sys/policies/acl/team-a", Operation::Update));
    assert!(!allowed(&acl, "sys/policies/acl/admin", Operation::Update));
    assert!(!allowed(&acl, "sys/policies/acl/admin", Operation::Read));
    assert_eq!(caps(&acl, "sys/policies/acl/admin"), "deny");
    assert!(!allowed(&acl, "secret/data/x", Operation::Read));
}

#[test]
fn kv_read_only() {
    let acl = acl("kv-read-only");
    assert!(allowed(&acl, "secret/data/app/db", Operation::Read));
    assert!(!allowed(&acl, "secret/data/app/db", Operation::Update));
    assert!(allowed(&acl, "secret/metadata/app/", Operation::List));
    assert!(
        allowed(&acl, "secret/metadata/", Operation::List),
        "exact rule without the trailing slash"
    );
    assert!(!allowed(&acl, "secret/data", Operation::Read));
    assert!(acl.any_capability_under("secret/"));
}

#[test]
fn approle_app() {
    let acl = acl("approle-app");
    assert!(allowed(&acl, "secret/data/orders/db", Operation::Read));
    assert!(!allowed(&acl, "secret/data/orders/db", Operation::Patch));
    assert!(allowed(&acl, "secret/data/orders/config", Operation::Patch));
    assert!(allowed(&acl, "database/creds/orders-readonly", Operation::Read));
    assert!(!allowed(&acl, "database/creds/admin", Operation::Read));
    assert!(allowed(&acl, "transit/encrypt/orders", Operation::Update));
    assert!(!allowed(&acl, "transit/encrypt/billing", Operation::Update));
}

#[test]
fn pki_issue_only() {
    let acl = acl("pki-issue");
    let issue = |p: Value| acl.check("pki/issue/web", Operation::Update, &params(p)).allowed;
    assert!(issue(json!({"common_name": "a.web.example.com", "ttl": "24h"})));
    assert!(issue(json!({"common_name": "web.example.com", "format": "pem"})));
    assert!(!issue(json!({"common_name": "evil.example.com"})));
    assert!(!issue(json!({"common_name": "a.web.example.com", "ip_sans": "10.0.0.1"})));
    assert!(!issue(json!({"common_name": "a.web.example.com", "format": "der"})));
    assert!(!issue(json!({"common_name": "a.web.example.com", "key_usage": "x"})));
    assert!(issue(json!({})), "no data: allowed (the backend rejects it)");
    assert!(!allowed(&acl, "pki/issue/web", Operation::Read));
    assert!(!allowed(&acl, "pki/issue/admin", Operation::Update));
    assert!(!acl.check("pki/revoke", Operation::Update, &Map::new()).allowed);
    assert!(
        acl.check("pki/revoke", Operation::Update, &params(json!({"serial_number": "01:02"})))
            .allowed
    );
    assert!(allowed(&acl, "pki/cert/ca", Operation::Read));
}

#[test]
fn legacy_policy_field() {
    let acl = acl("legacy");
    assert_eq!(caps(&acl, "secret/foo"), "create,delete,list,read,update");
    assert_eq!(caps(&acl, "secret/super-secret"), "deny");
    assert_eq!(caps(&acl, "sys/audit"), "create,delete,list,read,sudo,update");
    assert_eq!(caps(&acl, "sys/mounts"), "list,read");
}

#[test]
fn json_form() {
    let acl = acl("json-form");
    assert!(allowed(&acl, "secret/data/team-a/app", Operation::Create));
    assert!(!allowed(&acl, "secret/data/team-a/locked", Operation::Read));
    assert!(allowed(&acl, "auth/token/lookup-self", Operation::Read));
    let write =
        |p: Value| acl.check("sys/policies/acl/team-a-dev", Operation::Update, &params(p)).allowed;
    assert!(write(json!({"policy": "path \"x\" {}"})));
    assert!(!write(json!({"policy": "x", "cas": 1})));
}

#[test]
fn token_creator_cannot_escalate() {
    let acl = acl("token-creator");
    let create = |p: Value| acl.check("auth/token/create", Operation::Update, &params(p)).allowed;
    assert!(create(json!({"policies": "deployer", "ttl": "1h"})));
    assert!(!create(json!({"policies": "root"})));
    assert!(!create(json!({"policies": "admin-team"})));
    assert!(!create(json!({"no_parent": true})));
    assert!(!create(json!({"period": "24h"})));
    assert!(acl.check("auth/token/create", Operation::Update, &Map::new()).allowed);
}

#[test]
fn per_entity_templates() {
    let p = policy("per-entity");
    assert!(p.is_templated());
    let mut ctx = TemplateContext {
        entity_id: "8d1f".into(),
        entity_name: "alice".into(),
        entity_metadata: HashMap::from([("team".to_owned(), "payments".to_owned())]),
        ..TemplateContext::default()
    };
    ctx.aliases.insert(
        "auth_approle_abc123".into(),
        AliasInfo { name: "orders".into(), ..AliasInfo::default() },
    );
    let acl = Acl::new(&[p.render(&ctx)]);
    assert!(allowed(&acl, "secret/data/users/alice/notes", Operation::Create));
    assert!(!allowed(&acl, "secret/data/users/bob/notes", Operation::Read));
    assert!(allowed(&acl, "secret/metadata/users/alice/", Operation::List));
    assert!(allowed(&acl, "secret/data/teams/payments/key", Operation::Read));
    assert!(allowed(&acl, "auth/approle/role/orders/secret-id", Operation::Update));

    // Without metadata or alias, those rules are dropped; the others stay.
    let bare = TemplateContext {
        entity_id: "1".into(),
        entity_name: "bob".into(),
        ..TemplateContext::default()
    };
    let rendered = p.render(&bare);
    assert_eq!(rendered.paths.len(), 2);
    // Without an entity, nothing is left.
    assert!(p.render(&TemplateContext::default()).paths.is_empty());
    assert!(!allowed(&Acl::new(&[p]), "secret/data/users/alice/notes", Operation::Read));
}

#[test]
fn hcl1_style() {
    let acl = acl("hcl1-style");
    assert!(allowed(&acl, "secret/data/app", Operation::Update));
    let write = |path: &str, p: Value| acl.check(path, Operation::Update, &params(p)).allowed;
    assert!(write("secret/data/app/params", json!({"foo": 1, "bar": "zap"})));
    assert!(!write("secret/data/app/params", json!({"bar": "nope"})));
    assert!(write("secret/data/app/blocks", json!({"color": "red"})));
    assert!(!write("secret/data/app/blocks", json!({"color": "red", "admin": true})));
    assert!(allowed(&acl, "secret/data/one", Operation::Read));
    assert!(allowed(&acl, "secret/data/two", Operation::List));
}

#[test]
fn ci_deployer_segment_wildcards_and_wrapping() {
    let acl = acl("ci-deployer");
    assert!(allowed(&acl, "secret/data/staging/ci/token", Operation::Read));
    assert!(allowed(&acl, "secret/data/dev/ci/a/b", Operation::Read));
    // `secret/data/prod/*` has its glob later than the `+`, so it wins: denied.
    assert!(!allowed(&acl, "secret/data/prod/ci/token", Operation::Read));
    assert!(!allowed(&acl, "secret/data/staging/app/token", Operation::Read));
    assert!(allowed(&acl, "secret/metadata/dev/ci/", Operation::List));
    assert!(allowed(&acl, "kubernetes/eu-1/creds/deployer", Operation::Update));
    assert!(acl.any_capability_under("kubernetes/"));

    let wrap = |path: &'static str, wrap_ttl| {
        let p = Map::new();
        acl.check_request(&AclRequest { path, operation: Operation::Update, params: &p, wrap_ttl })
            .allowed
    };
    assert!(!wrap("sys/wrapping/wrap", None));
    assert!(!wrap("sys/wrapping/wrap", Some(10)));
    assert!(wrap("sys/wrapping/wrap", Some(60)));
    assert!(!wrap("sys/wrapping/wrap", Some(600)));
    let read = |wrap_ttl| {
        let p = Map::new();
        acl.check_request(&AclRequest {
            path: "sys/wrapped-only/x",
            operation: Operation::Read,
            params: &p,
            wrap_ttl,
        })
        .allowed
    };
    assert!(!read(None));
    assert!(read(Some(300)));
    assert!(!read(Some(301)));
}

#[test]
fn several_policies_on_one_token() {
    let acl = Acl::new(&[policy("kv-read-only"), policy("approle-app"), policy("legacy")]);
    // kv-read-only's secret/data/* and legacy's secret/* are different patterns; the longer
    // prefix wins for secret/data/...
    assert_eq!(caps(&acl, "secret/data/x"), "read");
    assert_eq!(caps(&acl, "secret/other"), "create,delete,list,read,update");
    let d = acl.check("secret/data/orders/config", Operation::Update, &Map::new());
    assert!(d.allowed);
    assert_eq!(d.granting_policies, ["approle-app"]);
    assert_eq!(caps(&acl, "secret/super-secret"), "deny");
}
