//! The cold-migration workflow: its steps, how each runs and how each is undone.
//!
//! Every step re-run after a crash finds what an earlier run made: by the IDs recorded in the
//! job (`source`, `snapshot`, `dest_image`, `dest_volume/…`, `dest_ports`, `dest_server`),
//! else by name (the snapshot, the volumes' images and the ports are named after the job) or
//! by the routing marker (the destination server and volumes carry their top ID in their
//! metadata, as every routed server and volume does).

use super::ports;
use super::site::{self, api_failure, db, site_failure, up_site};
use super::source::Source;
use super::spool::JobSpool;
use super::transfer::{copy_image, End, Share};
use super::volumes;
use crate::compute::translate::TOP_ID_KEY;
use crate::compute::{flavors, groups, servers};
use crate::sites::SiteHandle;
use crate::Top;
use fedstack_api_types::Microversion;
use fedstack_jobs::{JobContext, Step, StepError, Workflow};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::networks::net_kind;
use fedstack_store::routes::{kind, state};
use futures::future::BoxFuture;
use futures::FutureExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::{Arc, Weak};

/// The steps of a cold migration; from `switch` on the server lives on the destination.
const STEPS: &[Step] = &[
    Step::reversible("preflight"),
    Step::reversible("stop"),
    Step::reversible("snapshot"),
    Step::reversible("transfer"),
    Step::reversible("volumes"),
    Step::reversible("ports"),
    Step::reversible("boot"),
    Step::irreversible("switch"),
    Step::irreversible("power"),
    Step::irreversible("cleanup"),
];

/// What a migration job is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// The top server ID.
    pub server_id: String,
    /// The site the server was on when the job was made.
    pub source: String,
    /// The destination site's ID.
    pub destination: String,
    /// Only `cold` for now.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The cold-migration workflow of a top node.
pub struct ColdMigration {
    top: Weak<Top>,
}

impl ColdMigration {
    pub fn new(top: Weak<Top>) -> ColdMigration {
        ColdMigration { top }
    }
}

/// What every step needs: the top, the job's parameters and project.
struct Run {
    top: Arc<Top>,
    p: Params,
    project: String,
}

impl Run {
    fn of(w: &ColdMigration, cx: &JobContext) -> Result<Run, StepError> {
        let top = w
            .top
            .upgrade()
            .ok_or_else(|| StepError::Transient("the top node is stopping".into()))?;
        let p: Params = serde_json::from_value(cx.params().clone())
            .map_err(|e| StepError::Fatal(format!("bad migration parameters: {e}")))?;
        Ok(Run {
            top,
            p,
            project: cx.job().project_id.clone(),
        })
    }

    fn source(cx: &JobContext) -> Result<Source, StepError> {
        cx.get("source")
            .ok_or_else(|| StepError::Fatal("preflight recorded no source server".into()))
    }

    fn dest_project(cx: &JobContext) -> Result<String, StepError> {
        cx.get("dest_project")
            .ok_or_else(|| StepError::Fatal("preflight recorded no destination project".into()))
    }

    fn dest(&self) -> Result<Arc<SiteHandle>, StepError> {
        up_site(&self.top, &self.p.destination)
    }

    /// The spool of this job's transfers on this node.
    fn spool(&self, cx: &JobContext) -> JobSpool {
        JobSpool::new(&self.top.config.data_dir, cx.id())
    }

    fn snapshot_name(cx: &JobContext) -> String {
        format!("fedstack-migration-{}", cx.id())
    }

    async fn preflight(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let top = &self.top;
        let id = &self.p.server_id;
        let route = top
            .store
            .route(kind::SERVER, id)
            .await
            .map_err(db)?
            .filter(|r| r.state == state::ACTIVE)
            .ok_or_else(|| StepError::Fatal(format!("server {id} is not on any site")))?;
        let (Some(src_id), Some(src_server)) = (&route.site_id, &route.site_resource_id) else {
            return Err(StepError::Fatal(format!("server {id} is not on any site")));
        };
        if *src_id == self.p.destination {
            return Err(StepError::Fatal(format!(
                "server {id} is already on the destination site"
            )));
        }
        let src = up_site(top, src_id)?;
        let dest = top.sites.get(&self.p.destination).ok_or_else(|| {
            StepError::Fatal(format!(
                "site {} is no longer registered",
                self.p.destination
            ))
        })?;
        if !dest.record.enabled || dest.record.drained {
            return Err(StepError::Fatal(format!(
                "destination site {} takes no new servers (disabled or drained)",
                dest.name()
            )));
        }
        let dest = self.dest()?;
        let server = site::server(&src, src_server)
            .await?
            .ok_or_else(|| StepError::Fatal(format!("server {id} is gone from its site")))?;
        let row = top.store.server(id).await.map_err(db)?;
        let flavor_id = row
            .as_ref()
            .and_then(|r| r.flavor_id.clone())
            .ok_or_else(|| StepError::Fatal(format!("the top knows no flavor of server {id}")))?;
        let flavor = top
            .store
            .flavor(&flavor_id)
            .await
            .map_err(db)?
            .ok_or_else(|| {
                StepError::Fatal(format!("flavor {flavor_id} no longer exists at the top"))
            })?;
        if let Some(c) = dest.health().capacity {
            if c.free_vcpus < flavor.vcpus
                || c.free_ram_mb < flavor.ram
                || c.free_disk_gb < flavor.disk
            {
                return Err(StepError::Fatal(format!(
                    "destination site {} has no room for flavor {} ({} vCPUs, {} MB, {} GB free)",
                    dest.name(),
                    flavor.name,
                    c.free_vcpus,
                    c.free_ram_mb,
                    c.free_disk_gb
                )));
            }
        }
        let src_project = site::project(top, &src, &self.project).await?;
        let group = row.and_then(|r| r.server_group_id);
        let mut source = Source::from_server(src_id, &src_project, flavor_id, group, &server)
            .map_err(|why| StepError::Fatal(format!("server {id}: {why}")))?;
        source.volumes = volumes::inspect(
            top,
            &src,
            &Source::attached(&server),
            source.root_device.as_deref(),
        )
        .await?;
        if source.root_device.is_some() && !source.volumes.iter().any(|v| v.root) {
            return Err(StepError::Fatal(format!(
                "server {id} boots from a volume the site does not show attached"
            )));
        }
        ports::link_top_ports(&mut source.nics, &ports::top_ports(top, id).await?);
        let dest_project = site::project(top, &dest, &self.project).await?;
        let scope = Scope::Project(dest_project.clone());
        for nic in &source.nics {
            match &nic.top_port {
                Some(port) => ports::check_top_port(top, port).await?,
                None => {
                    ports::network_id(&dest, &scope, &nic.network).await?;
                }
            }
        }
        cx.put("dest_project", &dest_project).await?;
        cx.put("source", &source).await?;
        Ok(())
    }

    async fn stop(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        if !s.was_running {
            return Ok(());
        }
        let src = up_site(&self.top, &s.site_id)?;
        let now = site::server(&src, &s.server_id)
            .await?
            .ok_or_else(|| StepError::Fatal("the source server is gone".into()))?;
        if now["status"] != "SHUTOFF" {
            site::action(&src, Scope::Admin, &s.server_id, &json!({"os-stop": null})).await?;
        }
        site::wait_server(cx, &src, &s.server_id, "SHUTOFF").await?;
        Ok(())
    }

    /// Restarts the source if it was running (and is still there).
    async fn unstop(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let Some(s) = cx.get::<Source>("source") else {
            return Ok(());
        };
        if !s.was_running {
            return Ok(());
        }
        let src = up_site(&self.top, &s.site_id)?;
        let Some(now) = site::server(&src, &s.server_id).await? else {
            return Ok(());
        };
        if now["status"] == "SHUTOFF" {
            site::action(&src, Scope::Admin, &s.server_id, &json!({"os-start": null})).await?;
        }
        site::wait_server(cx, &src, &s.server_id, "ACTIVE").await?;
        Ok(())
    }

    async fn find_snapshot(
        &self,
        cx: &JobContext,
        src: &SiteHandle,
        project: &str,
    ) -> Result<Option<String>, StepError> {
        if let Some(id) = cx.get::<String>("snapshot") {
            return Ok(Some(id));
        }
        let scope = Scope::Project(project.to_string());
        site::image_named(src, &scope, &Self::snapshot_name(cx)).await
    }

    /// The server's disk as an image (image-backed servers) and each volume as an image.
    async fn snapshot(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        let src = up_site(&self.top, &s.site_id)?;
        let mut made = Vec::new();
        for v in &s.volumes {
            let id = volumes::upload(cx, &src, &s.site_project, v).await?;
            cx.put(&v.source_image_key(), &id).await?;
            made.push(id);
        }
        if s.has_image_disk() {
            made.push(self.snapshot_disk(cx, &s, &src).await?);
        }
        for id in made {
            site::wait_image(cx, &src, &id).await?;
        }
        Ok(())
    }

    /// The createImage snapshot of the server's disk (found again by its recorded ID or name).
    async fn snapshot_disk(
        &self,
        cx: &mut JobContext,
        s: &Source,
        src: &SiteHandle,
    ) -> Result<String, StepError> {
        let id = match self.find_snapshot(cx, src, &s.site_project).await? {
            Some(id) => id,
            None => {
                let body = json!({"createImage": {"name": Self::snapshot_name(cx)}});
                let r = site::action(
                    src,
                    Scope::Project(s.site_project.clone()),
                    &s.server_id,
                    &body,
                )
                .await?;
                r.json()["image_id"]
                    .as_str()
                    .map(String::from)
                    .ok_or_else(|| {
                        StepError::Transient(format!("site {} made no snapshot", src.name()))
                    })?
            }
        };
        cx.put("snapshot", &id).await?;
        Ok(id)
    }

    async fn unsnapshot(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let Some(s) = cx.get::<Source>("source") else {
            return Ok(());
        };
        let src = up_site(&self.top, &s.site_id)?;
        if let Some(id) = self.find_snapshot(cx, &src, &s.site_project).await? {
            site::delete_image(&src, &id).await?;
        }
        volumes::delete_uploads(cx, &src, &s.site_project, &s.volumes).await
    }

    /// The images to copy: `(source image, job key of its destination copy)`.
    fn images(cx: &JobContext, s: &Source) -> Result<Vec<(String, String)>, StepError> {
        let mut out = Vec::new();
        if s.has_image_disk() {
            let snapshot = cx
                .get("snapshot")
                .ok_or_else(|| StepError::Fatal("no snapshot was recorded".into()))?;
            out.push((snapshot, "dest_image".to_string()));
        }
        for v in &s.volumes {
            let image = cx.get(&v.source_image_key()).ok_or_else(|| {
                StepError::Fatal(format!("no image of volume {} was recorded", v.top_id))
            })?;
            out.push((image, v.dest_image_key()));
        }
        Ok(out)
    }

    async fn transfer(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        let src = up_site(&self.top, &s.site_id)?;
        let dest = self.dest()?;
        let dest_project = Self::dest_project(cx)?;
        let images = Self::images(cx, &s)?;
        let mut docs = Vec::new();
        for (image, _) in &images {
            docs.push(site::wait_image(cx, &src, image).await?);
        }
        let size = |doc: &Value| doc["size"].as_u64().unwrap_or(0);
        let total = docs.iter().map(size).sum();
        let from = End {
            site: &src,
            project: &s.site_project,
        };
        let to = End {
            site: &dest,
            project: &dest_project,
        };
        let started = std::time::Instant::now();
        let mut before = 0;
        let spool = self.spool(cx);
        for ((_, key), doc) in images.iter().zip(&docs) {
            copy_image(cx, &from, doc, &to, key, Share { before, total }, &spool).await?;
            before += size(doc);
        }
        let bytes = cx.job().bytes_done;
        let secs = started.elapsed().as_secs_f64().max(0.001);
        cx.note(
            "transfer",
            &format!(
                "{bytes} bytes ({} images) moved from {} to {} in {secs:.1} s, sha512 verified",
                images.len(),
                src.name(),
                dest.name()
            ),
        )
        .await;
        Ok(())
    }

    async fn untransfer(&self, cx: &mut JobContext) -> Result<(), StepError> {
        self.spool(cx).discard().await;
        self.delete_dest_images(cx).await
    }

    /// Deletes the image copies on the destination.
    async fn delete_dest_images(&self, cx: &JobContext) -> Result<(), StepError> {
        let mut keys = vec!["dest_image".to_string()];
        if let Some(s) = cx.get::<Source>("source") {
            keys.extend(s.volumes.iter().map(|v| v.dest_image_key()));
        }
        let dest = self.dest()?;
        for key in keys {
            if let Some(id) = cx.get::<String>(&key) {
                site::delete_image(&dest, &id).await?;
            }
        }
        Ok(())
    }

    async fn volumes(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        let dest = self.dest()?;
        let project = Self::dest_project(cx)?;
        volumes::create_on_dest(cx, &dest, &project, &s.volumes).await?;
        Ok(())
    }

    async fn unvolumes(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let (Some(s), Some(project)) =
            (cx.get::<Source>("source"), cx.get::<String>("dest_project"))
        else {
            return Ok(());
        };
        let dest = self.dest()?;
        volumes::remove_from_dest(cx, &dest, &project, &s.volumes).await
    }

    async fn ports(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        let dest = self.dest()?;
        let project = Self::dest_project(cx)?;
        let ids = ports::recreate(&self.top, &dest, &project, cx.id(), &s.nics).await?;
        cx.put("dest_ports", ids).await
    }

    async fn unports(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let (Some(s), Some(project)) =
            (cx.get::<Source>("source"), cx.get::<String>("dest_project"))
        else {
            return Ok(());
        };
        let dest = self.dest()?;
        ports::remove(&self.top, &dest, &project, cx.id(), &s.nics).await
    }

    /// The destination server of this migration: recorded, or found by its routing marker.
    async fn find_dest_server(
        &self,
        cx: &JobContext,
        dest: &SiteHandle,
        project: &str,
    ) -> Result<Option<String>, StepError> {
        if let Some(id) = cx.get::<String>("dest_server") {
            return Ok(Some(id));
        }
        let list = site::call(
            dest,
            site::nova(
                Method::GET,
                "/servers/detail",
                Scope::Project(project.to_string()),
            ),
        )
        .await?;
        Ok(list["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| {
                s.pointer(&format!("/metadata/{TOP_ID_KEY}"))
                    .and_then(Value::as_str)
                    == Some(self.p.server_id.as_str())
            })
            .and_then(|s| s["id"].as_str())
            .map(String::from))
    }

    async fn boot(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        let dest = self.dest()?;
        let project = Self::dest_project(cx)?;
        let id = match self.find_dest_server(cx, &dest, &project).await? {
            Some(id) => id,
            None => self.create_dest_server(cx, &s, &dest, &project).await?,
        };
        cx.put("dest_server", &id).await?;
        let server = site::wait_server(cx, &dest, &id, "ACTIVE").await?;
        volumes::attach_data(cx, &dest, &project, &server, &s.volumes).await?;
        // The last check before the point of no return: the source must answer, so that it
        // can be retired after the switch. A source that is gone now rolls the move back
        // (restarting it there once it returns) rather than leaving two copies to reconcile.
        let src = self.top.sites.get(&s.site_id);
        let reachable = match &src {
            Some(src) => site::server(src, &s.server_id).await.is_ok(),
            None => false,
        };
        if !reachable {
            let name = src.map_or(s.site_id.clone(), |x| x.name().to_string());
            return Err(StepError::Fatal(format!(
                "site {name} (the source) does not answer before the switch; the move is rolled back"
            )));
        }
        Ok(())
    }

    async fn create_dest_server(
        &self,
        cx: &JobContext,
        s: &Source,
        dest: &SiteHandle,
        project: &str,
    ) -> Result<String, StepError> {
        let top = &self.top;
        let flavor = top
            .store
            .flavor(&s.flavor_id)
            .await
            .map_err(db)?
            .ok_or_else(|| {
                StepError::Fatal(format!(
                    "flavor {} no longer exists at the top",
                    s.flavor_id
                ))
            })?;
        let site_flavor = flavors::ensure_on_site(top, &flavor, dest)
            .await
            .map_err(api_failure)?;
        let port_ids: Vec<String> = cx.get("dest_ports").unwrap_or_default();
        let mut metadata = s.metadata.clone();
        metadata.insert(TOP_ID_KEY.into(), json!(self.p.server_id));
        let mut server = json!({
            "name": s.name,
            "flavorRef": site_flavor,
            "metadata": metadata,
            "networks": if port_ids.is_empty() { json!("none") } else { json!(port_ids.iter().map(|p| json!({"port": p})).collect::<Vec<_>>()) },
        });
        match volumes::on_dest(cx, &s.volumes)?
            .into_iter()
            .find(|(v, _)| v.root)
        {
            Some((root, volume)) => {
                server["block_device_mapping_v2"] = json!([{
                    "boot_index": 0,
                    "uuid": volume,
                    "source_type": "volume",
                    "destination_type": "volume",
                    "delete_on_termination": root.delete_on_termination,
                }]);
            }
            None => {
                let image: String = cx
                    .get("dest_image")
                    .ok_or_else(|| StepError::Fatal("no image was copied".into()))?;
                server["imageRef"] = json!(image);
            }
        }
        if !s.tags.is_empty() {
            server["tags"] = json!(s.tags);
        }
        if let Some(u) = &s.user_data {
            server["user_data"] = json!(u);
        }
        if let Some(k) = &s.key_name {
            let src = up_site(top, &s.site_id)?;
            copy_keypair(&src, &s.site_project, dest, project, k).await?;
            server["key_name"] = json!(k);
        }
        let mut body = json!({ "server": server });
        if let Some(g) = &s.group_id {
            if let Some(group) = top.store.server_group(g).await.map_err(db)? {
                let site_group = groups::ensure_on_site(top, &group, dest, project)
                    .await
                    .map_err(api_failure)?;
                body["os:scheduler_hints"] = json!({"group": site_group});
            }
        }
        let req = site::nova(
            Method::POST,
            "/servers",
            Scope::Project(project.to_string()),
        )
        .json(&body);
        site::create(dest, req, "server").await
    }

    async fn unboot(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let Some(project) = cx.get::<String>("dest_project") else {
            return Ok(());
        };
        let dest = self.dest()?;
        if let Some(id) = self.find_dest_server(cx, &dest, &project).await? {
            site::delete_server(cx, &dest, &id).await?;
        }
        Ok(())
    }

    /// The point of no return: the top ID now routes to the destination server.
    async fn switch(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let top = &self.top;
        let dest_server: String = cx
            .get("dest_server")
            .ok_or_else(|| StepError::Fatal("no destination server was recorded".into()))?;
        let id = &self.p.server_id;
        top.store
            .set_route(
                kind::SERVER,
                id,
                Some(&self.p.destination),
                Some(&dest_server),
                state::ACTIVE,
            )
            .await
            .map_err(db)?;
        self.rebind_top_ports(cx).await?;
        let s = Self::source(cx)?;
        let dest = self.dest()?;
        volumes::switch(top, cx, &dest, &s.volumes).await?;
        if let Some(route) = top.store.route(kind::SERVER, id).await.map_err(db)? {
            let row = top.store.server(id).await.map_err(db)?;
            let user = row.as_ref().map(|r| r.user_id.clone()).unwrap_or_default();
            let group = row.and_then(|r| r.server_group_id);
            if let Err(e) = servers::refresh(top, &route, &user, group).await {
                tracing::warn!(server = %id, error = %e, "index not refreshed after the switch; the sync will");
            }
        }
        cx.note(
            "switch",
            &format!("server {id} now routes to site {}", self.p.destination),
        )
        .await;
        Ok(())
    }

    /// The top ports of the server now say they are on the destination's zone.
    async fn rebind_top_ports(&self, cx: &JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        let owner = json!(format!("compute:{}", self.dest()?.record.az));
        for port_id in s.nics.iter().filter_map(|n| n.top_port.as_ref()) {
            let Some(mut port) = self
                .top
                .store
                .net_resource(net_kind::PORT, port_id)
                .await
                .map_err(db)?
            else {
                continue;
            };
            if port.body["device_owner"] != owner {
                port.body["device_owner"] = owner.clone();
                self.top
                    .store
                    .update_net_resource(&port)
                    .await
                    .map_err(db)?;
            }
        }
        Ok(())
    }

    async fn power(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        if s.was_running {
            return Ok(());
        }
        let dest = self.dest()?;
        let id: String = cx
            .get("dest_server")
            .ok_or_else(|| StepError::Fatal("no destination server was recorded".into()))?;
        let now = site::server(&dest, &id).await?;
        if now.is_some_and(|n| n["status"] != "SHUTOFF") {
            site::action(&dest, Scope::Admin, &id, &json!({"os-stop": null})).await?;
        }
        site::wait_server(cx, &dest, &id, "SHUTOFF").await?;
        Ok(())
    }

    async fn cleanup(&self, cx: &mut JobContext) -> Result<(), StepError> {
        let s = Self::source(cx)?;
        let src = up_site(&self.top, &s.site_id)?;
        // The source's ports go with it, including those Nova keeps because it was given
        // them (a migration that brought the server here made them): recorded first, since
        // they no longer name the server once it is gone.
        let left: Vec<String> = match cx.get("source_ports") {
            Some(ids) => ids,
            None => {
                let ids = ports::bound_to(&src, &s.server_id).await?;
                cx.put("source_ports", &ids).await?;
                ids
            }
        };
        site::delete_server(cx, &src, &s.server_id).await?;
        ports::delete_site_ports(&src, &left).await?;
        for v in &s.volumes {
            volumes::delete_volume(cx, &src, &v.site_id).await?;
        }
        volumes::delete_uploads(cx, &src, &s.site_project, &s.volumes).await?;
        for port_id in s.nics.iter().filter_map(|n| n.top_port.as_ref()) {
            ports::remove_piece(&self.top, &src, port_id).await?;
        }
        ports::moved(&self.top, &s.nics).await?;
        if let Some(id) = self.find_snapshot(cx, &src, &s.site_project).await? {
            site::delete_image(&src, &id).await?;
        }
        self.spool(cx).discard().await;
        self.delete_dest_images(cx).await
    }
}

/// Imports the source's key pair on the destination under the same name (the site name the
/// top gave it), unless the destination has it already.
async fn copy_keypair(
    src: &SiteHandle,
    src_project: &str,
    dest: &SiteHandle,
    dest_project: &str,
    name: &str,
) -> Result<(), StepError> {
    let get = |project: &str| {
        SiteRequest::new(
            Method::GET,
            "compute",
            format!("/os-keypairs/{name}"),
            Scope::Project(project.to_string()),
        )
    };
    let have = dest
        .client
        .send(get(dest_project))
        .await
        .map_err(|e| site_failure(dest, e))?;
    if have.is_success() {
        return Ok(());
    }
    let key = src
        .client
        .send(get(src_project))
        .await
        .and_then(|r| r.ok())
        .map_err(|e| site_failure(src, e))?
        .json();
    let body = json!({"keypair": {
        "name": name,
        "public_key": key["keypair"]["public_key"],
        "type": key["keypair"]["type"].as_str().unwrap_or("ssh"),
    }});
    let r = site::send(
        dest,
        crate::compute::with_mv(
            SiteRequest::new(
                Method::POST,
                "compute",
                "/os-keypairs",
                Scope::Project(dest_project.to_string()),
            )
            .json(&body),
            Microversion::new(2, 2),
        ),
    )
    .await?;
    if r.status.as_u16() == 409 {
        return Ok(());
    }
    r.ok().map(drop).map_err(|e| site_failure(dest, e))
}

impl ColdMigration {
    async fn step(&self, step: &'static str, cx: &mut JobContext) -> Result<(), StepError> {
        let r = Run::of(self, cx)?;
        match step {
            "preflight" => r.preflight(cx).await,
            "stop" => r.stop(cx).await,
            "snapshot" => r.snapshot(cx).await,
            "transfer" => r.transfer(cx).await,
            "volumes" => r.volumes(cx).await,
            "ports" => r.ports(cx).await,
            "boot" => r.boot(cx).await,
            "switch" => r.switch(cx).await,
            "power" => r.power(cx).await,
            "cleanup" => r.cleanup(cx).await,
            other => Err(StepError::Fatal(format!("unknown step {other}"))),
        }
    }

    async fn unstep(&self, step: &'static str, cx: &mut JobContext) -> Result<(), StepError> {
        let r = Run::of(self, cx)?;
        match step {
            "stop" => r.unstop(cx).await,
            "snapshot" => r.unsnapshot(cx).await,
            "transfer" => r.untransfer(cx).await,
            "volumes" => r.unvolumes(cx).await,
            "ports" => r.unports(cx).await,
            "boot" => r.unboot(cx).await,
            _ => Ok(()),
        }
    }
}

impl Workflow for ColdMigration {
    fn kind(&self) -> &'static str {
        super::KIND
    }
    fn steps(&self) -> &'static [Step] {
        STEPS
    }
    fn run<'a>(
        &'a self,
        step: &'static str,
        cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>> {
        self.step(step, cx).boxed()
    }
    fn undo<'a>(
        &'a self,
        step: &'static str,
        cx: &'a mut JobContext,
    ) -> BoxFuture<'a, Result<(), StepError>> {
        self.unstep(step, cx).boxed()
    }
}
