//! Server actions and sub-resources (metadata, tags, interfaces, volume attachments, IPs,
//! instance actions), forwarded to the owning site with the server ID translated, and the
//! index refreshed after every change.

use super::servers::refresh;
use super::translate::TOP_ID_KEY;
use super::{err, owned_route, site_answer_error, site_for_write, store_err, with_mv, Res};
use crate::auth::Caller;
use crate::tenancy::{self, site_error};
use crate::{image, Top};
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use fedstack_api_types::http::{parse_json, Mv};
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::routes::Route;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/v2.1/servers/{id}/action", post(action))
        .route("/v2.1/servers/{id}/{*rest}", any(subresource))
}

/// Sub-resources a tenant may reach on a site.
const SUBRESOURCES: [&str; 7] = [
    "metadata",
    "tags",
    "os-interface",
    "os-volume_attachments",
    "ips",
    "os-instance-actions",
    "diagnostics",
];

/// Admin-only actions (run with the site's admin scope).
const ADMIN_ACTIONS: [&str; 5] = [
    "evacuate",
    "os-resetState",
    "migrate",
    "os-migrateLive",
    "forceDelete",
];

async fn action(c: Caller, Mv(mv): Mv, Path(id): Path<String>, body: Bytes) -> Res {
    let route = owned_route(&c, &id).await?;
    let parsed = parse_json(Service::Compute, &body)?;
    let name = parsed
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    let admin = ADMIN_ACTIONS.contains(&name.as_str());
    if admin && !c.is_admin() {
        return Err(super::policy(&format!("os_compute_api:servers:{name}")));
    }
    let resp = forward(
        &c,
        &route,
        Method::POST,
        "action",
        Some(body.to_vec()),
        mv,
        admin,
    )
    .await?;
    let mut out = translate_answer(&c.top, &route, resp.0, resp.1, &resp.2);
    if name == "createImage" {
        register_snapshot(&c, &route, &mut out).await?;
    }
    Ok(out)
}

async fn subresource(
    c: Caller,
    Mv(mv): Mv,
    method: Method,
    Path((id, rest)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Res {
    let head = rest.split('/').next().unwrap_or_default();
    if !SUBRESOURCES.contains(&head) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "The resource could not be found.",
        ));
    }
    let route = owned_route(&c, &id).await?;
    let mut body = (!body.is_empty()).then(|| body.to_vec());
    if head == "metadata" && method == Method::PUT && rest == "metadata" {
        body = Some(keep_marker(&route, body.as_deref())?);
    }
    let mut nic = None;
    let (rest, body) = if head == crate::volume::attach::SUBRESOURCE {
        crate::volume::attach::to_site(&c, &route, &rest, body).await?
    } else if head == crate::network::interfaces::SUBRESOURCE {
        let (rest, body, pending) =
            crate::network::interfaces::to_site(&c, &route, &method, &rest, body).await?;
        nic = Some(pending);
        (rest, body)
    } else {
        (rest.clone(), body)
    };
    let path = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.clone(),
    };
    let (status, headers, bytes) = match forward(&c, &route, method, &path, body, mv, false).await {
        Ok(answer) => answer,
        Err(e) => {
            if let Some(pending) = nic {
                pending.abandon(&c.top).await;
            }
            return Err(e);
        }
    };
    let mut out = translate_answer(&c.top, &route, status, headers, &bytes);
    if let Some(pending) = nic {
        pending.finish(&c.top, &route, status, &mut out).await;
    }
    if head == "metadata" {
        hide_marker(&mut out).await;
    }
    if head == crate::volume::attach::SUBRESOURCE && status.is_success() {
        crate::volume::attach::to_top(&c.top, &route, &mut out).await;
    }
    Ok(out)
}

/// Replacing all metadata must keep the routing marker on the site.
fn keep_marker(route: &Route, body: Option<&[u8]>) -> Result<Vec<u8>, ApiError> {
    let mut v = parse_json(Service::Compute, body.unwrap_or_default())?;
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert(TOP_ID_KEY.into(), json!(route.top_id));
    }
    Ok(serde_json::to_vec(&v).unwrap_or_default())
}

async fn hide_marker(resp: &mut Response) {
    let body = std::mem::take(resp.body_mut());
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove(TOP_ID_KEY);
    }
    let out = if v.is_null() {
        bytes.to_vec()
    } else {
        serde_json::to_vec(&v).unwrap_or_default()
    };
    resp.headers_mut().remove("content-length");
    *resp.body_mut() = axum::body::Body::from(out);
}

/// Sends `/servers/{site id}/{path}` to the owning site in the tenant's project (or as admin),
/// then refreshes the index. Returns the site's status, headers and body.
async fn forward(
    c: &Caller,
    route: &Route,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    mv: fedstack_api_types::Microversion,
    admin: bool,
) -> Result<(StatusCode, reqwest::header::HeaderMap, Bytes), ApiError> {
    let top = &c.top;
    let site = site_for_write(top, route)?;
    let scope = if admin {
        Scope::Admin
    } else {
        Scope::Project(
            tenancy::site_project(top, &site, &route.project_id, Service::Compute).await?,
        )
    };
    let site_server = route.site_resource_id.clone().unwrap_or_default();
    let mut req = with_mv(
        SiteRequest::new(
            method.clone(),
            "compute",
            format!("/servers/{site_server}/{path}"),
            scope,
        ),
        mv,
    );
    if let Some(b) = body {
        req = req.raw(Bytes::from(b), "application/json");
    }
    let resp = site
        .client
        .send(req)
        .await
        .map_err(|e| site_error(Service::Compute, &site, e))?;
    if resp.status.is_server_error() {
        return Err(site_answer_error(&site, resp.status, &resp.json()));
    }
    if method != Method::GET && resp.is_success() {
        let user = top
            .store
            .server(&route.top_id)
            .await
            .map_err(store_err)?
            .map(|r| r.user_id)
            .unwrap_or_default();
        let _ = refresh(top, route, &user, None).await;
    }
    Ok((resp.status, resp.headers, resp.body))
}

/// The site's answer with its server ID and URLs replaced by the top's.
fn translate_answer(
    top: &Top,
    route: &Route,
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: &Bytes,
) -> Response {
    let site_id = route.site_resource_id.clone().unwrap_or_default();
    let site_root = route
        .site_id
        .as_deref()
        .and_then(|s| top.sites.get(s))
        .map(|s| s.record.auth_url.clone());
    let mut text = String::from_utf8_lossy(body).replace(&site_id, &route.top_id);
    if let Some(root) = site_root
        .as_deref()
        .and_then(|u| u.split("/identity").next())
    {
        text = text.replace(
            &format!("{root}/compute"),
            &top.service_root(Service::Compute),
        );
    }
    let mut resp = (status, text).into_response();
    for name in [
        "content-type",
        "openstack-api-version",
        "x-openstack-nova-api-version",
        "vary",
    ] {
        if let Some(v) = headers.get(name) {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                resp.headers_mut().insert(name, v);
            }
        }
    }
    resp
}

/// After createImage: the snapshot, made on the site with the site's ID, becomes a top image
/// (registered, not copied); the `Location` points at the top.
async fn register_snapshot(c: &Caller, route: &Route, resp: &mut Response) -> Result<(), ApiError> {
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body = axum::body::to_bytes(std::mem::take(resp.body_mut()), usize::MAX)
        .await
        .unwrap_or_default();
    let from_body = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["image_id"].as_str().map(String::from));
    let image_id = from_body.or_else(|| {
        location
            .as_deref()
            .and_then(|l| l.rsplit('/').next())
            .map(String::from)
    });
    *resp.body_mut() = axum::body::Body::from(body);
    let Some(image_id) = image_id else {
        return Ok(());
    };
    let site = site_for_write(&c.top, route)?;
    let scope = Scope::Project(
        tenancy::site_project(&c.top, &site, &route.project_id, Service::Compute).await?,
    );
    let doc = site
        .client
        .json(SiteRequest::new(
            Method::GET,
            "image",
            format!("/v2/images/{image_id}"),
            scope,
        ))
        .await
        .map_err(|e| site_error(Service::Compute, &site, e))?;
    let top_id = image::register_site_image(&c.top, &site, &doc).await?;
    if location.is_some() {
        let href = format!("{}/images/{top_id}", c.top.service_root(Service::Compute));
        if let Ok(v) = HeaderValue::from_str(&href) {
            resp.headers_mut().insert("location", v);
        }
    }
    Ok(())
}
