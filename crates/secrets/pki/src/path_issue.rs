//! Issuing leaves: `issue/:role` (the server makes the key), `sign/:role` (the client's CSR)
//! and `sign-verbatim[/:role]`, each also under `issuer/:ref/`.

use std::sync::Arc;

use coffer_framework::{Field, Path, Req, Router, SecretRequest, glob};
use coffer_types::{Error, Map, Response, Result, SecretLease, unix_now};
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::{Value, json};

use crate::PkiState;
use crate::cache::IssuingContext;
use crate::certutil::{CertInfo, serial_colon};
use crate::issuers::SigningIssuer;
use crate::issuing::{
    PastIssuer, Sans, SignedLeaf, Subject, Template, TtlInput, parse_ext_key_usage,
    parse_key_usage, ttl_input, usages_for_key, validity,
};
use crate::keys::{KeyFormat, KeySpec, KeyType, PrivateKey};
use crate::names;
use crate::output::Format;
use crate::path_intermediate::{Csr, parse_csr};
use crate::path_roles::Role;
use crate::path_root::{add_cn_to_sans, store_cert};

fn leaf_fields(path: Path<PkiState>) -> Path<PkiState> {
    let strings = [
        "common_name",
        "not_after",
        "format",
        "private_key_format",
        "key_type",
        "csr",
        "serial_number",
        "issuer_ref",
    ];
    let lists = [
        "alt_names",
        "ip_sans",
        "uri_sans",
        "other_sans",
        "user_ids",
        "key_usage",
        "ext_key_usage",
        "ext_key_usage_oids",
    ];
    let mut path = path;
    for name in strings {
        path = path.field(Field::string(name));
    }
    for name in lists {
        path = path.field(Field::list(name));
    }
    path.field(Field::duration("ttl"))
        .field(Field::int("key_bits"))
        .field(Field::int("signature_bits"))
        .field(Field::bool("exclude_cn_from_sans"))
        .field(Field::bool("remove_roots_from_chain"))
        .field(Field::bool("use_pss"))
        .field(Field::bool("basic_constraints_valid_for_non_ca"))
        .field(Field::string("not_before"))
}

pub(crate) fn routes(router: Router<PkiState>) -> Router<PkiState> {
    router
        .path(leaf_fields(Path::new("issue/{role}")).write(issue))
        .path(leaf_fields(Path::new("issuer/{ref}/issue/{role}")).write(issue))
        .path(leaf_fields(Path::new("sign/{role}")).write(sign))
        .path(leaf_fields(Path::new("issuer/{ref}/sign/{role}")).write(sign))
        .path(leaf_fields(Path::new("sign-verbatim")).write(sign_verbatim))
        .path(leaf_fields(Path::new("sign-verbatim/{role}")).write(sign_verbatim))
        .path(leaf_fields(Path::new("issuer/{ref}/sign-verbatim")).write(sign_verbatim))
        .path(leaf_fields(Path::new("issuer/{ref}/sign-verbatim/{role}")).write(sign_verbatim))
        .secret(renew_lease, revoke_lease)
}

/// The issuer a role path uses: `issuer/:ref/...` wins over the role's `issuer_ref`.
fn issuer_for(req: &Req, role: &Role) -> String {
    let captured = req.capture("ref");
    if captured.is_empty() { role.issuer_ref.clone() } else { captured.to_string() }
}

/// The key a role's `issue` generates.
fn issue_key_spec(req: &Req, role: &Role) -> Result<KeySpec> {
    if role.key_type == "any" {
        if !req.has("key_type") && !req.has("key_bits") {
            return Err(Error::invalid(
                "role key type \"any\" not allowed for issuing certificates without providing key_type and/or key_bits request parameters",
            ));
        }
        let key_type = req.str("key_type")?;
        return KeySpec::parse(
            if key_type.is_empty() { "rsa" } else { &key_type },
            req.int("key_bits")?,
        );
    }
    KeySpec::parse(&role.key_type, role.key_bits)
}

/// Checks a CSR's key against the role's `key_type` and `key_bits`.
fn check_csr_key(role: &Role, key: KeySpec) -> Result<()> {
    if key.kind == KeyType::Rsa && key.bits < 2048 {
        return Err(Error::invalid(format!(
            "RSA keys below 2048 bits are not allowed, got {}",
            key.bits
        )));
    }
    if role.key_type == "any" {
        return Ok(());
    }
    if key.kind.as_str() != role.key_type {
        return Err(Error::invalid(format!("role requires keys of type {}", role.key_type)));
    }
    let wanted = u32::try_from(role.key_bits).unwrap_or(0);
    match key.kind {
        KeyType::Rsa if wanted > 0 && key.bits < wanted => Err(Error::invalid(format!(
            "role requires a minimum of {wanted}-bit RSA keys, got {}",
            key.bits
        ))),
        KeyType::Ec if wanted > 0 && key.bits != wanted => {
            Err(Error::invalid(format!("role requires {wanted}-bit EC keys, got {}", key.bits)))
        }
        _ => Ok(()),
    }
}

/// Validates a leaf request against its role and builds the template (names, validity,
/// usages, URLs). `csr` is the client's request for `sign/`.
fn plan_leaf(
    req: &Req,
    role: &Role,
    context: &IssuingContext,
    key: KeySpec,
    csr: Option<&Csr>,
) -> Result<(Template, Vec<String>)> {
    let issuer = &context.issuer;
    let mut warnings = Vec::new();
    let display_name = req.inner.caller.display_name.clone();
    let given_cn = req.str("common_name")?.trim().to_string();
    let cn = match csr {
        Some(csr) if role.use_csr_common_name => {
            if !given_cn.is_empty() {
                warnings.push(
                    "the common_name field was provided but the role is set with \"use_csr_common_name\" set to true".into(),
                );
            }
            csr.subject.common_name.clone()
        }
        _ => given_cn,
    };
    if cn.is_empty() && role.require_cn {
        return Err(Error::invalid(
            "the common_name field is required, or must be provided in a CSR with \"use_csr_common_name\" set to true, unless \"require_cn\" is set to false",
        ));
    }
    let mut sans = match csr {
        Some(csr) if role.use_csr_sans => {
            if !req.list("alt_names")?.is_empty() {
                warnings.push(
                    "the alt_names field was provided but the role is set with \"use_csr_sans\" set to true".into(),
                );
            }
            let mut sans = csr.sans.clone();
            sans.other = Sans::from_req(req)?.other;
            sans
        }
        _ => Sans::from_req(req)?,
    };
    add_cn_to_sans(&mut sans, &cn, req.bool("exclude_cn_from_sans")?);
    names::check_common_name(role, &cn, &display_name)?;
    names::check_alt_names(role, sans.dns.iter().chain(sans.email.iter()), &display_name)?;
    names::check_ips(role, &sans.ip)?;
    names::check_uris(role, &sans.uri)?;
    names::check_other_sans(role, &sans.other)?;
    let serial_number = req.str("serial_number")?;
    if !serial_number.is_empty()
        && !role.allowed_serial_numbers.is_empty()
        && !role.allowed_serial_numbers.iter().any(|p| glob::matches(p, &serial_number))
    {
        return Err(Error::invalid(format!(
            "serial_number {serial_number} not allowed by this role"
        )));
    }
    let user_ids = req.list("user_ids")?;
    for id in &user_ids {
        if !role.allowed_user_ids.iter().any(|p| p == "*" || glob::matches(p, id)) {
            return Err(Error::invalid(format!("user_id {id} not allowed by this role")));
        }
    }
    let subject = Subject {
        common_name: cn,
        country: role.country.clone(),
        province: role.province.clone(),
        locality: role.locality.clone(),
        street_address: role.street_address.clone(),
        postal_code: role.postal_code.clone(),
        organization: role.organization.clone(),
        ou: role.ou.clone(),
        serial_number,
        user_id: user_ids.into_iter().next().unwrap_or_default(),
    };
    let mut ttl = TtlInput {
        role_ttl: role.ttl,
        role_max: role.max_ttl,
        backdate: role.not_before_duration,
        ..ttl_input(req)?
    };
    if ttl.not_after == 0 && !role.not_after.is_empty() {
        ttl.not_after = crate::certutil::parse_rfc3339(&role.not_after)?;
    }
    let window =
        validity(unix_now(), ttl, Some(issuer.cert.not_after), PastIssuer::of(&issuer.entry))?;
    warnings.extend(window.warnings);
    let mut eku = Vec::new();
    for (flag, purpose) in [
        (role.server_flag, ExtendedKeyUsagePurpose::ServerAuth),
        (role.client_flag, ExtendedKeyUsagePurpose::ClientAuth),
        (role.code_signing_flag, ExtendedKeyUsagePurpose::CodeSigning),
        (role.email_protection_flag, ExtendedKeyUsagePurpose::EmailProtection),
    ] {
        if flag {
            eku.push(purpose);
        }
    }
    for purpose in parse_ext_key_usage(&role.ext_key_usage, &role.ext_key_usage_oids)? {
        if !eku.contains(&purpose) {
            eku.push(purpose);
        }
    }
    let template = Template {
        subject,
        sans,
        not_before: window.not_before,
        not_after: window.not_after,
        leaf_basic_constraints: role.basic_constraints_valid_for_non_ca,
        key_usage: usages_for_key(parse_key_usage(&role.key_usage)?, key.kind),
        ext_key_usage: eku,
        urls: context.urls.clone(),
        policy_identifiers: role.policy_identifiers.clone(),
        ..Default::default()
    };
    Ok((template, warnings))
}

async fn issue(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let role = state.cache.role(&req, req.capture("role")).await?;
    let format = Format::parse(&req.str("format")?)?;
    let key_format = KeyFormat::parse(&req.str("private_key_format")?)?;
    let spec = issue_key_spec(&req, &role)?;
    let context = state.cache.issuing(&req, &issuer_for(&req, &role)).await?;
    let (template, warnings) = plan_leaf(&req, &role, &context, spec, None)?;
    let key = PrivateKey::generate(spec).await?;
    let leaf = template.sign_leaf(&key.public_key()?, &context.issuer, role.signature_bits)?;
    let key = Some((&key, key_format));
    finish(&req, Some(&role), &context.issuer, &leaf, key, format, warnings).await
}

async fn sign(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let role = state.cache.role(&req, req.capture("role")).await?;
    let format = Format::parse(&req.str("format")?)?;
    let csr_text = req.str("csr")?;
    if csr_text.trim().is_empty() {
        return Err(Error::invalid("\"csr\" is empty"));
    }
    let csr = parse_csr(&csr_text)?;
    check_csr_key(&role, csr.key)?;
    let context = state.cache.issuing(&req, &issuer_for(&req, &role)).await?;
    let (template, warnings) = plan_leaf(&req, &role, &context, csr.key, Some(&csr))?;
    let leaf = template.sign_leaf(&csr.public_key, &context.issuer, role.signature_bits)?;
    finish(&req, Some(&role), &context.issuer, &leaf, None, format, warnings).await
}

async fn sign_verbatim(state: Arc<PkiState>, req: Req) -> Result<Option<Response>> {
    let role_name = req.capture("role").to_string();
    let role =
        if role_name.is_empty() { None } else { Some(state.cache.role(&req, &role_name).await?) };
    let format = Format::parse(&req.str("format")?)?;
    let csr_text = req.str("csr")?;
    if csr_text.trim().is_empty() {
        return Err(Error::invalid("\"csr\" is empty"));
    }
    let csr = parse_csr(&csr_text)?;
    if csr.requests_ca {
        return Err(Error::invalid(
            "refusing to sign a CSR that asks for a CA certificate; use sign-intermediate",
        ));
    }
    let reference = match (&role, req.capture("ref")) {
        (_, r) if !r.is_empty() => r.to_string(),
        (Some(role), _) => role.issuer_ref.clone(),
        (None, _) => "default".into(),
    };
    let context = state.cache.issuing(&req, &reference).await?;
    let issuer = &context.issuer;
    let defaults = Role::default();
    let role_view =
        role.as_deref().cloned().unwrap_or_else(|| Role { ttl: 0, max_ttl: 0, ..defaults.clone() });
    let ttl = TtlInput {
        role_ttl: role_view.ttl,
        role_max: role_view.max_ttl,
        backdate: role_view.not_before_duration,
        ..ttl_input(&req)?
    };
    let window =
        validity(unix_now(), ttl, Some(issuer.cert.not_after), PastIssuer::of(&issuer.entry))?;
    let key_usage =
        if req.has("key_usage") { req.list("key_usage")? } else { defaults.key_usage.clone() };
    let template = Template {
        subject: csr.subject.clone(),
        sans: csr.sans.clone(),
        not_before: window.not_before,
        not_after: window.not_after,
        leaf_basic_constraints: req.bool("basic_constraints_valid_for_non_ca")?,
        key_usage: usages_for_key(parse_key_usage(&key_usage)?, csr.key.kind),
        ext_key_usage: parse_ext_key_usage(
            &req.list("ext_key_usage")?,
            &req.list("ext_key_usage_oids")?,
        )?,
        urls: context.urls.clone(),
        ..Default::default()
    };
    let leaf = template.sign_leaf(&csr.public_key, issuer, req.int("signature_bits")?)?;
    finish(&req, role.as_deref(), issuer, &leaf, None, format, window.warnings).await
}

/// Stores the certificate (unless `no_store`) and builds the response.
async fn finish(
    req: &Req,
    role: Option<&Role>,
    issuer: &SigningIssuer,
    leaf: &SignedLeaf,
    key: Option<(&PrivateKey, KeyFormat)>,
    format: Format,
    warnings: Vec<String>,
) -> Result<Option<Response>> {
    let no_store = role.is_some_and(|r| r.no_store);
    if !no_store {
        store_cert(req, &leaf.der, &leaf.serial, leaf.not_after, &issuer.entry.id).await?;
    }
    let serial = serial_colon(&leaf.serial);
    let mut chain: Vec<String> = issuer.entry.ca_chain.clone();
    if req.bool("remove_roots_from_chain")? {
        chain.retain(|pem| CertInfo::from_pem(pem).map(|c| !c.self_issued()).unwrap_or(true));
    }
    let issuing_ca = format.cert_pem(&issuer.entry.certificate);
    let mut data = Map::new();
    let mut certificate = format.cert(&leaf.der);
    if let Some((key, key_format)) = key {
        let private_key = format.key(key, key_format)?;
        if format == Format::PemBundle {
            certificate = format!("{private_key}\n{certificate}\n{issuing_ca}");
        }
        data.insert("private_key".into(), json!(private_key));
        data.insert("private_key_type".into(), json!(key.spec.kind.as_str()));
    } else if format == Format::PemBundle {
        certificate = format!("{certificate}\n{issuing_ca}");
    }
    data.insert("certificate".into(), json!(certificate));
    data.insert("issuing_ca".into(), json!(issuing_ca));
    data.insert(
        "ca_chain".into(),
        json!(chain.iter().map(|c| format.cert_pem(c)).collect::<Vec<_>>()),
    );
    data.insert("expiration".into(), json!(leaf.not_after));
    data.insert("not_before".into(), json!(leaf.not_before));
    data.insert("serial_number".into(), json!(serial));
    let mut response = Response::data(data);
    response.warnings = warnings;
    if role.is_some_and(|r| r.generate_lease && !r.no_store) {
        let mut internal = Map::new();
        internal.insert("serial_number".into(), Value::String(serial.clone()));
        let ttl = (leaf.not_after - unix_now()).max(1);
        response.secret = Some(SecretLease { ttl, max_ttl: ttl, renewable: false, internal });
    }
    Ok(Some(response))
}

async fn renew_lease(_state: Arc<PkiState>, _req: SecretRequest) -> Result<SecretLease> {
    Err(Error::invalid("lease is not renewable"))
}

/// Revoking a certificate's lease revokes the certificate.
async fn revoke_lease(state: Arc<PkiState>, req: SecretRequest) -> Result<()> {
    let serial =
        req.internal.get("serial_number").and_then(Value::as_str).unwrap_or_default().to_string();
    if serial.is_empty() {
        return Ok(());
    }
    crate::path_revoke::revoke_serial(&state, &req.storage, &serial, true).await.map(drop)
}
