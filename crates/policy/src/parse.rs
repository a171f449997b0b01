//! Policies and their path rules, built from the stanzas [`crate::syntax`] extracts. Validation
//! follows Vault's `parseACLPolicy`: unknown keys and capabilities are errors, `deny` makes a
//! rule deny-only, legacy `policy = "..."` maps to capability sets.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;

use coffer_types::{Map, parse_duration_str};

use crate::capability::ParsedCapability;
use crate::params::ParamConstraints;
use crate::syntax::{self, Entry};
use crate::{Capabilities, Capability, PolicyError, template};

/// Keys a path stanza may hold (Vault's list, OpenBao's additions included).
const PATH_KEYS: &[&str] = &[
    "comment",
    "policy",
    "capabilities",
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "min_wrapping_ttl",
    "max_wrapping_ttl",
    "mfa_methods",
    "pagination_limit",
    "expiration",
    "list_scan_response_keys_filter_path",
    "control_group",
];

/// Keys that are accepted but have no effect in Coffer (enterprise or unimplemented features),
/// plus keys only newer Vault releases know.
const IGNORED_KEYS: &[&str] = &[
    "mfa_methods",
    "pagination_limit",
    "list_scan_response_keys_filter_path",
    "control_group",
    "subscribe_event_types",
];

/// A parsed ACL policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The policy's name (as given to [`Policy::parse`]; a `name` key in the text is ignored).
    pub name: String,
    /// The text it was parsed from, returned verbatim by `sys/policies/acl/:name`.
    pub raw: String,
    /// The path rules, in the order written (the same pattern may appear more than once).
    pub paths: Vec<PathRule>,
    /// Things that were accepted but ignored (Vault-only capabilities, enterprise keys).
    pub warnings: Vec<String>,
}

/// One `path "<pattern>" { ... }` stanza.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The pattern without its leading `/`: an exact path, a prefix ending in `*`, and/or
    /// `+` segments; possibly with `{{identity...}}` templates (see [`Policy::render`]).
    pub pattern: String,
    /// What the rule grants; `deny` alone when it denies.
    pub capabilities: Capabilities,
    /// Parameter constraints (empty for deny rules).
    pub params: ParamConstraints,
    /// Minimum response-wrapping TTL in seconds a request must ask for (0 = none).
    pub min_wrapping_ttl: i64,
    /// Maximum response-wrapping TTL in seconds; when set, requests must be wrapped (0 = none).
    pub max_wrapping_ttl: i64,
    /// Unix time after which the rule is ignored.
    pub expiration: Option<i64>,
    /// The free-text `comment`.
    pub comment: Option<String>,
}

impl Policy {
    /// Parses HCL or JSON policy text. Errors read like Vault's: `failed to parse policy: ...`.
    pub fn parse(name: impl Into<String>, text: &str) -> Result<Policy, PolicyError> {
        let mut warnings = Vec::new();
        let paths = syntax::parse_document(text)?
            .into_iter()
            .map(|entry| build_rule(entry, &mut warnings))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { name: name.into(), raw: text.to_owned(), paths, warnings })
    }

    /// A policy made of rules built in code (built-in policies, tests).
    pub fn from_rules(name: impl Into<String>, paths: Vec<PathRule>) -> Policy {
        Policy { name: name.into(), raw: String::new(), paths, warnings: Vec::new() }
    }

    /// Whether any pattern holds an identity template and must be rendered per entity.
    pub fn is_templated(&self) -> bool {
        self.paths.iter().any(PathRule::is_templated)
    }
}

impl PathRule {
    /// A rule granting `capabilities` on `pattern`, without further constraints.
    pub fn new(pattern: impl Into<String>, capabilities: Capabilities) -> PathRule {
        PathRule {
            pattern: pattern.into(),
            capabilities,
            params: ParamConstraints::default(),
            min_wrapping_ttl: 0,
            max_wrapping_ttl: 0,
            expiration: None,
            comment: None,
        }
    }

    /// Whether the pattern holds an identity template (`{{...}}`).
    pub fn is_templated(&self) -> bool {
        self.pattern.contains("{{")
    }

    /// Whether the rule's `expiration` has passed at `now` (Unix seconds).
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.expiration.is_some_and(|at| now > at)
    }
}

fn build_rule(entry: Entry, warnings: &mut Vec<String>) -> Result<PathRule, PolicyError> {
    let Entry { pattern: key, fields } = entry;
    template::validate(&key)?;
    for field in fields.keys() {
        if IGNORED_KEYS.contains(&field.as_str()) {
            warnings.push(format!("path {key:?}: {field:?} is not supported and was ignored"));
        } else if !PATH_KEYS.contains(&field.as_str()) {
            return Err(PolicyError::InvalidKey { path: Some(key), key: field.clone() });
        }
    }
    let bad = |message: String| PolicyError::InvalidValue { path: key.clone(), message };

    let expiration = fields
        .get("expiration")
        .map(|v| {
            parse_expiration(v).ok_or_else(|| {
                bad("invalid expiration time: expected an RFC 3339 time or Unix seconds".into())
            })
        })
        .transpose()?;
    let pattern = key.strip_prefix('/').unwrap_or(&key).to_owned();
    if pattern.contains("+*") {
        return Err(PolicyError::InvalidWildcard(pattern));
    }

    let mut names = string_list(&fields, "capabilities").map_err(&bad)?;
    if let Some(policy) = fields.get("policy") {
        let legacy: &[&str] = match policy.as_str() {
            Some("deny") => {
                names.clear();
                &["deny"]
            }
            Some("read") => &["read", "list"],
            Some("write") => &["create", "read", "update", "delete", "list"],
            Some("sudo") => &["create", "read", "update", "delete", "list", "sudo"],
            _ => {
                let policy = policy.as_str().map_or_else(|| policy.to_string(), str::to_owned);
                return Err(PolicyError::InvalidLegacyPolicy { path: key, policy });
            }
        };
        names.extend(legacy.iter().map(|s| (*s).to_owned()));
    }
    let mut capabilities = Capabilities::NONE;
    for name in names {
        match Capability::parse(&name) {
            Some(ParsedCapability::Known(cap)) => capabilities.insert(cap),
            Some(ParsedCapability::VaultOnly) => {
                warnings.push(format!(
                    "path {key:?}: capability {name:?} is not supported and was ignored"
                ));
            }
            None => return Err(PolicyError::InvalidCapability { path: key, capability: name }),
        }
    }
    let comment = fields.get("comment").and_then(Value::as_str).map(str::to_owned);
    if capabilities.is_deny() {
        // Like Vault, a deny rule keeps nothing else: no parameters, no wrapping bounds.
        return Ok(PathRule { expiration, comment, ..PathRule::new(pattern, Capabilities::DENY) });
    }

    let params = ParamConstraints {
        allowed: param_map(&fields, "allowed_parameters").map_err(&bad)?,
        denied: param_map(&fields, "denied_parameters").map_err(&bad)?,
        required: string_list(&fields, "required_parameters").map_err(&bad)?,
    };
    let min_wrapping_ttl = ttl(&fields, "min_wrapping_ttl").map_err(&bad)?;
    let max_wrapping_ttl = ttl(&fields, "max_wrapping_ttl").map_err(&bad)?;
    if min_wrapping_ttl != 0 && max_wrapping_ttl != 0 && max_wrapping_ttl < min_wrapping_ttl {
        return Err(bad("max_wrapping_ttl cannot be less than min_wrapping_ttl".into()));
    }
    Ok(PathRule {
        pattern,
        capabilities,
        params,
        min_wrapping_ttl,
        max_wrapping_ttl,
        expiration,
        comment,
    })
}

/// A list of strings; a single string counts as a one-element list (HCL v1 was lenient).
fn string_list(fields: &Map, field: &str) -> Result<Vec<String>, String> {
    let bad = || format!("{field}: expected a list of strings");
    match fields.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned).ok_or_else(bad)).collect()
        }
        Some(_) => Err(bad()),
    }
}

/// `{ "<param>" = [values] }` with lower-cased keys; a scalar value is a one-element list.
fn param_map(fields: &Map, field: &str) -> Result<BTreeMap<String, Vec<Value>>, String> {
    match fields.get(field) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => Ok(map
            .iter()
            .map(|(k, v)| {
                let values = match v {
                    Value::Array(items) => items.clone(),
                    Value::Null => Vec::new(),
                    scalar => vec![scalar.clone()],
                };
                (k.to_lowercase(), values)
            })
            .collect()),
        Some(_) => Err(format!("{field}: expected a map of parameter names to lists of values")),
    }
}

/// A duration in seconds: a number of seconds or a duration string (`"90s"`, `"1h"`).
fn ttl(fields: &Map, field: &str) -> Result<i64, String> {
    let seconds = match fields.get(field) {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => parse_duration_str(s),
        Some(_) => None,
    };
    match seconds {
        Some(s) if s >= 0 => Ok(s),
        _ => Err(format!("error parsing {field}: invalid duration")),
    }
}

/// An RFC 3339 time (`2030-01-02T15:04:05Z`, fractions and `±hh:mm` offsets allowed) or Unix
/// seconds, as Unix seconds.
fn parse_expiration(value: &Value) -> Option<i64> {
    let text = match value {
        Value::Number(n) => return n.as_i64(),
        Value::String(s) => s.trim(),
        _ => return None,
    };
    if let Ok(secs) = text.parse::<i64>() {
        return Some(secs);
    }
    let (base, offset) = split_offset(text)?;
    let time = humantime::parse_rfc3339_weak(base).ok()?;
    let secs =
        i64::try_from(time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()).ok()?;
    Some(secs - offset)
}

/// Splits `…Z` or `…±hh:mm` into the UTC base text and the offset in seconds.
fn split_offset(text: &str) -> Option<(&str, i64)> {
    if let Some(base) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        return Some((base, 0));
    }
    let split = text.len().checked_sub(6)?;
    let (base, offset) = (text.get(..split)?, text.get(split..)?);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return Some((text, 0)),
    };
    let hours: i64 = offset.get(1..3)?.parse().ok()?;
    let minutes: i64 = offset.get(4..6)?.parse().ok()?;
    (offset.get(3..4)? == ":").then_some((base, sign * (hours * 3600 + minutes * 60)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(text: &str) -> Policy {
        Policy::parse("p", text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        match Policy::parse("p", text) {
            Ok(p) => panic!("{text} parsed: {p:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn capabilities_and_legacy_policies() {
        let p = parse(
            r#"
            path "/secret/*" { capabilities = ["read", "list"] }
            path "a" { policy = "write" }
            path "b" { policy = "sudo" }
            path "c" { policy = "read" }
            path "d" { policy = "deny" capabilities = ["read"] }
            "#,
        );
        let names: Vec<_> =
            p.paths.iter().map(|r| (r.pattern.as_str(), r.capabilities.names())).collect();
        assert_eq!(
            names,
            [
                ("secret/*", vec!["list", "read"]),
                ("a", vec!["create", "delete", "list", "read", "update"]),
                ("b", vec!["create", "delete", "list", "read", "sudo", "update"]),
                ("c", vec!["list", "read"]),
                ("d", vec!["deny"]),
            ]
        );
    }

    #[test]
    fn deny_keeps_nothing_else() {
        let p = parse(
            r#"path "a" { capabilities = ["read", "deny"] allowed_parameters = { "x" = [] } }"#,
        );
        assert_eq!(p.paths[0].capabilities, Capabilities::DENY);
        assert!(p.paths[0].params.is_empty());
    }

    #[test]
    fn vault_only_capabilities_warn_and_typos_fail() {
        let p = parse(r#"path "sys/events/*" { capabilities = ["read", "subscribe"] }"#);
        assert_eq!(p.paths[0].capabilities.names(), ["read"]);
        assert_eq!(p.warnings.len(), 1);
        assert_eq!(
            err(r#"path "a" { capabilities = ["reed"] }"#),
            r#"failed to parse policy: path "a": invalid capability "reed""#
        );
        assert_eq!(
            err(r#"path "a" { policy = "admin" }"#),
            r#"failed to parse policy: path "a": invalid policy "admin""#
        );
    }

    #[test]
    fn unknown_keys_and_bad_wildcards_fail() {
        assert_eq!(
            err(r#"path "a" { capability = ["read"] }"#),
            r#"failed to parse policy: path "a": invalid key "capability""#
        );
        assert!(err(r#"path "a/+*" { capabilities = ["read"] }"#).contains("'+*' is forbidden"));
        assert!(
            err(r#"path "a/{{identity.entity.id" { capabilities = ["read"] }"#)
                .contains("unbalanced")
        );
        let p = parse(r#"path "a" { capabilities = ["read"] mfa_methods = ["m"] }"#);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn parameters_and_wrapping_ttls() {
        let p = parse(
            r#"
            path "pki/issue/web" {
              capabilities = ["create", "update"]
              allowed_parameters = {
                "Common_Name" = ["*.example.com"]
                "ttl" = []
              }
              denied_parameters = { "ip_sans" = [] }
              required_parameters = ["common_name"]
              min_wrapping_ttl = "1s"
              max_wrapping_ttl = 90
            }
            "#,
        );
        let rule = &p.paths[0];
        assert_eq!(rule.params.allowed.get("common_name"), Some(&vec![json!("*.example.com")]));
        assert_eq!(rule.params.allowed.get("ttl"), Some(&vec![]));
        assert_eq!(rule.params.denied.get("ip_sans"), Some(&vec![]));
        assert_eq!(rule.params.required, ["common_name"]);
        assert_eq!((rule.min_wrapping_ttl, rule.max_wrapping_ttl), (1, 90));
        assert!(err(r#"path "a" { capabilities = ["read"] min_wrapping_ttl = "2m" max_wrapping_ttl = "1m" }"#)
            .contains("max_wrapping_ttl cannot be less than min_wrapping_ttl"));
        assert!(
            err(r#"path "a" { capabilities = ["read"] max_wrapping_ttl = "soon" }"#)
                .contains("max_wrapping_ttl")
        );
    }

    #[test]
    fn expiration_parses() {
        let p =
            parse(r#"path "a" { capabilities = ["read"] expiration = "2030-01-02T15:04:05Z" }"#);
        assert_eq!(p.paths[0].expiration, Some(1_893_596_645));
        assert!(p.paths[0].is_expired_at(1_893_596_646));
        assert!(!p.paths[0].is_expired_at(1_893_596_645));
        let p = parse(
            r#"path "a" { capabilities = ["read"] expiration = "2030-01-02T16:04:05+01:00" }"#,
        );
        assert_eq!(p.paths[0].expiration, Some(1_893_596_645));
        assert!(
            err(r#"path "a" { capabilities = ["read"] expiration = "tomorrow" }"#)
                .contains("expiration")
        );
    }

    #[test]
    fn json_and_hcl_agree() {
        let hcl = parse(
            r#"path "secret/foo" { capabilities = ["read"] allowed_parameters = { "a" = ["b"] } }"#,
        );
        let json = parse(
            r#"{"path":{"secret/foo":{"capabilities":["read"],"allowed_parameters":{"a":["b"]}}}}"#,
        );
        assert_eq!(hcl.paths, json.paths);
    }

    #[test]
    fn empty_text_is_an_empty_policy() {
        assert!(parse("").paths.is_empty());
        assert!(parse("# only a comment\n").paths.is_empty());
    }
}
