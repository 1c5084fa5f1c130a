//! Ports: creation with quota, MAC and fixed IPs (requested, allocated or SLAAC), binding
//! to a device, and deletion.

use super::{neutron_error, over_quota};
use crate::network::ipam::{self, eui64, from_int, host_bounds, to_int};
use crate::network::model::{mac_string, AddressPair, FixedIp, Port, Profile, Resource, Std};
use crate::network::{new_sid, NetworkData, Sid};
use fedstack_api_types::ApiError;
use rand::Rng;
use std::net::IpAddr;

impl NetworkData {
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
    pub(in crate::network) fn create_port(&mut self, p: NewPort) -> Result<Sid, PortError> {
        let net = self
            .networks
            .get(p.network_id.as_str())
            .ok_or_else(|| PortError::NetworkNotFound(p.network_id.clone()))?;
        let port_security = p.port_security_enabled.unwrap_or(net.port_security_enabled);
        let network_id = net.id.clone();
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
        let id = new_sid();
        self.count(&p.project_id, Resource::Port, true);
        if let Some(net) = self.networks.get_mut(&network_id) {
            net.ports.insert(id.clone());
        }
        let device_id = Sid::from(p.device_id.as_str());
        if !device_id.is_empty() {
            self.ports_by_device
                .entry(device_id.clone())
                .or_default()
                .push(id.clone());
        }
        let (project_id, device_owner, host) = (
            self.name(&p.project_id),
            self.name(&p.device_owner),
            self.name(&p.host),
        );
        let mut std = Std::new(1, p.description);
        std.tags = p.tags;
        self.ports.insert(
            id.clone(),
            Port {
                id: id.clone(),
                name: p.name,
                network_id,
                project_id,
                mac,
                admin_state_up: p.admin_state_up,
                device_id,
                device_owner,
                fixed_ips,
                security_groups,
                port_security_enabled: port_security && !router_port,
                allowed_address_pairs: p.allowed_address_pairs,
                host,
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
    fn port_groups(&mut self, p: &NewPort, port_security: bool) -> Result<Vec<Sid>, PortError> {
        if p.device_owner.starts_with("network:") {
            return Ok(vec![]);
        }
        match &p.security_groups {
            Some(g) if !g.is_empty() && !port_security => Err(PortError::PortSecurityRequired),
            Some(g) => g
                .iter()
                .map(|id| {
                    self.security_groups
                        .get_key_value(id.as_str())
                        .map(|(k, _)| k.clone())
                        .ok_or_else(|| PortError::SecurityGroupNotFound(id.clone()))
                })
                .collect(),
            None if port_security && !p.project_id.is_empty() => {
                Ok(vec![self.ensure_default_group(&p.project_id)])
            }
            None => Ok(vec![]),
        }
    }

    /// Takes the fixed IPs of a new port: the requested ones, else one IPv4 and one stateful
    /// IPv6 address from the first subnets with room; SLAAC addresses on every auto-address
    /// subnet of the network (not for router ports). All or nothing.
    pub(in crate::network) fn allocate_ips(
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
        let subnet_ids: Vec<Sid> = self
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
                        subnet_id: sid.to_string(),
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
        subnet_ids: &[Sid],
        taken: &mut Vec<FixedIp>,
    ) -> Result<(), PortError> {
        for v6 in [false, true] {
            let candidates: Vec<&Sid> = subnet_ids
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
        subnet_ids: &[Sid],
        r: &IpRequest,
        mac: u64,
    ) -> Result<FixedIp, PortError> {
        let sid = match (&r.subnet_id, r.ip) {
            (Some(sid), _) => {
                if !self.subnets.contains_key(sid.as_str()) {
                    return Err(PortError::SubnetNotFound(sid.clone()));
                }
                subnet_ids
                    .iter()
                    .find(|id| &***id == sid)
                    .cloned()
                    .ok_or_else(|| PortError::SubnetNotOnNetwork {
                        network_id: network_id.to_string(),
                        subnet_id: sid.clone(),
                    })?
            }
            (None, Some(ip)) => subnet_ids
                .iter()
                .find(|id| self.subnets.get(*id).is_some_and(|s| s.cidr.contains(&ip)))
                .cloned()
                .ok_or(PortError::InvalidIpForNetwork(ip))?,
            (None, None) => return Err(PortError::Exhausted(network_id.to_string())),
        };
        let Some(s) = self.subnets.get_mut(&sid) else {
            return Err(PortError::SubnetNotFound(sid.to_string()));
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
            return Err(PortError::IpInUse {
                ip,
                subnet_id: sid.to_string(),
            });
        }
        Ok(FixedIp { subnet_id: sid, ip })
    }

    /// Frees fixed IPs in their subnets.
    pub(in crate::network) fn release_ips(&mut self, ips: &[FixedIp]) {
        for f in ips {
            if let Some(s) = self.subnets.get_mut(&f.subnet_id) {
                s.ipam.release(ipam::to_int(f.ip));
            }
        }
    }

    /// Sets who uses a port, keeping the by-device index in step.
    pub(in crate::network) fn set_device(
        &mut self,
        port_id: &str,
        device_id: &str,
        owner: &str,
        host: &str,
    ) {
        let Some(p) = self.ports.get_mut(port_id) else {
            return;
        };
        p.std.touch();
        let id = p.id.clone();
        let (owner, host) = (self.name(owner), self.name(host));
        let Some(p) = self.ports.get_mut(port_id) else {
            return;
        };
        p.device_owner = owner;
        p.host = host;
        if &*p.device_id == device_id {
            return;
        }
        let new_device = Sid::from(device_id);
        let old = std::mem::replace(&mut p.device_id, new_device.clone());
        self.unindex_device(&old, port_id);
        if !device_id.is_empty() {
            self.ports_by_device.entry(new_device).or_default().push(id);
        }
    }

    fn unindex_device(&mut self, device_id: &str, port_id: &str) {
        if let Some(list) = self.ports_by_device.get_mut(device_id) {
            list.retain(|p| &**p != port_id);
            if list.is_empty() {
                self.ports_by_device.remove(device_id);
            }
        }
    }

    /// Deletes a port: frees its addresses and MAC, and disassociates its floating IPs.
    pub(in crate::network) fn remove_port(&mut self, port_id: &str) -> Option<Port> {
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
