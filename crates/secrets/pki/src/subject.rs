//! Subject and subject-alternative-name parameters as clients send them.

use std::net::IpAddr;

use coffer_framework::Req;
use coffer_types::{Error, Result};
use rcgen::{DistinguishedName, DnType, DnValue, OtherNameValue, SanType};

/// Subject fields, in the order Go's `pkix.Name` writes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subject {
    /// Common name.
    pub common_name: String,
    /// C.
    pub country: Vec<String>,
    /// ST.
    pub province: Vec<String>,
    /// L.
    pub locality: Vec<String>,
    /// street.
    pub street_address: Vec<String>,
    /// postalCode.
    pub postal_code: Vec<String>,
    /// O.
    pub organization: Vec<String>,
    /// OU.
    pub ou: Vec<String>,
    /// serialNumber attribute.
    pub serial_number: String,
    /// UID attribute (`user_ids`).
    pub user_id: String,
}

impl Subject {
    /// The subject fields of a request (CA generation and signing paths).
    pub(crate) fn from_req(req: &Req) -> Result<Self> {
        Ok(Subject {
            common_name: req.str("common_name")?.trim().to_string(),
            country: req.list("country")?,
            province: req.list("province")?,
            locality: req.list("locality")?,
            street_address: req.list("street_address")?,
            postal_code: req.list("postal_code")?,
            organization: req.list("organization")?,
            ou: req.list("ou")?,
            serial_number: req.str("serial_number")?,
            user_id: String::new(),
        })
    }

    /// The distinguished name. rcgen holds one value per attribute type, so only the first
    /// of a repeated field is used.
    pub(crate) fn to_dn(&self) -> Result<DistinguishedName> {
        let mut dn = DistinguishedName::new();
        if let Some(c) = self.country.first() {
            let value = rcgen::string::PrintableString::try_from(c.as_str())
                .map(DnValue::PrintableString)
                .unwrap_or_else(|_| DnValue::Utf8String(c.clone()));
            dn.push(DnType::CountryName, value);
        }
        let fields: [(&Vec<String>, DnType); 6] = [
            (&self.province, DnType::StateOrProvinceName),
            (&self.locality, DnType::LocalityName),
            (&self.street_address, DnType::CustomDnType(vec![2, 5, 4, 9])),
            (&self.postal_code, DnType::CustomDnType(vec![2, 5, 4, 17])),
            (&self.organization, DnType::OrganizationName),
            (&self.ou, DnType::OrganizationalUnitName),
        ];
        for (values, ty) in fields {
            if let Some(v) = values.first() {
                dn.push(ty, v.as_str());
            }
        }
        if !self.common_name.is_empty() {
            dn.push(DnType::CommonName, self.common_name.as_str());
        }
        if !self.serial_number.is_empty() {
            dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), self.serial_number.as_str());
        }
        if !self.user_id.is_empty() {
            dn.push(
                DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
                self.user_id.as_str(),
            );
        }
        Ok(dn)
    }
}

/// Subject alternative names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sans {
    /// DNS names.
    pub dns: Vec<String>,
    /// Email addresses.
    pub email: Vec<String>,
    /// IP addresses.
    pub ip: Vec<IpAddr>,
    /// URIs.
    pub uri: Vec<String>,
    /// otherName values: OID and UTF-8 value.
    pub other: Vec<(String, String)>,
}

impl Sans {
    /// The SANs of a request: `alt_names` (DNS or email), `ip_sans`, `uri_sans`, `other_sans`.
    pub(crate) fn from_req(req: &Req) -> Result<Self> {
        let mut sans = Sans::default();
        for name in req.list("alt_names")? {
            sans.push_name(&name);
        }
        for ip in req.list("ip_sans")? {
            sans.ip.push(parse_ip(&ip)?);
        }
        sans.uri = req.list("uri_sans")?;
        for other in req.list("other_sans")? {
            sans.other.push(parse_other_san(&other)?);
        }
        Ok(sans)
    }

    /// Adds a DNS name or an email address (when it contains `@`), without duplicates.
    pub(crate) fn push_name(&mut self, name: &str) {
        let list = if name.contains('@') { &mut self.email } else { &mut self.dns };
        if !list.iter().any(|n| n == name) {
            list.push(name.to_string());
        }
    }

    /// The SANs as rcgen values.
    pub(crate) fn to_rcgen(&self) -> Result<Vec<SanType>> {
        let ia5 = |s: &str| {
            rcgen::string::Ia5String::try_from(s)
                .map_err(|_| Error::invalid(format!("invalid characters in name: {s}")))
        };
        let mut out = Vec::new();
        for d in &self.dns {
            out.push(SanType::DnsName(ia5(d)?));
        }
        for e in &self.email {
            out.push(SanType::Rfc822Name(ia5(e)?));
        }
        for ip in &self.ip {
            out.push(SanType::IpAddress(*ip));
        }
        for u in &self.uri {
            out.push(SanType::URI(ia5(u)?));
        }
        for (oid, value) in &self.other {
            out.push(SanType::OtherName((
                oid_arcs(oid)?,
                OtherNameValue::Utf8String(value.clone()),
            )));
        }
        Ok(out)
    }
}

/// Parses an IP SAN; a `/32` or `/128` host suffix is accepted.
pub(crate) fn parse_ip(text: &str) -> Result<IpAddr> {
    let host = text.trim();
    let host = host.strip_suffix("/32").or_else(|| host.strip_suffix("/128")).unwrap_or(host);
    host.parse()
        .map_err(|_| Error::invalid(format!("the value {text:?} is not a valid IP address")))
}

/// Parses `oid;UTF8:value` (also `UTF-8`).
pub(crate) fn parse_other_san(text: &str) -> Result<(String, String)> {
    let bad = || {
        Error::invalid(format!("could not parse other SAN {text:?}: expected <oid>;UTF8:<value>"))
    };
    let (oid, rest) = text.split_once(';').ok_or_else(bad)?;
    let (kind, value) = rest.split_once(':').ok_or_else(bad)?;
    if !matches!(kind.to_ascii_uppercase().as_str(), "UTF8" | "UTF-8") {
        return Err(bad());
    }
    oid_arcs(oid)?;
    Ok((oid.trim().to_string(), value.to_string()))
}

/// The arcs of a dotted OID.
pub(crate) fn oid_arcs(oid: &str) -> Result<Vec<u64>> {
    let arcs: Option<Vec<u64>> = oid.trim().split('.').map(|a| a.parse().ok()).collect();
    match arcs {
        Some(a) if a.len() >= 2 => Ok(a),
        _ => Err(Error::invalid(format!("invalid OID: {oid}"))),
    }
}
