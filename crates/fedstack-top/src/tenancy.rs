//! Each top project has its own project on every site, created on first use by the site's
//! service account, which then acts in it for the tenant.

use crate::sites::SiteHandle;
use crate::Top;
use fedstack_api_types::{ApiError, Service};
use fedstack_site_client::{Scope, SiteError, SiteRequest};
use reqwest::Method;
use serde_json::{json, Value};

/// The name of a top project's project on a site: deterministic, so that any top node (or a
/// node restarted after a crash) finds the one already made.
pub fn site_project_name(project_id: &str) -> String {
    format!("fedstack-{project_id}")
}

/// An error naming the site, for a failed site call.
pub fn site_error(service: Service, site: &SiteHandle, e: SiteError) -> ApiError {
    let status = match &e {
        SiteError::Http { status, .. } if *status < 500 => axum::http::StatusCode::BAD_GATEWAY,
        _ => axum::http::StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(
        service,
        status,
        format!("Site {} is not available: {e}", site.name()),
    )
}

/// The 503 for a site that is down, naming it, in `service`'s envelope.
pub fn site_down(service: Service, site: &SiteHandle) -> ApiError {
    ApiError::new(
        service,
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "Site {} (availability zone {}) is not available; try again later.",
            site.name(),
            site.record.az
        ),
    )
}

/// A site's refusal passed to the client in `service`'s envelope with the site's status and
/// message; a server error (or an answer without a message) becomes a 502 naming the site.
pub fn site_answer_error(
    service: Service,
    site: &SiteHandle,
    status: axum::http::StatusCode,
    body: &Value,
) -> ApiError {
    let message = body
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|inner| inner.get("message"))
        .and_then(Value::as_str);
    let bad_gateway = axum::http::StatusCode::BAD_GATEWAY;
    match message {
        Some(m) if status.is_client_error() => ApiError::new(service, status, m),
        Some(m) => ApiError::new(
            service,
            bad_gateway,
            format!("Site {} failed: {m}", site.name()),
        ),
        None => ApiError::new(
            service,
            bad_gateway,
            format!("Site {} answered {status}.", site.name()),
        ),
    }
}

/// The site project of a top project, creating it (and granting the service account the
/// `member` role there) on first use.
pub async fn site_project(
    top: &Top,
    site: &SiteHandle,
    project_id: &str,
    service: Service,
) -> Result<String, ApiError> {
    let store_err = |e: fedstack_store::StoreError| {
        ApiError::new(
            service,
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )
    };
    if let Some(p) = top
        .store
        .site_project(project_id, site.id())
        .await
        .map_err(store_err)?
    {
        return Ok(p);
    }
    let lock = top.lock_for(&format!("tenancy/{project_id}/{}", site.id()));
    let _guard = lock.lock().await;
    if let Some(p) = top
        .store
        .site_project(project_id, site.id())
        .await
        .map_err(store_err)?
    {
        return Ok(p);
    }
    let site_project = ensure_on_site(site, project_id)
        .await
        .map_err(|e| site_error(service, site, e))?;
    tracing::info!(site = %site.name(), project = %project_id, site_project = %site_project, "tenant project created on site");
    top.store
        .set_site_project(project_id, site.id(), &site_project)
        .await
        .map_err(store_err)
}

async fn ensure_on_site(site: &SiteHandle, project_id: &str) -> Result<String, SiteError> {
    let name = site_project_name(project_id);
    let existing = site
        .client
        .json(SiteRequest::new(
            Method::GET,
            "identity",
            format!("/projects?name={name}"),
            Scope::Admin,
        ))
        .await?;
    let id = match existing["projects"]
        .as_array()
        .and_then(|p| p.first())
        .and_then(|p| p["id"].as_str())
    {
        Some(id) => id.to_string(),
        None => {
            let body = json!({"project": {"name": name, "domain_id": "default", "description": format!("fedstack: top project {project_id}"), "enabled": true}});
            let r = site
                .client
                .send(
                    SiteRequest::new(Method::POST, "identity", "/projects", Scope::Admin)
                        .json(&body),
                )
                .await?;
            if r.status.as_u16() == 409 {
                let again = site
                    .client
                    .json(SiteRequest::new(
                        Method::GET,
                        "identity",
                        format!("/projects?name={name}"),
                        Scope::Admin,
                    ))
                    .await?;
                first_id(&again["projects"]).ok_or_else(|| SiteError::Http {
                    status: 409,
                    body: "project exists but cannot be found".into(),
                })?
            } else {
                r.ok()?.json()["project"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }
        }
    };
    let admin = site.client.admin_session().await?;
    let roles = site
        .client
        .json(SiteRequest::new(
            Method::GET,
            "identity",
            "/roles?name=member",
            Scope::Admin,
        ))
        .await?;
    let role = first_id(&roles["roles"]).ok_or_else(|| SiteError::Http {
        status: 404,
        body: "the site has no member role".into(),
    })?;
    site.client
        .send(SiteRequest::new(
            Method::PUT,
            "identity",
            format!("/projects/{id}/users/{}/roles/{role}", admin.user_id),
            Scope::Admin,
        ))
        .await?
        .ok()?;
    lift_quotas(site, &id).await;
    Ok(id)
}

/// Lifts a site project's own quotas: the top enforces one global quota per project over all
/// sites ([`crate::quota`]), which a per-site limit would only cut short. A site that refuses
/// keeps its limits (its over-quota answers then reach the tenant as the site gave them).
async fn lift_quotas(site: &SiteHandle, project: &str) {
    let lifts = [
        (
            "compute",
            format!("/os-quota-sets/{project}"),
            json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1, "server_groups": -1, "server_group_members": -1}}),
        ),
        (
            "block-storage",
            format!("/os-quota-sets/{project}"),
            json!({"quota_set": {"volumes": -1, "gigabytes": -1, "snapshots": -1, "backups": -1, "backup_gigabytes": -1}}),
        ),
        (
            "network",
            format!("/v2.0/quotas/{project}"),
            json!({"quota": {"network": -1, "subnet": -1, "port": -1, "router": -1, "floatingip": -1, "security_group": -1, "security_group_rule": -1}}),
        ),
    ];
    for (service, path, body) in lifts {
        let req = SiteRequest::new(Method::PUT, service, path, Scope::Admin).json(&body);
        if let Err(e) = site.client.send(req).await.and_then(|r| r.ok()) {
            tracing::warn!(site = %site.name(), project, service, error = %e, "site quotas not lifted");
        }
    }
}

fn first_id(list: &Value) -> Option<String> {
    list.as_array()?
        .first()?
        .get("id")?
        .as_str()
        .map(String::from)
}
