//! The volumes that move with a server: its root volume (boot from volume) and its data
//! volumes. With the server stopped, each is uploaded to an image on the source (Cinder's
//! forced upload of an in-use volume), the image travels like the server's snapshot, and on
//! the destination a volume is made from it, carrying the volume's top ID as its routing
//! marker (so the index sync never adopts it as a new volume). At the switch the top volume
//! routes move to the destination; at cleanup the source volumes go. The top volume IDs
//! never change.

use super::site::{self, site_failure, StepWait};
use crate::sites::SiteHandle;
use crate::volume::records::{self, VOLUME};
use crate::volume::{with_mv, INDEX_MV, TOP_ID_KEY};
use crate::Top;
use axum::http::StatusCode;
use fedstack_jobs::{JobContext, StepError};
use fedstack_site_client::{Scope, SiteRequest};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One volume attached to the source server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovedVolume {
    /// The volume's ID at the top (kept).
    pub top_id: String,
    /// The volume on the source site.
    pub site_id: String,
    pub delete_on_termination: bool,
    /// The server boots from it.
    pub root: bool,
    /// GB.
    pub size: u64,
    pub name: Option<String>,
    pub description: Option<String>,
    /// The volume type's name (used on the destination when it has one of that name).
    pub volume_type: Option<String>,
    pub bootable: bool,
    /// Metadata without the routing marker.
    pub metadata: Map<String, Value>,
}

impl MovedVolume {
    /// The name of its image on both sites, which finds it again after a crash.
    pub fn image_name(&self, job: &str) -> String {
        format!("fedstack-migration-{job}-{}", self.top_id)
    }

    /// Job data key of its image on the source.
    pub fn source_image_key(&self) -> String {
        format!("source_volume_image/{}", self.top_id)
    }

    /// Job data key of its image on the destination.
    pub fn dest_image_key(&self) -> String {
        format!("dest_volume_image/{}", self.top_id)
    }

    /// Job data key of its volume on the destination.
    fn dest_volume_key(&self) -> String {
        format!("dest_volume/{}", self.top_id)
    }
}

/// A Cinder request at the index microversion.
fn cinder(method: Method, path: impl Into<String>, scope: Scope) -> SiteRequest {
    with_mv(
        SiteRequest::new(method, "block-storage", path, scope),
        INDEX_MV,
    )
}

/// The site's volume `id` (admin view), `None` when it is gone.
async fn volume(site: &SiteHandle, id: &str) -> Result<Option<Value>, StepError> {
    records::site_record(&VOLUME, site, id)
        .await
        .map_err(|e| site_failure(site, e))
}

/// Reads the attached volumes (`(site volume, delete_on_termination)`) of the source server:
/// what the destination needs to remake them. Each gets its top ID (adopted now if the top
/// did not know it yet, as Nova's root volumes) and carries it as its marker from now on,
/// so no sync takes the source copy for a new volume once the route has moved. A volume
/// with snapshots is refused (Cinder could not delete it afterwards), and so is one attached
/// to other servers too (it would move from under them).
pub async fn inspect(
    top: &Top,
    src: &SiteHandle,
    attached: &[(String, bool)],
    root_device: Option<&str>,
) -> Result<Vec<MovedVolume>, StepError> {
    let mut out = Vec::new();
    for (id, delete_on_termination) in attached {
        let doc = volume(src, id)
            .await?
            .ok_or_else(|| StepError::Fatal(format!("volume {id} is gone from its site")))?;
        let top_id = crate::volume::sync::top_volume_id(top, src, id)
            .await
            .ok_or_else(|| {
                StepError::Fatal(format!("volume {id} on site {} is no tenant's", src.name()))
            })?;
        let holders = doc["attachments"].as_array().map_or(0, Vec::len);
        if holders > 1 {
            return Err(StepError::Fatal(format!(
                "volume {top_id} is attached to {holders} servers; detach it from the others first"
            )));
        }
        let snapshots = site::call(
            src,
            cinder(
                Method::GET,
                format!("/snapshots?all_tenants=1&volume_id={id}"),
                Scope::Admin,
            ),
        )
        .await?;
        if snapshots["snapshots"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
        {
            return Err(StepError::Fatal(format!(
                "volume {top_id} has snapshots; delete them before migrating the server"
            )));
        }
        let mut metadata = doc["metadata"].as_object().cloned().unwrap_or_default();
        if metadata.remove(TOP_ID_KEY).is_none() {
            site::call(
                src,
                cinder(
                    Method::POST,
                    format!("/volumes/{id}/metadata"),
                    Scope::Admin,
                )
                .json(&json!({"metadata": {TOP_ID_KEY: top_id}})),
            )
            .await?;
        }
        let device = doc.pointer("/attachments/0/device").and_then(Value::as_str);
        let text = |k: &str| doc[k].as_str().map(String::from);
        out.push(MovedVolume {
            top_id,
            site_id: id.clone(),
            delete_on_termination: *delete_on_termination,
            root: root_device.is_some() && device == root_device,
            size: doc["size"].as_u64().unwrap_or(1),
            name: text("name"),
            description: text("description"),
            volume_type: text("volume_type"),
            bootable: doc["bootable"] == "true",
            metadata,
        });
    }
    Ok(out)
}

/// Uploads a source volume to an image (found by name on a re-run): the image's ID.
pub async fn upload(
    cx: &mut JobContext,
    src: &SiteHandle,
    project: &str,
    v: &MovedVolume,
) -> Result<String, StepError> {
    let scope = Scope::Project(project.to_string());
    let name = v.image_name(cx.id());
    if let Some(id) = site::image_named(src, &scope, &name).await? {
        return Ok(id);
    }
    let body = json!({"os-volume_upload_image": {
        "image_name": name,
        "force": true,
        "disk_format": "raw",
        "container_format": "bare",
    }});
    let answer = site::call(
        src,
        cinder(
            Method::POST,
            format!("/volumes/{}/action", v.site_id),
            scope,
        )
        .json(&body),
    )
    .await?;
    answer["os-volume_upload_image"]["image_id"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| {
            StepError::Transient(format!(
                "site {} made no image of volume {}",
                src.name(),
                v.top_id
            ))
        })
}

/// Deletes the source images of the volumes (found by name).
pub async fn delete_uploads(
    cx: &JobContext,
    src: &SiteHandle,
    project: &str,
    vols: &[MovedVolume],
) -> Result<(), StepError> {
    let scope = Scope::Project(project.to_string());
    for v in vols {
        if let Some(id) = site::image_named(src, &scope, &v.image_name(cx.id())).await? {
            site::delete_image(src, &id).await?;
        }
    }
    Ok(())
}

/// The destination volume of `v`: recorded, else found by its marker in the project.
async fn find_dest(
    cx: &JobContext,
    dest: &SiteHandle,
    project: &str,
    v: &MovedVolume,
) -> Result<Option<String>, StepError> {
    if let Some(id) = cx.get::<String>(&v.dest_volume_key()) {
        return Ok(Some(id));
    }
    let list = site::call(
        dest,
        cinder(
            Method::GET,
            "/volumes/detail",
            Scope::Project(project.to_string()),
        ),
    )
    .await?;
    Ok(list["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d.pointer(&format!("/metadata/{TOP_ID_KEY}")) == Some(&json!(v.top_id)))
        .and_then(|d| d["id"].as_str())
        .map(String::from))
}

/// The volume type `name` if the destination has one of that name.
async fn dest_type(
    dest: &SiteHandle,
    project: &str,
    name: Option<&str>,
) -> Result<Option<String>, StepError> {
    let Some(name) = name else {
        return Ok(None);
    };
    let types = site::call(
        dest,
        cinder(Method::GET, "/types", Scope::Project(project.to_string())),
    )
    .await?;
    Ok(types["volume_types"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["name"] == name)
        .then(|| name.to_string()))
}

/// Makes each volume on the destination from its copied image, and waits for it to be
/// `available`: the destination volume IDs, in the order of `vols`.
pub async fn create_on_dest(
    cx: &mut JobContext,
    dest: &SiteHandle,
    project: &str,
    vols: &[MovedVolume],
) -> Result<Vec<String>, StepError> {
    let mut ids = Vec::new();
    for v in vols {
        let id = match find_dest(cx, dest, project, v).await? {
            Some(id) => id,
            None => create_one(cx, dest, project, v).await?,
        };
        cx.put(&v.dest_volume_key(), &id).await?;
        wait_volume(cx, dest, &id, "available").await?;
        if !v.bootable {
            site::call(
                dest,
                cinder(
                    Method::POST,
                    format!("/volumes/{id}/action"),
                    Scope::Project(project.to_string()),
                )
                .json(&json!({"os-set_bootable": {"bootable": false}})),
            )
            .await?;
        }
        ids.push(id);
    }
    Ok(ids)
}

async fn create_one(
    cx: &JobContext,
    dest: &SiteHandle,
    project: &str,
    v: &MovedVolume,
) -> Result<String, StepError> {
    let image: String = cx
        .get(&v.dest_image_key())
        .ok_or_else(|| StepError::Fatal(format!("no image of volume {} was copied", v.top_id)))?;
    let mut metadata = v.metadata.clone();
    metadata.insert(TOP_ID_KEY.into(), json!(v.top_id));
    let mut body = json!({"volume": {
        "size": v.size,
        "name": v.name,
        "description": v.description,
        "imageRef": image,
        "metadata": metadata,
    }});
    if let Some(t) = dest_type(dest, project, v.volume_type.as_deref()).await? {
        body["volume"]["volume_type"] = json!(t);
    }
    let req = cinder(
        Method::POST,
        "/volumes",
        Scope::Project(project.to_string()),
    )
    .json(&body);
    site::create(dest, req, "volume").await
}

/// Removes the destination volumes made for this migration (once detached).
pub async fn remove_from_dest(
    cx: &mut JobContext,
    dest: &SiteHandle,
    project: &str,
    vols: &[MovedVolume],
) -> Result<(), StepError> {
    for v in vols {
        if let Some(id) = find_dest(cx, dest, project, v).await? {
            delete_volume(cx, dest, &id).await?;
        }
    }
    Ok(())
}

/// The destination volumes recorded by [`create_on_dest`], with their moved volume.
pub fn on_dest<'a>(
    cx: &JobContext,
    vols: &'a [MovedVolume],
) -> Result<Vec<(&'a MovedVolume, String)>, StepError> {
    vols.iter()
        .map(|v| {
            cx.get::<String>(&v.dest_volume_key())
                .map(|id| (v, id))
                .ok_or_else(|| {
                    StepError::Fatal(format!(
                        "no destination volume was recorded for {}",
                        v.top_id
                    ))
                })
        })
        .collect()
}

/// Attaches the data volumes to the destination server (those it does not have yet), and
/// waits for each to be `in-use`.
pub async fn attach_data(
    cx: &mut JobContext,
    dest: &SiteHandle,
    project: &str,
    server: &Value,
    vols: &[MovedVolume],
) -> Result<(), StepError> {
    let id = server["id"].as_str().unwrap_or_default().to_string();
    let has: Vec<&str> = server["os-extended-volumes:volumes_attached"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str())
        .collect();
    let todo: Vec<(MovedVolume, String)> = on_dest(cx, vols)?
        .into_iter()
        .filter(|(v, dest_id)| !v.root && !has.contains(&dest_id.as_str()))
        .map(|(v, d)| (v.clone(), d))
        .collect();
    for (v, dest_id) in todo {
        let body = json!({"volumeAttachment": {
            "volumeId": dest_id,
            "delete_on_termination": v.delete_on_termination,
        }});
        site::call(
            dest,
            site::nova(
                Method::POST,
                format!("/servers/{id}/os-volume_attachments"),
                Scope::Project(project.to_string()),
            )
            .json(&body),
        )
        .await?;
        wait_volume(cx, dest, &dest_id, "in-use").await?;
    }
    Ok(())
}

/// Moves the top routes of the volumes to their destination copies and refreshes the index.
pub async fn switch(
    top: &Top,
    cx: &JobContext,
    dest: &SiteHandle,
    vols: &[MovedVolume],
) -> Result<(), StepError> {
    for (v, dest_id) in on_dest(cx, vols)? {
        top.store
            .set_route(
                VOLUME.kind,
                &v.top_id,
                Some(dest.id()),
                Some(&dest_id),
                fedstack_store::routes::state::ACTIVE,
            )
            .await
            .map_err(site::db)?;
        let Some(route) = top
            .store
            .route(VOLUME.kind, &v.top_id)
            .await
            .map_err(site::db)?
        else {
            continue;
        };
        let user = records::user_of(top, &VOLUME, &v.top_id)
            .await
            .unwrap_or_default();
        if let Err(e) = records::refresh(top, &VOLUME, &route, &user).await {
            tracing::warn!(volume = %v.top_id, error = %e, "index not refreshed after the switch; the sync will");
        }
    }
    Ok(())
}

/// Waits for a volume to reach `status` (`error` is fatal).
async fn wait_volume(
    cx: &mut JobContext,
    site: &SiteHandle,
    id: &str,
    status: &str,
) -> Result<(), StepError> {
    let mut wait = StepWait::new(site, format!("volume {id}"), status);
    loop {
        let v = volume(site, id).await?.ok_or_else(|| {
            StepError::Fatal(format!("volume {id} vanished from site {}", site.name()))
        })?;
        match v["status"].as_str().unwrap_or_default() {
            s if s == status => return Ok(()),
            "error" => {
                return Err(StepError::Fatal(format!(
                    "volume {id} went error on site {}",
                    site.name()
                )))
            }
            now => wait.tick(cx, now).await?,
        }
    }
}

/// Deletes a volume once it is detached (gone already is fine), and waits until it is gone.
pub async fn delete_volume(
    cx: &mut JobContext,
    site: &SiteHandle,
    id: &str,
) -> Result<(), StepError> {
    let mut wait = StepWait::new(site, format!("volume {id}"), "deleted");
    loop {
        let Some(v) = volume(site, id).await? else {
            return Ok(());
        };
        let now = v["status"].as_str().unwrap_or_default();
        if matches!(
            now,
            "available" | "error" | "error_restoring" | "error_extending"
        ) {
            let r = site::send(
                site,
                cinder(Method::DELETE, format!("/volumes/{id}"), Scope::Admin),
            )
            .await?;
            if !r.is_success()
                && r.status != StatusCode::NOT_FOUND
                && r.status != StatusCode::BAD_REQUEST
            {
                r.ok().map_err(|e| site_failure(site, e))?;
            }
        }
        wait.tick(cx, now).await?;
    }
}
