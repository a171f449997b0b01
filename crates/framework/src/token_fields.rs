//! The `token_*` settings an auth method's role carries into the tokens it issues, with
//! Vault's legacy aliases (`policies` for `token_policies`, `period` for `token_period`).
//!
//! Shared by every auth method, so that they all read and echo these fields alike.

use crate::{Field, Path, Req};
use coffer_types::{Error, Login, Map, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cidr;

/// Legacy parameter names accepted in place of the `token_*` ones: (current, legacy).
const LEGACY: &[(&str, &str)] = &[("token_policies", "policies"), ("token_period", "period")];

/// Token types a role may ask for.
const TOKEN_TYPES: &[&str] = &["default", "service", "batch", "default-service", "default-batch"];

/// The token settings of a role or user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenFields {
    /// Policies of issued tokens (lower-case, sorted, unique).
    pub policies: Vec<String>,
    /// TTL in seconds (0 = the mount's default).
    pub ttl: i64,
    /// Maximum TTL in seconds (0 = the mount's maximum).
    pub max_ttl: i64,
    /// Period in seconds (0 = not periodic).
    pub period: i64,
    /// Hard cap in seconds (0 = none).
    pub explicit_max_ttl: i64,
    /// Uses per token (0 = unlimited).
    pub num_uses: i64,
    /// CIDRs the tokens may be used from, canonical strings.
    pub bound_cidrs: Vec<String>,
    /// Leave out the `default` policy.
    pub no_default_policy: bool,
    /// Bind the token to the login's IP (stored for compatibility, not enforced yet).
    pub strictly_bind_ip: bool,
    /// `default`, `service`, `batch`, `default-service` or `default-batch`.
    pub token_type: String,
}

impl Default for TokenFields {
    fn default() -> Self {
        TokenFields {
            policies: Vec::new(),
            ttl: 0,
            max_ttl: 0,
            period: 0,
            explicit_max_ttl: 0,
            num_uses: 0,
            bound_cidrs: Vec::new(),
            no_default_policy: false,
            strictly_bind_ip: false,
            token_type: "default".into(),
        }
    }
}

/// Declares the token fields (and their legacy aliases) on a route.
pub fn declare<S: Send + Sync + 'static>(path: Path<S>) -> Path<S> {
    path.field(Field::list("token_policies").describe("Policies of the issued tokens."))
        .field(Field::list("policies").describe("Deprecated: use token_policies."))
        .field(Field::duration("token_ttl").describe("TTL of the issued tokens."))
        .field(Field::duration("token_max_ttl").describe("Maximum TTL of the issued tokens."))
        .field(Field::duration("token_period").describe("Period of the issued tokens."))
        .field(Field::duration("period").describe("Deprecated: use token_period."))
        .field(Field::duration("token_explicit_max_ttl").describe("Hard cap of the tokens."))
        .field(Field::int("token_num_uses").describe("Uses of each token, 0 for unlimited."))
        .field(Field::list("token_bound_cidrs").describe("CIDRs the tokens may be used from."))
        .field(Field::bool("token_no_default_policy").describe("Leave out the default policy."))
        .field(Field::bool("token_strictly_bind_ip").describe("Bind tokens to the login IP."))
        .field(Field::string("token_type").describe("service, batch or default."))
}

/// Lower-cases, trims, sorts and de-duplicates policy names, dropping empty ones.
pub fn sanitize_policies(policies: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> =
        policies.into_iter().map(|p| p.trim().to_lowercase()).filter(|p| !p.is_empty()).collect();
    out.sort();
    out.dedup();
    out
}

/// Which parameter carries `name`: itself, its legacy alias, or neither. An error when both
/// are given with different values.
fn source(req: &Req, name: &'static str) -> Result<Option<&'static str>> {
    let legacy = LEGACY.iter().find(|(current, _)| *current == name).map(|(_, old)| *old);
    match (req.has(name), legacy.filter(|old| req.has(old))) {
        (true, Some(old)) if req.data().get(name) != req.data().get(old) => {
            Err(Error::invalid(format!("cannot set both {old:?} and {name:?}")))
        }
        (true, _) => Ok(Some(name)),
        (false, Some(old)) => Ok(Some(old)),
        (false, None) => Ok(None),
    }
}

fn non_negative(name: &str, value: i64) -> Result<i64> {
    if value < 0 {
        return Err(Error::invalid(format!("{name:?} cannot be negative")));
    }
    Ok(value)
}

impl TokenFields {
    /// Applies the fields the request carries, leaving the others as they are, and checks
    /// the result.
    pub fn update(&mut self, req: &Req) -> Result<()> {
        if let Some(name) = source(req, "token_policies")? {
            self.policies = sanitize_policies(req.list(name)?);
        }
        if let Some(name) = source(req, "token_ttl")? {
            self.ttl = non_negative("token_ttl", req.duration(name)?)?;
        }
        if let Some(name) = source(req, "token_max_ttl")? {
            self.max_ttl = non_negative("token_max_ttl", req.duration(name)?)?;
        }
        if let Some(name) = source(req, "token_period")? {
            self.period = non_negative("token_period", req.duration(name)?)?;
        }
        if let Some(name) = source(req, "token_explicit_max_ttl")? {
            self.explicit_max_ttl = non_negative("token_explicit_max_ttl", req.duration(name)?)?;
        }
        if let Some(name) = source(req, "token_num_uses")? {
            self.num_uses = non_negative("token_num_uses", req.int(name)?)?;
        }
        if let Some(name) = source(req, "token_bound_cidrs")? {
            self.bound_cidrs = cidr::canonical_list(&req.list(name)?)?;
        }
        if req.has("token_no_default_policy") {
            self.no_default_policy = req.bool("token_no_default_policy")?;
        }
        if req.has("token_strictly_bind_ip") {
            self.strictly_bind_ip = req.bool("token_strictly_bind_ip")?;
        }
        if req.has("token_type") {
            let kind = req.str("token_type")?.trim().to_lowercase();
            let kind = if kind.is_empty() { "default".to_string() } else { kind };
            if !TOKEN_TYPES.contains(&kind.as_str()) {
                return Err(Error::invalid(format!("invalid 'token_type' value {kind:?}")));
            }
            self.token_type = kind;
        }
        if self.max_ttl > 0 && self.ttl > self.max_ttl {
            return Err(Error::invalid("'token_ttl' cannot be greater than 'token_max_ttl'"));
        }
        Ok(())
    }

    /// Adds the `token_*` keys of a read to `out`.
    pub fn write_json(&self, out: &mut Map) {
        let entries = [
            ("token_bound_cidrs", json!(self.bound_cidrs)),
            ("token_explicit_max_ttl", json!(self.explicit_max_ttl)),
            ("token_max_ttl", json!(self.max_ttl)),
            ("token_no_default_policy", json!(self.no_default_policy)),
            ("token_num_uses", json!(self.num_uses)),
            ("token_period", json!(self.period)),
            ("token_policies", json!(self.policies)),
            ("token_strictly_bind_ip", json!(self.strictly_bind_ip)),
            ("token_ttl", json!(self.ttl)),
            ("token_type", json!(self.token_type)),
        ];
        for (key, value) in entries {
            out.insert(key.to_string(), value);
        }
    }

    /// A login carrying these settings; the caller fills in the identity parts.
    pub fn login(&self) -> Login {
        Login {
            policies: self.policies.clone(),
            ttl: self.ttl,
            max_ttl: self.max_ttl,
            period: self.period,
            explicit_max_ttl: self.explicit_max_ttl,
            num_uses: self.num_uses,
            no_default_policy: self.no_default_policy,
            bound_cidrs: self.bound_cidrs.clone(),
            token_type: self.token_type.clone(),
            ..Login::default()
        }
    }
}

/// `map` with its keys in alphabetical order, as Vault prints reads.
pub fn sorted(map: Map) -> Map {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}
