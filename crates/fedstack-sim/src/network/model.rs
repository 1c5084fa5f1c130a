//! The Neutron resources a site stores, as typed records.

use super::ipam::Ipam;
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// A string shared between records and indexes (IDs, projects, hosts): one allocation
/// however many ports name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sid(Arc<str>);

impl Sid {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Sid {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Sid {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Sid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Sid {
    fn from(s: &str) -> Self {
        Sid(Arc::from(s))
    }
}

impl From<String> for Sid {
    fn from(s: String) -> Self {
        Sid(Arc::from(s))
    }
}

impl PartialEq<str> for Sid {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Sid {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Sid {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Neutron's standard attributes: timestamps, revision, description and tags.
#[derive(Debug, Clone)]
pub struct Std {
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub revision: u64,
    pub description: String,
    pub tags: Vec<String>,
}

impl Std {
    /// Fresh attributes at revision `revision`.
    pub fn new(revision: u64, description: String) -> Self {
        let now = Utc::now();
        Std {
            created_at: now,
            updated_at: now,
            revision,
            description,
            tags: vec![],
        }
    }

    /// Records a change: a new revision and `updated_at` now.
    pub fn touch(&mut self) {
        self.updated_at = Utc::now();
        self.revision += 1;
    }
}

/// A network.
#[derive(Debug, Clone)]
pub struct Network {
    pub id: Sid,
    pub name: String,
    pub project_id: Sid,
    pub admin_state_up: bool,
    pub mtu: u32,
    pub shared: bool,
    pub external: bool,
    pub is_default: bool,
    pub port_security_enabled: bool,
    pub segmentation_id: u32,
    pub az_hints: Vec<String>,
    /// Subnet IDs in creation order.
    pub subnets: Vec<Sid>,
    /// Port IDs on this network.
    pub ports: BTreeSet<Sid>,
    pub std: Std,
}

/// A subnet with its address management.
#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: Sid,
    pub name: String,
    pub project_id: Sid,
    pub network_id: Sid,
    pub cidr: IpNet,
    pub gateway_ip: Option<IpAddr>,
    pub enable_dhcp: bool,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub dns_nameservers: Vec<String>,
    /// (destination, nexthop)
    pub host_routes: Vec<(String, String)>,
    pub service_types: Vec<String>,
    pub ipam: Ipam,
    pub std: Std,
}

impl Subnet {
    pub fn ip_version(&self) -> u8 {
        match self.cidr {
            IpNet::V4(_) => 4,
            IpNet::V6(_) => 6,
        }
    }

    /// True for IPv6 subnets whose addresses come from the MAC (SLAAC, DHCPv6-stateless).
    pub fn is_auto_address(&self) -> bool {
        matches!(
            self.ipv6_address_mode.as_deref(),
            Some("slaac" | "dhcpv6-stateless")
        )
    }
}

/// One fixed IP of a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIp {
    pub subnet_id: Sid,
    pub ip: IpAddr,
}

/// An allowed address pair of a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// A port's `binding:profile` (`None` when empty, which most ports are).
pub type Profile = Option<Box<Map<String, Value>>>;

/// A port.
#[derive(Debug, Clone)]
pub struct Port {
    pub id: Sid,
    pub name: String,
    pub network_id: Sid,
    pub project_id: Sid,
    pub mac: u64,
    pub admin_state_up: bool,
    pub device_id: Sid,
    pub device_owner: Sid,
    pub fixed_ips: Vec<FixedIp>,
    pub security_groups: Vec<Sid>,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub host: Sid,
    pub vnic_type: &'static str,
    pub profile: Profile,
    /// Created by Nova for a server (deleted with it), as opposed to handed to Nova.
    pub created_for_server: bool,
    pub std: Std,
}

impl Port {
    /// `ACTIVE` once bound to a host by Nova, `DOWN` otherwise (no L2 agent here).
    pub fn status(&self) -> &'static str {
        if self.device_owner.starts_with("compute:") && !self.host.is_empty() {
            "ACTIVE"
        } else {
            "DOWN"
        }
    }

    /// `fa:16:3e:30:77:14`
    pub fn mac_string(&self) -> String {
        mac_string(self.mac)
    }
}

/// Formats a MAC held in the low 48 bits.
pub fn mac_string(mac: u64) -> String {
    let b = mac.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

/// Parses `aa:bb:cc:dd:ee:ff` (or with `-`) into the low 48 bits.
pub fn parse_mac(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    parts.iter().try_fold(0u64, |acc, p| {
        (p.len() == 2)
            .then(|| u8::from_str_radix(p, 16).ok())
            .flatten()
            .map(|b| (acc << 8) | b as u64)
    })
}

/// A security group; its rules live in [`super::NetworkData::rules`].
#[derive(Debug, Clone)]
pub struct SecurityGroup {
    pub id: Sid,
    pub name: String,
    pub project_id: Sid,
    pub stateful: bool,
    /// Rule IDs, sorted.
    pub rules: BTreeSet<String>,
    pub std: Std,
}

/// A security group rule.
#[derive(Debug, Clone)]
pub struct SgRule {
    pub id: String,
    pub project_id: String,
    pub security_group_id: String,
    pub ethertype: String,
    pub direction: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<IpNet>,
    pub remote_group_id: Option<String>,
    /// `None` for the rules Neutron creates itself (shown as `null`).
    pub description: Option<String>,
    pub standard_attr_id: u64,
    pub std: Std,
}

impl SgRule {
    /// True when `other` is the same rule (Neutron's duplicate check ignores descriptions).
    pub fn same_as(&self, other: &SgRule) -> bool {
        self.security_group_id == other.security_group_id
            && self.ethertype == other.ethertype
            && self.direction == other.direction
            && self.protocol == other.protocol
            && self.port_range_min == other.port_range_min
            && self.port_range_max == other.port_range_max
            && self.remote_ip_prefix == other.remote_ip_prefix
            && self.remote_group_id == other.remote_group_id
    }
}

/// A router's external gateway.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub network_id: String,
    pub port_id: String,
    pub enable_snat: bool,
}

/// A router.
#[derive(Debug, Clone)]
pub struct Router {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub gateway: Option<Gateway>,
    /// (destination, nexthop)
    pub routes: Vec<(String, String)>,
    pub az_hints: Vec<String>,
    pub distributed: bool,
    pub ha: bool,
    pub std: Std,
}

/// A floating IP.
#[derive(Debug, Clone)]
pub struct FloatingIp {
    pub id: String,
    pub project_id: String,
    pub network_id: String,
    pub address: IpAddr,
    /// The port on the external network holding the address.
    pub own_port_id: String,
    /// The associated (internal) port.
    pub port_id: Option<String>,
    pub fixed_ip: Option<IpAddr>,
    pub router_id: Option<String>,
    pub std: Std,
}

/// The resources Neutron counts against quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Network,
    Subnet,
    Subnetpool,
    Port,
    Router,
    Floatingip,
    RbacPolicy,
    SecurityGroup,
    SecurityGroupRule,
}

impl Resource {
    /// In the order Neutron lists them.
    pub const ALL: [Resource; 9] = [
        Resource::Network,
        Resource::Subnet,
        Resource::Subnetpool,
        Resource::Port,
        Resource::Router,
        Resource::Floatingip,
        Resource::RbacPolicy,
        Resource::SecurityGroup,
        Resource::SecurityGroupRule,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Resource::Network => "network",
            Resource::Subnet => "subnet",
            Resource::Subnetpool => "subnetpool",
            Resource::Port => "port",
            Resource::Router => "router",
            Resource::Floatingip => "floatingip",
            Resource::RbacPolicy => "rbac_policy",
            Resource::SecurityGroup => "security_group",
            Resource::SecurityGroupRule => "security_group_rule",
        }
    }

    /// Neutron's default limit (`-1` = unlimited).
    pub fn default_limit(self) -> i64 {
        fedstack_api_types::neutron::default_limit(self.name())
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Limits of one project, indexed by [`Resource::index`].
pub type QuotaSet = [i64; 9];

/// The default limits.
pub fn default_quota() -> QuotaSet {
    Resource::ALL.map(Resource::default_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_round_trip() {
        let m = parse_mac("fa:16:3e:30:77:14").expect("mac");
        assert_eq!(mac_string(m), "fa:16:3e:30:77:14");
        assert_eq!(parse_mac("fa:16:3e:30:77"), None);
        assert_eq!(parse_mac("zz:16:3e:30:77:14"), None);
    }
}
