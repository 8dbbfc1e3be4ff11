//! Source addresses for a loopback target: one address runs out of ephemeral ports near 28,000
//! connections to one server port (fewer with TIME_WAIT left from earlier runs), so a large run
//! against 127.0.0.1 spreads its agents over 127.0.0.1, 127.0.0.2, ... (all of 127.0.0.0/8 is
//! the loopback interface on Linux). Remote targets are never bound: which addresses a real
//! machine may use is its operator's business.

use std::net::{IpAddr, Ipv4Addr};

/// Agents per source address: well under the ~28,000 ephemeral ports of one address, leaving
/// room for the pooled REST connections and for ports still in TIME_WAIT.
const AGENTS_PER_ADDRESS: usize = 8_000;

/// The source addresses to spread `agents` over for a target at `base_url`: empty (the system
/// chooses) unless the target is an IPv4 loopback literal and one address would not do.
pub(crate) fn source_addresses(base_url: &str, agents: usize) -> Vec<IpAddr> {
    let loopback = url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().and_then(|h| h.parse::<Ipv4Addr>().ok()))
        .is_some_and(|ip| ip.is_loopback());
    let count = agents.div_ceil(AGENTS_PER_ADDRESS);
    if !loopback || count <= 1 {
        return Vec::new();
    }
    // At most 127.0.0.1..=127.0.0.254: far more than any run on one machine needs.
    (1..=count.min(254) as u8).map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_runs_against_loopback_are_spread() {
        assert!(source_addresses("http://127.0.0.1:8090", 5_000).is_empty());
        assert!(source_addresses("http://gws.example:8090", 50_000).is_empty());
        assert!(source_addresses("http://localhost:8090", 50_000).is_empty());
        assert!(source_addresses("not a url", 50_000).is_empty());
        let spread = source_addresses("http://127.0.0.1:8090", 15_000);
        assert_eq!(
            spread,
            vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))]
        );
        assert_eq!(source_addresses("http://127.0.0.1:1", 10_000_000).len(), 254);
    }
}
