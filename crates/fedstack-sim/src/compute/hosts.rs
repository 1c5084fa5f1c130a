//! Simulated compute hosts and their services, and the scheduler that places servers on them
//! (filters: up and enabled, availability zone, capacity with Nova's allocation ratios,
//! server group (anti-)affinity; weigher: most free RAM, soft group policies first).

use crate::config::HostSpec;
use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use std::collections::BTreeSet;

/// Nova's default allocation ratios and reserved host memory.
pub const CPU_RATIO: u64 = 16;
pub const RAM_RATIO: f64 = 1.5;
pub const RESERVED_RAM_MB: u64 = 512;

/// What a server takes from a host.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub vcpus: u64,
    pub ram: u64,
    pub disk: u64,
}

/// A Nova service's administrative state.
#[derive(Debug, Clone)]
pub struct ServiceState {
    pub id: u32,
    pub uuid: String,
    pub binary: &'static str,
    pub host: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
}

impl ServiceState {
    fn new(id: u32, binary: &'static str, host: &str) -> Self {
        ServiceState {
            id,
            uuid: uuid::Uuid::new_v4().to_string(),
            binary,
            host: host.into(),
            disabled: false,
            disabled_reason: None,
            forced_down: false,
        }
    }

    /// `internal` for the control services, `nova` for nova-compute.
    pub fn zone(&self) -> &'static str {
        if self.binary == "nova-compute" {
            "nova"
        } else {
            "internal"
        }
    }
}

/// A simulated hypervisor and its nova-compute service.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub hypervisor_id: u32,
    pub hypervisor_uuid: String,
    pub service: ServiceState,
    pub spec: HostSpec,
    pub used: Resources,
    /// IDs of the servers placed here.
    pub servers: BTreeSet<String>,
    /// Failed through the control API: nova-compute stops reporting.
    pub failed_since: Option<DateTime<Utc>>,
}

impl Host {
    /// True when nova-compute reports (not failed, not forced down).
    pub fn is_up(&self) -> bool {
        self.failed_since.is_none() && !self.service.forced_down
    }

    fn fits(&self, r: Resources) -> bool {
        let vcpus = u64::from(self.spec.vcpus) * CPU_RATIO;
        let ram = (self.spec.memory_mb.saturating_sub(RESERVED_RAM_MB)) as f64 * RAM_RATIO;
        self.used.vcpus + r.vcpus <= vcpus
            && (self.used.ram + r.ram) as f64 <= ram
            && self.used.disk + r.disk <= self.spec.disk_gb
    }

    /// RAM left, as the RAM weigher sees it.
    fn free_ram(&self) -> i64 {
        self.spec.memory_mb as i64 - RESERVED_RAM_MB as i64 - self.used.ram as i64
    }

    /// Memory used as the hypervisor reports it (reserved memory included).
    pub fn memory_mb_used(&self) -> u64 {
        self.used.ram + RESERVED_RAM_MB
    }
}

/// How a server group constrains placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Affinity,
    AntiAffinity { max_per_host: usize },
    SoftAffinity,
    SoftAntiAffinity,
}

/// What to place.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub resources: Resources,
    /// `availability_zone: "nova:<host>"`.
    pub forced_host: Option<&'a str>,
    /// The group policy and the hosts its members are on (one entry per member).
    pub group: Option<(Placement, Vec<String>)>,
}

/// The hosts of a site and its control services (conductor, scheduler).
#[derive(Debug)]
pub struct Hosts {
    pub hosts: IndexMap<String, Host>,
    pub control: Vec<ServiceState>,
}

impl Hosts {
    /// `count` hosts named `<site lowercased>-compute-N`, and a controller running
    /// nova-conductor and nova-scheduler.
    pub fn new(site: &str, count: u32, spec: HostSpec) -> Self {
        let prefix = site.to_lowercase();
        let controller = format!("{prefix}-controller");
        let control = vec![
            ServiceState::new(1, "nova-conductor", &controller),
            ServiceState::new(2, "nova-scheduler", &controller),
        ];
        let hosts = (1..=count)
            .map(|i| {
                let name = format!("{prefix}-compute-{i}");
                let host = Host {
                    name: name.clone(),
                    hypervisor_id: i,
                    hypervisor_uuid: uuid::Uuid::new_v4().to_string(),
                    service: ServiceState::new(2 + i, "nova-compute", &name),
                    spec,
                    used: Resources::default(),
                    servers: BTreeSet::new(),
                    failed_since: None,
                };
                (name, host)
            })
            .collect();
        Hosts { hosts, control }
    }

    pub fn get(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name)
    }

    /// Marks a host failed or recovered; false when there is no such host.
    pub fn set_failed(&mut self, name: &str, failed: bool) -> bool {
        let Some(h) = self.hosts.get_mut(name) else {
            return false;
        };
        h.failed_since = match (failed, h.failed_since) {
            (true, Some(t)) => Some(t),
            (true, None) => Some(Utc::now()),
            (false, _) => None,
        };
        true
    }

    /// Picks a host for `req`, or `None` ("No valid host was found").
    pub fn schedule(&self, req: &Request) -> Option<String> {
        self.hosts
            .values()
            .filter(|h| h.is_up() && !h.service.disabled)
            .filter(|h| req.forced_host.is_none_or(|f| f == h.name))
            .filter(|h| h.fits(req.resources))
            .filter(|h| group_allows(req, h))
            .max_by_key(|h| {
                (
                    group_weight(req, h),
                    h.free_ram(),
                    std::cmp::Reverse(h.hypervisor_id),
                )
            })
            .map(|h| h.name.clone())
    }

    /// Takes `r` on `host` for `server_id`.
    pub fn claim(&mut self, host: &str, server_id: &str, r: Resources) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.used.vcpus += r.vcpus;
            h.used.ram += r.ram;
            h.used.disk += r.disk;
            h.servers.insert(server_id.to_string());
        }
    }

    /// Gives `r` back on `host`.
    pub fn release(&mut self, host: &str, server_id: &str, r: Resources) {
        if let Some(h) = self.hosts.get_mut(host) {
            if h.servers.remove(server_id) {
                h.used.vcpus = h.used.vcpus.saturating_sub(r.vcpus);
                h.used.ram = h.used.ram.saturating_sub(r.ram);
                h.used.disk = h.used.disk.saturating_sub(r.disk);
            }
        }
    }

    /// Every service: control ones first, then each nova-compute.
    pub fn services(&self) -> impl Iterator<Item = (&ServiceState, bool)> {
        self.control
            .iter()
            .map(|s| (s, !s.forced_down))
            .chain(self.hosts.values().map(|h| (&h.service, h.is_up())))
    }

    /// The service with this integer ID or UUID.
    pub fn service_mut(&mut self, id: &str) -> Option<&mut ServiceState> {
        self.control
            .iter_mut()
            .chain(self.hosts.values_mut().map(|h| &mut h.service))
            .find(|s| s.uuid == id || s.id.to_string() == id)
    }
}

fn members_on(req: &Request, host: &Host) -> usize {
    req.group.as_ref().map_or(0, |(_, hosts)| {
        hosts.iter().filter(|h| **h == host.name).count()
    })
}

fn group_allows(req: &Request, host: &Host) -> bool {
    match &req.group {
        Some((Placement::Affinity, hosts)) => hosts.is_empty() || hosts.contains(&host.name),
        Some((Placement::AntiAffinity { max_per_host }, _)) => {
            members_on(req, host) < *max_per_host
        }
        _ => true,
    }
}

fn group_weight(req: &Request, host: &Host) -> i64 {
    let n = members_on(req, host) as i64;
    match &req.group {
        Some((Placement::SoftAffinity, _)) => n,
        Some((Placement::SoftAntiAffinity, _)) => -n,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Hosts {
        Hosts::new(
            "Test",
            2,
            HostSpec {
                vcpus: 1,
                memory_mb: 2560,
                disk_gb: 10,
            },
        )
    }

    #[test]
    fn spreads_by_free_ram_and_respects_capacity() {
        let mut hosts = small();
        let r = Resources {
            vcpus: 1,
            ram: 1024,
            disk: 1,
        };
        let req = Request {
            resources: r,
            forced_host: None,
            group: None,
        };
        let first = hosts.schedule(&req).unwrap();
        assert_eq!(first, "test-compute-1");
        hosts.claim(&first, "a", r);
        let second = hosts.schedule(&req).unwrap();
        assert_eq!(second, "test-compute-2");
        hosts.claim(&second, "b", r);
        hosts.claim("test-compute-1", "c", r);
        hosts.claim("test-compute-2", "d", r);
        // (2560 - 512) * 1.5 = 3072 MB per host: a third 1 GB server fits, a fourth does not.
        assert!(hosts.schedule(&req).is_some());
        hosts.claim("test-compute-1", "e", r);
        hosts.claim("test-compute-2", "f", r);
        assert_eq!(hosts.schedule(&req), None);
        hosts.release("test-compute-2", "f", r);
        assert_eq!(hosts.schedule(&req).as_deref(), Some("test-compute-2"));
    }

    #[test]
    fn failed_hosts_and_groups_filter() {
        let mut hosts = small();
        let r = Resources::default();
        let anti = Request {
            resources: r,
            forced_host: None,
            group: Some((
                Placement::AntiAffinity { max_per_host: 1 },
                vec!["test-compute-1".into()],
            )),
        };
        assert_eq!(hosts.schedule(&anti).as_deref(), Some("test-compute-2"));
        assert!(hosts.set_failed("test-compute-2", true));
        assert_eq!(hosts.schedule(&anti), None);
        assert!(!hosts.set_failed("nope", true));
        let affinity = Request {
            resources: r,
            forced_host: None,
            group: Some((Placement::Affinity, vec!["test-compute-1".into()])),
        };
        assert_eq!(hosts.schedule(&affinity).as_deref(), Some("test-compute-1"));
    }
}
