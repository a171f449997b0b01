//! Vault's globs: `*` matches any run of characters (including none), every other character
//! matches itself. Used by bound claims of type `glob` and by Kubernetes name bindings.

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
        assert!(any_matches(&["x".into(), "team-*".into()], "team-a"));
        assert!(!any_matches(&[], "team-a"));
    }
}
