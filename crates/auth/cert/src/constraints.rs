//! A role's constraints on the client certificate, as Vault applies them: every list is a
//! set of globs of which at least one must match (an empty or unset list admits anything),
//! and every `required_extensions` entry (`<oid>:<glob>`) must match the named extension.

use coffer_framework::glob;

use crate::client_cert::ClientCert;
use crate::path_certs::CertRole;

/// Whether any of `patterns` matches any of `values`; no patterns admit anything.
fn any_of(patterns: &[String], values: &[String]) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| values.iter().any(|v| glob::matches(p, v)))
}

/// Whether `cert` satisfies every constraint of `role`.
pub(crate) fn matches(role: &CertRole, cert: &ClientCert) -> bool {
    let common_name = std::slice::from_ref(&cert.common_name);
    // The deprecated `allowed_names` matches the CN, a DNS name or an e-mail address.
    let any_name: Vec<String> =
        common_name.iter().chain(&cert.dns_sans).chain(&cert.email_sans).cloned().collect();
    any_of(role.list("allowed_names"), &any_name)
        && any_of(role.list("allowed_common_names"), common_name)
        && any_of(role.list("allowed_dns_sans"), &cert.dns_sans)
        && any_of(role.list("allowed_email_sans"), &cert.email_sans)
        && any_of(role.list("allowed_uri_sans"), &cert.uri_sans)
        && any_of(role.list("allowed_organizational_units"), &cert.organizational_units)
        && role.list("required_extensions").iter().all(|required| {
            let Some((oid, pattern)) = required.split_once(':') else { return false };
            cert.extension(oid).is_some_and(|value| glob::matches(pattern, value))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert() -> ClientCert {
        ClientCert {
            common_name: "web.client.test".into(),
            organizational_units: vec!["eng".into()],
            dns_sans: vec!["web.internal".into()],
            email_sans: vec!["ops@example.com".into()],
            uri_sans: vec!["spiffe://prod/web".into()],
            extensions: vec![("1.2.3.4".into(), "hello".into()), ("2.5.29.19".into(), "".into())],
            ..ClientCert::default()
        }
    }

    fn role(list: &str, values: &[&str]) -> CertRole {
        let mut role = CertRole::default();
        role.lists.insert(list.into(), values.iter().map(|s| s.to_string()).collect());
        role
    }

    #[test]
    fn empty_lists_admit_anything() {
        assert!(matches(&CertRole::default(), &cert()));
        assert!(matches(&role("allowed_common_names", &[]), &cert()));
    }

    #[test]
    fn each_list_matches_its_own_names() {
        let cases = [
            ("allowed_common_names", "web.*", "api.*"),
            ("allowed_dns_sans", "*.internal", "web.client.test"),
            ("allowed_email_sans", "ops@*", "dev@*"),
            ("allowed_uri_sans", "spiffe://prod/*", "spiffe://dev/*"),
            ("allowed_organizational_units", "eng", "sales"),
            ("allowed_names", "ops@example.com", "nobody"),
        ];
        for (list, good, bad) in cases {
            assert!(matches(&role(list, &[bad, good]), &cert()), "{list} {good}");
            assert!(!matches(&role(list, &[bad]), &cert()), "{list} {bad}");
        }
    }

    #[test]
    fn required_extensions_all_match() {
        assert!(matches(&role("required_extensions", &["1.2.3.4:hel*"]), &cert()));
        assert!(matches(&role("required_extensions", &["2.5.29.19:*"]), &cert()));
        assert!(!matches(&role("required_extensions", &["1.2.3.4:bye"]), &cert()));
        assert!(!matches(&role("required_extensions", &["1.2.3.4:*", "9.9:*"]), &cert()));
        assert!(!matches(&role("required_extensions", &["1.2.3.4"]), &cert()));
    }
}
