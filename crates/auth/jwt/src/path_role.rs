//! Roles (`role/`, `role/:name`): which tokens may log in (bound audiences, subject and
//! claims), which claim names the user, what metadata is copied from claims, the leeways,
//! and the settings of the issued Coffer tokens. `role_type` defaults to `oidc`, as in Vault:
//! JWT clients must say `jwt`.

use std::sync::Arc;

use coffer_framework::token_fields::{self, TokenFields, sorted};
use coffer_framework::{Field, LegacyNames, Path, Req, Router, read_json};
use coffer_types::{Error, Map, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::claims;
use crate::state::JwtState;
use crate::validate::Leeways;

/// The legacy names of token settings a role accepts and, once used, echoes on reads.
const LEGACY: &[&str] = &["policies", "ttl", "max_ttl", "period", "num_uses", "bound_cidrs"];

/// A stored role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Role {
    pub(crate) role_type: String,
    pub(crate) user_claim: String,
    pub(crate) user_claim_json_pointer: bool,
    pub(crate) groups_claim: String,
    pub(crate) bound_audiences: Vec<String>,
    pub(crate) bound_subject: String,
    pub(crate) bound_claims_type: String,
    pub(crate) bound_claims: Map,
    pub(crate) claim_mappings: Map,
    pub(crate) clock_skew_leeway: i64,
    pub(crate) expiration_leeway: i64,
    pub(crate) not_before_leeway: i64,
    pub(crate) allowed_redirect_uris: Vec<String>,
    pub(crate) oidc_scopes: Vec<String>,
    pub(crate) callback_mode: String,
    pub(crate) max_age: i64,
    pub(crate) verbose_oidc_logging: bool,
    pub(crate) oidc_disable_confirmation: bool,
    pub(crate) oauth2_metadata: Vec<String>,
    pub(crate) token_policies_template_claims: bool,
    pub(crate) token: TokenFields,
    /// Legacy names used to set token settings, echoed on reads.
    pub(crate) legacy: LegacyNames,
}

/// A list as the reference reads it back: `null` when empty.
fn list_or_null(list: &[String]) -> Value {
    if list.is_empty() { Value::Null } else { json!(list) }
}

/// A map as the reference reads it back: `null` when empty.
fn map_or_null(map: &Map) -> Value {
    if map.is_empty() { Value::Null } else { Value::Object(map.clone()) }
}

impl Role {
    /// The leeways as configured.
    pub(crate) fn leeways(&self) -> Leeways {
        Leeways {
            clock_skew: self.clock_skew_leeway,
            expiration: self.expiration_leeway,
            not_before: self.not_before_leeway,
        }
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        let entries = [
            ("allowed_redirect_uris", list_or_null(&self.allowed_redirect_uris)),
            ("bound_audiences", json!(self.bound_audiences)),
            ("bound_claims", map_or_null(&self.bound_claims)),
            ("bound_claims_type", json!(self.bound_claims_type)),
            ("bound_subject", json!(self.bound_subject)),
            ("callback_mode", json!(self.callback_mode)),
            ("claim_mappings", map_or_null(&self.claim_mappings)),
            ("clock_skew_leeway", json!(self.clock_skew_leeway)),
            ("expiration_leeway", json!(self.expiration_leeway)),
            ("groups_claim", json!(self.groups_claim)),
            ("max_age", json!(self.max_age)),
            ("not_before_leeway", json!(self.not_before_leeway)),
            ("oauth2_metadata", list_or_null(&self.oauth2_metadata)),
            ("oidc_disable_confirmation", json!(self.oidc_disable_confirmation)),
            ("oidc_scopes", list_or_null(&self.oidc_scopes)),
            ("role_type", json!(self.role_type)),
            ("token_policies_template_claims", json!(self.token_policies_template_claims)),
            ("user_claim", json!(self.user_claim)),
            ("user_claim_json_pointer", json!(self.user_claim_json_pointer)),
            ("verbose_oidc_logging", json!(self.verbose_oidc_logging)),
        ];
        for (key, value) in entries {
            out.insert(key.to_string(), value);
        }
        self.token.write_json(&mut out);
        self.legacy.echo(&self.token, &mut out);
        Value::Object(sorted(out))
    }
}

fn role_key(name: &str) -> String {
    format!("role/{}", name.to_lowercase())
}

/// Loads a role by name (case-insensitive).
pub(crate) async fn load(req: &Req, name: &str) -> Result<Option<Role>> {
    read_json(req.storage(), &role_key(name)).await
}

pub(crate) fn routes(router: Router<JwtState>) -> Router<JwtState> {
    let mut role = token_fields::declare(Path::new("role/{name}"))
        .field(Field::string("role_type").describe("jwt or oidc (the default)."))
        .field(Field::string("user_claim").describe("Claim naming the user (required)."))
        .field(Field::bool("user_claim_json_pointer"))
        .field(Field::string("groups_claim"))
        .field(Field::list("bound_audiences").describe("aud must contain one of these."))
        .field(Field::string("bound_subject").describe("Required sub claim."))
        .field(Field::string("bound_claims_type").describe("string (the default) or glob."))
        .field(Field::any("bound_claims").describe("Map of claim to required value(s)."))
        .field(Field::map("claim_mappings").describe("Map of claim to metadata key."))
        .field(Field::duration("clock_skew_leeway"))
        .field(Field::duration("expiration_leeway"))
        .field(Field::duration("not_before_leeway"))
        .field(Field::list("allowed_redirect_uris"))
        .field(Field::list("oidc_scopes"))
        .field(Field::string("callback_mode"))
        .field(Field::duration("max_age"))
        .field(Field::bool("verbose_oidc_logging"))
        .field(Field::bool("oidc_disable_confirmation"))
        .field(Field::list("oauth2_metadata"))
        .field(Field::int("poll_interval"))
        .field(Field::bool("token_policies_template_claims"));
    for legacy in ["ttl", "max_ttl", "num_uses", "bound_cidrs"] {
        role = role.field(Field::any(legacy).describe("Deprecated: use the token_ field."));
    }
    let role = role.read(read_role).write(write_role).delete(delete_role).existence(
        |_s: Arc<JwtState>, req: Req| async move {
            Ok(load(&req, req.capture("name")).await?.is_some())
        },
    );
    router.path(Path::new("role/").list(list_roles)).path(role)
}

async fn list_roles(_s: Arc<JwtState>, req: Req) -> Result<Option<Response>> {
    Ok(Some(Response::json(json!({ "keys": req.storage().list("role/").await? }))))
}

async fn read_role(_s: Arc<JwtState>, req: Req) -> Result<Option<Response>> {
    Ok(load(&req, req.capture("name")).await?.map(|r| Response::json(r.to_json())))
}

async fn delete_role(_s: Arc<JwtState>, req: Req) -> Result<Option<Response>> {
    req.storage().delete(&role_key(req.capture("name"))).await?;
    Ok(None)
}

/// `bound_claims` as sent: a JSON object, or a JSON-encoded object in a string (CLI).
fn bound_claims(req: &Req) -> Result<Map> {
    match req.raw("bound_claims") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Map::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Error::invalid(
                "error converting input for field \"bound_claims\": expected a map",
            )),
        },
        Some(_) => {
            Err(Error::invalid("error converting input for field \"bound_claims\": expected a map"))
        }
    }
}

fn check_claim_mappings(mappings: &Map) -> Result<()> {
    let mut targets = Vec::new();
    for target in mappings.values() {
        let target = target.as_str().unwrap_or_default();
        if target == "role" {
            return Err(Error::invalid(format!(
                "metadata key {target:?} is reserved and may not be a mapping destination"
            )));
        }
        if targets.contains(&target) {
            return Err(Error::invalid(format!(
                "multiple keys are mapped to metadata key {target:?}"
            )));
        }
        targets.push(target);
    }
    Ok(())
}

/// Applies the request to `role` (fields not sent keep their value) and checks the result.
fn apply(role: &mut Role, req: &mut Req, creating: bool) -> Result<()> {
    if req.has("role_type") || creating {
        let kind = req.str("role_type")?.trim().to_lowercase();
        role.role_type = if kind.is_empty() { "oidc".into() } else { kind };
    }
    if !matches!(role.role_type.as_str(), "jwt" | "oidc") {
        return Err(Error::invalid(format!("invalid 'role_type': {}", role.role_type)));
    }
    role.legacy.upgrade(req, LEGACY);
    role.token.update(req)?;
    role.legacy.retain_in_use(&role.token);
    for (name, slot) in [
        ("clock_skew_leeway", &mut role.clock_skew_leeway),
        ("expiration_leeway", &mut role.expiration_leeway),
        ("not_before_leeway", &mut role.not_before_leeway),
        ("max_age", &mut role.max_age),
    ] {
        if req.has(name) {
            *slot = req.duration(name)?;
        }
    }
    for (name, slot) in [
        ("bound_audiences", &mut role.bound_audiences),
        ("allowed_redirect_uris", &mut role.allowed_redirect_uris),
        ("oidc_scopes", &mut role.oidc_scopes),
        ("oauth2_metadata", &mut role.oauth2_metadata),
    ] {
        if req.has(name) {
            *slot = req.list(name)?;
        }
    }
    for (name, slot) in [
        ("bound_subject", &mut role.bound_subject),
        ("user_claim", &mut role.user_claim),
        ("groups_claim", &mut role.groups_claim),
    ] {
        if req.has(name) {
            *slot = req.str(name)?;
        }
    }
    for (name, slot) in [
        ("user_claim_json_pointer", &mut role.user_claim_json_pointer),
        ("verbose_oidc_logging", &mut role.verbose_oidc_logging),
        ("oidc_disable_confirmation", &mut role.oidc_disable_confirmation),
        ("token_policies_template_claims", &mut role.token_policies_template_claims),
    ] {
        if req.has(name) {
            *slot = req.bool(name)?;
        }
    }
    if req.has("bound_claims_type") || role.bound_claims_type.is_empty() {
        let kind = req.str("bound_claims_type")?;
        role.bound_claims_type = if kind.is_empty() { "string".into() } else { kind };
    }
    if !matches!(role.bound_claims_type.as_str(), "string" | "glob") {
        return Err(Error::invalid(format!(
            "invalid 'bound_claims_type': {}",
            role.bound_claims_type
        )));
    }
    if req.has("bound_claims") {
        role.bound_claims = bound_claims(req)?;
    }
    let globs = role.bound_claims_type == "glob";
    if let Some((claim, _)) =
        role.bound_claims.iter().find(|(_, v)| !claims::bound_value_ok(v, globs))
    {
        let what =
            if globs { "a string or list of strings" } else { "a string, bool, int or list" };
        return Err(Error::invalid(format!("bound claim {claim:?} is not {what}")));
    }
    if req.has("claim_mappings") {
        role.claim_mappings = req.map("claim_mappings")?;
        check_claim_mappings(&role.claim_mappings)?;
    }
    if let Some(bad) = role
        .oauth2_metadata
        .iter()
        .find(|m| !matches!(m.as_str(), "id_token" | "refresh_token" | "access_token"))
    {
        return Err(Error::invalid(format!("Unrecognized oauth2 metadata name {bad}")));
    }
    if req.has("callback_mode") || role.callback_mode.is_empty() {
        let mode = req.str("callback_mode")?;
        role.callback_mode = if mode.is_empty() { "client".into() } else { mode };
    }
    if !matches!(role.callback_mode.as_str(), "client" | "direct" | "device") {
        return Err(Error::invalid(format!("invalid 'callback_mode': {}", role.callback_mode)));
    }
    if role.user_claim.is_empty() {
        return Err(Error::invalid("a user claim must be defined on the role"));
    }
    if role.role_type == "oidc" && role.allowed_redirect_uris.is_empty() {
        return Err(Error::invalid(
            "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.",
        ));
    }
    let unbound = role.bound_audiences.is_empty()
        && role.token.bound_cidrs.is_empty()
        && role.bound_subject.is_empty()
        && role.bound_claims.is_empty();
    if role.role_type == "jwt" && unbound {
        return Err(Error::invalid(
            "must have at least one bound constraint when creating/updating a role",
        ));
    }
    Ok(())
}

async fn write_role(_s: Arc<JwtState>, mut req: Req) -> Result<Option<Response>> {
    let name = req.capture("name").to_lowercase();
    let existing = load(&req, &name).await?;
    let creating = existing.is_none();
    let mut role = existing.unwrap_or_default();
    apply(&mut role, &mut req, creating)?;
    let bytes = serde_json::to_vec(&role).map_err(|e| Error::internal(e.to_string()))?;
    req.storage().put(&role_key(&name), &bytes).await?;
    let mut warnings: Vec<String> = Vec::new();
    if role.verbose_oidc_logging {
        warnings
            .push("verbose_oidc_logging has no effect: Coffer never logs tokens or claims".into());
    }
    Ok((!warnings.is_empty()).then(|| Response::warnings_only(warnings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_mapping_targets_are_unique_and_not_reserved() {
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(check_claim_mappings(&m(json!({"email": "mail", "sub": "subject"}))).is_ok());
        assert!(check_claim_mappings(&m(json!({"email": "role"}))).is_err());
        assert!(check_claim_mappings(&m(json!({"a": "x", "b": "x"}))).is_err());
    }

    #[test]
    fn reads_show_every_field() {
        let role = Role { role_type: "jwt".into(), user_claim: "sub".into(), ..Role::default() };
        let json = role.to_json();
        for key in ["role_type", "user_claim", "bound_claims", "clock_skew_leeway", "token_ttl"] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
    }
}
