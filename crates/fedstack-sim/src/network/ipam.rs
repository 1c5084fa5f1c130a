//! IP address management of one subnet: allocation pools, the addresses in use, and a cursor
//! so that handing out the next free address is amortised O(1) instead of a scan of all ports.

use ipnet::IpNet;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address as an integer (IPv4 in the low 32 bits), to walk ranges.
pub fn to_int(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address of integer `n` in the family of `like`.
pub fn from_int(n: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// The first and last usable host addresses of a CIDR, as Neutron counts them: IPv4 skips
/// the network and broadcast addresses, IPv6 only the subnet-router anycast address.
pub fn host_bounds(cidr: &IpNet) -> (u128, u128) {
    let first = to_int(cidr.network());
    let last = to_int(cidr.broadcast());
    match cidr {
        IpNet::V4(n) if n.prefix_len() >= 31 => (first, last),
        IpNet::V4(_) => (first + 1, last.saturating_sub(1)),
        IpNet::V6(_) => (first.saturating_add(1), last),
    }
}

/// The default allocation pools: every host address except the gateway.
pub fn default_pools(cidr: &IpNet, gateway: Option<IpAddr>) -> Vec<(u128, u128)> {
    let (lo, hi) = host_bounds(cidr);
    if lo > hi {
        return vec![];
    }
    match gateway.map(to_int).filter(|g| (lo..=hi).contains(g)) {
        None => vec![(lo, hi)],
        Some(g) => {
            let mut pools = Vec::with_capacity(2);
            if g > lo {
                pools.push((lo, g - 1));
            }
            if g < hi {
                pools.push((g + 1, hi));
            }
            pools
        }
    }
}

/// Addresses of one subnet: its pools and which addresses are taken.
#[derive(Debug, Clone, Default)]
pub struct Ipam {
    pools: Vec<(u128, u128)>,
    pool_size: u128,
    used: HashSet<u128>,
    used_in_pools: u128,
    cursor: u128,
}

impl Ipam {
    /// An allocator over inclusive `pools`.
    pub fn new(mut pools: Vec<(u128, u128)>) -> Self {
        pools.sort_unstable();
        let pool_size = pools.iter().fold(0u128, |n, (a, b)| {
            n.saturating_add((b - a).saturating_add(1))
        });
        let cursor = pools.first().map(|p| p.0).unwrap_or(0);
        Ipam {
            pools,
            pool_size,
            used: HashSet::new(),
            used_in_pools: 0,
            cursor,
        }
    }

    /// The pools, in order.
    pub fn pools(&self) -> &[(u128, u128)] {
        &self.pools
    }

    /// Replaces the pools, keeping the addresses in use.
    pub fn set_pools(&mut self, pools: Vec<(u128, u128)>) {
        let used = std::mem::take(&mut self.used);
        *self = Ipam::new(pools);
        for a in used {
            self.take(a);
        }
    }

    fn in_pools(&self, a: u128) -> bool {
        self.pools.iter().any(|(lo, hi)| (*lo..=*hi).contains(&a))
    }

    /// True when `a` is allocated.
    pub fn is_used(&self, a: u128) -> bool {
        self.used.contains(&a)
    }

    /// True when any address is allocated.
    pub fn has_allocations(&self) -> bool {
        !self.used.is_empty()
    }

    /// Number of addresses in the pools, and how many addresses are allocated (in the
    /// pools or not), as Neutron's IP availability counts them.
    pub fn usage(&self) -> (u128, usize) {
        (self.pool_size, self.used.len())
    }

    /// Marks `a` allocated; false when it already was.
    pub fn take(&mut self, a: u128) -> bool {
        if !self.used.insert(a) {
            return false;
        }
        if self.in_pools(a) {
            self.used_in_pools += 1;
        }
        true
    }

    /// Frees `a`.
    pub fn release(&mut self, a: u128) {
        if self.used.remove(&a) && self.in_pools(a) {
            self.used_in_pools -= 1;
        }
    }

    /// Allocates the next free address of the pools after the cursor (wrapping once).
    pub fn allocate(&mut self) -> Option<u128> {
        if self.used_in_pools >= self.pool_size {
            return None;
        }
        let start = self
            .pools
            .iter()
            .position(|(_, hi)| *hi >= self.cursor)
            .unwrap_or(0);
        let n = self.pools.len();
        for k in 0..=n {
            let (lo, hi) = self.pools[(start + k) % n];
            let start = if k == 0 { lo.max(self.cursor) } else { lo };
            if let Some(a) = (start..=hi).find(|a| !self.used.contains(a)) {
                self.take(a);
                self.cursor = a.wrapping_add(1);
                return Some(a);
            }
        }
        None
    }
}

/// The EUI-64 address of `mac` in an IPv6 /64 `cidr` (SLAAC), as Neutron computes it.
pub fn eui64(cidr: &IpNet, mac: u64) -> IpAddr {
    let b = mac.to_be_bytes();
    let iid = u64::from_be_bytes([b[2] ^ 0x02, b[3], b[4], 0xff, 0xfe, b[5], b[6], b[7]]);
    let prefix = to_int(cidr.network()) & !(u64::MAX as u128);
    IpAddr::V6(Ipv6Addr::from(prefix | iid as u128))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("cidr")
    }

    #[test]
    fn default_pools_skip_the_gateway() {
        let c = net("192.168.150.0/24");
        let gw: IpAddr = "192.168.150.1".parse().expect("ip");
        let p = default_pools(&c, Some(gw));
        assert_eq!(p.len(), 1);
        assert_eq!(from_int(p[0].0, gw).to_string(), "192.168.150.2");
        assert_eq!(from_int(p[0].1, gw).to_string(), "192.168.150.254");
        let gw: IpAddr = "192.168.150.100".parse().expect("ip");
        assert_eq!(default_pools(&c, Some(gw)).len(), 2);
        let v6 = net("fd00:c0de::/64");
        let gw: IpAddr = "fd00:c0de::".parse().expect("ip");
        let p = default_pools(&v6, Some(gw));
        assert_eq!(from_int(p[0].0, gw).to_string(), "fd00:c0de::1");
        assert_eq!(
            from_int(p[0].1, gw).to_string(),
            "fd00:c0de::ffff:ffff:ffff:ffff"
        );
    }

    #[test]
    fn allocates_in_order_and_reuses_freed() {
        let mut ipam = Ipam::new(vec![(10, 12)]);
        assert_eq!(ipam.allocate(), Some(10));
        assert!(ipam.take(12));
        assert_eq!(ipam.allocate(), Some(11));
        assert_eq!(ipam.allocate(), None);
        ipam.release(10);
        assert_eq!(ipam.allocate(), Some(10));
        assert!(!ipam.take(10));
    }

    #[test]
    fn the_top_of_the_address_space_does_not_overflow() {
        let top = net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124");
        let mut ipam = Ipam::new(default_pools(&top, None));
        let mut n = 0;
        while ipam.allocate().is_some() {
            n += 1;
        }
        assert_eq!(n, 15);
        let (lo, hi) = host_bounds(&net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"));
        assert_eq!((lo, hi), (u128::MAX, u128::MAX));
    }

    #[test]
    fn slaac_address_from_mac() {
        let mac = 0xfa163e307714u64;
        assert_eq!(
            eui64(&net("fd00:c0de::/64"), mac).to_string(),
            "fd00:c0de::f816:3eff:fe30:7714"
        );
    }
}
