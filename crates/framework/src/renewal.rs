//! Renewal of the tokens a login issued: what the core hands back to the auth method that
//! issued the token, and what the method answers.
//!
//! Vault asks the auth method on every renewal of a token its login issued. Methods use it
//! to check that the token still stands for what the login proved: the role or user still
//! exists and still grants the same policies, and (for TLS certificate auth) that the
//! renewing connection presents the certificate the login was made with.

use coffer_types::{Error, Map, Result};
use serde_json::Value;

use crate::token_fields::TokenFields;

/// What a login stored with its token, handed back to its auth method on renewal.
#[derive(Debug, Clone, Default)]
pub struct IssuedLogin {
    /// The token's policies (lower-case, sorted, with `default` unless it was left out).
    pub policies: Vec<String>,
    /// The token metadata the login set.
    pub metadata: Map,
    /// The login's internal data ([`coffer_types::Login::internal`]).
    pub internal: Map,
}

impl IssuedLogin {
    /// A metadata value as a string, "" when absent or not a string.
    pub fn metadata_str(&self, key: &str) -> &str {
        self.metadata.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// An internal value as a string, "" when absent or not a string.
    pub fn internal_str(&self, key: &str) -> &str {
        self.internal.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// The name of the role the login used, kept under `key` in the internal data (or, for
    /// tokens issued before logins kept internal data, in the metadata).
    pub fn role_name(&self, key: &str) -> Result<&str> {
        match (self.internal_str(key), self.metadata_str(key)) {
            ("", "") => Err(Error::internal("failed to fetch role_name during renewal")),
            ("", name) | (name, _) => Ok(name),
        }
    }

    /// Whether `policies` (a role's or user's, as configured now) are the ones the token was
    /// issued with, ignoring `default`, case, order and duplicates, as Vault compares them.
    pub fn same_policies(&self, policies: &[String]) -> bool {
        fn set(policies: &[String]) -> std::collections::BTreeSet<String> {
            policies
                .iter()
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty() && p != "default")
                .collect()
        }
        set(policies) == set(&self.policies)
    }
}

/// The TTL settings a renewal applies, in seconds, as the method's configuration says now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenewTerms {
    /// TTL without an increment (0 = the mount's default).
    pub ttl: i64,
    /// Maximum life from the token's creation (0 = the mount's maximum).
    pub max_ttl: i64,
    /// Period (0 = not periodic).
    pub period: i64,
}

impl From<&TokenFields> for RenewTerms {
    fn from(token: &TokenFields) -> Self {
        RenewTerms { ttl: token.ttl, max_ttl: token.max_ttl, period: token.period }
    }
}

/// An auth method's answer to the renewal of a token its login issued. A refusal is an
/// `Err`: a 400 for a bad request (no client certificate), an internal error otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRenewal {
    /// Renew on the terms the token was issued with.
    Unchanged,
    /// Renew on these terms (the role's TTL, max TTL and period as configured now).
    Terms(RenewTerms),
    /// Leave the token as it is and answer with nothing (204): what Vault does when the user
    /// or certificate role behind the token no longer exists.
    Declined,
}

impl LoginRenewal {
    /// The renewal of methods whose logins name a role (AppRole, JWT, Kubernetes): on the
    /// role's current token settings while it exists, refused once it is gone with Vault's
    /// `role <shown> does not exist during renewal` (`shown`: the name as the method quotes it).
    pub fn while_role_exists(role: Option<&TokenFields>, shown: &str) -> Result<LoginRenewal> {
        match role {
            Some(token) => Ok(LoginRenewal::Terms(RenewTerms::from(token))),
            None => Err(Error::internal(format!("role {shown} does not exist during renewal"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn policies_compare_as_vault_does() {
        let issued = IssuedLogin { policies: strings(&["default", "web"]), ..Default::default() };
        assert!(issued.same_policies(&strings(&["web"])));
        assert!(issued.same_policies(&strings(&["Web", "web", "default"])));
        assert!(!issued.same_policies(&strings(&["web", "extra"])));
        assert!(!issued.same_policies(&[]));
        let only_default = IssuedLogin { policies: strings(&["default"]), ..Default::default() };
        assert!(only_default.same_policies(&[]));
    }

    #[test]
    fn string_getters() {
        let mut issued = IssuedLogin::default();
        issued.metadata.insert("cert_name".into(), json!("web"));
        issued.internal.insert("n".into(), json!(1));
        assert_eq!(issued.metadata_str("cert_name"), "web");
        assert_eq!(issued.internal_str("n"), "");
        assert_eq!(issued.internal_str("missing"), "");
    }

    #[test]
    fn renewal_while_the_role_exists() {
        let token = TokenFields { ttl: 60, max_ttl: 120, period: 0, ..TokenFields::default() };
        let renewal = LoginRenewal::while_role_exists(Some(&token), "ci").unwrap();
        assert_eq!(renewal, LoginRenewal::Terms(RenewTerms { ttl: 60, max_ttl: 120, period: 0 }));
        let gone = LoginRenewal::while_role_exists(None, "\"ci\"").unwrap_err();
        assert_eq!(gone, Error::internal("role \"ci\" does not exist during renewal"));
    }

    #[test]
    fn role_names_come_from_internal_data_then_metadata() {
        let mut issued = IssuedLogin::default();
        assert!(issued.role_name("role").is_err());
        issued.metadata.insert("role".into(), json!("from-metadata"));
        assert_eq!(issued.role_name("role").unwrap(), "from-metadata");
        issued.internal.insert("role".into(), json!("ci"));
        assert_eq!(issued.role_name("role").unwrap(), "ci");
    }
}
