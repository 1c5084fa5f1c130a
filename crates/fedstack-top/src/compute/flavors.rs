//! Flavors: defined at the top, made on a site the first time a server there needs them (with
//! the top's flavor ID when the site allows it, so IDs read the same on both sides).

use super::{err, policy, store_err, Res};
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::tenancy::site_error;
use crate::Top;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use fedstack_api_types::http::{Mv, OsJson};
use fedstack_api_types::nova::{self, FlavorView};
use fedstack_api_types::{ApiError, Microversion, Service};
use fedstack_site_client::{Scope, SiteRequest};
use fedstack_store::flavors::Flavor;
use fedstack_store::StoreError;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/v2.1/flavors", get(list).post(create))
        .route("/v2.1/flavors/detail", get(detail))
        .route("/v2.1/flavors/{id}", get(show).delete(delete))
        .route(
            "/v2.1/flavors/{id}/os-extra_specs",
            get(list_specs).post(add_specs),
        )
        .route(
            "/v2.1/flavors/{id}/os-extra_specs/{key}",
            get(show_spec).put(put_spec).delete(delete_spec),
        )
        .route("/v2.1/flavors/{id}/action", post(flavor_action))
}

fn view(f: &Flavor) -> FlavorView<'_> {
    FlavorView {
        id: &f.id,
        name: &f.name,
        vcpus: f.vcpus,
        ram: f.ram,
        disk: f.disk,
        ephemeral: f.ephemeral,
        swap: f.swap,
        rxtx_factor: f.rxtx_factor,
        is_public: f.is_public,
        description: f.description.as_deref(),
        extra_specs: &f.extra_specs,
    }
}

fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Flavor {id} could not be found."),
    )
}

async fn flavor(top: &Top, id: &str) -> Result<Flavor, ApiError> {
    top.store
        .flavor(id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| not_found(id))
}

async fn visible(c: &Caller) -> Result<Vec<Flavor>, ApiError> {
    let all = c.top.store.flavors().await.map_err(store_err)?;
    Ok(all
        .into_iter()
        .filter(|f| f.is_public || c.is_admin())
        .collect())
}

async fn list(c: Caller, Mv(mv): Mv) -> Res {
    let root = c.top.service_root(Service::Compute);
    let items: Vec<Value> = visible(&c)
        .await?
        .iter()
        .map(|f| nova::flavor_brief(&root, &view(f), mv))
        .collect();
    Ok(Json(json!({ "flavors": items })).into_response())
}

async fn detail(c: Caller, Mv(mv): Mv) -> Res {
    let root = c.top.service_root(Service::Compute);
    let items: Vec<Value> = visible(&c)
        .await?
        .iter()
        .map(|f| nova::flavor_detail(&root, &view(f), mv, true))
        .collect();
    Ok(Json(json!({ "flavors": items })).into_response())
}

async fn show(c: Caller, Mv(mv): Mv, Path(id): Path<String>) -> Res {
    let f = flavor(&c.top, &id).await?;
    Ok(Json(json!({"flavor": nova::flavor_detail(&c.top.service_root(Service::Compute), &view(&f), mv, true)})).into_response())
}

fn int(v: &Value, key: &str, min: i64) -> Result<i64, ApiError> {
    let n = match v.get(key) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        None if key == "swap" || key == "OS-FLV-EXT-DATA:ephemeral" => Some(0),
        _ => None,
    };
    n.filter(|n| *n >= min).ok_or_else(|| err(StatusCode::BAD_REQUEST, format!("Invalid input for field/attribute {key}. Value: {}. It must be an integer of at least {min}", v.get(key).map(fedstack_api_types::pyrepr::repr).unwrap_or_else(|| "None".into()))))
}

async fn create(c: Caller, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    if !c.is_admin() {
        return Err(policy("os_compute_api:os-flavor-manage:create"));
    }
    let f = body
        .get("flavor")
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "Invalid input for field/attribute flavor. 'flavor' is a required property",
            )
        })?;
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                "Invalid input for field/attribute name. 'name' is a required property",
            )
        })?;
    let id = match f.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("Invalid input for field/attribute id. Value: {other}."),
            ))
        }
    };
    let flavor = Flavor {
        id,
        name: name.to_string(),
        vcpus: int(f, "vcpus", 1)?,
        ram: int(f, "ram", 1)?,
        disk: int(f, "disk", 0)?,
        ephemeral: int(f, "OS-FLV-EXT-DATA:ephemeral", 0)?,
        swap: int(f, "swap", 0)?,
        rxtx_factor: f.get("rxtx_factor").and_then(Value::as_f64).unwrap_or(1.0),
        is_public: f
            .get("os-flavor-access:is_public")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .map(String::from),
        extra_specs: BTreeMap::new(),
    };
    match c.top.store.create_flavor(&flavor).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(err(
                StatusCode::CONFLICT,
                format!("Flavor with name {} already exists.", flavor.name),
            ))
        }
        Err(e) => return Err(store_err(e)),
    }
    Ok(Json(json!({"flavor": nova::flavor_detail(&c.top.service_root(Service::Compute), &view(&flavor), mv, true)})).into_response())
}

async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    if !c.is_admin() {
        return Err(policy("os_compute_api:os-flavor-manage:delete"));
    }
    if !c.top.store.delete_flavor(&id).await.map_err(store_err)? {
        return Err(not_found(&id));
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn flavor_action(c: Caller, Path(id): Path<String>) -> Res {
    flavor(&c.top, &id).await?;
    Err(err(
        StatusCode::BAD_REQUEST,
        "Flavor access is not managed per project at the top: flavors are public or admin-only.",
    ))
}

async fn list_specs(c: Caller, Path(id): Path<String>) -> Res {
    let f = flavor(&c.top, &id).await?;
    Ok(Json(json!({"extra_specs": f.extra_specs})).into_response())
}

async fn add_specs(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    if !c.is_admin() {
        return Err(policy("os_compute_api:os-flavor-extra-specs:create"));
    }
    let mut f = flavor(&c.top, &id).await?;
    let specs = body.get("extra_specs").and_then(Value::as_object).ok_or_else(|| err(StatusCode::BAD_REQUEST, "Invalid input for field/attribute extra_specs. 'extra_specs' is a required property"))?;
    for (k, v) in specs {
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => v.to_string(),
            _ => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    format!("Invalid input for field/attribute {k}. It must be a string."),
                ))
            }
        };
        f.extra_specs.insert(k.clone(), v);
    }
    c.top.store.update_flavor(&f).await.map_err(store_err)?;
    Ok(Json(json!({"extra_specs": specs})).into_response())
}

async fn show_spec(c: Caller, Path((id, key)): Path<(String, String)>) -> Res {
    let f = flavor(&c.top, &id).await?;
    let v = f.extra_specs.get(&key).ok_or_else(|| {
        err(
            StatusCode::NOT_FOUND,
            format!("Flavor {id} has no extra specs with key {key}."),
        )
    })?;
    Ok(Json(json!({ key: v })).into_response())
}

async fn put_spec(c: Caller, Path((id, key)): Path<(String, String)>, OsJson(body): OsJson) -> Res {
    if !c.is_admin() {
        return Err(policy("os_compute_api:os-flavor-extra-specs:update"));
    }
    let mut f = flavor(&c.top, &id).await?;
    let obj = body.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            "Request body contains too many items",
        )
    })?;
    let v = obj
        .get(&key)
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "Request body and URI mismatch"))?;
    let text = v
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| v.to_string());
    f.extra_specs.insert(key.clone(), text.clone());
    c.top.store.update_flavor(&f).await.map_err(store_err)?;
    Ok(Json(json!({ key: text })).into_response())
}

async fn delete_spec(c: Caller, Path((id, key)): Path<(String, String)>) -> Res {
    if !c.is_admin() {
        return Err(policy("os_compute_api:os-flavor-extra-specs:delete"));
    }
    let mut f = flavor(&c.top, &id).await?;
    if f.extra_specs.remove(&key).is_none() {
        return Err(err(
            StatusCode::NOT_FOUND,
            format!("Flavor {id} has no extra specs with key {key}."),
        ));
    }
    c.top.store.update_flavor(&f).await.map_err(store_err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// True when a site flavor document has the top flavor's shape.
fn same_shape(site: &Value, f: &Flavor) -> bool {
    let n = |k: &str| site.get(k).and_then(Value::as_i64).unwrap_or(-1);
    let swap = site.get("swap").and_then(Value::as_i64).unwrap_or(0);
    site.get("name").and_then(Value::as_str) == Some(f.name.as_str())
        && n("vcpus") == f.vcpus
        && n("ram") == f.ram
        && n("disk") == f.disk
        && swap == f.swap
        && n("OS-FLV-EXT-DATA:ephemeral").max(0) == f.ephemeral
}

/// The site's flavor for a top flavor, making it (admin) on first need.
pub async fn ensure_on_site(top: &Top, f: &Flavor, site: &SiteHandle) -> Result<String, ApiError> {
    if let Some(id) = top
        .store
        .site_flavor(&f.id, site.id())
        .await
        .map_err(store_err)?
    {
        return Ok(id);
    }
    let lock = top.lock_for(&format!("flavor/{}/{}", f.id, site.id()));
    let _guard = lock.lock().await;
    if let Some(id) = top
        .store
        .site_flavor(&f.id, site.id())
        .await
        .map_err(store_err)?
    {
        return Ok(id);
    }
    let fail = |e| site_error(Service::Compute, site, e);
    let mv = Microversion::new(2, 61);
    let list = site
        .client
        .json(super::with_mv(
            SiteRequest::new(
                Method::GET,
                "compute",
                "/flavors/detail?is_public=None",
                Scope::Admin,
            ),
            mv,
        ))
        .await
        .map_err(fail)?;
    let existing = list["flavors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| same_shape(s, f))
        .and_then(|s| s["id"].as_str())
        .map(String::from);
    let site_id = match existing {
        Some(id) => id,
        None => {
            let taken = list["flavors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["id"] == f.id.as_str() || s["name"] == f.name.as_str());
            let mut body = json!({"flavor": {"name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "swap": f.swap, "OS-FLV-EXT-DATA:ephemeral": f.ephemeral, "os-flavor-access:is_public": true}});
            if !taken {
                body["flavor"]["id"] = json!(f.id);
            } else {
                body["flavor"]["name"] = json!(super::translate::site_name(&f.name, &f.id));
            }
            let created = site
                .client
                .json(
                    SiteRequest::new(Method::POST, "compute", "/flavors", Scope::Admin).json(&body),
                )
                .await
                .map_err(fail)?;
            let id = created["flavor"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !f.extra_specs.is_empty() {
                let specs = json!({"extra_specs": f.extra_specs});
                site.client
                    .send(
                        SiteRequest::new(
                            Method::POST,
                            "compute",
                            format!("/flavors/{id}/os-extra_specs"),
                            Scope::Admin,
                        )
                        .json(&specs),
                    )
                    .await
                    .map_err(fail)?
                    .ok()
                    .map_err(fail)?;
            }
            id
        }
    };
    top.store
        .set_site_flavor(&f.id, site.id(), &site_id)
        .await
        .map_err(store_err)?;
    Ok(site_id)
}
