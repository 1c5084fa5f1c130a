//! Routers: storing them, and the ports of their gateway and interfaces.

use super::{IpRequest, NewPort, PortError, OWNER_ROUTER_GATEWAY, OWNER_ROUTER_INTERFACE};
use crate::network::model::{Resource, Router, Std};
use crate::network::{new_id, NetworkData, Sid};
use std::net::IpAddr;

impl NetworkData {
    /// Stores a new router of `project` (quota checked by the caller); returns its ID.
    pub(in crate::network) fn insert_router(
        &mut self,
        project: &str,
        name: &str,
        std: Std,
    ) -> String {
        let id = new_id();
        self.count(project, Resource::Router, true);
        self.routers.insert(
            id.clone(),
            Router {
                id: id.clone(),
                name: name.to_string(),
                project_id: project.to_string(),
                admin_state_up: true,
                gateway: None,
                routes: vec![],
                az_hints: vec![],
                distributed: false,
                ha: false,
                std,
            },
        );
        id
    }

    /// Deletes a router and its gateway port (its interfaces must be gone).
    pub(in crate::network) fn remove_router(&mut self, router_id: &str) {
        if let Some(r) = self.routers.remove(router_id) {
            if let Some(gw) = r.gateway {
                self.remove_port(&gw.port_id);
            }
            self.count(&r.project_id, Resource::Router, false);
        }
    }

    /// The gateway port of a router on an external network (owned by no project).
    pub(in crate::network) fn create_gateway_port(
        &mut self,
        router_id: &str,
        network_id: &str,
        ips: Option<Vec<IpRequest>>,
    ) -> Result<Sid, PortError> {
        let mut p = NewPort::new("", network_id);
        p.device_id = router_id.to_string();
        p.device_owner = OWNER_ROUTER_GATEWAY.to_string();
        p.fixed_ips = ips;
        self.create_port(p)
    }

    /// An interface port of a router holding a subnet's gateway address.
    pub(in crate::network) fn create_interface_port(
        &mut self,
        router_id: &str,
        project: &str,
        network_id: &str,
        subnet_id: &str,
        gateway: IpAddr,
    ) -> Result<Sid, PortError> {
        let mut p = NewPort::new(project, network_id);
        p.device_id = router_id.to_string();
        p.device_owner = OWNER_ROUTER_INTERFACE.to_string();
        p.port_security_enabled = Some(false);
        p.fixed_ips = Some(vec![IpRequest {
            subnet_id: Some(subnet_id.to_string()),
            ip: Some(gateway),
        }]);
        self.create_port(p)
    }
}
