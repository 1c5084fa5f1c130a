//! What Nova asks of Neutron, inside one lock: the network for `networks: "auto"`, plugging
//! and unplugging servers, their NICs, security group checks and floating IPs. Errors are in
//! Nova's envelope and words.

use super::ops::{NewPort, PortError, OWNER_COMPUTE};
use super::NetworkData;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use std::net::IpAddr;

/// One entry of a server's `networks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicRequest {
    /// A new port on a network, optionally with a given IPv4/IPv6 address.
    Network {
        id: String,
        fixed_ip: Option<IpAddr>,
    },
    /// An existing, unbound port.
    Port { id: String },
}

/// One NIC of a server, as Nova shows it in `addresses` and `os-interface`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNic {
    pub port_id: String,
    pub network_id: String,
    pub network_name: String,
    pub mac: String,
    /// (address, subnet ID)
    pub fixed_ips: Vec<(IpAddr, String)>,
}

fn nova(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

/// Nova's words for a port that could not be created (servers create answers 400 for all of
/// them but quota; os-interface turns "already in use" into 409 itself).
fn nova_port_error(e: PortError) -> ApiError {
    match e {
        PortError::NetworkNotFound(id) => nova(
            StatusCode::BAD_REQUEST,
            format!("Network {id} could not be found."),
        ),
        PortError::InvalidIpForNetwork(ip) | PortError::InvalidIpForSubnet(ip) => nova(
            StatusCode::BAD_REQUEST,
            format!("Fixed IP address ({ip}) does not exist in network."),
        ),
        PortError::Exhausted(net) => nova(
            StatusCode::BAD_REQUEST,
            format!("Zero fixed IPs could be found. No more fixed IPs available on network {net}."),
        ),
        PortError::SecurityGroupNotFound(id) => nova(
            StatusCode::BAD_REQUEST,
            format!("Security group {id} not found."),
        ),
        PortError::OverQuota => nova(StatusCode::FORBIDDEN, "Maximum number of ports exceeded"),
        other => nova(StatusCode::BAD_REQUEST, other.neutron().message),
    }
}

impl NetworkData {
    /// The network `networks: "auto"` plugs servers into: the shared `private` network.
    pub fn auto_network(&self, _project_id: &str) -> Option<String> {
        self.auto_network
            .as_ref()
            .filter(|id| self.networks.contains_key(*id))
            .map(|id| id.to_string())
    }

    /// Creates (or binds) the port of one NIC of a server: `device_owner: compute:nova`,
    /// `device_id: server_id`, `binding:host_id: host`. `security_groups` are names or IDs
    /// (empty = `default`); they apply to new ports only, as in Nova.
    pub fn plug_server(
        &mut self,
        project_id: &str,
        server_id: &str,
        host: &str,
        nic: &NicRequest,
        security_groups: &[String],
    ) -> Result<ServerNic, ApiError> {
        let port_id = match nic {
            NicRequest::Network { id, fixed_ip } => {
                self.plug_new_port(project_id, server_id, host, id, *fixed_ip, security_groups)?
            }
            NicRequest::Port { id } => {
                self.bind_existing_port(project_id, server_id, host, id)?;
                id.clone()
            }
        };
        self.nic(&port_id).ok_or_else(|| {
            nova(
                StatusCode::NOT_FOUND,
                format!("Port {port_id} could not be found."),
            )
        })
    }

    fn plug_new_port(
        &mut self,
        project_id: &str,
        server_id: &str,
        host: &str,
        network_id: &str,
        fixed_ip: Option<IpAddr>,
        security_groups: &[String],
    ) -> Result<String, ApiError> {
        let net = self
            .networks
            .get(network_id)
            .filter(|n| n.project_id == project_id || n.shared || n.external)
            .ok_or_else(|| nova_port_error(PortError::NetworkNotFound(network_id.to_string())))?;
        if net.external && !net.shared && net.project_id != project_id {
            return Err(nova(
                StatusCode::FORBIDDEN,
                format!(
                    "It is not allowed to create an interface on external network {network_id}"
                ),
            ));
        }
        let groups = self.resolve_groups(project_id, security_groups)?;
        let mut p = NewPort::new(project_id, network_id);
        p.device_id = server_id.to_string();
        p.device_owner = OWNER_COMPUTE.to_string();
        p.host = host.to_string();
        p.created_for_server = true;
        p.security_groups = Some(groups);
        p.fixed_ips = fixed_ip.map(|ip| {
            vec![super::ops::IpRequest {
                subnet_id: None,
                ip: Some(ip),
            }]
        });
        let id = self.create_port(p).map_err(|e| match e {
            PortError::IpInUse { ip, .. } => nova(
                StatusCode::BAD_REQUEST,
                format!(
                    "Fixed IP address {ip} is already in use on instance {}.",
                    self.holder_of(network_id, ip)
                ),
            ),
            other => nova_port_error(other),
        })?;
        // Nova creates the port, then binds it to the host: two revisions.
        if let Some(p) = self.ports.get_mut(&id) {
            p.std.touch();
        }
        Ok(id.to_string())
    }

    /// The device holding `ip` on a network ("" when none).
    fn holder_of(&self, network_id: &str, ip: IpAddr) -> String {
        self.networks
            .get(network_id)
            .into_iter()
            .flat_map(|n| n.ports.iter())
            .filter_map(|id| self.ports.get(id))
            .find(|p| p.fixed_ips.iter().any(|f| f.ip == ip))
            .map(|p| p.device_id.to_string())
            .unwrap_or_default()
    }

    fn bind_existing_port(
        &mut self,
        project_id: &str,
        server_id: &str,
        host: &str,
        port_id: &str,
    ) -> Result<(), ApiError> {
        let port = self
            .ports
            .get(port_id)
            .filter(|p| p.project_id == project_id)
            .ok_or_else(|| {
                nova(
                    StatusCode::BAD_REQUEST,
                    format!("Port {port_id} could not be found."),
                )
            })?;
        if !port.device_id.is_empty() {
            return Err(nova(
                StatusCode::CONFLICT,
                format!("Port {port_id} is still in use."),
            ));
        }
        if port.fixed_ips.is_empty() {
            return Err(nova(
                StatusCode::BAD_REQUEST,
                format!("Port {port_id} requires a FixedIP in order to be used."),
            ));
        }
        self.set_device(port_id, server_id, OWNER_COMPUTE, host);
        Ok(())
    }

    /// Security group names or IDs of a project, as IDs (empty = the `default` group).
    fn resolve_groups(
        &mut self,
        project_id: &str,
        names: &[String],
    ) -> Result<Vec<String>, ApiError> {
        let default = self.ensure_default_group(project_id);
        if names.is_empty() {
            return Ok(vec![default.to_string()]);
        }
        names
            .iter()
            .map(|n| self.resolve_group(project_id, n))
            .collect()
    }

    fn resolve_group(&self, project_id: &str, name: &str) -> Result<String, ApiError> {
        if let Some(g) = self
            .security_groups
            .get(name)
            .filter(|g| g.project_id == project_id)
        {
            return Ok(g.id.to_string());
        }
        let mut found = self
            .security_groups
            .values()
            .filter(|g| g.project_id == project_id && g.name == name);
        match (found.next(), found.next()) {
            (Some(g), None) => Ok(g.id.to_string()),
            (Some(_), Some(_)) => Err(nova(
                StatusCode::CONFLICT,
                format!("Multiple security groups found matching '{name}'. Use an ID to be more specific."),
            )),
            (None, _) => Err(nova(
                StatusCode::BAD_REQUEST,
                format!("Security group {name} not found."),
            )),
        }
    }

    /// Checks that every name (or ID) is a security group of the project; creates the
    /// project's `default` group if needed.
    pub fn check_security_groups(
        &mut self,
        project_id: &str,
        names: &[String],
    ) -> Result<(), ApiError> {
        self.resolve_groups(project_id, names).map(|_| ())
    }

    /// At server delete: deletes the ports created for the server and unbinds the others.
    /// Floating IPs stay (disassociated from deleted ports).
    pub fn unplug_server(&mut self, server_id: &str) {
        let ports = self
            .ports_by_device
            .get(server_id)
            .cloned()
            .unwrap_or_default();
        for id in ports {
            self.release_server_port(&id);
        }
    }

    fn release_server_port(&mut self, port_id: &str) {
        let created = self
            .ports
            .get(port_id)
            .is_some_and(|p| p.created_for_server);
        if created {
            self.remove_port(port_id);
        } else {
            self.set_device(port_id, "", "", "");
        }
    }

    /// Interface detach: the port must be attached to the server.
    pub fn unplug_port(&mut self, server_id: &str, port_id: &str) -> Result<(), ApiError> {
        let attached = self
            .ports_by_device
            .get(server_id)
            .is_some_and(|l| l.iter().any(|p| p == port_id));
        if !attached {
            return Err(nova(
                StatusCode::NOT_FOUND,
                format!("Port {port_id} is not attached"),
            ));
        }
        self.release_server_port(port_id);
        Ok(())
    }

    /// The NICs of a server in attachment order.
    pub fn server_nics(&self, server_id: &str) -> Vec<ServerNic> {
        self.ports_by_device
            .get(server_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.nic(id))
            .collect()
    }

    fn nic(&self, port_id: &str) -> Option<ServerNic> {
        let p = self.ports.get(port_id)?;
        Some(ServerNic {
            port_id: p.id.to_string(),
            network_id: p.network_id.to_string(),
            network_name: self
                .networks
                .get(&p.network_id)
                .map(|n| n.name.clone())
                .unwrap_or_default(),
            mac: p.mac_string(),
            fixed_ips: p
                .fixed_ips
                .iter()
                .map(|f| (f.ip, f.subnet_id.to_string()))
                .collect(),
        })
    }

    /// The floating IP addresses associated with a port.
    pub fn floating_ips_of_port(&self, port_id: &str) -> Vec<IpAddr> {
        self.fips_by_port
            .get(port_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.floating_ips.get(id))
            .map(|f| f.address)
            .collect()
    }
}
