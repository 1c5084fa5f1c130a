//! Typed operations on the network state shared by the HTTP API and the Nova contract:
//! creating networks and subnets, creating, binding and deleting ports (with IPAM and MACs),
//! and the default security group of each project.

use super::ipam::{self, default_pools, eui64, from_int, host_bounds, to_int, Ipam};
use super::model::{
    mac_string, AddressPair, FixedIp, Network, Port, Profile, Resource, SecurityGroup, SgRule, Std,
    Subnet,
};
use super::{new_id, NetworkData};
use fedstack_api_types::{ApiError, Service};
use ipnet::IpNet;
use rand::Rng;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// MTU of a VXLAN tenant network under a 1500-byte underlay.
pub const TENANT_MTU: u32 = 1450;

/// `device_owner` of ports Nova creates for servers.
pub const OWNER_COMPUTE: &str = "compute:nova";
pub const OWNER_ROUTER_INTERFACE: &str = "network:router_interface";
pub const OWNER_ROUTER_GATEWAY: &str = "network:router_gateway";
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
        format!("Quota exceeded for resources: ['{}'].", res.name()),
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
        _ => from_int(to_int(cidr.network()) + 1, cidr.network()),
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
    pub(super) fn insert_network(&mut self, n: NewNetwork) -> String {
        let id = new_id();
        let mut std = Std::new(1, n.description);
        std.tags = n.tags;
        self.next_segment += 1;
        self.count(&n.project_id, Resource::Network, true);
        self.networks.insert(
            id.clone(),
            Network {
                id: id.clone(),
                name: n.name,
                project_id: n.project_id,
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
    pub(super) fn insert_subnet(&mut self, s: NewSubnet) -> Result<String, ApiError> {
        let net = self.networks.get(&s.network_id).ok_or_else(|| {
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
        let id = new_id();
        let mut std = Std::new(0, s.description);
        std.tags = s.tags;
        self.count(&s.project_id, Resource::Subnet, true);
        if let Some(net) = self.networks.get_mut(&s.network_id) {
            net.subnets.push(id.clone());
            net.std.touch();
        }
        self.subnets.insert(
            id.clone(),
            Subnet {
                id: id.clone(),
                name: s.name,
                project_id: s.project_id,
                network_id: s.network_id,
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
            p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id)
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
        net.subnets.retain(|id| id != subnet_id);
        net.std.touch();
        for pid in &net.ports {
            if let Some(p) = self.ports.get_mut(pid) {
                if p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id) {
                    p.fixed_ips.retain(|f| f.subnet_id != subnet_id);
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

    /// A fresh `fa:16:3e:xx:xx:xx` MAC no port has.
    fn new_mac(&mut self) -> u64 {
        let mut rng = rand::thread_rng();
        loop {
            let mac = 0xfa163e000000u64 | rng.gen_range(0..0x1000000u64);
            if self.macs.insert(mac) {
                return mac;
            }
        }
    }

    /// Creates a port: quota, MAC, fixed IPs (requested or allocated), security groups.
    pub(super) fn create_port(&mut self, p: NewPort) -> Result<String, PortError> {
        let net = self
            .networks
            .get(&p.network_id)
            .ok_or_else(|| PortError::NetworkNotFound(p.network_id.clone()))?;
        let port_security = p.port_security_enabled.unwrap_or(net.port_security_enabled);
        if !self.has_room(&p.project_id, Resource::Port, 1) {
            return Err(PortError::OverQuota);
        }
        let mac = match p.mac {
            Some(m) if !self.macs.insert(m) => {
                return Err(PortError::MacInUse {
                    network_id: p.network_id,
                    mac: mac_string(m),
                })
            }
            Some(m) => m,
            None => self.new_mac(),
        };
        let router_port = p.device_owner.starts_with("network:router");
        let groups = self.port_groups(&p, port_security);
        let fixed = groups.and_then(|g| {
            self.allocate_ips(&p.network_id, p.fixed_ips.as_deref(), mac, router_port)
                .map(|f| (g, f))
        });
        let (security_groups, fixed_ips) = match fixed {
            Ok(v) => v,
            Err(e) => {
                self.macs.remove(&mac);
                return Err(e);
            }
        };
        let id = new_id();
        self.count(&p.project_id, Resource::Port, true);
        if let Some(net) = self.networks.get_mut(&p.network_id) {
            net.ports.insert(id.clone());
        }
        if !p.device_id.is_empty() {
            self.ports_by_device
                .entry(p.device_id.clone())
                .or_default()
                .push(id.clone());
        }
        let mut std = Std::new(1, p.description);
        std.tags = p.tags;
        self.ports.insert(
            id.clone(),
            Port {
                id: id.clone(),
                name: p.name,
                network_id: p.network_id,
                project_id: p.project_id,
                mac,
                admin_state_up: p.admin_state_up,
                device_id: p.device_id,
                device_owner: p.device_owner,
                fixed_ips,
                security_groups,
                port_security_enabled: port_security && !router_port,
                allowed_address_pairs: p.allowed_address_pairs,
                host: p.host,
                vnic_type: p.vnic_type,
                profile: p.profile,
                created_for_server: p.created_for_server,
                std,
            },
        );
        Ok(id)
    }

    /// The security groups a new port gets: the requested ones (which must exist), or the
    /// project's `default` group when port security is on; none for router ports.
    fn port_groups(&mut self, p: &NewPort, port_security: bool) -> Result<Vec<String>, PortError> {
        if p.device_owner.starts_with("network:") {
            return Ok(vec![]);
        }
        match &p.security_groups {
            Some(g) if !g.is_empty() && !port_security => Err(PortError::PortSecurityRequired),
            Some(g) => {
                if let Some(missing) = g.iter().find(|id| !self.security_groups.contains_key(*id)) {
                    return Err(PortError::SecurityGroupNotFound(missing.clone()));
                }
                Ok(g.clone())
            }
            None if port_security && !p.project_id.is_empty() => {
                Ok(vec![self.ensure_default_group(&p.project_id)])
            }
            None => Ok(vec![]),
        }
    }

    /// Takes the fixed IPs of a new port: the requested ones, else one IPv4 and one stateful
    /// IPv6 address from the first subnets with room; SLAAC addresses on every auto-address
    /// subnet of the network (not for router ports). All or nothing.
    pub(super) fn allocate_ips(
        &mut self,
        network_id: &str,
        requested: Option<&[IpRequest]>,
        mac: u64,
        router_port: bool,
    ) -> Result<Vec<FixedIp>, PortError> {
        let mut taken: Vec<FixedIp> = Vec::new();
        let result = self.allocate_into(network_id, requested, mac, router_port, &mut taken);
        if result.is_err() {
            self.release_ips(&taken);
        }
        result.map(|_| taken)
    }

    fn allocate_into(
        &mut self,
        network_id: &str,
        requested: Option<&[IpRequest]>,
        mac: u64,
        router_port: bool,
        taken: &mut Vec<FixedIp>,
    ) -> Result<(), PortError> {
        let subnet_ids: Vec<String> = self
            .networks
            .get(network_id)
            .map(|n| n.subnets.clone())
            .unwrap_or_default();
        match requested {
            Some(reqs) => {
                for r in reqs {
                    let ip = self.take_requested(network_id, &subnet_ids, r, mac)?;
                    taken.push(ip);
                }
            }
            None => self.take_automatic(network_id, &subnet_ids, taken)?,
        }
        if router_port {
            return Ok(());
        }
        for sid in &subnet_ids {
            let Some(s) = self.subnets.get_mut(sid) else {
                continue;
            };
            if s.is_auto_address() && !taken.iter().any(|f| &f.subnet_id == sid) {
                let ip = eui64(&s.cidr, mac);
                if !s.ipam.take(to_int(ip)) {
                    return Err(PortError::IpInUse {
                        ip,
                        subnet_id: sid.clone(),
                    });
                }
                taken.push(FixedIp {
                    subnet_id: sid.clone(),
                    ip,
                });
            }
        }
        Ok(())
    }

    /// One IPv4 address and one stateful IPv6 address, each from the first subnet with room.
    fn take_automatic(
        &mut self,
        network_id: &str,
        subnet_ids: &[String],
        taken: &mut Vec<FixedIp>,
    ) -> Result<(), PortError> {
        for v6 in [false, true] {
            let candidates: Vec<&String> = subnet_ids
                .iter()
                .filter(|id| {
                    self.subnets
                        .get(*id)
                        .is_some_and(|s| s.cidr.network().is_ipv6() == v6 && !s.is_auto_address())
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let got = candidates.into_iter().find_map(|sid| {
                let s = self.subnets.get_mut(sid)?;
                let a = s.ipam.allocate()?;
                Some(FixedIp {
                    subnet_id: sid.clone(),
                    ip: from_int(a, s.cidr.network()),
                })
            });
            match got {
                Some(f) => taken.push(f),
                None => return Err(PortError::Exhausted(network_id.to_string())),
            }
        }
        Ok(())
    }

    /// One requested fixed IP: by subnet, by address, or both.
    fn take_requested(
        &mut self,
        network_id: &str,
        subnet_ids: &[String],
        r: &IpRequest,
        mac: u64,
    ) -> Result<FixedIp, PortError> {
        let sid = match (&r.subnet_id, r.ip) {
            (Some(sid), _) => {
                if !self.subnets.contains_key(sid) {
                    return Err(PortError::SubnetNotFound(sid.clone()));
                }
                if !subnet_ids.contains(sid) {
                    return Err(PortError::SubnetNotOnNetwork {
                        network_id: network_id.to_string(),
                        subnet_id: sid.clone(),
                    });
                }
                sid.clone()
            }
            (None, Some(ip)) => subnet_ids
                .iter()
                .find(|id| self.subnets.get(*id).is_some_and(|s| s.cidr.contains(&ip)))
                .cloned()
                .ok_or(PortError::InvalidIpForNetwork(ip))?,
            (None, None) => return Err(PortError::Exhausted(network_id.to_string())),
        };
        let Some(s) = self.subnets.get_mut(&sid) else {
            return Err(PortError::SubnetNotFound(sid));
        };
        let ip = match r.ip {
            Some(ip) => ip,
            None if s.is_auto_address() => eui64(&s.cidr, mac),
            None => {
                let a = s
                    .ipam
                    .allocate()
                    .ok_or_else(|| PortError::Exhausted(network_id.to_string()))?;
                return Ok(FixedIp {
                    subnet_id: sid,
                    ip: from_int(a, s.cidr.network()),
                });
            }
        };
        let (lo, hi) = host_bounds(&s.cidr);
        if !s.cidr.contains(&ip) || !(lo..=hi).contains(&to_int(ip)) {
            return Err(PortError::InvalidIpForSubnet(ip));
        }
        if !s.ipam.take(to_int(ip)) {
            return Err(PortError::IpInUse { ip, subnet_id: sid });
        }
        Ok(FixedIp { subnet_id: sid, ip })
    }

    /// Frees fixed IPs in their subnets.
    pub(super) fn release_ips(&mut self, ips: &[FixedIp]) {
        for f in ips {
            if let Some(s) = self.subnets.get_mut(&f.subnet_id) {
                s.ipam.release(ipam::to_int(f.ip));
            }
        }
    }

    /// Sets who uses a port, keeping the by-device index in step.
    pub(super) fn set_device(&mut self, port_id: &str, device_id: &str, owner: &str, host: &str) {
        let Some(p) = self.ports.get_mut(port_id) else {
            return;
        };
        let old = std::mem::replace(&mut p.device_id, device_id.to_string());
        p.device_owner = owner.to_string();
        p.host = host.to_string();
        p.std.touch();
        if old == device_id {
            return;
        }
        self.unindex_device(&old, port_id);
        if !device_id.is_empty() {
            self.ports_by_device
                .entry(device_id.to_string())
                .or_default()
                .push(port_id.to_string());
        }
    }

    fn unindex_device(&mut self, device_id: &str, port_id: &str) {
        if let Some(list) = self.ports_by_device.get_mut(device_id) {
            list.retain(|p| p != port_id);
            if list.is_empty() {
                self.ports_by_device.remove(device_id);
            }
        }
    }

    /// Deletes a port: frees its addresses and MAC, and disassociates its floating IPs.
    pub(super) fn remove_port(&mut self, port_id: &str) -> Option<Port> {
        let port = self.ports.remove(port_id)?;
        self.release_ips(&port.fixed_ips);
        self.macs.remove(&port.mac);
        if let Some(net) = self.networks.get_mut(&port.network_id) {
            net.ports.remove(port_id);
        }
        self.unindex_device(&port.device_id, port_id);
        self.count(&port.project_id, Resource::Port, false);
        for fip_id in self.fips_by_port.remove(port_id).unwrap_or_default() {
            if let Some(f) = self.floating_ips.get_mut(&fip_id) {
                f.port_id = None;
                f.fixed_ip = None;
                f.router_id = None;
                f.std.touch();
            }
        }
        Some(port)
    }

    /// The `default` security group of a project, created with Neutron's default rules on
    /// first use.
    pub(super) fn ensure_default_group(&mut self, project: &str) -> String {
        if let Some(id) = self.default_groups.get(project) {
            return id.clone();
        }
        let id = self.insert_group(project, "default", "Default security group", true);
        for ethertype in ["IPv4", "IPv6"] {
            self.insert_rule(
                NewRule {
                    ingress: true,
                    ethertype,
                    remote_group_id: Some(id.clone()),
                }
                .into_rule(project, &id),
            );
        }
        self.settle_group_revision(&id);
        self.default_groups.insert(project.to_string(), id.clone());
        id
    }

    /// Stores a security group with Neutron's two egress rules; returns its ID.
    pub(super) fn insert_group(
        &mut self,
        project: &str,
        name: &str,
        description: &str,
        stateful: bool,
    ) -> String {
        let id = new_id();
        self.count(project, Resource::SecurityGroup, true);
        self.security_groups.insert(
            id.clone(),
            SecurityGroup {
                id: id.clone(),
                name: name.to_string(),
                project_id: project.to_string(),
                stateful,
                rules: BTreeSet::new(),
                std: Std::new(0, description.to_string()),
            },
        );
        for ethertype in ["IPv4", "IPv6"] {
            self.insert_rule(
                NewRule {
                    ethertype,
                    ..NewRule::default()
                }
                .into_rule(project, &id),
            );
        }
        self.settle_group_revision(&id);
        id
    }

    /// A group and the rules Neutron creates with it are one change: revision 1.
    fn settle_group_revision(&mut self, id: &str) {
        if let Some(g) = self.security_groups.get_mut(id) {
            g.std.revision = 1;
        }
    }

    /// Stores a rule in its group (bumping the group's revision); returns its ID.
    pub(super) fn insert_rule(&mut self, mut rule: SgRule) -> String {
        rule.standard_attr_id = self.next_attr_id;
        self.next_attr_id += 1;
        let id = rule.id.clone();
        self.count(&rule.project_id, Resource::SecurityGroupRule, true);
        if let Some(g) = self.security_groups.get_mut(&rule.security_group_id) {
            g.rules.insert(id.clone());
            g.std.touch();
        }
        self.rules.insert(id.clone(), rule);
        id
    }

    /// Deletes a rule from its group.
    pub(super) fn remove_rule(&mut self, rule_id: &str) {
        let Some(r) = self.rules.remove(rule_id) else {
            return;
        };
        self.count(&r.project_id, Resource::SecurityGroupRule, false);
        if let Some(g) = self.security_groups.get_mut(&r.security_group_id) {
            g.rules.remove(rule_id);
            g.std.touch();
        }
    }

    /// Deletes a security group, its rules and the rules of other groups that name it as
    /// their remote group.
    pub(super) fn remove_group(&mut self, group_id: &str) {
        let Some(g) = self.security_groups.remove(group_id) else {
            return;
        };
        self.count(&g.project_id, Resource::SecurityGroup, false);
        if self.default_groups.get(&g.project_id).map(String::as_str) == Some(group_id) {
            self.default_groups.remove(&g.project_id);
        }
        let referring: Vec<String> = self
            .rules
            .values()
            .filter(|r| {
                r.security_group_id == group_id || r.remote_group_id.as_deref() == Some(group_id)
            })
            .map(|r| r.id.clone())
            .collect();
        for id in referring {
            self.remove_rule(&id);
        }
    }

    /// True when `id` is the `default` group of its project.
    pub(super) fn is_default_group(&self, group: &SecurityGroup) -> bool {
        self.default_groups.get(&group.project_id) == Some(&group.id)
    }
}

/// A rule Neutron creates by itself (no protocol, ports or prefix).
#[derive(Debug, Default)]
pub struct NewRule {
    pub ingress: bool,
    pub ethertype: &'static str,
    pub remote_group_id: Option<String>,
}

impl NewRule {
    fn into_rule(self, project: &str, group_id: &str) -> SgRule {
        SgRule {
            id: new_id(),
            project_id: project.to_string(),
            security_group_id: group_id.to_string(),
            ethertype: self.ethertype.to_string(),
            direction: if self.ingress { "ingress" } else { "egress" }.to_string(),
            protocol: None,
            port_range_min: None,
            port_range_max: None,
            remote_ip_prefix: None,
            remote_group_id: self.remote_group_id,
            description: None,
            standard_attr_id: 0,
            std: Std::new(0, String::new()),
        }
    }
}

/// One entry of a port's requested `fixed_ips`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRequest {
    pub subnet_id: Option<String>,
    pub ip: Option<IpAddr>,
}

/// What a new port is made of.
#[derive(Debug, Clone)]
pub struct NewPort {
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub device_id: String,
    pub device_owner: String,
    pub host: String,
    pub mac: Option<u64>,
    /// `None`: allocate automatically.
    pub fixed_ips: Option<Vec<IpRequest>>,
    /// `None`: the project's default group (when port security is on).
    pub security_groups: Option<Vec<String>>,
    /// `None`: the network's setting.
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub vnic_type: &'static str,
    pub profile: Profile,
    pub tags: Vec<String>,
    pub created_for_server: bool,
}

impl NewPort {
    /// A port on `network_id` for `project_id` with Neutron's defaults.
    pub fn new(project_id: &str, network_id: &str) -> Self {
        NewPort {
            project_id: project_id.to_string(),
            network_id: network_id.to_string(),
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            device_id: String::new(),
            device_owner: String::new(),
            host: String::new(),
            mac: None,
            fixed_ips: None,
            security_groups: None,
            port_security_enabled: None,
            allowed_address_pairs: vec![],
            vnic_type: "normal",
            profile: None,
            tags: vec![],
            created_for_server: false,
        }
    }
}

/// Why a port could not be created; rendered by Neutron's API and by Nova in their words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortError {
    NetworkNotFound(String),
    SubnetNotFound(String),
    SubnetNotOnNetwork {
        network_id: String,
        subnet_id: String,
    },
    InvalidIpForSubnet(IpAddr),
    InvalidIpForNetwork(IpAddr),
    IpInUse {
        ip: IpAddr,
        subnet_id: String,
    },
    Exhausted(String),
    MacInUse {
        network_id: String,
        mac: String,
    },
    SecurityGroupNotFound(String),
    PortSecurityRequired,
    OverQuota,
}

impl PortError {
    /// The error as Neutron's API answers it.
    pub fn neutron(&self) -> ApiError {
        match self {
            PortError::NetworkNotFound(id) => neutron_error(
                404,
                "NetworkNotFound",
                format!("Network {id} could not be found."),
            ),
            PortError::SubnetNotFound(id) => neutron_error(
                404,
                "SubnetNotFound",
                format!("Subnet {id} could not be found."),
            ),
            PortError::SubnetNotOnNetwork { network_id, subnet_id } => neutron_error(
                400,
                "InvalidInput",
                format!("Invalid input for operation: Failed to create port on network {network_id}, because fixed_ips included invalid subnet {subnet_id}."),
            ),
            PortError::InvalidIpForSubnet(ip) => neutron_error(
                400,
                "InvalidIpForSubnet",
                format!("IP address {ip} is not a valid IP for the specified subnet."),
            ),
            PortError::InvalidIpForNetwork(ip) => neutron_error(
                400,
                "InvalidIpForNetwork",
                format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
            ),
            PortError::IpInUse { ip, subnet_id } => neutron_error(
                409,
                "IpAddressAlreadyAllocated",
                format!("IP address {ip} already allocated in subnet {subnet_id}"),
            ),
            PortError::Exhausted(net) => neutron_error(
                409,
                "IpAddressGenerationFailure",
                format!("No more IP addresses available on network {net}."),
            ),
            PortError::MacInUse { network_id, mac } => neutron_error(
                409,
                "MacAddressInUse",
                format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
            ),
            PortError::SecurityGroupNotFound(id) => neutron_error(
                404,
                "SecurityGroupNotFound",
                format!("Security group {id} does not exist"),
            ),
            PortError::PortSecurityRequired => neutron_error(
                400,
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ),
            PortError::OverQuota => over_quota(Resource::Port),
        }
    }
}
