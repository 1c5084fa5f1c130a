//! Typed operations on the network state shared by the HTTP API and the Nova contract:
//! networks and subnets here, ports (with IPAM and MACs) in [`ports`], security groups in
//! [`groups`].

mod groups;
mod ports;
mod routers;

pub use ports::{IpRequest, NewPort, PortError};

use super::ipam::{default_pools, from_int, to_int, Ipam};
use super::model::{Network, Port, Resource, Std, Subnet};
use super::{new_sid, NetworkData, Sid};
use fedstack_api_types::{ApiError, Service};
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// MTU of a VXLAN tenant network under a 1500-byte underlay.
pub const TENANT_MTU: u32 = 1450;

/// `device_owner` of ports Nova creates for servers.
pub const OWNER_COMPUTE: &str = "compute:nova";
/// `device_owner` of a router's interface on a subnet.
pub const OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
/// `device_owner` of a router's gateway on an external network.
pub const OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";
/// `device_owner` of the port holding a floating IP's address.
pub const OWNER_FLOATINGIP: &str = "network:floatingip";

/// A Neutron error: status, exception type and message.
pub fn neutron_error(status: u16, kind: &'static str, msg: impl Into<String>) -> ApiError {
    let status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    ApiError::new(Service::Network, status, msg).with_kind(kind)
}

/// Neutron's 409 when a project is out of quota for `res`.
pub fn over_quota(res: Resource) -> ApiError {
    neutron_error(
        409,
        "OverQuota",
        fedstack_api_types::neutron::over_quota_message(res.name()),
    )
}

/// What a new network is made of.
#[derive(Debug, Clone)]
pub struct NewNetwork {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub shared: bool,
    pub external: bool,
    pub is_default: bool,
    pub port_security_enabled: bool,
    pub mtu: u32,
    pub az_hints: Vec<String>,
    pub tags: Vec<String>,
}

impl Default for NewNetwork {
    fn default() -> Self {
        NewNetwork {
            project_id: String::new(),
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            shared: false,
            external: false,
            is_default: false,
            port_security_enabled: true,
            mtu: TENANT_MTU,
            az_hints: vec![],
            tags: vec![],
        }
    }
}

/// The gateway a new subnet asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayChoice {
    /// Not given: the first address (IPv4) or the subnet-router address (IPv6).
    Default,
    /// `null`: no gateway.
    Disabled,
    Ip(IpAddr),
}

/// What a new subnet is made of (already parsed; [`NetworkData::insert_subnet`] checks it
/// against the network).
#[derive(Debug, Clone)]
pub struct NewSubnet {
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub cidr: IpNet,
    pub gateway: GatewayChoice,
    pub pools: Option<Vec<(IpAddr, IpAddr)>>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<(String, String)>,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub service_types: Vec<String>,
    pub tags: Vec<String>,
}

impl NewSubnet {
    /// A subnet of `cidr` with Neutron's defaults.
    pub fn new(cidr: IpNet) -> Self {
        NewSubnet {
            project_id: String::new(),
            network_id: String::new(),
            name: String::new(),
            description: String::new(),
            cidr,
            gateway: GatewayChoice::Default,
            pools: None,
            enable_dhcp: true,
            dns_nameservers: vec![],
            host_routes: vec![],
            ipv6_ra_mode: None,
            ipv6_address_mode: None,
            service_types: vec![],
            tags: vec![],
        }
    }
}

/// `192.168.0.2-192.168.0.10`, as netaddr prints an IP range.
fn range_string(a: u128, b: u128, like: IpAddr) -> String {
    format!("{}-{}", from_int(a, like), from_int(b, like))
}

/// The gateway address a subnet gets when none is given: the first address, or for IPv6
/// subnets announced by router advertisements the subnet-router anycast address (as the
/// reference cloud answers for a SLAAC subnet).
fn default_gateway(cidr: &IpNet, ra_mode: Option<&str>) -> IpAddr {
    match cidr {
        IpNet::V6(_) if ra_mode.is_some() => cidr.network(),
        _ => from_int(to_int(cidr.network()).saturating_add(1), cidr.network()),
    }
}

/// Validates requested allocation pools against the CIDR and each other.
fn check_pools(cidr: &IpNet, pools: &[(IpAddr, IpAddr)]) -> Result<Vec<(u128, u128)>, ApiError> {
    let like = cidr.network();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(pools.len());
    for (start, end) in pools {
        let (a, b) = (to_int(*start), to_int(*end));
        if start.is_ipv4() != like.is_ipv4() || end.is_ipv4() != like.is_ipv4() || a > b {
            return Err(neutron_error(
                400,
                "InvalidAllocationPool",
                format!("The allocation pool {start}-{end} is not valid."),
            ));
        }
        let (lo, hi) = (to_int(cidr.network()), to_int(cidr.broadcast()));
        if a < lo || b > hi {
            return Err(neutron_error(
                400,
                "OutOfBoundsAllocationPool",
                format!("The allocation pool {start}-{end} spans beyond the subnet cidr {cidr}."),
            ));
        }
        if let Some((c, d)) = out.iter().find(|(c, d)| a <= *d && *c <= b) {
            return Err(neutron_error(
                409,
                "OverlappingAllocationPools",
                format!(
                    "Found overlapping allocation pools: {} {} for subnet {cidr}.",
                    range_string(*c, *d, like),
                    range_string(a, b, like)
                ),
            ));
        }
        out.push((a, b));
    }
    Ok(out)
}

impl NetworkData {
    /// Stores a new network and counts it; returns its ID.
    pub(super) fn insert_network(&mut self, n: NewNetwork) -> Sid {
        let id = new_sid();
        let project = self.name(&n.project_id);
        let mut std = Std::new(1, n.description);
        std.tags = n.tags;
        self.next_segment += 1;
        self.count(&n.project_id, Resource::Network, true);
        self.networks.insert(
            id.clone(),
            Network {
                id: id.clone(),
                name: n.name,
                project_id: project,
                admin_state_up: n.admin_state_up,
                mtu: n.mtu,
                shared: n.shared,
                external: n.external,
                is_default: n.is_default,
                port_security_enabled: n.port_security_enabled,
                segmentation_id: self.next_segment,
                az_hints: n.az_hints,
                subnets: vec![],
                ports: BTreeSet::new(),
                std,
            },
        );
        id
    }

    /// Checks a new subnet against its network (overlaps, gateway, pools) and stores it.
    pub(super) fn insert_subnet(&mut self, s: NewSubnet) -> Result<Sid, ApiError> {
        let net = self.networks.get(s.network_id.as_str()).ok_or_else(|| {
            neutron_error(
                404,
                "NetworkNotFound",
                format!("Network {} could not be found.", s.network_id),
            )
        })?;
        if net
            .subnets
            .iter()
            .filter_map(|id| self.subnets.get(id))
            .any(|o| o.cidr.contains(&s.cidr.network()) || s.cidr.contains(&o.cidr.network()))
        {
            return Err(neutron_error(
                400,
                "InvalidInput",
                format!(
                    "Invalid input for operation: Requested subnet with cidr: {} for network: {} overlaps with another subnet.",
                    s.cidr, s.network_id
                ),
            ));
        }
        let gateway = match s.gateway {
            GatewayChoice::Default => Some(default_gateway(&s.cidr, s.ipv6_ra_mode.as_deref())),
            GatewayChoice::Disabled => None,
            GatewayChoice::Ip(ip) => Some(ip),
        };
        let pools = match &s.pools {
            None => default_pools(&s.cidr, gateway),
            Some(p) => check_pools(&s.cidr, p)?,
        };
        if let Some(g) = gateway.map(to_int) {
            if let Some((a, b)) = pools.iter().find(|(a, b)| (*a..=*b).contains(&g)) {
                return Err(neutron_error(
                    409,
                    "GatewayConflictWithAllocationPools",
                    format!(
                        "Gateway ip {} conflicts with allocation pool {}",
                        from_int(g, s.cidr.network()),
                        range_string(*a, *b, s.cidr.network())
                    ),
                ));
            }
        }
        if !self.has_room(&s.project_id, Resource::Subnet, 1) {
            return Err(over_quota(Resource::Subnet));
        }
        let id = new_sid();
        let network_id = net.id.clone();
        let project = self.name(&s.project_id);
        let mut std = Std::new(0, s.description);
        std.tags = s.tags;
        self.count(&s.project_id, Resource::Subnet, true);
        if let Some(net) = self.networks.get_mut(&network_id) {
            net.subnets.push(id.clone());
            net.std.touch();
        }
        self.subnets.insert(
            id.clone(),
            Subnet {
                id: id.clone(),
                name: s.name,
                project_id: project,
                network_id,
                cidr: s.cidr,
                gateway_ip: gateway,
                enable_dhcp: s.enable_dhcp,
                ipv6_ra_mode: s.ipv6_ra_mode,
                ipv6_address_mode: s.ipv6_address_mode,
                dns_nameservers: s.dns_nameservers,
                host_routes: s.host_routes,
                service_types: s.service_types,
                ipam: Ipam::new(pools),
                std,
            },
        );
        Ok(id)
    }

    /// True when ports still hold addresses of the subnet (SLAAC addresses of ordinary
    /// ports do not count: they go with the subnet).
    pub(super) fn subnet_in_use(&self, subnet_id: &str) -> bool {
        let Some(s) = self.subnets.get(subnet_id) else {
            return false;
        };
        if !s.ipam.has_allocations() {
            return false;
        }
        let auto = s.is_auto_address();
        self.ports_on(&s.network_id).any(|p| {
            p.fixed_ips.iter().any(|f| &*f.subnet_id == subnet_id)
                && (!auto || p.device_owner.starts_with("network:router"))
        })
    }

    /// The ports of a network.
    pub(super) fn ports_on<'a>(&'a self, network_id: &str) -> impl Iterator<Item = &'a Port> {
        self.networks
            .get(network_id)
            .into_iter()
            .flat_map(|n| n.ports.iter())
            .filter_map(|id| self.ports.get(id))
    }

    /// Deletes a subnet, dropping its (SLAAC) addresses from the network's ports.
    pub(super) fn remove_subnet(&mut self, subnet_id: &str) {
        let Some(s) = self.subnets.remove(subnet_id) else {
            return;
        };
        self.count(&s.project_id, Resource::Subnet, false);
        let Some(net) = self.networks.get_mut(&s.network_id) else {
            return;
        };
        net.subnets.retain(|id| &**id != subnet_id);
        net.std.touch();
        for pid in &net.ports {
            if let Some(p) = self.ports.get_mut(pid) {
                if p.fixed_ips.iter().any(|f| &*f.subnet_id == subnet_id) {
                    p.fixed_ips.retain(|f| &*f.subnet_id != subnet_id);
                    p.std.touch();
                }
            }
        }
    }

    /// Deletes a network (which has no ports left) and its subnets.
    pub(super) fn remove_network(&mut self, network_id: &str) {
        let subnets = self
            .networks
            .get(network_id)
            .map(|n| n.subnets.clone())
            .unwrap_or_default();
        for sid in subnets {
            self.remove_subnet(&sid);
        }
        if let Some(n) = self.networks.remove(network_id) {
            self.count(&n.project_id, Resource::Network, false);
        }
        if self.auto_network.as_deref() == Some(network_id) {
            self.auto_network = None;
        }
    }
}
