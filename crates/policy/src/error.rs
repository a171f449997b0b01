//! The error of policy parsing. Every message starts with `failed to parse policy: `, the
//! prefix Vault's `sys/policies/acl` returns with its 400.

/// Why a policy text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is neither valid HCL nor valid JSON, or has the wrong shape.
    #[error("failed to parse policy: {0}")]
    Syntax(String),
    /// A key Vault does not know, at the top level (`path` is `None`) or inside a path block.
    #[error("failed to parse policy: {}invalid key {key:?}", prefix(path.as_deref()))]
    InvalidKey {
        /// The path pattern whose block holds the key, if any.
        path: Option<String>,
        /// The unknown key.
        key: String,
    },
    /// A capability name that is not one of Vault's (typos are rejected).
    #[error("failed to parse policy: path {path:?}: invalid capability {capability:?}")]
    InvalidCapability {
        /// The path pattern.
        path: String,
        /// The rejected name.
        capability: String,
    },
    /// A legacy `policy = "..."` value other than deny, read, write or sudo.
    #[error("failed to parse policy: path {path:?}: invalid policy {policy:?}")]
    InvalidLegacyPolicy {
        /// The path pattern.
        path: String,
        /// The rejected value.
        policy: String,
    },
    /// A pattern with `+*`, which Vault forbids.
    #[error("failed to parse policy: path {0:?}: invalid use of wildcards ('+*' is forbidden)")]
    InvalidWildcard(String),
    /// Unbalanced `{{`/`}}` in a templated pattern.
    #[error(
        "failed to parse policy: failed to validate policy templating: unbalanced templating characters"
    )]
    UnbalancedTemplate,
    /// A field with a value of the wrong type or format.
    #[error("failed to parse policy: path {path:?}: {message}")]
    InvalidValue {
        /// The path pattern.
        path: String,
        /// What is wrong, naming the field.
        message: String,
    },
}

fn prefix(path: Option<&str>) -> String {
    path.map(|p| format!("path {p:?}: ")).unwrap_or_default()
}

impl From<PolicyError> for coffer_types::Error {
    /// A bad policy is bad input: a 400 with the message as text.
    fn from(err: PolicyError) -> Self {
        coffer_types::Error::invalid(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_vaults_prefix() {
        let e = PolicyError::InvalidCapability { path: "a".into(), capability: "reed".into() };
        assert_eq!(e.to_string(), r#"failed to parse policy: path "a": invalid capability "reed""#);
        let e = PolicyError::InvalidKey { path: None, key: "paths".into() };
        assert_eq!(e.to_string(), r#"failed to parse policy: invalid key "paths""#);
        let e = PolicyError::InvalidKey { path: Some("a".into()), key: "x".into() };
        assert_eq!(e.to_string(), r#"failed to parse policy: path "a": invalid key "x""#);
    }

    #[test]
    fn converts_to_a_bad_request() {
        let e: coffer_types::Error = PolicyError::InvalidWildcard("a/+*".into()).into();
        assert_eq!(e.status(), 400);
    }
}
