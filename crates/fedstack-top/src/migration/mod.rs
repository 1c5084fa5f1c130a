//! Cold migration of a server from its site to another, through standard APIs only, as a
//! durable job of `fedstack-jobs`: preflight → stop → snapshot (the disk by createImage, each
//! volume by upload-to-image) → transfer the image data site to site (streamed, sha512
//! verified) → the volumes remade on the destination → the ports on the destination with
//! the same fixed IPs and MACs (a top network's port keeps its top ID) → boot on the
//! destination (from its root volume for a volume-backed server) with the same flavor, key
//! pair, metadata, tags, user data, server group and data volumes → switch the routing (the
//! top IDs of the server and its volumes do not change) → power state as it was → delete
//! the source server, its volumes and the temporary images. Any failure before the switch
//! undoes what was made on the destination and leaves the source as it was.
//!
//! The engine (`fedstack-jobs`) knows nothing of sites; this module is the workflow, which
//! needs the top's site clients, tenancy and routing, and the `/fed/v1/migrations` API.

pub mod api;
pub mod ports;
mod site;
mod source;
mod spool;
mod transfer;
mod volumes;
mod workflow;

#[cfg(test)]
mod tests;

use crate::Top;
use fedstack_jobs::{JobStore, Runner, RunnerConfig};
use std::sync::{Arc, Weak};

/// The job kind of a cold migration.
pub const KIND: &str = "migration";

/// The job runner of a top node, with the workflows that need the top: cold migration and
/// image replication.
pub fn runner(store: JobStore, top: Weak<Top>) -> Runner {
    let mut r = Runner::new(store, RunnerConfig::default());
    r.register(Arc::new(workflow::ColdMigration::new(top.clone())));
    r.register(Arc::new(crate::image::replicate::Replication::new(top)));
    r
}

/// The resource key of a server (one active job per server).
pub fn server_resource(top_id: &str) -> String {
    format!("server/{top_id}")
}

/// The ports a migration made on `site` for site-local NICs of server `top_id` (its site
/// server `site_server`): Nova keeps them when the server is deleted, since it was given
/// them, so the top deletes them with it. Empty for a server never migrated.
pub async fn ports_made_for(
    top: &Top,
    top_id: &str,
    site: &crate::sites::SiteHandle,
    site_server: &str,
) -> Vec<String> {
    let filter = fedstack_jobs::JobFilter {
        kind: Some(KIND.into()),
        state: Some(fedstack_jobs::JobState::Done),
        resource: Some(server_resource(top_id)),
        ..Default::default()
    };
    let migrated = top
        .jobs
        .store()
        .list(&filter)
        .await
        .is_ok_and(|jobs| !jobs.is_empty());
    if !migrated {
        return Vec::new();
    }
    let bound = ports::bound_ports(site, site_server)
        .await
        .unwrap_or_default();
    bound
        .iter()
        .filter(|p| {
            p["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(ports::PORT_PREFIX))
        })
        .filter_map(|p| p["id"].as_str().map(String::from))
        .collect()
}
