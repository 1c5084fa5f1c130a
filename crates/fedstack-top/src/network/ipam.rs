//! Central IPAM: the top hands out every fixed IP and MAC of top networks. An address is
//! taken by inserting it under the store's `(subnet_id, ip_address)` key, so two top nodes
//! (or two concurrent requests) can never give out the same one: the loser of a race moves
//! on to another free address.

use super::{neutron_error, store_err};
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::ApiError;
use fedstack_store::StoreError;
use ipnet::IpNet;
use serde_json::Value;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Attempts before a contended allocation gives up.
const MAX_ATTEMPTS: usize = 256;

/// An address as an integer (IPv4 in the low 32 bits).
pub fn to_int(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_int(n: u128, like: &IpNet) -> IpAddr {
    match like {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// The default allocation pool of a CIDR: its host addresses without the gateway, as
/// `(start, end)` pairs.
pub fn default_pools(cidr: &IpNet, gateway: Option<IpAddr>) -> Vec<(IpAddr, IpAddr)> {
    let first = to_int(cidr.network());
    let last = to_int(cidr.broadcast());
    let (lo, hi) = match cidr {
        IpNet::V4(n) if n.prefix_len() >= 31 => (first, last),
        IpNet::V4(_) => (first + 1, last.saturating_sub(1)),
        IpNet::V6(_) => (first.saturating_add(1), last),
    };
    if lo > hi {
        return vec![];
    }
    let mut ranges = vec![];
    match gateway.map(to_int).filter(|g| (lo..=hi).contains(g)) {
        None => ranges.push((lo, hi)),
        Some(g) => {
            if g > lo {
                ranges.push((lo, g - 1));
            }
            if g < hi {
                ranges.push((g + 1, hi));
            }
        }
    }
    ranges
        .into_iter()
        .map(|(a, b)| (from_int(a, cidr), from_int(b, cidr)))
        .collect()
}

/// The addressing of one top subnet, read from its document.
#[derive(Debug, Clone)]
pub struct SubnetPlan {
    pub id: String,
    pub cidr: IpNet,
    pub gateway: Option<IpAddr>,
    /// Inclusive ranges, as integers.
    pub pools: Vec<(u128, u128)>,
}

impl SubnetPlan {
    /// Reads `cidr`, `gateway_ip` and `allocation_pools` of a subnet document.
    pub fn of(subnet: &Value) -> Option<SubnetPlan> {
        let cidr: IpNet = subnet["cidr"].as_str()?.parse().ok()?;
        let gateway = subnet["gateway_ip"].as_str().and_then(|g| g.parse().ok());
        let pools = subnet["allocation_pools"]
            .as_array()?
            .iter()
            .filter_map(|p| {
                let a: IpAddr = p["start"].as_str()?.parse().ok()?;
                let b: IpAddr = p["end"].as_str()?.parse().ok()?;
                Some((to_int(a), to_int(b)))
            })
            .collect();
        Some(SubnetPlan {
            id: subnet["id"].as_str()?.to_string(),
            cidr,
            gateway,
            pools,
        })
    }

    /// True when `ip` is a host address of the subnet a port may hold (not the network
    /// or, for IPv4, the broadcast address).
    pub fn holds(&self, ip: IpAddr) -> bool {
        if !self.cidr.contains(&ip) {
            return false;
        }
        match self.cidr {
            IpNet::V4(n) if n.prefix_len() < 31 => {
                ip != self.cidr.network() && ip != self.cidr.broadcast()
            }
            _ => true,
        }
    }

    /// The `skip`-th free pool address, never the gateway (skipping lets racing allocators
    /// spread out).
    pub fn nth_free(&self, used: &HashSet<u128>, skip: usize) -> Option<IpAddr> {
        self.pools
            .iter()
            .flat_map(|(a, b)| *a..=*b)
            .filter(|n| !used.contains(n) && Some(*n) != self.gateway.map(to_int))
            .nth(skip)
            .map(|n| from_int(n, &self.cidr))
    }
}

/// Neutron's 409 for an address another port holds.
pub fn in_use(ip: &str, subnet_id: &str) -> ApiError {
    neutron_error(
        StatusCode::CONFLICT,
        "IpAddressAlreadyAllocated",
        format!("IP address {ip} already allocated in subnet {subnet_id}"),
    )
}

/// Gives `port_id` an address of `plan`: `wanted` when given (409 when taken), else a free
/// pool address (409 `IpAddressGenerationFailure` when none is left).
pub async fn allocate(
    top: &Top,
    plan: &SubnetPlan,
    network_id: &str,
    port_id: &str,
    wanted: Option<IpAddr>,
) -> Result<IpAddr, ApiError> {
    if let Some(ip) = wanted {
        return match top
            .store
            .allocate_ip(&plan.id, &ip.to_string(), port_id)
            .await
        {
            Ok(()) => Ok(ip),
            Err(StoreError::Conflict(_)) => Err(in_use(&ip.to_string(), &plan.id)),
            Err(e) => Err(store_err(e)),
        };
    }
    for attempt in 0..MAX_ATTEMPTS {
        let used: HashSet<u128> = top
            .store
            .allocated_ips(&plan.id)
            .await
            .map_err(store_err)?
            .iter()
            .filter_map(|s| s.parse().ok().map(to_int))
            .collect();
        let skip = if attempt == 0 {
            0
        } else {
            rand::random::<usize>() % attempt.min(16)
        };
        let ip = plan
            .nth_free(&used, skip)
            .or_else(|| plan.nth_free(&used, 0))
            .ok_or_else(|| exhausted(network_id))?;
        match top
            .store
            .allocate_ip(&plan.id, &ip.to_string(), port_id)
            .await
        {
            Ok(()) => return Ok(ip),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(exhausted(network_id))
}

fn exhausted(network_id: &str) -> ApiError {
    neutron_error(
        StatusCode::CONFLICT,
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

/// A new MAC address (`fa:16:3e:xx:xx:xx`, OpenStack's prefix), unique at the top; `wanted`
/// when given (409 `MacAddressInUse` when another port has it).
pub async fn allocate_mac(
    top: &Top,
    network_id: &str,
    port_id: &str,
    wanted: Option<&str>,
) -> Result<String, ApiError> {
    if let Some(mac) = wanted {
        let mac = mac.to_ascii_lowercase();
        return match top.store.allocate_mac(&mac, port_id).await {
            Ok(()) => Ok(mac),
            Err(StoreError::Conflict(_)) => Err(neutron_error(
                StatusCode::CONFLICT,
                "MacAddressInUse",
                format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
            )),
            Err(e) => Err(store_err(e)),
        };
    }
    for _ in 0..MAX_ATTEMPTS {
        let b: [u8; 3] = rand::random();
        let mac = format!("fa:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2]);
        match top.store.allocate_mac(&mac, port_id).await {
            Ok(()) => return Ok(mac),
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(store_err(e)),
        }
    }
    Err(neutron_error(
        StatusCode::CONFLICT,
        "MacAddressGenerationFailure",
        format!("Unable to generate unique mac on network {network_id}."),
    ))
}

/// True for `aa:bb:cc:dd:ee:ff`.
pub fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_pools_skip_network_broadcast_and_gateway() {
        let cidr: IpNet = "10.0.0.0/29".parse().unwrap();
        let pools = default_pools(&cidr, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            pools,
            vec![("10.0.0.2".parse().unwrap(), "10.0.0.6".parse().unwrap())]
        );
        let plan = SubnetPlan::of(
            &json!({"id": "s", "cidr": "10.0.0.0/29", "gateway_ip": "10.0.0.1",
            "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.6"}]}),
        )
        .unwrap();
        let used: HashSet<u128> = [to_int("10.0.0.2".parse().unwrap())].into();
        assert_eq!(plan.nth_free(&used, 0), Some("10.0.0.3".parse().unwrap()));
        assert_eq!(plan.nth_free(&used, 3), Some("10.0.0.6".parse().unwrap()));
        assert_eq!(plan.nth_free(&used, 4), None);
        assert!(plan.holds("10.0.0.1".parse().unwrap()));
        assert!(!plan.holds("10.0.0.7".parse().unwrap()));
        assert!(!plan.holds("10.0.1.2".parse().unwrap()));
        assert!(is_mac("fa:16:3e:00:aa:0F") && !is_mac("fa:16:3e:00:aa"));
        let custom = SubnetPlan::of(
            &json!({"id": "s", "cidr": "10.0.0.0/29", "gateway_ip": "10.0.0.2",
            "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.3"}]}),
        )
        .unwrap();
        let free: Vec<_> = (0..3)
            .map(|i| custom.nth_free(&HashSet::new(), i))
            .collect();
        assert_eq!(
            free,
            vec![
                Some("10.0.0.1".parse().unwrap()),
                Some("10.0.0.3".parse().unwrap()),
                None
            ],
            "a pool that covers the gateway never hands it out"
        );
    }
}
