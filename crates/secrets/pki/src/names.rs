//! Which names a role allows: hostnames, wildcards, emails, globs, URI SANs (SPIFFE IDs),
//! IP SANs and other SANs, with Vault's rules and error messages.

use std::net::IpAddr;

use coffer_framework::glob;
use coffer_types::{Error, Result};

use crate::path_roles::Role;

/// Whether `name` is a syntactically valid hostname (letters, digits, `-`, `_` in labels;
/// labels of at most 63 characters, not starting or ending with `-`).
pub(crate) fn valid_hostname(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// Whether `name` is a valid email address with a valid domain.
pub(crate) fn valid_email(name: &str) -> bool {
    match name.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.contains('@') && valid_hostname(domain)
        }
        None => false,
    }
}

/// A name split the way the checks need it.
struct Candidate<'a> {
    /// The name as given.
    full: &'a str,
    /// The part compared against the allowed domains: the domain of an email, the name
    /// without its wildcard label.
    base: &'a str,
    is_email: bool,
    is_wildcard: bool,
}

fn candidate(name: &str) -> Result<Candidate<'_>> {
    if let Some((_, domain)) = name.split_once('@') {
        return Ok(Candidate { full: name, base: domain, is_email: true, is_wildcard: false });
    }
    let first_label = name.split('.').next().unwrap_or(name);
    if first_label.contains('*') {
        if first_label.matches('*').count() > 1 || name[first_label.len()..].contains('*') {
            return Err(Error::invalid(format!("invalid wildcard in name {name}")));
        }
        let base = name.get(first_label.len() + 1..).unwrap_or("");
        return Ok(Candidate { full: name, base, is_email: false, is_wildcard: true });
    }
    Ok(Candidate { full: name, base: name, is_email: false, is_wildcard: false })
}

/// Whether the role allows one DNS name or email (`display_name` is the caller's token
/// display name, for `allow_token_displayname`).
pub(crate) fn name_allowed(role: &Role, name: &str, display_name: &str) -> bool {
    let Ok(c) = candidate(name) else { return false };
    if c.is_wildcard && !role.allow_wildcard_certificates {
        return false;
    }
    if role.enforce_hostnames {
        let host_ok = if c.is_email {
            valid_email(c.full)
        } else if c.is_wildcard {
            valid_hostname(c.base)
        } else {
            valid_hostname(c.full)
        };
        if !host_ok {
            return false;
        }
    }
    if role.allow_any_name {
        return true;
    }
    if role.allow_localhost {
        let local = |n: &str| n == "localhost" || n == "localdomain";
        if (!c.is_email && !c.is_wildcard && local(c.full)) || (c.is_email && local(c.base)) {
            return true;
        }
    }
    if role.allow_token_displayname && !display_name.is_empty() {
        let local_part = c.full.split('@').next().unwrap_or("");
        if c.full == display_name || (c.is_email && local_part == display_name) {
            return true;
        }
    }
    for domain in role.allowed_domains.iter().map(String::as_str).filter(|d| !d.is_empty()) {
        let domain = domain.trim_end_matches('.');
        if role.allow_bare_domains && !c.is_wildcard && c.base.eq_ignore_ascii_case(domain) {
            return true;
        }
        if role.allow_subdomains {
            let suffix = format!(".{domain}");
            let base_lower = c.base.to_ascii_lowercase();
            if base_lower.ends_with(&suffix.to_ascii_lowercase())
                || (c.is_wildcard && base_lower == domain.to_ascii_lowercase())
            {
                return true;
            }
        }
        if role.allow_glob_domains
            && domain.contains('*')
            && glob::matches(&domain.to_ascii_lowercase(), &c.full.to_ascii_lowercase())
        {
            return true;
        }
    }
    false
}

/// Checks the common name: syntax per `cn_validations` (unless any name is allowed), then
/// the role's name rules. The error names the common name.
pub(crate) fn check_common_name(role: &Role, cn: &str, display_name: &str) -> Result<()> {
    if cn.is_empty() {
        return Ok(());
    }
    let denied = || Error::invalid(format!("common name {cn} not allowed by this role"));
    let validations: Vec<&str> = role.cn_validations.iter().map(String::as_str).collect();
    if validations.contains(&"disabled") {
        return Ok(());
    }
    let is_email = cn.contains('@');
    if is_email && !validations.contains(&"email") && !validations.is_empty() {
        return Err(denied());
    }
    if !is_email && !validations.contains(&"hostname") && !validations.is_empty() {
        return Err(denied());
    }
    if name_allowed(role, cn, display_name) { Ok(()) } else { Err(denied()) }
}

/// Checks DNS and email SANs.
pub(crate) fn check_alt_names<'a>(
    role: &Role,
    names: impl IntoIterator<Item = &'a String>,
    display_name: &str,
) -> Result<()> {
    for name in names {
        if !name_allowed(role, name, display_name) {
            return Err(Error::invalid(format!(
                "subject alternate name {name} not allowed by this role"
            )));
        }
    }
    Ok(())
}

/// Checks IP SANs against `allow_ip_sans` and `allowed_ip_sans_cidr`.
pub(crate) fn check_ips(role: &Role, ips: &[IpAddr]) -> Result<()> {
    if ips.is_empty() {
        return Ok(());
    }
    if !role.allow_ip_sans {
        let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
        return Err(Error::invalid(format!(
            "IP Subject Alternative Names are not allowed in this role, but was provided {}",
            list.join(", ")
        )));
    }
    if role.allowed_ip_sans_cidr.is_empty() {
        return Ok(());
    }
    for ip in ips {
        if !role.allowed_ip_sans_cidr.iter().any(|cidr| cidr_contains(cidr, *ip)) {
            return Err(Error::invalid(format!(
                "IP Subject Alternative Name {ip} not allowed by this role"
            )));
        }
    }
    Ok(())
}

/// Whether `cidr` (`10.0.0.0/8`, or a bare address) contains `ip`.
pub(crate) fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    let (addr, len) = match cidr.split_once('/') {
        Some((a, l)) => (a, l.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else { return false };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let len = len.unwrap_or(32).min(32);
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let len = len.unwrap_or(128).min(128);
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Checks URI SANs against `allowed_uri_sans` globs (SPIFFE IDs such as
/// `spiffe://cluster.local/ns/*/sa/*`).
pub(crate) fn check_uris(role: &Role, uris: &[String]) -> Result<()> {
    if uris.is_empty() {
        return Ok(());
    }
    if role.allowed_uri_sans.is_empty() {
        return Err(Error::invalid(
            "URI Subject Alternative Names are not allowed in this role, but were provided via the API",
        ));
    }
    for uri in uris {
        if !role.allowed_uri_sans.iter().any(|pattern| glob::matches(pattern, uri)) {
            return Err(Error::invalid(format!(
                "URI Subject Alternative Name {uri} not allowed by this role"
            )));
        }
    }
    Ok(())
}

/// Checks other SANs (`oid;UTF8:value`) against `allowed_other_sans` (`*` allows all).
pub(crate) fn check_other_sans(role: &Role, others: &[(String, String)]) -> Result<()> {
    for (oid, value) in others {
        let allowed = role.allowed_other_sans.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            let Some((allowed_oid, rest)) = entry.split_once(';') else { return false };
            let Some((_, allowed_value)) = rest.split_once(':') else { return false };
            allowed_oid.trim() == oid && glob::matches(allowed_value, value)
        });
        if !allowed {
            return Err(Error::invalid(format!(
                "other SAN {oid};UTF8:{value} not allowed by this role"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(f: impl FnOnce(&mut Role)) -> Role {
        let mut r = Role::default();
        f(&mut r);
        r
    }

    #[test]
    fn domain_rules() {
        let r = role(|r| {
            r.allowed_domains = vec!["svc.example.internal".into()];
            r.allow_subdomains = true;
        });
        assert!(name_allowed(&r, "web.svc.example.internal", ""));
        assert!(name_allowed(&r, "a.b.svc.example.internal", ""));
        assert!(name_allowed(&r, "*.svc.example.internal", ""));
        assert!(!name_allowed(&r, "svc.example.internal", ""));
        assert!(!name_allowed(&r, "evil.example.com", ""));
        assert!(!name_allowed(&r, "evilsvc.example.internal", ""));
        assert!(name_allowed(&r, "localhost", ""));
        assert!(
            check_common_name(&r, "evil.example.com", "")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("evil.example.com")
        );
        let bare = role(|r| {
            r.allowed_domains = vec!["example.com".into()];
            r.allow_bare_domains = true;
            r.allow_localhost = false;
        });
        assert!(name_allowed(&bare, "example.com", ""));
        assert!(!name_allowed(&bare, "www.example.com", ""));
        assert!(!name_allowed(&bare, "localhost", ""));
        assert!(name_allowed(&bare, "ops@example.com", ""));
        let no_wild = role(|r| {
            r.allowed_domains = vec!["example.com".into()];
            r.allow_subdomains = true;
            r.allow_wildcard_certificates = false;
        });
        assert!(!name_allowed(&no_wild, "*.example.com", ""));
        let glob = role(|r| {
            r.allowed_domains = vec!["*.prod.example.com".into()];
            r.allow_glob_domains = true;
        });
        assert!(name_allowed(&glob, "api.prod.example.com", ""));
        assert!(!name_allowed(&glob, "api.dev.example.com", ""));
        let any = role(|r| r.allow_any_name = true);
        assert!(name_allowed(&any, "whatever.test", ""));
        assert!(!name_allowed(&any, "not a hostname", ""));
    }

    #[test]
    fn sans_rules() {
        let r = role(|r| r.allowed_uri_sans = vec!["spiffe://cluster.local/ns/*/sa/*".into()]);
        assert!(check_uris(&r, &["spiffe://cluster.local/ns/a/sa/b".into()]).is_ok());
        assert!(check_uris(&r, &["spiffe://evil/ns/a/sa/b".into()]).is_err());
        assert!(check_uris(&Role::default(), &["spiffe://x".into()]).is_err());
        let ips: Vec<IpAddr> = vec!["10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))];
        assert!(check_ips(&Role::default(), &ips).is_ok());
        assert!(check_ips(&role(|r| r.allow_ip_sans = false), &ips).is_err());
        assert!(
            check_ips(&role(|r| r.allowed_ip_sans_cidr = vec!["10.0.0.0/8".into()]), &ips).is_ok()
        );
        assert!(
            check_ips(&role(|r| r.allowed_ip_sans_cidr = vec!["192.168.0.0/16".into()]), &ips)
                .is_err()
        );
        let other = vec![("1.2.3".to_string(), "x@y".to_string())];
        assert!(check_other_sans(&Role::default(), &other).is_err());
        assert!(
            check_other_sans(
                &role(|r| r.allowed_other_sans = vec!["1.2.3;UTF8:*@y".into()]),
                &other
            )
            .is_ok()
        );
    }
}
