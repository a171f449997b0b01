//! The built-in policies (§14.5): `default`, created at initialisation and attached to tokens
//! unless they opt out, and `response-wrapping`, held by wrapping tokens. `root` has no text:
//! it is [`crate::Acl::root`].

/// The name of the default policy.
pub const DEFAULT_POLICY: &str = "default";

/// The name of the internal policy of response-wrapping tokens.
pub const RESPONSE_WRAPPING_POLICY: &str = "response-wrapping";

/// The text of the `default` policy, as `bao policy read default` prints it on a new server.
pub fn default_policy_text() -> &'static str {
    DEFAULT_POLICY_TEXT
}

/// The text of the `response-wrapping` policy.
pub fn response_wrapping_policy_text() -> &'static str {
    RESPONSE_WRAPPING_POLICY_TEXT
}

const RESPONSE_WRAPPING_POLICY_TEXT: &str = r#"
path "cubbyhole/response" {
    capabilities = ["create", "read"]
}

path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
"#;

const DEFAULT_POLICY_TEXT: &str = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}


# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;

#[cfg(test)]
mod tests {
    use coffer_types::{Map, Operation};

    use super::*;
    use crate::{Acl, Policy, TemplateContext};

    fn default_acl() -> Acl {
        let policy =
            Policy::parse(DEFAULT_POLICY, default_policy_text()).unwrap_or_else(|e| panic!("{e}"));
        let ctx = TemplateContext {
            entity_id: "e1".into(),
            entity_name: "alice".into(),
            ..Default::default()
        };
        Acl::new(&[policy.render(&ctx)])
    }

    #[test]
    fn default_policy_grants_what_the_contract_lists() {
        let acl = default_acl();
        let grants = [
            ("auth/token/lookup-self", "read"),
            ("auth/token/renew-self", "update"),
            ("auth/token/revoke-self", "update"),
            ("sys/capabilities-self", "update"),
            ("identity/entity/id/e1", "read"),
            ("identity/entity/name/alice", "read"),
            ("sys/internal/ui/resultant-acl", "read"),
            ("sys/leases/renew", "update"),
            ("sys/leases/lookup", "update"),
            ("cubbyhole/x/y", "create,delete,list,read,update"),
            ("sys/wrapping/wrap", "update"),
            ("sys/wrapping/lookup", "update"),
            ("sys/wrapping/unwrap", "update"),
            ("sys/tools/hash", "update"),
            ("sys/tools/hash/sha2-256", "update"),
            ("identity/oidc/provider/default/authorize", "read,update"),
        ];
        for (path, caps) in grants {
            assert_eq!(acl.capability_names_for(path).join(","), caps, "{path}");
        }
        assert_eq!(acl.capability_names_for("sys/capabilities"), ["deny"]);
        assert_eq!(acl.capability_names_for("identity/entity/id/other"), ["deny"]);
        assert!(!acl.check("secret/data/x", Operation::Read, &Map::new()).allowed);
        assert!(!acl.any_capability_under("secret/"));
    }

    #[test]
    fn response_wrapping_policy_parses() {
        let policy = Policy::parse(RESPONSE_WRAPPING_POLICY, response_wrapping_policy_text());
        assert!(policy.is_ok_and(|p| p.paths.len() == 2));
    }
}
