//! The ACL: the rules of a token's policies merged per pattern and compiled into a
//! [`Matcher`], answering "may this request proceed?" and "what may this token do here?".
//!
//! Compile once per policy set (O(total pattern length)); a check is one matcher lookup (see
//! [`crate::matcher`] for its cost) plus the parameter checks, and allocates only the list of
//! granting policies.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use coffer_types::{Map, Operation};

use crate::matcher::Matcher;
use crate::params::ParamConstraints;
use crate::{Capabilities, Capability, PathRule, Policy};

/// The name of the policy that grants everything.
pub const ROOT_POLICY: &str = "root";

/// A compiled set of policies.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    rules: Vec<AclRule>,
    matcher: Matcher,
}

/// The rules of every policy for one pattern, merged.
#[derive(Debug, Clone)]
struct AclRule {
    capabilities: Capabilities,
    params: ParamConstraints,
    min_wrapping_ttl: i64,
    max_wrapping_ttl: i64,
    /// Which policy granted which capabilities, in policy order.
    grants: Vec<(String, Capabilities)>,
}

/// A request as the ACL sees it.
#[derive(Debug, Clone, Copy)]
pub struct AclRequest<'a> {
    /// The full request path (mount included); a leading `/` is ignored.
    pub path: &'a str,
    /// The logical operation.
    pub operation: Operation,
    /// The request's parameters, as the client sent them.
    pub params: &'a Map,
    /// The response-wrapping TTL asked for (`X-Vault-Wrap-TTL`), in seconds.
    pub wrap_ttl: Option<i64>,
}

/// The outcome of [`Acl::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed (sudo, when the path needs it, is the caller's check).
    pub allowed: bool,
    /// Whether the selected rule grants `sudo` (always for root).
    pub sudo: bool,
    /// Whether this is the root policy.
    pub root: bool,
    /// The policies that granted the operation's capability (`["root"]` for root).
    pub granting_policies: Vec<String>,
    /// The capabilities of the selected rule (empty when no rule matched).
    pub capabilities: Capabilities,
}

impl Acl {
    /// The root ACL: everything is allowed, sudo included.
    pub fn root() -> Acl {
        Acl { root: true, ..Acl::default() }
    }

    /// Compiles policies, skipping rules whose expiration has passed. A policy named `root`
    /// makes the whole ACL root. Templated rules must be rendered first ([`Policy::render`]);
    /// rules still holding a template are skipped, as Vault drops unresolvable ones.
    pub fn new<P: Borrow<Policy>>(policies: &[P]) -> Acl {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Acl::new_at(policies, i64::try_from(now).unwrap_or(i64::MAX))
    }

    /// [`Acl::new`] with an explicit "now" (Unix seconds) for rule expiration.
    pub fn new_at<P: Borrow<Policy>>(policies: &[P], now: i64) -> Acl {
        let mut by_pattern: HashMap<&str, usize> = HashMap::new();
        let mut patterns: Vec<&str> = Vec::new();
        let mut rules: Vec<AclRule> = Vec::new();
        for policy in policies {
            let policy = policy.borrow();
            if policy.name == ROOT_POLICY {
                return Acl::root();
            }
            for rule in &policy.paths {
                if rule.is_expired_at(now) || rule.is_templated() {
                    continue;
                }
                match by_pattern.get(rule.pattern.as_str()).and_then(|&i| rules.get_mut(i)) {
                    Some(existing) => existing.merge(rule, &policy.name),
                    None => {
                        by_pattern.insert(&rule.pattern, rules.len());
                        patterns.push(&rule.pattern);
                        rules.push(AclRule::new(rule, &policy.name));
                    }
                }
            }
        }
        Acl { root: false, matcher: Matcher::new(&patterns), rules }
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// Checks an unwrapped request. Parameter constraints apply to read, create, update and
    /// patch only.
    pub fn check(&self, path: &str, operation: Operation, params: &Map) -> Decision {
        self.check_request(&AclRequest { path, operation, params, wrap_ttl: None })
    }

    /// Checks a request, wrapping TTL included (rules with wrapping bounds require wrapping).
    pub fn check_request(&self, req: &AclRequest<'_>) -> Decision {
        if self.root {
            return Decision::root();
        }
        let path = req.path.trim_start_matches('/');
        let Some(rule) = self
            .matcher
            .lookup(path, req.operation == Operation::List)
            .and_then(|id| self.rules.get(id))
        else {
            return Decision::default();
        };
        let mut decision = Decision {
            sudo: rule.capabilities.contains(Capability::Sudo),
            capabilities: rule.capabilities,
            ..Decision::default()
        };
        let needed = Capability::for_operation(req.operation);
        // A deny rule holds nothing but `deny`, so this also rejects denied paths.
        if !rule.capabilities.contains(needed) {
            return decision;
        }
        decision.granting_policies = rule
            .grants
            .iter()
            .filter(|(_, caps)| caps.contains(needed))
            .map(|(name, _)| name.clone())
            .collect();
        if !rule.wrapping_permits(req.wrap_ttl) {
            return decision;
        }
        let checks_params = matches!(
            req.operation,
            Operation::Read | Operation::Create | Operation::Update | Operation::Patch
        );
        decision.allowed = !checks_params || rule.params.permits(req.params);
        decision
    }

    /// The capabilities on `path`, found the way Vault's `sys/capabilities` does (as for a
    /// list, so `secret/foo/` also sees the rule for `secret/foo`). Root gets everything.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::ALL;
        }
        let path = path.trim_start_matches('/');
        self.matcher
            .lookup(path, true)
            .and_then(|id| self.rules.get(id))
            .map_or(Capabilities::NONE, |r| r.capabilities)
    }

    /// The `sys/capabilities` answer for `path`: `["root"]` for root, `["deny"]` when nothing
    /// is granted, otherwise the sorted capability names.
    pub fn capability_names_for(&self, path: &str) -> Vec<&'static str> {
        if self.root {
            return vec![ROOT_POLICY];
        }
        let caps = self.capabilities(path);
        if caps.grants_anything() { caps.names() } else { vec![Capability::Deny.as_str()] }
    }

    /// Whether the token has any capability on any path inside `prefix` (a mount path; the
    /// trailing `/` is optional): the `sys/internal/ui/mounts/<path>` preflight. True when the
    /// mount path itself is granted something, or when a non-deny rule's pattern lies inside
    /// the mount or has `+` segments compatible with it.
    pub fn any_capability_under(&self, prefix: &str) -> bool {
        if self.root {
            return true;
        }
        let prefix = prefix.trim_start_matches('/');
        let mount = if prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") };
        if self.capabilities(&mount).grants_anything() {
            return true;
        }
        self.matcher
            .rules_under(&mount)
            .any(|id| self.rules.get(id).is_some_and(|r| r.capabilities.grants_anything()))
    }
}

impl AclRule {
    fn new(rule: &PathRule, policy: &str) -> AclRule {
        AclRule {
            capabilities: rule.capabilities,
            params: rule.params.clone(),
            min_wrapping_ttl: rule.min_wrapping_ttl,
            max_wrapping_ttl: rule.max_wrapping_ttl,
            grants: vec![(policy.to_owned(), rule.capabilities)],
        }
    }

    /// Vault's merge of the same pattern from another policy: deny wins and clears the
    /// parameter constraints; otherwise capabilities are unioned, the smaller non-zero wrapping
    /// bounds kept (for the minimum too, as Vault does), and parameters merged.
    fn merge(&mut self, rule: &PathRule, policy: &str) {
        if self.capabilities.is_deny() {
            return;
        }
        if rule.capabilities.is_deny() {
            self.capabilities = Capabilities::DENY;
            self.params.allowed.clear();
            self.params.denied.clear();
            return;
        }
        self.capabilities = self.capabilities.union(rule.capabilities);
        match self.grants.iter_mut().find(|(name, _)| name == policy) {
            Some((_, caps)) => *caps = caps.union(rule.capabilities),
            None => self.grants.push((policy.to_owned(), rule.capabilities)),
        }
        let smaller = |mine: i64, theirs: i64| {
            if theirs > 0 && (mine == 0 || theirs < mine) { theirs } else { mine }
        };
        self.max_wrapping_ttl = smaller(self.max_wrapping_ttl, rule.max_wrapping_ttl);
        self.min_wrapping_ttl = smaller(self.min_wrapping_ttl, rule.min_wrapping_ttl);
        self.params.merge(&rule.params);
    }

    /// Wrapping bounds: a maximum or minimum requires the request to be wrapped within it.
    fn wrapping_permits(&self, wrap_ttl: Option<i64>) -> bool {
        let (min, max) = (self.min_wrapping_ttl, self.max_wrapping_ttl);
        if max > 0 && wrap_ttl.is_none_or(|ttl| ttl > max) {
            return false;
        }
        if min > 0 && wrap_ttl.is_none_or(|ttl| ttl < min) {
            return false;
        }
        // Merging can produce crossed bounds, which nothing satisfies.
        !(min != 0 && max != 0 && max < min)
    }
}

impl Decision {
    fn root() -> Decision {
        Decision {
            allowed: true,
            sudo: true,
            root: true,
            granting_policies: vec![ROOT_POLICY.to_owned()],
            capabilities: Capabilities::ALL,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn policy(name: &str, text: &str) -> Policy {
        Policy::parse(name, text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn empty() -> Map {
        Map::new()
    }

    fn params(v: serde_json::Value) -> Map {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn root_allows_everything() {
        let acl = Acl::root();
        let d = acl.check("sys/seal", Operation::Update, &empty());
        assert!(d.allowed && d.sudo && d.root);
        assert_eq!(d.granting_policies, ["root"]);
        assert_eq!(acl.capability_names_for("anything"), ["root"]);
        assert!(acl.any_capability_under("nope/"));
        assert!(Acl::new(&[Policy::from_rules("root", vec![])]).is_root());
    }

    #[test]
    fn nothing_matches_means_denied() {
        let acl = Acl::new(&[policy("p", r#"path "secret/*" { capabilities = ["read"] }"#)]);
        let d = acl.check("other/x", Operation::Read, &empty());
        assert_eq!(d, Decision::default());
        assert_eq!(acl.capability_names_for("other/x"), ["deny"]);
    }

    #[test]
    fn union_across_policies_with_granting_policies() {
        let acl = Acl::new(&[
            policy("a", r#"path "secret/x" { capabilities = ["read"] }"#),
            policy("b", r#"path "secret/x" { capabilities = ["read", "update"] }"#),
        ]);
        let d = acl.check("secret/x", Operation::Read, &empty());
        assert!(d.allowed);
        assert_eq!(d.granting_policies, ["a", "b"]);
        let d = acl.check("/secret/x", Operation::Update, &empty());
        assert!(d.allowed);
        assert_eq!(d.granting_policies, ["b"]);
        assert!(!acl.check("secret/x", Operation::Delete, &empty()).allowed);
        assert_eq!(acl.capability_names_for("secret/x"), ["read", "update"]);
    }

    #[test]
    fn deny_in_any_policy_wins() {
        for order in [["a", "b"], ["b", "a"]] {
            let texts = HashMap::from([
                ("a", r#"path "secret/x" { capabilities = ["read", "sudo"] }"#),
                ("b", r#"path "secret/x" { capabilities = ["deny"] }"#),
            ]);
            let policies: Vec<_> =
                order.iter().map(|n| policy(n, texts.get(n).copied().unwrap_or(""))).collect();
            let acl = Acl::new(&policies);
            let d = acl.check("secret/x", Operation::Read, &empty());
            assert!(!d.allowed && !d.sudo);
            assert_eq!(acl.capability_names_for("secret/x"), ["deny"]);
        }
    }

    #[test]
    fn sudo_is_reported() {
        let acl =
            Acl::new(&[policy("p", r#"path "sys/audit*" { capabilities = ["read", "sudo"] }"#)]);
        let d = acl.check("sys/audit/file", Operation::Read, &empty());
        assert!(d.allowed && d.sudo && !d.root);
    }

    #[test]
    fn parameters_apply_to_writes_and_reads_only() {
        let acl = Acl::new(&[policy(
            "p",
            r#"path "pki/issue/web" {
                 capabilities = ["create", "update", "delete", "list"]
                 allowed_parameters = { "common_name" = ["*.example.com"] "ttl" = [] }
               }"#,
        )]);
        let ok = params(json!({"common_name": "a.example.com", "ttl": "1h"}));
        let bad = params(json!({"common_name": "a.evil.com"}));
        assert!(acl.check("pki/issue/web", Operation::Update, &ok).allowed);
        assert!(!acl.check("pki/issue/web", Operation::Update, &bad).allowed);
        assert!(!acl.check("pki/issue/web", Operation::Create, &bad).allowed);
        assert!(acl.check("pki/issue/web", Operation::Delete, &bad).allowed);
        assert!(acl.check("pki/issue/web", Operation::List, &bad).allowed);
    }

    #[test]
    fn wrapping_bounds_require_wrapping() {
        let acl = Acl::new(&[policy(
            "p",
            r#"path "secret/w" { capabilities = ["read"] min_wrapping_ttl = "10s" max_wrapping_ttl = "1m" }"#,
        )]);
        let no_params = Map::new();
        let req = |wrap_ttl| AclRequest {
            path: "secret/w",
            operation: Operation::Read,
            params: &no_params,
            wrap_ttl,
        };
        assert!(!acl.check_request(&req(None)).allowed);
        assert!(!acl.check_request(&req(Some(5))).allowed);
        assert!(acl.check_request(&req(Some(30))).allowed);
        assert!(!acl.check_request(&req(Some(61))).allowed);
    }

    #[test]
    fn expired_and_templated_rules_are_skipped() {
        let p = policy(
            "p",
            r#"path "old" { capabilities = ["read"] expiration = "2001-01-01T00:00:00Z" }
               path "kv/{{identity.entity.id}}" { capabilities = ["read"] }"#,
        );
        let acl = Acl::new_at(&[p], 1_800_000_000);
        assert!(!acl.check("old", Operation::Read, &empty()).allowed);
        assert!(!acl.check("kv/{{identity.entity.id}}", Operation::Read, &empty()).allowed);
    }

    #[test]
    fn list_uses_the_rule_without_the_trailing_slash() {
        let acl =
            Acl::new(&[policy("p", r#"path "secret/metadata/app" { capabilities = ["list"] }"#)]);
        assert!(acl.check("secret/metadata/app/", Operation::List, &empty()).allowed);
        assert!(!acl.check("secret/metadata/app/", Operation::Read, &empty()).allowed);
        assert_eq!(acl.capability_names_for("secret/metadata/app/"), ["list"]);
    }

    #[test]
    fn preflight_sees_rules_inside_the_mount() {
        let acl = Acl::new(&[policy(
            "p",
            r#"path "secret/data/app/*" { capabilities = ["read"] }
               path "denied/*" { capabilities = ["deny"] }
               path "denied/x" { capabilities = ["deny"] }"#,
        )]);
        assert!(acl.any_capability_under("secret/"));
        assert!(acl.any_capability_under("secret"));
        assert!(!acl.any_capability_under("kv/"));
        assert!(!acl.any_capability_under("denied/"));
        assert!(!acl.any_capability_under("secretive/"));

        // Like Vault's bare-mount check, `+` patterns count when their leading segments fit.
        let acl = Acl::new(&[policy("p", r#"path "+/team/*" { capabilities = ["list"] }"#)]);
        assert!(acl.any_capability_under("kv/"));
        assert!(acl.any_capability_under("kv/team/"));
        assert!(!acl.any_capability_under("kv/other/"));
    }
}
