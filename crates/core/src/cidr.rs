//! CIDR blocks (`10.0.0.0/8`, `::1/128`, a bare address) for token and login bindings.

use std::net::IpAddr;

/// Whether `addr` lies in `cidr` (invalid blocks match nothing).
pub fn contains(cidr: &str, addr: IpAddr) -> bool {
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else { return false };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Whether `addr` is allowed by `cidrs` (an empty list allows everything; no address known
/// with a non-empty list is refused).
pub fn allowed(cidrs: &[String], addr: Option<IpAddr>) -> bool {
    if cidrs.is_empty() {
        return true;
    }
    addr.is_some_and(|a| cidrs.iter().any(|c| contains(c, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_match() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(contains("10.0.0.0/8", ip("10.1.2.3")));
        assert!(!contains("10.0.0.0/8", ip("11.1.2.3")));
        assert!(contains("127.0.0.1", ip("127.0.0.1")));
        assert!(contains("::1/128", ip("::1")));
        assert!(!contains("garbage", ip("127.0.0.1")));
        assert!(allowed(&[], None));
        assert!(!allowed(&["10.0.0.0/8".into()], None));
    }
}
