//! `/volumes`: create in an availability zone (a site), next to its source, or placed by the
//! top; show, update, delete, metadata and actions through the owning site; lists from the
//! index.

use super::records::{self, tenant_scope, VOLUME};
use super::{bad, err, site_down, site_for_write, site_record_error, types, Req, Res, TOP_ID_KEY};
use crate::sites::SiteHandle;
use crate::tenancy::site_error;
use crate::{image, Top};
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use fedstack_api_types::http::{parse_json, Mv, OsJson};
use fedstack_api_types::Service;
use fedstack_site_client::{Scope, SiteRequest};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/volumes", get(list).post(create))
        .route("/volumes/detail", get(detail))
        .route("/volumes/{volume_id}", get(show).put(update).delete(delete))
        .route("/volumes/{volume_id}/action", post(action))
        .route("/volumes/{volume_id}/{*rest}", any(metadata))
}

async fn list(r: Req, Mv(mv): Mv, RawQuery(q): RawQuery) -> Res {
    records::list(&VOLUME, &r, mv, q.as_deref(), false).await
}

async fn detail(r: Req, Mv(mv): Mv, RawQuery(q): RawQuery) -> Res {
    records::list(&VOLUME, &r, mv, q.as_deref(), true).await
}

async fn show(r: Req, Mv(mv): Mv) -> Res {
    records::show(&VOLUME, &r, mv).await
}

async fn update(r: Req, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    if !body.get("volume").is_some_and(Value::is_object) {
        return Err(bad("Missing required element 'volume' in request body."));
    }
    records::update(&VOLUME, &r, mv, body).await
}

async fn delete(r: Req, Mv(mv): Mv, RawQuery(q): RawQuery) -> Res {
    records::delete(&VOLUME, &r, mv, q.as_deref()).await
}

async fn metadata(r: Req, Mv(mv): Mv, method: Method, body: Bytes) -> Res {
    let rest = r.id("rest");
    records::metadata(&VOLUME, &r, mv, method, &rest, body).await
}

/// A source of a new volume that lives on one site: (what it is, its site, its site ID).
struct Source {
    what: String,
    site: Arc<SiteHandle>,
    site_id: String,
}

/// The string at `raw[key]` (absent or null: `None`; anything else but a string: 400).
fn opt_str(
    raw: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, fedstack_api_types::ApiError> {
    match raw.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(format!(
            "Invalid input for field/attribute {key}. Value: {other}. {other} is not of type 'string'"
        ))),
    }
}

/// The snapshot or source volume a create names, on its site.
async fn source(
    r: &Req,
    raw: &Map<String, Value>,
) -> Result<Option<Source>, fedstack_api_types::ApiError> {
    for (key, k) in [
        ("snapshot_id", &records::SNAPSHOT),
        ("source_volid", &VOLUME),
    ] {
        let Some(id) = opt_str(raw, key)? else {
            continue;
        };
        let route = super::owned_route(&r.c, k.kind, &id, |i| k.not_found(i)).await?;
        let site = site_for_write(&r.c.top, &route)?;
        return Ok(Some(Source {
            what: format!("{} {id}", k.label.to_lowercase()),
            site,
            site_id: route.site_resource_id.unwrap_or_default(),
        }));
    }
    Ok(None)
}

/// The site a new volume goes to under a volume scope: its source's or its zone's when the
/// scope names that site (a 400 naming the scope's sites otherwise), else the scope's first.
fn scoped_site(
    sites: &[Arc<SiteHandle>],
    az: Option<&str>,
    source: Option<&Source>,
) -> Result<Arc<SiteHandle>, fedstack_api_types::ApiError> {
    let outside = |what: String| {
        bad(format!(
            "Invalid input received: {what} is outside the volume scope ({}).",
            crate::scope::names(sites)
        ))
    };
    if let Some(s) = source {
        return sites
            .iter()
            .find(|x| x.id() == s.site.id())
            .cloned()
            .ok_or_else(|| outside(format!("{} on site {}", s.what, s.site.name())));
    }
    if let Some(az) = az {
        return sites
            .iter()
            .find(|x| x.record.az == az)
            .cloned()
            .ok_or_else(|| outside(format!("availability zone {az}")));
    }
    sites
        .first()
        .cloned()
        .ok_or_else(|| outside("every site".into()))
}

/// The site a new volume goes to: its source's, else its availability zone's, else placed.
/// A source on another site than the zone asked for is refused, naming both.
async fn choose_site(
    top: &Top,
    az: Option<&str>,
    source: Option<&Source>,
) -> Result<Arc<SiteHandle>, fedstack_api_types::ApiError> {
    let zone_site = match az {
        Some(az) => Some(
            top.sites
                .by_az(az)
                .filter(|s| s.record.enabled)
                .ok_or_else(|| bad(format!("Availability zone '{az}' is invalid.")))?,
        ),
        None => None,
    };
    let site = match (zone_site, source) {
        (Some(z), Some(s)) if z.id() != s.site.id() => {
            return Err(bad(format!(
                "The {} is on site {} (availability zone {}); a volume made from it cannot be in availability zone {} (site {}).",
                s.what,
                s.site.name(),
                s.site.record.az,
                z.record.az,
                z.name()
            )))
        }
        (_, Some(s)) => s.site.clone(),
        (Some(z), None) => z,
        (None, None) => records::place(top).await?,
    };
    if !site.is_up() {
        return Err(site_down(&site));
    }
    Ok(site)
}

async fn create(r: Req, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    let top = r.c.top.clone();
    let Some(Value::Object(raw)) = body.get("volume") else {
        return Err(bad("Missing required element 'volume' in request body."));
    };
    let mut raw = raw.clone();
    if opt_str(&raw, "backup_id")?.is_some() {
        return Err(bad(
            "Invalid input received: volumes from backups are not supported by the federation.",
        ));
    }
    let source = source(&r, &raw).await?;
    let image_ref = match opt_str(&raw, "imageRef")? {
        Some(i) => Some(i),
        None => opt_str(&raw, "image_id")?,
    };
    let image = match &image_ref {
        Some(id) => Some(
            image::image_for_boot(&top, r.c.project_id(), id)
                .await
                .map_err(|_| {
                    bad("Invalid image identifier or unable to access requested image.")
                })?,
        ),
        None => None,
    };
    let volume_type = match opt_str(&raw, "volume_type")? {
        Some(t) => Some(types::find(&r.c, &t).await?),
        None => None,
    };
    let az = opt_str(&raw, "availability_zone")?;
    let site = match r.c.scoped_write_sites(Service::Volume)? {
        None => choose_site(&top, az.as_deref(), source.as_ref()).await?,
        Some(sites) => scoped_site(&sites, az.as_deref(), source.as_ref())?,
    };
    let route = records::begin_route(&top, &VOLUME, &site, r.c.project_id()).await?;
    let size = requested_size(&top, &raw).await;
    let claim = records::claim(&top, &route, false, size).await?;
    let result = async {
        let scope = tenant_scope(&top, &site, r.c.project_id()).await?;
        raw.remove("availability_zone");
        if let Some(s) = &source {
            let key = if raw.contains_key("snapshot_id") {
                "snapshot_id"
            } else {
                "source_volid"
            };
            raw.insert(key.into(), json!(s.site_id));
        }
        if let Some(t) = &volume_type {
            raw.insert(
                "volume_type".into(),
                json!(types::ensure_on_site(&top, t, &site).await?),
            );
        }
        if let Some(img) = &image {
            let site_image = image::ensure_on_site(&top, img, &site)
                .await
                .map_err(super::as_volume_error)?;
            raw.remove("image_id");
            raw.insert("imageRef".into(), json!(site_image));
        }
        let mut meta = raw
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        meta.insert(TOP_ID_KEY.into(), json!(route.top_id));
        raw.insert("metadata".into(), Value::Object(meta));
        let req = SiteRequest::new(Method::POST, "block-storage", "/volumes", scope)
            .json(&json!({ "volume": raw }));
        records::send(&site, req, mv).await
    }
    .await;
    records::finish_create(&top, &VOLUME, route, &site, r.c.user_id(), result, claim).await
}

/// The size (GiB) a new volume will have, for its quota claim: the one asked, else its
/// source's.
async fn requested_size(top: &Top, raw: &Map<String, Value>) -> i64 {
    let asked = match raw.get("size") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if let Some(size) = asked {
        return size;
    }
    for (key, kind) in [
        ("snapshot_id", records::SNAPSHOT.kind),
        ("source_volid", VOLUME.kind),
    ] {
        if let Some(id) = raw.get(key).and_then(Value::as_str) {
            if let Ok(Some(row)) = top.store.volume_row(kind, id).await {
                return row.body.get("size").and_then(Value::as_i64).unwrap_or(0);
            }
        }
    }
    0
}

/// Volume actions only admins may run (with the site's admin scope).
const ADMIN_ACTIONS: [&str; 4] = [
    "os-reset_status",
    "os-force_delete",
    "os-migrate_volume",
    "os-force_detach",
];

/// `POST /volumes/{id}/action`, forwarded to the owning site; the volume's index row is
/// refreshed, and an image uploaded from the volume becomes a top image.
async fn action(r: Req, Mv(mv): Mv, body: Bytes) -> Res {
    let route = VOLUME.route(&r).await?;
    let parsed = parse_json(Service::Volume, &body)?;
    let name = parsed
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    let top = &r.c.top;
    let admin = ADMIN_ACTIONS.contains(&name.as_str());
    if admin && !r.c.is_admin() {
        return Err(err(
            StatusCode::FORBIDDEN,
            format!(
                "Policy doesn't allow volume_extension:volume_admin_actions:{} to be performed.",
                name.trim_start_matches("os-")
            ),
        ));
    }
    let site = site_for_write(top, &route)?;
    let scope = if admin {
        Scope::Admin
    } else {
        tenant_scope(top, &site, &route.project_id).await?
    };
    let site_id = route.site_resource_id.clone().unwrap_or_default();
    let req = SiteRequest::new(
        Method::POST,
        "block-storage",
        format!("/volumes/{site_id}/action"),
        scope.clone(),
    )
    .json(&parsed);
    let resp = records::send(&site, req, mv).await?;
    if !resp.is_success() {
        return Err(site_record_error(&site, &route, &resp));
    }
    let user = records::user_of(top, &VOLUME, &route.top_id).await?;
    let _ = records::refresh(top, &VOLUME, &route, &user).await;
    if resp.body.is_empty() {
        return Ok(super::accepted());
    }
    let text = String::from_utf8_lossy(&resp.body).replace(&site_id, &route.top_id);
    let mut answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if name == "os-volume_upload_image" {
        register_upload(top, &site, scope, &mut answer).await?;
    }
    Ok((resp.status, Json(answer)).into_response())
}

/// The image an upload-to-image made on the site becomes a top image (registered, not
/// copied); the answer names it by its top ID.
async fn register_upload(
    top: &Top,
    site: &SiteHandle,
    scope: Scope,
    answer: &mut Value,
) -> Result<(), fedstack_api_types::ApiError> {
    let Some(image_id) = answer
        .pointer("/os-volume_upload_image/image_id")
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return Ok(());
    };
    let doc = site
        .client
        .json(SiteRequest::new(
            Method::GET,
            "image",
            format!("/v2/images/{image_id}"),
            scope,
        ))
        .await
        .map_err(|e| site_error(Service::Volume, site, e))?;
    let top_id = image::register_site_image(top, site, &doc)
        .await
        .map_err(super::as_volume_error)?;
    answer["os-volume_upload_image"]["image_id"] = json!(top_id);
    if let Some(t) = answer
        .pointer("/os-volume_upload_image/volume_type/id")
        .and_then(Value::as_str)
        .map(String::from)
    {
        if let Ok(Some(top_type)) = top.store.top_volume_type_of(site.id(), &t).await {
            answer["os-volume_upload_image"]["volume_type"]["id"] = json!(top_type);
        }
    }
    tracing::info!(image = %top_id, site = %site.name(), "volume uploaded to an image");
    Ok(())
}
