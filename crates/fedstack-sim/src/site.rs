//! One simulated site: its identity, its state and its fault settings.

use crate::config::{SiteSpec, Timing};
use crate::faults::Faults;
use crate::{compute, identity, image, network, volume};
use fedstack_api_types::Service;
use parking_lot::Mutex;
use std::net::SocketAddr;

/// Everything a site holds, behind one lock. Handlers lock, act, and unlock without awaiting.
pub struct SiteData {
    pub identity: identity::IdentityData,
    pub compute: compute::ComputeData,
    pub image: image::ImageData,
    pub volume: volume::VolumeData,
    pub network: network::NetworkData,
}

/// IDs created by the identity bootstrap that the other services seed their data with.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub admin_project_id: String,
    pub admin_user_id: String,
    pub demo_project_id: String,
    pub demo_user_id: String,
    pub service_project_id: String,
}

impl SiteData {
    /// A fresh site: default domain, admin and demo projects and users, flavors, hosts, the
    /// `cirros` image, the `private` and `public` networks, volume types.
    pub fn bootstrap(spec: &SiteSpec) -> Self {
        let (identity, b) = identity::IdentityData::bootstrap(spec);
        SiteData {
            compute: compute::ComputeData::bootstrap(&b, spec),
            image: image::ImageData::bootstrap(&b, spec),
            volume: volume::VolumeData::bootstrap(&b, spec),
            network: network::NetworkData::bootstrap(&b, spec),
            identity,
        }
    }

    /// Writes a server's disk (`offset` None replaces it): a volume-backed server's disk is
    /// its root volume, so the volume holds the same bytes afterwards.
    pub fn write_server_disk(
        &mut self,
        server_id: &str,
        offset: Option<u64>,
        data: bytes::Bytes,
    ) -> Result<(), String> {
        match offset {
            Some(off) => self.compute.write_disk(server_id, off, &data)?,
            None => self.compute.replace_disk(server_id, data)?,
        }
        if let Some(root) = self.compute.root_volume(server_id) {
            let disk = self.compute.disk(server_id).unwrap_or_default();
            self.volume.set_volume_data(&root, disk);
        }
        Ok(())
    }
}

/// A simulated OpenStack site.
pub struct Site {
    pub name: String,
    pub region: String,
    /// Where the site listens (127.0.0.1 and its port).
    pub addr: SocketAddr,
    pub timing: Timing,
    pub faults: Faults,
    pub data: Mutex<SiteData>,
}

impl Site {
    /// A site bootstrapped from its spec, to be served on `addr`.
    pub fn new(spec: &SiteSpec, addr: SocketAddr, timing: Timing) -> Self {
        Site {
            name: spec.name.clone(),
            region: spec.region().to_string(),
            addr,
            timing,
            faults: Faults::default(),
            data: Mutex::new(SiteData::bootstrap(spec)),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The root of one service, where its version document lives:
    /// `http://127.0.0.1:PORT/compute`.
    pub fn service_root(&self, service: Service) -> String {
        format!("{}{}", self.base_url(), service_prefix(service))
    }

    /// The Keystone v3 URL clients authenticate against.
    pub fn auth_url(&self) -> String {
        format!("{}/v3", self.service_root(Service::Identity))
    }
}

pub use fedstack_api_types::http::{service_of_path, service_prefix};
