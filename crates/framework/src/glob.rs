//! Vault's globs: `*` matches any run of characters (including none, dots and slashes
//! too), every other character matches itself. One copy for every engine: JWT bound claims
//! of type `glob`, Kubernetes name bindings, cert constraints, PKI names, database
//! `allowed_roles`. (Policy parameter globs follow other rules: see `coffer-policy`.)

/// Whether `value` matches `pattern`.
pub fn matches(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else { return pattern == value };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return pattern == value };
    let Some(mut rest) = value.strip_prefix(first) else { return false };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Whether any of `patterns` matches `value`.
pub fn any_matches(patterns: &[String], value: &str) -> bool {
    patterns.iter().any(|p| matches(p, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_like_vault() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("web", "web"));
        assert!(!matches("web", "web2"));
        assert!(matches("web-*", "web-1"));
        assert!(matches("web-*", "web-"));
        assert!(!matches("web-*", "api-1"));
        assert!(matches("*-prod", "eu-prod"));
        assert!(!matches("*-prod", "eu-dev"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxcyyb"));
        assert!(!matches("ab*ba", "aba"), "prefix and suffix may not overlap");
        assert!(matches("a*b*c", "abc"));
        assert!(matches("a*", "a"));
        assert!(matches("*.example.com", "a.b.example.com"));
        assert!(matches(
            "spiffe://cluster.local/ns/*/sa/*",
            "spiffe://cluster.local/ns/prod/sa/web"
        ));
        assert!(!matches("spiffe://cluster.local/ns/*/sa/*", "spiffe://other/ns/prod/sa/web"));
        assert!(any_matches(&["x".into(), "team-*".into()], "team-a"));
        assert!(!any_matches(&[], "team-a"));
    }
}
