//! CIDR blocks as Vault accepts them (`10.0.0.0/8`, a bare address for a single host) and
//! the source-address checks a login makes against them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use coffer_types::{Error, Result};

/// A parsed CIDR block. A full-length prefix prints as the bare address, as Vault echoes
/// `127.0.0.1/32` back as `127.0.0.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    /// Whether `ip` lies in this block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::invalid(format!("invalid CIDR block {s:?}"));
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = Cidr::max_prefix(addr);
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix == Cidr::max_prefix(self.addr) {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

/// Parses a list of CIDR blocks into their canonical strings (the form stored and echoed).
pub fn canonical_list(items: &[String]) -> Result<Vec<String>> {
    items.iter().map(|s| s.parse::<Cidr>().map(|c| c.to_string())).collect()
}

/// Checks that the login's source address lies in one of `blocks` (no check when empty).
/// Fails closed: with bindings but no known source address the login is refused. `what`
/// names the binding in the error (`"the secret ID"`, `"the role"`).
pub fn check_source(remote: Option<SocketAddr>, blocks: &[String], what: &str) -> Result<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    let Some(remote) = remote else {
        return Err(Error::invalid(format!(
            "source address unknown: cannot enforce the CIDR restrictions on {what}"
        )));
    };
    let ip = remote.ip();
    for block in blocks {
        if block.parse::<Cidr>()?.contains(ip) {
            return Ok(());
        }
    }
    Err(Error::invalid(format!(
        "source address {:?} unauthorized through CIDR restrictions on {what}",
        ip.to_canonical().to_string()
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_echoes_like_vault() {
        assert_eq!(cidr("127.0.0.1/32").to_string(), "127.0.0.1");
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("::1").to_string(), "::1");
        assert_eq!(cidr("fd00::/8").to_string(), "fd00::/8");
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
        assert!("10.0.0.0/x".parse::<Cidr>().is_err());
    }

    #[test]
    fn containment() {
        assert!(cidr("10.0.0.0/8").contains("10.2.3.4".parse().unwrap()));
        assert!(!cidr("10.0.0.0/8").contains("11.2.3.4".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert!(cidr("127.0.0.1").contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!cidr("127.0.0.1").contains("::1".parse().unwrap()));
        assert!(cidr("fd00::/8").contains("fd12::1".parse().unwrap()));
    }

    #[test]
    fn source_checks_fail_closed() {
        let blocks = vec!["10.0.0.0/8".to_string()];
        assert!(check_source(None, &[], "the role").is_ok());
        assert!(check_source(None, &blocks, "the role").is_err());
        assert!(check_source(Some("10.1.1.1:5000".parse().unwrap()), &blocks, "the role").is_ok());
        assert!(check_source(Some("11.1.1.1:5000".parse().unwrap()), &blocks, "the role").is_err());
    }
}
