//! Nova's `os-volume_attachments` at the top: top volume IDs become the site's on the way to
//! the server's site and back again on the way out. A volume lives on one site and a server
//! on one site: attaching across sites is refused, naming both.

use super::records::{self, VOLUME};
use super::sync::top_volume_id;
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use axum::response::Response;
use fedstack_api_types::http::parse_json;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::routes::Route;
use serde_json::{json, Value};

/// Sub-resource of a server these hooks translate.
pub const SUBRESOURCE: &str = "os-volume_attachments";

fn nova(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Service::Compute, status, msg)
}

/// The site's ID of a top volume to attach to (or detach from) `server`, refusing a volume
/// on another site than the server's.
async fn site_volume(c: &Caller, server: &Route, volume_id: &str) -> Result<String, ApiError> {
    let not_found = |id: &str| {
        nova(
            StatusCode::NOT_FOUND,
            format!("Volume {id} could not be found."),
        )
    };
    let route = super::owned_route(c, VOLUME.kind, volume_id, not_found).await?;
    if route.project_id != server.project_id {
        return Err(not_found(volume_id));
    }
    if route.site_id != server.site_id {
        let describe = |site: Option<&str>| {
            site.and_then(|s| c.top.sites.get(s))
                .map(|s| format!("site {} (availability zone {})", s.name(), s.record.az))
                .unwrap_or_else(|| "no site".into())
        };
        return Err(nova(
            StatusCode::BAD_REQUEST,
            format!(
                "Volume {volume_id} is on {} but server {} is on {}: a volume can only be attached to a server on its own site.",
                describe(route.site_id.as_deref()),
                server.top_id,
                describe(server.site_id.as_deref()),
            ),
        ));
    }
    Ok(route.site_resource_id.unwrap_or_default())
}

/// Before forwarding `rest` (`os-volume_attachments[/{volume}]`) of `server` to its site:
/// the top volume IDs in the path and in `volumeAttachment.volumeId` become the site's.
pub async fn to_site(
    c: &Caller,
    server: &Route,
    rest: &str,
    body: Option<Vec<u8>>,
) -> Result<(String, Option<Vec<u8>>), ApiError> {
    let path = match rest.split_once('/') {
        Some((head, volume)) if !volume.is_empty() => {
            format!("{head}/{}", site_volume(c, server, volume).await?)
        }
        _ => rest.to_string(),
    };
    let Some(bytes) = body else {
        return Ok((path, None));
    };
    let mut v = parse_json(Service::Compute, &bytes)?;
    if let Some(id) = v
        .pointer("/volumeAttachment/volumeId")
        .and_then(Value::as_str)
        .map(String::from)
    {
        v["volumeAttachment"]["volumeId"] = json!(site_volume(c, server, &id).await?);
    }
    Ok((path, Some(serde_json::to_vec(&v).unwrap_or_default())))
}

/// After the site answered: its volume IDs in the answer become top IDs, and the volumes'
/// index rows follow their new attachment state.
pub async fn to_top(top: &Top, server: &Route, resp: &mut Response) {
    let Some(site) = server.site_id.as_deref().and_then(|s| top.sites.get(s)) else {
        return;
    };
    let Some(mut v) = crate::http::take_json(resp).await else {
        return;
    };
    if let Some(a) = v.get_mut("volumeAttachment") {
        attachment(top, &site, a).await;
    }
    if let Some(all) = v.get_mut("volumeAttachments").and_then(Value::as_array_mut) {
        for a in all.iter_mut() {
            attachment(top, &site, a).await;
        }
    }
    crate::http::put_json(resp, &v);
}

/// One attachment document: `volumeId` (and `id`, the volume ID before 2.89) in top terms.
async fn attachment(top: &Top, site: &SiteHandle, a: &mut Value) {
    let Some(site_volume) = a["volumeId"].as_str().map(String::from) else {
        return;
    };
    let Some(top_volume) = top_volume_id(top, site, &site_volume).await else {
        return;
    };
    if a["id"] == site_volume.as_str() {
        a["id"] = json!(top_volume);
    }
    a["volumeId"] = json!(top_volume);
    if let Ok(Some(route)) = top.store.route(VOLUME.kind, &top_volume).await {
        let user = records::user_of(top, &VOLUME, &top_volume)
            .await
            .unwrap_or_default();
        let _ = records::refresh(top, &VOLUME, &route, &user).await;
    }
}
