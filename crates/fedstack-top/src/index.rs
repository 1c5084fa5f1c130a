//! The index of servers, kept fresh by polling each site with `changes-since` (plus the
//! write-through of every change made through the top). It also adopts servers whose route
//! was still `creating` when a top process died, and finishes routes left `deleting`.

use crate::compute::render::INDEX_MV;
use crate::compute::servers::site_server;
use crate::compute::translate::{self, Known, TOP_ID_KEY};
use crate::compute::with_mv;
use crate::sites::SiteHandle;
use crate::Top;
use fedstack_site_client::{Scope, SiteError, SiteRequest};
use fedstack_store::now_ms;
use fedstack_store::routes::{kind, state, Route};
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Sync position kind for servers.
const SERVERS: &str = "server";
/// Page size of a sync read.
const PAGE: usize = 1000;
/// A `creating` route older than this with nothing on its site is abandoned.
const CREATING_GRACE_MS: i64 = 10 * 60 * 1000;

/// Polls every site forever, every `sync_interval_ms`.
pub async fn run(top: Arc<Top>) {
    let every = Duration::from_millis(top.config.sync_interval_ms);
    let mut round: u64 = 0;
    loop {
        let sites: Vec<_> = top.sites.all().into_iter().filter(|s| s.is_up()).collect();
        futures::future::join_all(sites.iter().map(|s| async {
            if let Err(e) = sync_site(&top, s).await {
                tracing::debug!(site = %s.name(), error = %e, "index sync failed");
            }
        }))
        .await;
        if round.is_multiple_of(30) {
            repair(&top).await;
        }
        round += 1;
        tokio::time::sleep(every).await;
    }
}

/// Reads what changed on a site since the last sync and applies it to the index.
pub async fn sync_site(top: &Top, site: &SiteHandle) -> Result<usize, SiteError> {
    let since = top.store.sync_mark(site.id(), SERVERS).await.ok().flatten();
    let mut marker: Option<String> = None;
    let mut newest = since.clone();
    let mut applied = 0;
    loop {
        let mut path = format!("/servers/detail?all_tenants=1&limit={PAGE}");
        if let Some(s) = &since {
            path.push_str(&format!(
                "&changes-since={}",
                form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
            ));
        }
        if let Some(m) = &marker {
            path.push_str(&format!("&marker={m}"));
        }
        let page = site
            .client
            .json(with_mv(
                SiteRequest::new(Method::GET, "compute", path, Scope::Admin),
                INDEX_MV,
            ))
            .await?;
        let servers = page["servers"].as_array().cloned().unwrap_or_default();
        for s in &servers {
            if let Some(u) = s.get("updated").and_then(Value::as_str) {
                if newest.as_deref().is_none_or(|n| u > n) {
                    newest = Some(u.to_string());
                }
            }
            if apply(top, site, s).await {
                applied += 1;
            }
        }
        if servers.len() < PAGE {
            break;
        }
        marker = servers
            .last()
            .and_then(|s| s["id"].as_str())
            .map(String::from);
    }
    if let Some(n) = newest.filter(|n| Some(n) != since.as_ref()) {
        let _ = top.store.set_sync_mark(site.id(), SERVERS, &n).await;
    }
    Ok(applied)
}

/// Applies one site server to the index; true when it is a server of the top.
async fn apply(top: &Top, site: &SiteHandle, s: &Value) -> bool {
    let Some(site_server) = s["id"].as_str() else {
        return false;
    };
    let route = match top
        .store
        .route_by_site_id(kind::SERVER, site.id(), site_server)
        .await
        .ok()
        .flatten()
    {
        Some(r) => r,
        None => match adopt(top, site, s, site_server).await {
            Some(r) => r,
            None => return false,
        },
    };
    let deleted = s["status"] == "DELETED";
    if deleted {
        let _ = top.store.mark_server_deleted(&route.top_id).await;
        let _ = top.store.delete_route(kind::SERVER, &route.top_id).await;
        return true;
    }
    if route.state == state::DELETING {
        return true;
    }
    let existing = top.store.server(&route.top_id).await.ok().flatten();
    let user = existing
        .as_ref()
        .map(|e| e.user_id.clone())
        .unwrap_or_default();
    let group = existing.and_then(|e| e.server_group_id);
    let known = Known {
        top_id: &route.top_id,
        project_id: &route.project_id,
        user_id: &user,
        site,
    };
    let server = translate::server(top, &known, s).await;
    let row = translate::index_row(top, &known, server, group).await;
    top.store.upsert_server(&row).await.is_ok()
}

/// A site server carrying a top ID whose route is still `creating` (the top died between the
/// site's answer and recording it): the route is completed.
async fn adopt(top: &Top, site: &SiteHandle, s: &Value, site_server: &str) -> Option<Route> {
    let top_id = s
        .pointer(&format!("/metadata/{TOP_ID_KEY}"))
        .and_then(Value::as_str)?;
    let route = top.store.route(kind::SERVER, top_id).await.ok().flatten()?;
    if route.state != state::CREATING || route.site_id.as_deref() != Some(site.id()) {
        return None;
    }
    top.store
        .set_route(
            kind::SERVER,
            top_id,
            Some(site.id()),
            Some(site_server),
            state::ACTIVE,
        )
        .await
        .ok()?;
    tracing::info!(server = %top_id, site = %site.name(), "adopted a server created before a restart");
    Some(Route {
        site_resource_id: Some(site_server.to_string()),
        state: state::ACTIVE.into(),
        ..route
    })
}

/// Finishes routes left half-way: `deleting` ones whose server is gone, `creating` ones
/// nothing ever appeared for.
async fn repair(top: &Top) {
    for r in top
        .store
        .routes_in_state(kind::SERVER, state::DELETING)
        .await
        .unwrap_or_default()
    {
        if matches!(site_server(top, &r).await, Ok(None)) {
            let _ = top.store.delete_route(kind::SERVER, &r.top_id).await;
        }
    }
    let stale = now_ms() - CREATING_GRACE_MS;
    for r in top
        .store
        .routes_in_state(kind::SERVER, state::CREATING)
        .await
        .unwrap_or_default()
    {
        if r.created_at < stale && r.site_resource_id.is_none() {
            tracing::warn!(server = %r.top_id, "abandoning a server creation that never reached its site");
            let _ = top.store.mark_server_deleted(&r.top_id).await;
            let _ = top.store.delete_route(kind::SERVER, &r.top_id).await;
        }
    }
}
