//! `roles/:name` (read, write, patch, delete) and `roles/` (list). Writes answer 200 with the
//! whole role, as Vault does.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router};
use coffer_types::{Error, Map, Operation, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::PkiState;
use crate::issuing::{parse_ext_key_usage, parse_key_usage};
use crate::keys::KeySpec;
use crate::model;

/// A role: which certificates `issue/` and `sign/` may produce.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
#[allow(missing_docs)]
pub(crate) struct Role {
    pub issuer_ref: String,
    pub ttl: i64,
    pub max_ttl: i64,
    pub allow_localhost: bool,
    pub allowed_domains: Vec<String>,
    pub allowed_domains_template: bool,
    pub allow_bare_domains: bool,
    pub allow_subdomains: bool,
    pub allow_glob_domains: bool,
    pub allow_wildcard_certificates: bool,
    pub allow_any_name: bool,
    pub enforce_hostnames: bool,
    pub allow_ip_sans: bool,
    pub allowed_ip_sans_cidr: Vec<String>,
    pub allowed_uri_sans: Vec<String>,
    pub allowed_uri_sans_template: bool,
    pub allowed_other_sans: Vec<String>,
    pub allowed_serial_numbers: Vec<String>,
    pub allowed_user_ids: Vec<String>,
    pub allow_token_displayname: bool,
    pub server_flag: bool,
    pub client_flag: bool,
    pub code_signing_flag: bool,
    pub email_protection_flag: bool,
    pub key_type: String,
    pub key_bits: i64,
    pub signature_bits: i64,
    pub use_pss: bool,
    pub key_usage: Vec<String>,
    pub ext_key_usage: Vec<String>,
    pub ext_key_usage_oids: Vec<String>,
    pub use_csr_common_name: bool,
    pub use_csr_sans: bool,
    pub ou: Vec<String>,
    pub organization: Vec<String>,
    pub country: Vec<String>,
    pub locality: Vec<String>,
    pub province: Vec<String>,
    pub street_address: Vec<String>,
    pub postal_code: Vec<String>,
    pub generate_lease: bool,
    pub no_store: bool,
    pub require_cn: bool,
    pub policy_identifiers: Vec<String>,
    pub basic_constraints_valid_for_non_ca: bool,
    pub not_before_duration: i64,
    pub not_after: String,
    pub not_before: String,
    pub not_before_bound: String,
    pub not_after_bound: String,
    pub allow_globs_in_identity_templates: bool,
    pub cn_validations: Vec<String>,
}

impl Default for Role {
    fn default() -> Self {
        Role {
            issuer_ref: "default".into(),
            ttl: 0,
            max_ttl: 0,
            allow_localhost: true,
            allowed_domains: Vec::new(),
            allowed_domains_template: false,
            allow_bare_domains: false,
            allow_subdomains: false,
            allow_glob_domains: false,
            allow_wildcard_certificates: true,
            allow_any_name: false,
            enforce_hostnames: true,
            allow_ip_sans: true,
            allowed_ip_sans_cidr: Vec::new(),
            allowed_uri_sans: Vec::new(),
            allowed_uri_sans_template: false,
            allowed_other_sans: Vec::new(),
            allowed_serial_numbers: Vec::new(),
            allowed_user_ids: Vec::new(),
            allow_token_displayname: false,
            server_flag: true,
            client_flag: true,
            code_signing_flag: false,
            email_protection_flag: false,
            key_type: "rsa".into(),
            key_bits: 2048,
            signature_bits: 0,
            use_pss: false,
            key_usage: vec![
                "DigitalSignature".into(),
                "KeyAgreement".into(),
                "KeyEncipherment".into(),
            ],
            ext_key_usage: Vec::new(),
            ext_key_usage_oids: Vec::new(),
            use_csr_common_name: true,
            use_csr_sans: true,
            ou: Vec::new(),
            organization: Vec::new(),
            country: Vec::new(),
            locality: Vec::new(),
            province: Vec::new(),
            street_address: Vec::new(),
            postal_code: Vec::new(),
            generate_lease: false,
            no_store: false,
            require_cn: true,
            policy_identifiers: Vec::new(),
            basic_constraints_valid_for_non_ca: false,
            not_before_duration: 30,
            not_after: String::new(),
            not_before: String::new(),
            not_before_bound: "permit".into(),
            not_after_bound: "permit".into(),
            allow_globs_in_identity_templates: false,
            cn_validations: vec!["email".into(), "hostname".into()],
        }
    }
}

/// The role's fields as (name, kind); the single list the route declares and the update
/// code walks.
const BOOLS: &[&str] = &[
    "allow_localhost",
    "allowed_domains_template",
    "allow_bare_domains",
    "allow_subdomains",
    "allow_glob_domains",
    "allow_wildcard_certificates",
    "allow_any_name",
    "enforce_hostnames",
    "allow_ip_sans",
    "allowed_uri_sans_template",
    "allow_token_displayname",
    "server_flag",
    "client_flag",
    "code_signing_flag",
    "email_protection_flag",
    "use_pss",
    "use_csr_common_name",
    "use_csr_sans",
    "generate_lease",
    "no_store",
    "require_cn",
    "basic_constraints_valid_for_non_ca",
    "allow_globs_in_identity_templates",
];
const LISTS: &[&str] = &[
    "allowed_domains",
    "allowed_ip_sans_cidr",
    "allowed_uri_sans",
    "allowed_other_sans",
    "allowed_serial_numbers",
    "allowed_user_ids",
    "key_usage",
    "ext_key_usage",
    "ext_key_usage_oids",
    "ou",
    "organization",
    "country",
    "locality",
    "province",
    "street_address",
    "postal_code",
    "policy_identifiers",
    "cn_validations",
];
const DURATIONS: &[&str] = &["ttl", "max_ttl", "not_before_duration"];
const INTS: &[&str] = &["key_bits", "signature_bits"];
const STRINGS: &[&str] =
    &["issuer_ref", "key_type", "not_after", "not_before", "not_before_bound", "not_after_bound"];

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    let mut path = Path::new("roles/{name}");
    for name in BOOLS {
        path = path.field(Field::bool(name));
    }
    for name in LISTS {
        path = path.field(Field::list(name));
    }
    for name in DURATIONS {
        path = path.field(Field::duration(name));
    }
    for name in INTS {
        path = path.field(Field::int(name));
    }
    for name in STRINGS {
        path = path.field(Field::string(name));
    }
    // Older clients send these; accepted and ignored.
    path = path
        .field(Field::any("allow_expiration_after_ca"))
        .field(Field::any("lease"))
        .field(Field::any("lease_max"));
    router
        .path(
            path.read(read_role).write(write_role).patch(write_role).delete(delete_role).existence(
                |_s: Arc<PkiState>, req: Req| async move {
                    Ok(req.storage().get(&role_key(req.capture("name"))).await?.is_some())
                },
            ),
        )
        .path(Path::new("roles/").list(list_roles))
}

fn role_key(name: &str) -> String {
    format!("role/{name}")
}

/// Loads a role; 400 `unknown role: x` when absent.
pub(crate) async fn load_role(req: &Req, name: &str) -> Result<Role> {
    model::get(req.storage(), &role_key(name))
        .await?
        .ok_or_else(|| Error::invalid(format!("unknown role: {name}")))
}

impl Role {
    /// The role as the API shows it.
    pub(crate) fn to_json(&self) -> Map {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// Applies the fields the request sent.
    fn apply(&mut self, req: &Req) -> Result<()> {
        let mut value = serde_json::to_value(&*self).map_err(|e| Error::internal(e.to_string()))?;
        let Some(map) = value.as_object_mut() else {
            return Err(Error::internal("role is not an object"));
        };
        for name in BOOLS.iter().filter(|n| req.has(n)) {
            map.insert((*name).into(), json!(req.bool(name)?));
        }
        for name in LISTS.iter().filter(|n| req.has(n)) {
            map.insert((*name).into(), json!(req.list(name)?));
        }
        for name in DURATIONS.iter().chain(INTS).filter(|n| req.has(n)) {
            let v = if DURATIONS.contains(name) { req.duration(name)? } else { req.int(name)? };
            map.insert((*name).into(), json!(v));
        }
        for name in STRINGS.iter().filter(|n| req.has(n)) {
            map.insert((*name).into(), json!(req.str(name)?.trim()));
        }
        *self = serde_json::from_value(value).map_err(|e| Error::internal(e.to_string()))?;
        Ok(())
    }

    /// Checks and normalises the role: key type and size, TTLs, usages.
    fn validate(&mut self, key_bits_given: bool) -> Result<()> {
        self.key_type = self.key_type.to_ascii_lowercase();
        if self.key_type.is_empty() {
            self.key_type = "rsa".into();
        }
        if self.key_type == "any" {
            if !key_bits_given {
                self.key_bits = 0;
            }
        } else {
            let bits = if key_bits_given { self.key_bits } else { 0 };
            let spec = KeySpec::parse(&self.key_type, bits)?;
            self.key_bits = i64::from(spec.bits);
        }
        if !matches!(self.signature_bits, 0 | 256 | 384 | 512) {
            return Err(Error::invalid(format!(
                "unsupported signature_bits: {}",
                self.signature_bits
            )));
        }
        if self.ttl < 0 || self.max_ttl < 0 {
            return Err(Error::invalid("ttl and max_ttl must not be negative"));
        }
        if self.max_ttl > 0 && self.ttl > self.max_ttl {
            return Err(Error::invalid("\"ttl\" value must be less than \"max_ttl\" value"));
        }
        if self.not_before_duration < 0 {
            return Err(Error::invalid("not_before_duration must not be negative"));
        }
        if !self.not_after.is_empty() {
            crate::certutil::parse_rfc3339(&self.not_after)?;
        }
        parse_key_usage(&self.key_usage)?;
        parse_ext_key_usage(&self.ext_key_usage, &self.ext_key_usage_oids)?;
        for v in &self.cn_validations {
            if !matches!(v.as_str(), "email" | "hostname" | "disabled") {
                return Err(Error::invalid(format!("unknown cn_validations value: {v}")));
            }
        }
        if self.issuer_ref.is_empty() {
            self.issuer_ref = "default".into();
        }
        Ok(())
    }
}

async fn read_role(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let role: Option<Role> = model::get(req.storage(), &role_key(req.capture("name"))).await?;
    Ok(role.map(|r| Response::data(r.to_json())))
}

async fn write_role(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let name = req.capture("name");
    let existing: Option<Role> = model::get(req.storage(), &role_key(name)).await?;
    let mut role = match (req.operation(), existing) {
        (Operation::Patch, Some(role)) => role,
        (Operation::Patch, None) => return Err(Error::NotFound),
        _ => Role::default(),
    };
    let key_type_before = role.key_type.clone();
    role.apply(&req)?;
    let key_bits_given = req.has("key_bits")
        || (req.operation() == Operation::Patch && role.key_type == key_type_before);
    role.validate(key_bits_given)?;
    model::put(req.storage(), &role_key(name), &role).await?;
    let mut response = Response::data(role.to_json());
    if role.key_type != "any" && role.use_pss && role.key_type != "rsa" {
        response.warnings.push("use_pss has no effect for non-RSA keys".into());
    }
    if role.generate_lease {
        response.warnings.push(
            "it is encouraged to disable generate_lease and rely on PKI's native capabilities when possible; \
             this option can cause instance-wide issues with large numbers of issued certificates"
                .into(),
        );
    }
    Ok(Some(response))
}

async fn delete_role(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&role_key(req.capture("name"))).await?;
    Ok(None)
}

async fn list_roles(_s: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let keys = req.storage().list("role/").await?;
    Ok(Some(Response::json(json!({ "keys": keys }))))
}
