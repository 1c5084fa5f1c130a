//! How Nova renders a server, per microversion and caller.

use super::hosts::Hosts;
use super::server::Server;
use super::{bookmark, links, string_map};
use crate::ctx::Mv;
use crate::network::NetworkData;
use crate::site::Site;
use chrono::{DateTime, Utc};
use fedstack_api_types::time;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};

/// Which of Nova's server views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `GET /servers/{id}`.
    Show,
    /// One entry of `GET /servers/detail`.
    List,
    /// The answer to `PUT /servers/{id}`: the base fields only.
    Update,
}

/// What rendering needs besides the server.
pub struct Viewer<'a> {
    pub site: &'a Site,
    pub mv: Mv,
    pub is_admin: bool,
    pub now: DateTime<Utc>,
    pub network: &'a NetworkData,
    pub hosts: &'a Hosts,
}

/// `instance-0000000a`: the libvirt-style name Nova gives an instance.
pub fn instance_name(s: &Server) -> String {
    format!("instance-{:08x}", s.seq)
}

/// Nova's `hostId`: sha224 of project and host, so projects cannot map hosts.
fn host_id(s: &Server) -> String {
    match &s.host {
        Some(h) => hex::encode(Sha224::digest(format!("{}{h}", s.project_id))),
        None => String::new(),
    }
}

/// `{"id", "name", "links"}`: the list view.
pub fn basic(site: &Site, s: &Server) -> Value {
    json!({"id": s.id, "name": s.name, "links": links(site, &format!("servers/{}", s.id))})
}

impl Viewer<'_> {
    /// The host shown: none while scheduling.
    fn host<'s>(&self, s: &'s Server) -> Option<&'s str> {
        s.host.as_deref().filter(|_| !s.scheduling(self.now))
    }

    /// `addresses`: fixed then floating IPs per network (hidden while building).
    pub fn addresses(&self, s: &Server, extended: bool) -> Value {
        let mut by_net = Map::new();
        if s.vm_state == super::server::VmState::Building
            || s.vm_state == super::server::VmState::Deleted
        {
            return Value::Object(by_net);
        }
        for nic in self.network.server_nics(&s.id) {
            let entry = by_net
                .entry(nic.network_name.clone())
                .or_insert_with(|| json!([]));
            let Some(list) = entry.as_array_mut() else {
                continue;
            };
            let floating = self.network.floating_ips_of_port(&nic.port_id);
            let fixed = nic.fixed_ips.iter().map(|(ip, _)| (*ip, "fixed"));
            for (ip, kind) in fixed.chain(floating.into_iter().map(|ip| (ip, "floating"))) {
                let version = if ip.is_ipv4() { 4 } else { 6 };
                let mut a = json!({"version": version, "addr": ip.to_string()});
                if extended {
                    a["OS-EXT-IPS:type"] = json!(kind);
                    a["OS-EXT-IPS-MAC:mac_addr"] = json!(nic.mac);
                }
                list.push(a);
            }
        }
        Value::Object(by_net)
    }

    fn flavor(&self, s: &Server) -> Value {
        let f = &s.flavor;
        if self.mv.at_least(2, 47) {
            json!({"vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "ephemeral": f.ephemeral,
                   "swap": f.swap, "original_name": f.name, "extra_specs": f.extra_specs})
        } else {
            json!({"id": f.id, "links": bookmark(self.site, &format!("flavors/{}", f.id))})
        }
    }

    fn image(&self, s: &Server) -> Value {
        let Some(id) = &s.image_id else {
            return json!("");
        };
        let mut v = json!({"id": id, "links": bookmark(self.site, &format!("images/{id}"))});
        if self.mv.at_least(2, 98) {
            v["properties"] = json!(s.image_properties);
        }
        v
    }

    fn availability_zone(&self, s: &Server) -> String {
        match self.host(s) {
            Some(_) => "nova".into(),
            None => s.requested_az.clone().unwrap_or_default(),
        }
    }

    /// `host_status` (2.16, admins): how the server's host is doing.
    fn host_status(&self, s: &Server) -> &'static str {
        match self.host(s).and_then(|h| self.hosts.get(h)) {
            None => "",
            Some(h) if !h.is_up() => "DOWN",
            Some(h) if h.service.disabled => "MAINTENANCE",
            Some(_) => "UP",
        }
    }

    /// The full server view.
    pub fn server(&self, s: &Server, section: Section) -> Value {
        let status = s.status(self.now);
        let mut v = Map::new();
        v.insert("accessIPv4".into(), json!(s.access_ipv4));
        v.insert("accessIPv6".into(), json!(s.access_ipv6));
        v.insert(
            "addresses".into(),
            self.addresses(s, section != Section::Update),
        );
        v.insert("created".into(), json!(time::iso_z(s.created)));
        v.insert("flavor".into(), self.flavor(s));
        let host_id = if self.host(s).is_some() {
            host_id(s)
        } else {
            String::new()
        };
        v.insert("hostId".into(), json!(host_id));
        v.insert("id".into(), json!(s.id));
        v.insert("image".into(), self.image(s));
        v.insert(
            "links".into(),
            links(self.site, &format!("servers/{}", s.id)),
        );
        v.insert("metadata".into(), string_map(&s.metadata));
        v.insert("name".into(), json!(s.name));
        v.insert("status".into(), json!(status));
        v.insert("tenant_id".into(), json!(s.project_id));
        v.insert("user_id".into(), json!(s.user_id));
        v.insert("updated".into(), json!(time::iso_z(s.updated)));
        v.insert("OS-DCF:diskConfig".into(), json!("MANUAL"));
        if let Some(f) = s
            .fault
            .as_ref()
            .filter(|_| matches!(status, "ERROR" | "DELETED"))
        {
            let mut fault =
                json!({"code": f.code, "created": time::iso_z(f.created), "message": f.message});
            if self.is_admin || f.code != 500 {
                fault["details"] = json!(f.details);
            }
            v.insert("fault".into(), fault);
        }
        if matches!(
            status,
            "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
        ) {
            v.insert("progress".into(), json!(0));
        }
        if section != Section::Update {
            self.extended(s, section, &mut v);
        }
        self.versioned(s, section, &mut v);
        if section == Section::List {
            self.security_groups(s, &mut v);
        }
        Value::Object(v)
    }

    /// The fields the update answer leaves out (AZ, usage, extended attributes, states...).
    fn extended(&self, s: &Server, section: Section, v: &mut Map<String, Value>) {
        v.insert(
            "OS-EXT-AZ:availability_zone".into(),
            json!(self.availability_zone(s)),
        );
        v.insert(
            "config_drive".into(),
            json!(if s.config_drive { "True" } else { "" }),
        );
        v.insert("key_name".into(), json!(s.key_name));
        v.insert(
            "OS-SRV-USG:launched_at".into(),
            json!(s.launched_at.map(time::micros_naive)),
        );
        v.insert(
            "OS-SRV-USG:terminated_at".into(),
            json!(s.terminated_at.map(time::micros_naive)),
        );
        if section == Section::Show {
            self.security_groups(s, v);
        }
        if self.is_admin {
            self.admin_attributes(s, v);
        }
        v.insert(
            "OS-EXT-STS:task_state".into(),
            json!(s.task_state(self.now)),
        );
        v.insert("OS-EXT-STS:vm_state".into(), json!(s.vm_state.as_str()));
        v.insert("OS-EXT-STS:power_state".into(), json!(s.power_state()));
        let volumes: Vec<Value> = s
            .volumes
            .iter()
            .map(|a| {
                if self.mv.at_least(2, 3) {
                    json!({"id": a.volume_id, "delete_on_termination": a.delete_on_termination})
                } else {
                    json!({ "id": a.volume_id })
                }
            })
            .collect();
        v.insert(
            "os-extended-volumes:volumes_attached".into(),
            json!(volumes),
        );
        if self.is_admin && self.mv.at_least(2, 16) {
            v.insert("host_status".into(), json!(self.host_status(s)));
        }
    }

    fn admin_attributes(&self, s: &Server, v: &mut Map<String, Value>) {
        let host = self.host(s);
        v.insert("OS-EXT-SRV-ATTR:host".into(), json!(host));
        v.insert(
            "OS-EXT-SRV-ATTR:instance_name".into(),
            json!(instance_name(s)),
        );
        v.insert("OS-EXT-SRV-ATTR:hypervisor_hostname".into(), json!(host));
        if self.mv.at_least(2, 3) {
            v.insert(
                "OS-EXT-SRV-ATTR:reservation_id".into(),
                json!(s.reservation_id),
            );
            v.insert("OS-EXT-SRV-ATTR:launch_index".into(), json!(s.launch_index));
            v.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(s.hostname));
            v.insert("OS-EXT-SRV-ATTR:kernel_id".into(), json!(""));
            v.insert("OS-EXT-SRV-ATTR:ramdisk_id".into(), json!(""));
            v.insert(
                "OS-EXT-SRV-ATTR:root_device_name".into(),
                json!(host.map(|_| "/dev/vda")),
            );
            v.insert("OS-EXT-SRV-ATTR:user_data".into(), json!(s.user_data));
        }
    }

    /// The fields later microversions add.
    fn versioned(&self, s: &Server, section: Section, v: &mut Map<String, Value>) {
        let mv = self.mv;
        if mv.at_least(2, 9) {
            v.insert("locked".into(), json!(s.lock.is_some()));
        }
        if mv.at_least(2, 19) {
            v.insert("description".into(), json!(s.description));
        }
        if mv.at_least(2, 26) {
            v.insert("tags".into(), json!(s.tags));
        }
        if mv.at_least(2, 63) {
            v.insert("trusted_image_certificates".into(), Value::Null);
        }
        if mv.at_least(2, 71) && section != Section::List {
            v.insert(
                "server_groups".into(),
                json!(s.group.iter().collect::<Vec<_>>()),
            );
        }
        if mv.at_least(2, 73) {
            let reason = s.lock.as_ref().and_then(|l| l.reason.clone());
            v.insert("locked_reason".into(), json!(reason));
        }
        if mv.at_least(2, 90) && !(self.is_admin && section != Section::Update) {
            v.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(s.hostname));
        }
        if mv.at_least(2, 96) {
            v.insert("pinned_availability_zone".into(), json!(s.requested_az));
        }
        if mv.at_least(2, 100) {
            v.insert("scheduler_hints".into(), json!(s.scheduler_hints));
        }
    }

    /// `security_groups`, from the server's ports: absent when it has none.
    fn security_groups(&self, s: &Server, v: &mut Map<String, Value>) {
        if self.network.server_nics(&s.id).is_empty()
            || s.vm_state == super::server::VmState::Building
        {
            return;
        }
        let groups: Vec<Value> = s
            .security_groups
            .iter()
            .map(|n| json!({ "name": n }))
            .collect();
        v.insert("security_groups".into(), json!(groups));
    }
}
