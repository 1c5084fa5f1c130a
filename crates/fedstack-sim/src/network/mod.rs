//! Neutron v2.0 of a simulated site (ML2 with no agents, as the reference cloud): networks,
//! subnets with real IPAM, ports, security groups, routers, floating IPs and quotas, plus
//! the functions Nova calls to plug servers (see [`contract`]).

mod api;
pub mod contract;
mod ipam;
pub mod model;
mod ops;
#[cfg(test)]
mod tests;

pub use api::router;
pub use contract::{NicRequest, ServerNic};

use crate::config::SiteSpec;
use crate::site::Bootstrap;
use model::{
    default_quota, FloatingIp, Network, Port, QuotaSet, Resource, Router, SecurityGroup, SgRule,
    Sid, Subnet,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The network state of a site.
#[derive(Debug, Default)]
pub struct NetworkData {
    admin_project_id: String,
    networks: BTreeMap<Sid, Network>,
    subnets: BTreeMap<Sid, Subnet>,
    ports: BTreeMap<Sid, Port>,
    /// Port IDs by `device_id`, in attachment order.
    ports_by_device: HashMap<Sid, Vec<Sid>>,
    macs: HashSet<u64>,
    /// Strings many records repeat (projects, device owners, hosts), stored once.
    names: HashSet<Sid>,
    security_groups: BTreeMap<Sid, SecurityGroup>,
    /// The `default` security group of each project.
    default_groups: HashMap<Sid, Sid>,
    rules: BTreeMap<String, SgRule>,
    routers: BTreeMap<String, Router>,
    floating_ips: BTreeMap<String, FloatingIp>,
    /// Floating IP IDs by associated port.
    fips_by_port: HashMap<String, Vec<String>>,
    /// Limits set by an admin, by project.
    quotas: BTreeMap<String, QuotaSet>,
    /// Resources counted against quotas, by project.
    usage: HashMap<String, [u64; 9]>,
    auto_network: Option<Sid>,
    next_segment: u32,
    next_attr_id: u64,
}

/// A Neutron-style ID: a UUID with hyphens.
fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new ID as a shared string.
fn new_sid() -> Sid {
    Sid::from(new_id())
}

impl NetworkData {
    /// A site's networks, as devstack leaves them: the shared `private` network
    /// (10.1.0.0/16, used for `networks: "auto"`), the external `public` network
    /// (172.24.4.0/24), and `router1` joining them so that floating IPs reach servers on
    /// `private`; all owned by the admin project.
    pub fn bootstrap(b: &Bootstrap, _spec: &SiteSpec) -> Self {
        let mut d = NetworkData {
            admin_project_id: b.admin_project_id.clone(),
            next_segment: 100,
            next_attr_id: 1,
            ..NetworkData::default()
        };
        let admin = b.admin_project_id.clone();
        let private = d.add_network(&admin, "private", true, false);
        let private_subnet =
            d.add_bootstrap_subnet(&private, "private-subnet", "10.1.0.0/16", true);
        d.auto_network = Some(private.clone());
        let public = d.add_network(&admin, "public", false, true);
        d.add_bootstrap_subnet(&public, "public-subnet", "172.24.4.0/24", false);
        if let Some(subnet) = private_subnet {
            d.add_bootstrap_router(&public, &private, &subnet);
        }
        d
    }

    /// `router1`: a gateway on `public` and an interface on the private subnet.
    fn add_bootstrap_router(&mut self, public: &str, private: &str, subnet: &str) {
        let admin = self.admin_project_id.clone();
        let router = self.insert_router(&admin, "router1", model::Std::new(1, String::new()));
        if let Ok(port_id) = self.create_gateway_port(&router, public, None) {
            if let Some(r) = self.routers.get_mut(&router) {
                r.gateway = Some(model::Gateway {
                    network_id: public.to_string(),
                    port_id: port_id.to_string(),
                    enable_snat: true,
                });
            }
        }
        if let Some(gateway) = self.subnets.get(subnet).and_then(|s| s.gateway_ip) {
            // Valid by construction: the gateway address of a fresh subnet is free.
            let _ = self.create_interface_port(&router, &admin, private, subnet, gateway);
        }
    }

    fn add_network(&mut self, project: &str, name: &str, shared: bool, external: bool) -> Sid {
        let net = ops::NewNetwork {
            project_id: project.to_string(),
            name: name.to_string(),
            shared,
            external,
            ..ops::NewNetwork::default()
        };
        self.insert_network(net)
    }

    fn add_bootstrap_subnet(
        &mut self,
        network_id: &str,
        name: &str,
        cidr: &str,
        dhcp: bool,
    ) -> Option<Sid> {
        let cidr = cidr.parse().ok()?;
        let spec = ops::NewSubnet {
            project_id: self.admin_project_id.clone(),
            network_id: network_id.to_string(),
            name: name.to_string(),
            enable_dhcp: dhcp,
            ..ops::NewSubnet::new(cidr)
        };
        self.insert_subnet(spec).ok()
    }

    /// The one shared copy of a repeated string.
    fn name(&mut self, s: &str) -> Sid {
        if let Some(n) = self.names.get(s) {
            return n.clone();
        }
        let n = Sid::from(s);
        self.names.insert(n.clone());
        n
    }

    /// How many of `res` a project holds.
    fn used(&self, project: &str, res: Resource) -> u64 {
        self.usage.get(project).map_or(0, |u| u[res.index()])
    }

    /// The limits of a project.
    fn quota(&self, project: &str) -> QuotaSet {
        self.quotas
            .get(project)
            .copied()
            .unwrap_or_else(default_quota)
    }

    /// Counts one more (or one less) `res` for `project`.
    fn count(&mut self, project: &str, res: Resource, up: bool) {
        if project.is_empty() {
            return;
        }
        let u = self.usage.entry(project.to_string()).or_default();
        let n = &mut u[res.index()];
        *n = if up { *n + 1 } else { n.saturating_sub(1) };
    }

    /// True when `project` may create `n` more of `res`.
    fn has_room(&self, project: &str, res: Resource, n: u64) -> bool {
        let limit = self.quota(project)[res.index()];
        limit < 0 || self.used(project, res) + n <= limit as u64
    }
}
