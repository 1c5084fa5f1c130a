//! The index of volumes and snapshots, kept fresh by reading every site that is up (plus the
//! write-through of every change made through the top). It adopts records a site made for a
//! top tenant (the root volume of a server booted from an image onto a volume) under a new
//! top ID, completes routes left `creating` by a crash, and forgets records a site no longer
//! has.

use super::records::{site_record, Kind, SNAPSHOT, VOLUME};
use super::translate::{self, Known};
use super::{with_mv, INDEX_MV, TOP_ID_KEY};
use crate::sites::SiteHandle;
use crate::Top;
use fedstack_site_client::{Scope, SiteError, SiteRequest};
use fedstack_store::routes::{kind as route_kind, state, Route};
use fedstack_store::volumes::VolumeRow;
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Page size of a sync read.
const PAGE: usize = 1000;
/// A `creating` route older than this with nothing on its site is abandoned.
const CREATING_GRACE_MS: i64 = 10 * 60 * 1000;

/// Reads every site that is up, forever, every `sync_interval_ms`; now and then abandons
/// creations that never reached their site.
pub async fn run(top: Arc<Top>) {
    let every = Duration::from_millis(top.config.sync_interval_ms.max(200));
    let mut round: u64 = 0;
    loop {
        let sites: Vec<_> = top.sites.all().into_iter().filter(|s| s.is_up()).collect();
        futures::future::join_all(sites.iter().map(|s| async {
            if let Err(e) = sync_site(&top, s).await {
                tracing::debug!(site = %s.name(), error = %e, "volume index sync failed");
            }
        }))
        .await;
        if round.is_multiple_of(30) {
            abandon_stale(&top).await;
        }
        round += 1;
        tokio::time::sleep(every).await;
    }
}

/// `creating` routes older than [`CREATING_GRACE_MS`] that never got a site record (the site
/// call timed out and nothing appeared since) are dropped.
async fn abandon_stale(top: &Top) {
    let stale = fedstack_store::now_ms() - CREATING_GRACE_MS;
    for k in [&VOLUME, &SNAPSHOT] {
        for r in top
            .store
            .routes_in_state(k.kind, state::CREATING)
            .await
            .unwrap_or_default()
        {
            if r.created_at < stale && r.site_resource_id.is_none() {
                tracing::warn!(id = %r.top_id, kind = k.kind, "abandoning a creation that never reached its site");
                let _ = top.store.delete_route(k.kind, &r.top_id).await;
            }
        }
    }
}

/// Every record of a kind on a site (admin, all projects, page by page).
async fn site_records(site: &SiteHandle, k: &Kind) -> Result<Vec<Value>, SiteError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut path = format!("/{}/detail?all_tenants=1&limit={PAGE}", k.collection);
        if let Some(m) = &marker {
            path.push_str(&format!("&marker={m}"));
        }
        let page = site
            .client
            .json(with_mv(
                SiteRequest::new(Method::GET, "block-storage", path, Scope::Admin),
                INDEX_MV,
            ))
            .await?;
        let batch = page[k.collection].as_array().cloned().unwrap_or_default();
        let full = batch.len() >= PAGE;
        marker = batch
            .last()
            .and_then(|v| v["id"].as_str())
            .map(String::from);
        out.extend(batch);
        if !full {
            return Ok(out);
        }
    }
}

/// One round for one site: volumes first (snapshots name them), then snapshots.
pub async fn sync_site(top: &Top, site: &SiteHandle) -> Result<(), SiteError> {
    for k in [&VOLUME, &SNAPSHOT] {
        let listed = site_records(site, k).await?;
        let mut seen = HashSet::new();
        for doc in &listed {
            if let Some(id) = doc["id"].as_str() {
                seen.insert(id.to_string());
            }
            apply(top, site, k, doc).await;
        }
        forget_gone(top, site, k, &seen).await?;
    }
    Ok(())
}

/// Applies one site record to the index (adopting it when the top does not route it yet);
/// its top route, or `None` when it is no top tenant's.
pub async fn apply(top: &Top, site: &SiteHandle, k: &Kind, doc: &Value) -> Option<Route> {
    let site_id = doc["id"].as_str()?;
    let route = match top
        .store
        .route_by_site_id(k.kind, site.id(), site_id)
        .await
        .ok()
        .flatten()
    {
        Some(r) => r,
        None => adopt(top, site, k, doc, site_id).await?,
    };
    if route.state == state::DELETING {
        return Some(route);
    }
    let existing = top
        .store
        .volume_row(k.kind, &route.top_id)
        .await
        .ok()
        .flatten();
    if existing.as_ref().is_some_and(|e| unchanged(e, doc)) {
        return Some(route);
    }
    let user = match translate::user_of(existing.as_ref()) {
        u if u.is_empty() => server_user(top, site, doc).await,
        u => u,
    };
    let known = Known {
        top_id: &route.top_id,
        project_id: &route.project_id,
        user_id: &user,
        site,
    };
    let body = k.translate(top, &known, doc).await;
    let row = translate::index_row(k.kind, &known, body);
    if existing.as_ref() != Some(&row) {
        let _ = top.store.upsert_volume_row(&row).await;
    }
    Some(route)
}

/// True when the site record is as the index last saw it (Cinder moves `updated_at` on every
/// change), so the round costs no translation.
fn unchanged(row: &VolumeRow, doc: &Value) -> bool {
    !row.deleted
        && row.body.get("updated_at") == doc.get("updated_at")
        && row.body.get("status") == doc.get("status")
        && row.body.get("user_id").is_some_and(|u| !u.is_null())
}

/// The top user of the server a volume is attached to (a root volume made by Nova belongs to
/// the server's owner); empty when unknown.
async fn server_user(top: &Top, site: &SiteHandle, doc: &Value) -> String {
    let Some(server) = doc
        .pointer("/attachments/0/server_id")
        .and_then(Value::as_str)
    else {
        return String::new();
    };
    let Some(top_server) = translate::top_id_of(top, route_kind::SERVER, site, server).await else {
        return String::new();
    };
    top.store
        .server(&top_server)
        .await
        .ok()
        .flatten()
        .map(|s| s.user_id)
        .unwrap_or_default()
}

/// The route of a site record the top does not route yet: its `creating` route when it
/// carries a top ID (made through the top just before a crash), else a new top ID when it
/// lives in a top tenant's site project.
async fn adopt(
    top: &Top,
    site: &SiteHandle,
    k: &Kind,
    doc: &Value,
    site_id: &str,
) -> Option<Route> {
    if let Some(top_id) = doc
        .pointer(&format!("/metadata/{TOP_ID_KEY}"))
        .and_then(Value::as_str)
    {
        let route = top.store.route(k.kind, top_id).await.ok().flatten()?;
        if route.state != state::CREATING || route.site_id.as_deref() != Some(site.id()) {
            return None;
        }
        top.store
            .set_route(
                k.kind,
                top_id,
                Some(site.id()),
                Some(site_id),
                state::ACTIVE,
            )
            .await
            .ok()?;
        tracing::info!(id = %top_id, kind = k.kind, site = %site.name(), "adopted a record created before a restart");
        return Some(Route {
            site_resource_id: Some(site_id.to_string()),
            state: state::ACTIVE.into(),
            ..route
        });
    }
    let site_project = doc
        .get("os-vol-tenant-attr:tenant_id")
        .or_else(|| doc.get("os-extended-snapshot-attributes:project_id"))
        .and_then(Value::as_str)?;
    let project = top
        .store
        .top_project_of(site.id(), site_project)
        .await
        .ok()
        .flatten()?;
    let route = Route {
        kind: k.kind.into(),
        top_id: uuid::Uuid::new_v4().to_string(),
        site_id: Some(site.id().to_string()),
        site_resource_id: Some(site_id.to_string()),
        project_id: project,
        state: state::ACTIVE.into(),
        created_at: fedstack_store::now_ms(),
    };
    top.store.insert_route(&route).await.ok()?;
    tracing::info!(id = %route.top_id, kind = k.kind, site = %site.name(), site_id, "adopted a record the site made for a tenant");
    Some(route)
}

/// The top ID of a site volume, adopting it now when the top does not know it yet (a root
/// volume Nova just made on the site).
pub async fn top_volume_id(top: &Top, site: &SiteHandle, site_volume: &str) -> Option<String> {
    if let Some(id) = translate::top_id_of(top, VOLUME.kind, site, site_volume).await {
        return Some(id);
    }
    let doc = site_record(&VOLUME, site, site_volume)
        .await
        .ok()
        .flatten()?;
    apply(top, site, &VOLUME, &doc).await.map(|r| r.top_id)
}

/// Records of the site the listing no longer shows: gone for good once the site says so.
async fn forget_gone(
    top: &Top,
    site: &SiteHandle,
    k: &Kind,
    seen: &HashSet<String>,
) -> Result<(), SiteError> {
    let routed = top
        .store
        .routed_on_site(k.kind, site.id())
        .await
        .unwrap_or_default();
    for (top_id, site_id) in routed.into_iter().filter(|(_, s)| !seen.contains(s)) {
        if site_record(k, site, &site_id).await?.is_none() {
            let _ = top.store.mark_volume_row_deleted(k.kind, &top_id).await;
            let _ = top.store.delete_route(k.kind, &top_id).await;
            tracing::info!(id = %top_id, kind = k.kind, site = %site.name(), "no longer on its site");
        }
    }
    Ok(())
}
