//! `/servers`: create (placement, then the site in the tenant's project), show and act through
//! the owning site, lists from the index.

use super::render::{self, View, INDEX_MV};
use super::translate::{self, Known, TOP_ID_KEY};
use super::{
    err, flavors, groups, keypairs, links, owned_route, server_not_found, site_answer_error,
    site_for_write, store_err, with_mv, Res,
};
use crate::auth::Caller;
use crate::placement::{self, Demand, NoValidHost};
use crate::scope::{self, SiteExpr};
use crate::sites::SiteHandle;
use crate::tenancy::{self, site_error};
use crate::{image, quota, Top};
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::http::{Mv, OsJson};
use fedstack_api_types::{nova, time, Microversion, Service};
use fedstack_site_client::{Scope, SiteError, SiteRequest};
use fedstack_store::flavors::Flavor;
use fedstack_store::images::ImageRow;
use fedstack_store::now_ms;
use fedstack_store::routes::{kind, state, Route};
use fedstack_store::servers::{ServerGroup, ServerQuery, ServerRow, SortKey};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Nova's `osapi_max_limit`.
const MAX_LIMIT: i64 = 1000;

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/v2.1/servers", get(list).post(create))
        .route("/v2.1/servers/detail", get(detail))
        .route("/v2.1/servers/{id}", get(show).put(update).delete(delete))
}

/// Nova's jsonschema-style 400 for the create body.
fn invalid(server: &Value, why: &str) -> fedstack_api_types::ApiError {
    err(
        StatusCode::BAD_REQUEST,
        format!(
            "Invalid input for field/attribute server. Value: {}. {why}",
            fedstack_api_types::pyrepr::repr(server)
        ),
    )
}

/// The parts of a create request the top decides on; everything else is forwarded as sent.
struct CreateRequest {
    raw: Map<String, Value>,
    name: String,
    flavor_ref: String,
    image_ref: Option<String>,
    az: Option<String>,
    key_name: Option<String>,
    group_id: Option<String>,
    labels: BTreeMap<String, String>,
    min_count: i64,
    max_count: i64,
    reservation_id: bool,
}

/// The last path segment of a reference that may be a URL.
fn id_of_ref(r: &str) -> String {
    r.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(r)
        .to_string()
}

fn count(
    v: Option<&Value>,
    server: &Value,
    key: &str,
) -> Result<Option<i64>, fedstack_api_types::ApiError> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|x| x >= 1) => Ok(n.as_i64()),
        Some(Value::String(s)) if s.parse::<i64>().is_ok_and(|x| x >= 1) => Ok(s.parse().ok()),
        Some(other) => Err(invalid(
            server,
            &format!(
                "{} is not valid for {key}: it must be an integer of at least 1",
                fedstack_api_types::pyrepr::repr(other)
            ),
        )),
    }
}

impl CreateRequest {
    /// Validates the body with Nova's schema (same messages as Nova), then reads what the
    /// top decides on.
    fn parse(
        body: &Value,
        mv: Microversion,
    ) -> Result<CreateRequest, fedstack_api_types::ApiError> {
        nova::validate_server_create(body, mv)?;
        let server = &body["server"];
        let Value::Object(raw) = server else {
            return Err(invalid(server, "'server' is not of type 'object'"));
        };
        let name = raw
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let flavor_ref = match raw.get("flavorRef") {
            Some(Value::String(f)) => id_of_ref(f),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let image_ref = match raw.get("imageRef") {
            Some(Value::String(i)) if !i.is_empty() => Some(id_of_ref(i)),
            Some(Value::String(_)) | None => None,
            Some(other) => {
                return Err(invalid(
                    server,
                    &format!(
                        "{} is not of type 'string'",
                        fedstack_api_types::pyrepr::repr(other)
                    ),
                ))
            }
        };
        let boots_from_volume = raw
            .get("block_device_mapping_v2")
            .and_then(Value::as_array)
            .is_some_and(|b| {
                b.iter()
                    .any(|d| d.get("boot_index").is_some_and(|i| i == 0 || i == "0"))
            });
        if image_ref.is_none() && !boots_from_volume {
            return Err(err(StatusCode::BAD_REQUEST, "Missing imageRef attribute"));
        }
        let hints = body
            .get("os:scheduler_hints")
            .or_else(|| body.get("OS-SCH-HNT:scheduler_hints"));
        let labels = hints
            .and_then(|h| h.get("fedstack_labels"))
            .and_then(|l| serde_json::from_value::<BTreeMap<String, String>>(l.clone()).ok())
            .unwrap_or_default();
        let min_count = count(raw.get("min_count"), server, "min_count")?.unwrap_or(1);
        let max_count = count(raw.get("max_count"), server, "max_count")?.unwrap_or(min_count);
        if max_count < min_count {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "min_count must be <= max_count",
            ));
        }
        Ok(CreateRequest {
            raw: raw.clone(),
            name,
            flavor_ref,
            image_ref,
            az: raw
                .get("availability_zone")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from),
            key_name: raw
                .get("key_name")
                .and_then(Value::as_str)
                .map(String::from),
            group_id: hints
                .and_then(|h| h.get("group"))
                .and_then(Value::as_str)
                .map(String::from),
            labels,
            min_count,
            max_count,
            reservation_id: raw
                .get("return_reservation_id")
                .is_some_and(|v| v == true || v == "True" || v == "true"),
        })
    }
}

/// What one server of a request resolved to.
struct Resolved {
    flavor: Flavor,
    image: Option<ImageRow>,
    group: Option<ServerGroup>,
}

async fn create(c: Caller, Mv(mv): Mv, OsJson(body): OsJson) -> Res {
    let mut req = CreateRequest::parse(&body, mv)?;
    let top = c.top.clone();
    let flavor = top
        .store
        .flavor(&req.flavor_ref)
        .await
        .map_err(store_err)?
        .ok_or_else(|| {
            err(
                StatusCode::BAD_REQUEST,
                format!("Flavor {} could not be found.", req.flavor_ref),
            )
        })?;
    let boot_image = req
        .image_ref
        .clone()
        .or_else(|| crate::volume::boot::bdm_image(&req.raw));
    let image = match &boot_image {
        Some(id) => Some(image::image_for_boot(&top, c.project_id(), id).await?),
        None => None,
    };
    if let Some(img) = &image {
        scope::compute::check_boot_image(&c, img).await?;
    }
    let scoped = c.scoped_write_sites(Service::Compute)?;
    let group = match &req.group_id {
        Some(g) => Some(groups::owned(&c, g).await?),
        None => None,
    };
    let fixed_site = match &req.az {
        Some(az) => {
            let zone = az.split(':').next().unwrap_or(az);
            let site = top
                .sites
                .by_az(zone)
                .filter(|s| s.record.enabled)
                .ok_or_else(|| {
                    err(
                        StatusCode::BAD_REQUEST,
                        "The requested availability zone is not available",
                    )
                })?;
            scope::compute::check_zone(&c, &site)?;
            if !site.is_up() {
                return Err(super::site_down(&site));
            }
            Some(site)
        }
        None => None,
    };
    let fixed_site = crate::volume::boot::pin_to_volumes(&c, &mut req.raw, fixed_site).await?;
    let resolved = Resolved {
        flavor,
        image,
        group,
    };
    let reservation = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let claims = reserve_quota(&c, &req, &resolved.flavor).await?;
    let mut first: Option<Value> = None;
    let mut taken: Vec<String> = Vec::new();
    let mut claims = claims.into_iter().enumerate();
    while let Some((i, (top_id, claim))) = claims.next() {
        let i = i as i64;
        let name = if req.max_count > 1 {
            format!("{}-{}", req.name, i + 1)
        } else {
            req.name.clone()
        };
        let sites = match (&fixed_site, &scoped) {
            (Some(s), _) => Ok(vec![s.clone()]),
            (None, Some(sites))
                if !matches!(c.scope_for(Service::Compute), Some(SiteExpr::All(_))) =>
            {
                Ok(sites.clone())
            }
            (None, candidates) => {
                let candidates = candidates.clone().unwrap_or_else(|| top.sites.all());
                choose_site(&top, &resolved, &req.labels, &taken, &candidates)
                    .await
                    .map(|s| vec![s])
            }
        };
        let made = match sites {
            Ok(sites) => scope::first_answering(Service::Compute, &sites, |site| {
                let (c, req, name, r, reservation, top_id) =
                    (&c, &req, &name, &resolved, &reservation, &top_id);
                async move {
                    scope::compute::check_references(c, &site, &req.raw).await?;
                    site.consume(r.flavor.vcpus, r.flavor.ram, r.flavor.disk);
                    let target = Target {
                        site: &site,
                        top_id,
                        name,
                    };
                    create_on_site(c, mv, target, req, r, reservation, i)
                        .await
                        .map(|v| (site, v))
                }
            })
            .await
            .map(|(site, v)| {
                taken.push(site.id().to_string());
                v
            }),
            Err(NoValidHost(why)) => create_unplaced(&c, &top_id, &name, &resolved, &why).await,
        };
        // The claim ends with the create: the server is in the index, or nothing was made. An
        // unknown outcome (a site that did not answer) keeps it until it expires, by when the
        // index has adopted the server or it is known not to exist.
        match &made {
            Err(e) if outcome_unknown(e) => drop(claim),
            _ => claim.finish(&top).await,
        }
        let answer = match made {
            Ok(v) => v,
            Err(e) => {
                for (_, (_, rest)) in claims {
                    rest.finish(&top).await;
                }
                if i >= req.min_count {
                    tracing::warn!(error = %e.message, "optional server of a multi-create not made");
                    break;
                }
                return Err(e);
            }
        };
        first.get_or_insert(answer);
    }
    if req.reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": reservation})),
        )
            .into_response());
    }
    let server = first.unwrap_or(Value::Null);
    let mut r = (StatusCode::ACCEPTED, Json(json!({ "server": server }))).into_response();
    if let Some(href) = server.pointer("/links/0/href").and_then(Value::as_str) {
        if let Ok(v) = HeaderValue::from_str(href) {
            r.headers_mut().insert("location", v);
        }
    }
    Ok(r)
}

/// Claims the quota of every server of a request before any is made: as many as the quota
/// allows up to `max_count`, and at least `min_count` or none (Nova's 403 naming the quota).
async fn reserve_quota(
    c: &Caller,
    req: &CreateRequest,
    flavor: &Flavor,
) -> Result<Vec<(String, quota::Reservation)>, fedstack_api_types::ApiError> {
    let mut claims = Vec::new();
    for i in 0..req.max_count {
        let top_id = uuid::Uuid::new_v4().to_string();
        match quota::compute::reserve_server(&c.top, c.project_id(), &top_id, flavor).await {
            Ok(r) => claims.push((top_id, r)),
            Err(_) if i >= req.min_count => break,
            Err(e) => {
                for (_, r) in claims {
                    r.finish(&c.top).await;
                }
                return Err(e);
            }
        }
    }
    Ok(claims)
}

/// Where one server of a request goes, and the top ID it gets.
struct Target<'a> {
    site: &'a Arc<SiteHandle>,
    top_id: &'a str,
    name: &'a str,
}

/// True when a create's outcome on its site is unknown (the site did not answer in time).
fn outcome_unknown(e: &fedstack_api_types::ApiError) -> bool {
    e.status == StatusCode::SERVICE_UNAVAILABLE && e.message.contains("did not answer")
}

/// Placement for one server of a request, among `candidates`.
async fn choose_site(
    top: &Top,
    r: &Resolved,
    labels: &BTreeMap<String, String>,
    taken: &[String],
    candidates: &[Arc<SiteHandle>],
) -> Result<Arc<SiteHandle>, NoValidHost> {
    let image_sites = match &r.image {
        Some(i) => image::boot_sites(top, i).await,
        None => None,
    };
    let members: HashMap<String, i64> = match &r.group {
        Some(g) => top
            .store
            .group_sites(&g.id)
            .await
            .unwrap_or_default()
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    let demand = Demand {
        flavor: &r.flavor,
        image_sites: image_sites.as_deref(),
        group: r.group.as_ref().map(|g| (g.policy.as_str(), &members)),
        labels,
        taken: if r.group.is_some() { taken } else { &[] },
    };
    placement::choose(candidates, &demand, top.config.weigher)
}

/// The body sent to the site: the client's, with top IDs replaced by the site's.
fn site_body(
    req: &CreateRequest,
    name: &str,
    top_id: &str,
    site_flavor: &str,
    site_key: Option<String>,
) -> Value {
    let mut s = req.raw.clone();
    s.insert("name".into(), json!(name));
    s.insert("flavorRef".into(), json!(site_flavor));
    for k in [
        "availability_zone",
        "min_count",
        "max_count",
        "return_reservation_id",
    ] {
        s.remove(k);
    }
    if let Some(k) = site_key {
        s.insert("key_name".into(), json!(k));
    }
    let mut meta = s
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    meta.insert(TOP_ID_KEY.into(), json!(top_id));
    s.insert("metadata".into(), Value::Object(meta));
    json!({ "server": s })
}

/// Creates one server on `site`: routing row first, then what the site needs (project,
/// flavor, image, key pair, server group), then the server, then the index.
#[allow(clippy::too_many_arguments)]
async fn create_on_site(
    c: &Caller,
    mv: Microversion,
    target: Target<'_>,
    req: &CreateRequest,
    r: &Resolved,
    reservation: &str,
    index: i64,
) -> Result<Value, fedstack_api_types::ApiError> {
    let top = &c.top;
    let Target { site, top_id, name } = target;
    let route = Route {
        kind: kind::SERVER.into(),
        top_id: top_id.to_string(),
        site_id: Some(site.id().to_string()),
        site_resource_id: None,
        project_id: c.project_id().to_string(),
        state: state::CREATING.into(),
        created_at: now_ms(),
    };
    top.store.insert_route(&route).await.map_err(store_err)?;
    let result = async {
        let site_project =
            tenancy::site_project(top, site, c.project_id(), Service::Compute).await?;
        let site_flavor = flavors::ensure_on_site(top, &r.flavor, site).await?;
        let site_image = match &r.image {
            Some(img) => Some(image::ensure_on_site(top, img, site).await?),
            None => None,
        };
        let site_key = match &req.key_name {
            Some(k) => Some(keypairs::ensure_on_site(c, site, &site_project, k).await?),
            None => None,
        };
        let mut body = site_body(req, name, top_id, &site_flavor, site_key);
        if let (Some(img), Some(site_img)) = (&r.image, &site_image) {
            if req.image_ref.is_some() {
                body["server"]["imageRef"] = json!(site_img);
            }
            if let Some(bdms) = body["server"]
                .get_mut("block_device_mapping_v2")
                .and_then(Value::as_array_mut)
            {
                for d in bdms
                    .iter_mut()
                    .filter(|d| d["source_type"] == "image" && d["uuid"] == img.id.as_str())
                {
                    d["uuid"] = json!(site_img);
                }
            }
        }
        if let Some(g) = &r.group {
            let site_group = groups::ensure_on_site(top, g, site, &site_project).await?;
            body["os:scheduler_hints"] = json!({"group": site_group});
        }
        let plugged =
            crate::network::servers::plug(c, site, &site_project, top_id, &mut body["server"])
                .await?;
        let call = with_mv(
            SiteRequest::new(
                Method::POST,
                "compute",
                "/servers",
                Scope::Project(site_project),
            )
            .json(&body),
            mv,
        );
        let resp = site
            .client
            .send(call)
            .await
            .map_err(|e| site_error(Service::Compute, site, e))?;
        if !resp.is_success() {
            plugged.release(top).await;
            return Err(site_answer_error(site, resp.status, &resp.json()));
        }
        let answer = resp.json();
        let site_id = answer
            .pointer("/server/id")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| {
                err(
                    StatusCode::BAD_GATEWAY,
                    format!("Site {} answered without a server ID.", site.name()),
                )
            })?;
        Ok((site_id, answer))
    }
    .await;
    let (site_id, answer) = match result {
        Ok(x) => x,
        Err(e) => {
            // Nothing was made on the site (a failed or refused create): forget the route. A
            // timeout leaves the outcome unknown: the route stays `creating` and the index
            // sync adopts the server if it appears.
            if !outcome_unknown(&e) {
                let _ = top.store.delete_route(kind::SERVER, top_id).await;
            }
            return Err(e);
        }
    };
    top.store
        .set_route(
            kind::SERVER,
            top_id,
            Some(site.id()),
            Some(&site_id),
            state::ACTIVE,
        )
        .await
        .map_err(store_err)?;
    let route = Route {
        site_resource_id: Some(site_id),
        state: state::ACTIVE.into(),
        ..route
    };
    let group = r.group.as_ref().map(|g| g.id.clone());
    if refresh(top, &route, c.user_id(), group.clone())
        .await
        .is_err()
    {
        index_placeholder(top, c, &route, name, r, "BUILD", None).await?;
    }
    tracing::info!(server = %top_id, site = %site.name(), reservation, index, "server created");
    let mut s = answer["server"].clone();
    s["id"] = json!(top_id);
    s["links"] = links(top, &format!("servers/{top_id}"));
    Ok(s)
}

/// A server no site could take: ERROR with Nova's no-valid-host fault, kept at the top.
async fn create_unplaced(
    c: &Caller,
    top_id: &str,
    name: &str,
    r: &Resolved,
    why: &str,
) -> Result<Value, fedstack_api_types::ApiError> {
    let top = &c.top;
    let route = Route {
        kind: kind::SERVER.into(),
        top_id: top_id.to_string(),
        site_id: None,
        site_resource_id: None,
        project_id: c.project_id().to_string(),
        state: state::UNPLACED.into(),
        created_at: now_ms(),
    };
    top.store.insert_route(&route).await.map_err(store_err)?;
    let fault = json!({"code": 500, "created": time::iso_z(chrono::Utc::now()), "message": "No valid host was found. There are not enough hosts available.", "details": format!("fedstack placement: {why}")});
    index_placeholder(top, c, &route, name, r, "ERROR", Some(fault)).await?;
    tracing::info!(server = %top_id, why, "no site could take the server");
    Ok(
        json!({"id": top_id, "links": links(top, &format!("servers/{top_id}")), "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}]}),
    )
}

/// An index row built by the top (before the site could be read, or for an unplaced server).
async fn index_placeholder(
    top: &Top,
    c: &Caller,
    route: &Route,
    name: &str,
    r: &Resolved,
    status: &str,
    fault: Option<Value>,
) -> Result<(), fedstack_api_types::ApiError> {
    let now = chrono::Utc::now();
    let f = &r.flavor;
    let az = route
        .site_id
        .as_deref()
        .and_then(|s| top.sites.get(s))
        .map(|s| s.record.az.clone())
        .unwrap_or_default();
    let mut body = json!({
        "id": route.top_id, "name": name, "status": status, "tenant_id": route.project_id, "user_id": c.user_id(),
        "created": time::iso_z(now), "updated": time::iso_z(now), "addresses": {}, "accessIPv4": "", "accessIPv6": "",
        "hostId": "", "metadata": {}, "links": links(top, &format!("servers/{}", route.top_id)), "OS-DCF:diskConfig": "MANUAL",
        "flavor": {"original_name": f.name, "vcpus": f.vcpus, "ram": f.ram, "disk": f.disk, "ephemeral": f.ephemeral, "swap": f.swap, "extra_specs": f.extra_specs},
        "image": r.image.as_ref().map(|i| json!({"id": i.id, "links": [{"rel": "bookmark", "href": format!("{}/images/{}", top.service_root(Service::Compute), i.id)}]})).unwrap_or(json!("")),
        "OS-EXT-AZ:availability_zone": az, "config_drive": "", "key_name": null,
        "OS-SRV-USG:launched_at": null, "OS-SRV-USG:terminated_at": null,
        "OS-EXT-STS:task_state": if status == "BUILD" { json!("scheduling") } else { Value::Null },
        "OS-EXT-STS:vm_state": status.to_lowercase(), "OS-EXT-STS:power_state": 0,
        "os-extended-volumes:volumes_attached": [], "locked": false, "description": null, "tags": [],
        "trusted_image_certificates": null, "server_groups": r.group.iter().map(|g| g.id.clone()).collect::<Vec<_>>(),
        "locked_reason": null, "pinned_availability_zone": null, "scheduler_hints": {},
    });
    if let Some(f) = fault {
        body["fault"] = f;
    }
    let row = ServerRow {
        id: route.top_id.clone(),
        project_id: route.project_id.clone(),
        user_id: c.user_id().to_string(),
        site_id: route.site_id.clone(),
        name: name.to_string(),
        status: status.to_string(),
        image_id: r.image.as_ref().map(|i| i.id.clone()),
        flavor_id: Some(f.id.clone()),
        host: None,
        server_group_id: r.group.as_ref().map(|g| g.id.clone()),
        vcpus: f.vcpus,
        ram: f.ram,
        deleted: false,
        created_at: now.timestamp_millis(),
        updated_at: now.timestamp_millis(),
        body,
    };
    top.store.upsert_server(&row).await.map_err(store_err)
}

/// A server as its site shows it (admin view at [`INDEX_MV`]); `None` when the site no
/// longer has it.
pub async fn site_server(
    top: &Top,
    route: &Route,
) -> Result<Option<(Arc<SiteHandle>, Value)>, SiteError> {
    let (Some(site_id), Some(site_server)) = (&route.site_id, &route.site_resource_id) else {
        return Ok(None);
    };
    let Some(site) = top.sites.get(site_id) else {
        return Ok(None);
    };
    let req = with_mv(
        SiteRequest::new(
            Method::GET,
            "compute",
            format!("/servers/{site_server}"),
            Scope::Admin,
        ),
        INDEX_MV,
    );
    let resp = site.client.send(req).await?;
    if resp.status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body = resp.ok()?.json();
    Ok(Some((site, body["server"].clone())))
}

/// Reads a server from its site into the index. `Ok(None)` when the site no longer has it
/// (the index row is then marked deleted).
pub async fn refresh(
    top: &Top,
    route: &Route,
    user_id: &str,
    group: Option<String>,
) -> Result<Option<ServerRow>, SiteError> {
    let Some((site, body)) = site_server(top, route).await? else {
        let _ = top.store.mark_server_deleted(&route.top_id).await;
        return Ok(None);
    };
    let known = Known {
        top_id: &route.top_id,
        project_id: &route.project_id,
        user_id,
        site: &site,
    };
    let server = translate::server(top, &known, &body).await;
    let existing = top.store.server(&route.top_id).await.ok().flatten();
    let group = group.or_else(|| existing.and_then(|e| e.server_group_id));
    let row = translate::index_row(top, &known, server, group).await;
    top.store
        .upsert_server(&row)
        .await
        .map_err(|e| SiteError::Http {
            status: 500,
            body: e.to_string(),
        })?;
    Ok(Some(row))
}

/// `(top flavor id, bookmark href)` for views before 2.47.
pub fn flavor_link(top: &Top, row: &ServerRow) -> Option<(String, String)> {
    row.flavor_id.as_ref().map(|id| {
        (
            id.clone(),
            format!("{}/flavors/{id}", top.service_root(Service::Compute)),
        )
    })
}

/// An indexed server as the caller sees it: UNKNOWN when its site is down.
pub fn view(top: &Top, row: &ServerRow, mv: Microversion, is_admin: bool, v: View) -> Value {
    let link = flavor_link(top, row);
    let mut body = render::server(
        &row.body,
        mv,
        is_admin,
        v,
        link.as_ref().map(|(i, h)| (i.as_str(), h.clone())),
    );
    let down = row
        .site_id
        .as_deref()
        .and_then(|s| top.sites.get(s))
        .is_some_and(|s| !s.is_up());
    if down && !row.deleted {
        body["status"] = json!("UNKNOWN");
    }
    body
}

async fn show(c: Caller, Mv(mv): Mv, Path(id): Path<String>) -> Res {
    let route = owned_route(&c, &id).await?;
    let top = &c.top;
    let existing = top.store.server(&id).await.map_err(store_err)?;
    let user = existing
        .as_ref()
        .map(|e| e.user_id.clone())
        .unwrap_or_else(|| c.user_id().to_string());
    let site_up = route
        .site_id
        .as_deref()
        .and_then(|s| top.sites.get(s))
        .is_some_and(|s| s.is_up());
    let row = if route.state == state::UNPLACED || !site_up {
        existing
    } else {
        match refresh(top, &route, &user, None).await {
            Ok(Some(row)) => Some(row),
            Ok(None) => {
                let _ = top.store.delete_route(kind::SERVER, &id).await;
                return Err(server_not_found(&id));
            }
            Err(e) => {
                tracing::warn!(server = %id, error = %e, "site unreachable; answering from the index");
                existing
            }
        }
    };
    let row = row
        .filter(|r| !r.deleted)
        .ok_or_else(|| server_not_found(&id))?;
    Ok(Json(json!({"server": view(top, &row, mv, c.is_admin(), View::Show)})).into_response())
}

async fn update(c: Caller, Mv(mv): Mv, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let route = owned_route(&c, &id).await?;
    let top = &c.top;
    let site = site_for_write(top, &route)?;
    let site_project =
        tenancy::site_project(top, &site, &route.project_id, Service::Compute).await?;
    let site_server = route.site_resource_id.clone().unwrap_or_default();
    let req = with_mv(
        SiteRequest::new(
            Method::PUT,
            "compute",
            format!("/servers/{site_server}"),
            Scope::Project(site_project),
        )
        .json(&body),
        mv,
    );
    let resp = site
        .client
        .send(req)
        .await
        .map_err(|e| site_error(Service::Compute, &site, e))?;
    if !resp.is_success() {
        return Err(site_answer_error(&site, resp.status, &resp.json()));
    }
    let existing = top.store.server(&id).await.map_err(store_err)?;
    let user = existing
        .map(|e| e.user_id)
        .unwrap_or_else(|| c.user_id().to_string());
    let _ = refresh(top, &route, &user, None).await;
    let known = Known {
        top_id: &id,
        project_id: &route.project_id,
        user_id: &user,
        site: &site,
    };
    let server = translate::server(top, &known, &resp.json()["server"]).await;
    Ok(Json(json!({ "server": server })).into_response())
}

async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    let route = owned_route(&c, &id).await?;
    let top = &c.top;
    if route.state == state::UNPLACED {
        top.store
            .mark_server_deleted(&id)
            .await
            .map_err(store_err)?;
        top.store
            .delete_route(kind::SERVER, &id)
            .await
            .map_err(store_err)?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let site = site_for_write(top, &route)?;
    let site_project =
        tenancy::site_project(top, &site, &route.project_id, Service::Compute).await?;
    let site_server = route.site_resource_id.clone().unwrap_or_default();
    let made_ports = crate::migration::ports_made_for(top, &id, &site, &site_server).await;
    let resp = site
        .client
        .send(SiteRequest::new(
            Method::DELETE,
            "compute",
            format!("/servers/{site_server}"),
            Scope::Project(site_project),
        ))
        .await
        .map_err(|e| site_error(Service::Compute, &site, e))?;
    if !(resp.is_success() || resp.status == StatusCode::NOT_FOUND) {
        return Err(site_answer_error(&site, resp.status, &resp.json()));
    }
    for port in made_ports {
        let gone = site
            .client
            .send(SiteRequest::new(
                Method::DELETE,
                "network",
                format!("/v2.0/ports/{port}"),
                Scope::Admin,
            ))
            .await;
        if let Err(e) = gone {
            tracing::warn!(server = %id, %port, error = %e, "a port made by a migration was not deleted with its server");
        }
    }
    top.store
        .set_route(
            kind::SERVER,
            &id,
            route.site_id.as_deref(),
            route.site_resource_id.as_deref(),
            state::DELETING,
        )
        .await
        .map_err(store_err)?;
    top.store
        .mark_server_deleted(&id)
        .await
        .map_err(store_err)?;
    crate::network::servers::unplug(top, &id).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Query parameters of a server list.
struct ListParams {
    query: ServerQuery,
    name: Option<regex::Regex>,
    ip: Option<regex::Regex>,
    tags: Vec<String>,
    tags_any: Vec<String>,
    not_tags: Vec<String>,
    not_tags_any: Vec<String>,
    /// The raw pairs, to rebuild the next link.
    pairs: Vec<(String, String)>,
    /// The sites of the caller's compute scope (IDs), when scoped.
    sites: Option<Vec<String>>,
}

fn bad_query(name: &str, value: &str, why: &str) -> fedstack_api_types::ApiError {
    err(
        StatusCode::BAD_REQUEST,
        format!("Invalid input for query parameters {name}. Value: {value}. {why}"),
    )
}

fn split_tags(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

async fn list_params(
    c: &Caller,
    mv: Microversion,
    raw: Option<&str>,
) -> Result<ListParams, fedstack_api_types::ApiError> {
    let pairs: Vec<(String, String)> = raw.map(url_pairs).unwrap_or_default();
    let mut q = ServerQuery {
        project_id: Some(c.project_id().to_string()),
        limit: MAX_LIMIT,
        ..Default::default()
    };
    let mut p = ListParams {
        query: q.clone(),
        name: None,
        ip: None,
        tags: vec![],
        tags_any: vec![],
        not_tags: vec![],
        not_tags_any: vec![],
        pairs: pairs.clone(),
        sites: c
            .scoped_read_sites(Service::Compute)?
            .map(|sites| sites.iter().map(|s| s.id().to_string()).collect()),
    };
    let mut all_tenants = false;
    let mut project_filter: Option<String> = None;
    for (k, v) in &pairs {
        match k.as_str() {
            "limit" => {
                let n: i64 = v.parse().map_err(|_| {
                    bad_query(
                        "limit",
                        v,
                        &format!("'{v}' is not valid under any of the given schemas"),
                    )
                })?;
                if n < 0 {
                    return Err(bad_query(
                        "limit",
                        v,
                        &format!("'{v}' is not valid under any of the given schemas"),
                    ));
                }
                q.limit = n.min(MAX_LIMIT);
            }
            "marker" => {
                let row = c.top.store.server(v).await.map_err(store_err)?;
                let visible = row.filter(|r| c.is_admin() || r.project_id == c.project_id());
                q.after = Some(visible.ok_or_else(|| {
                    err(StatusCode::BAD_REQUEST, format!("marker [{v}] not found"))
                })?);
            }
            "sort_key" => {
                q.sort_key = SortKey::parse(v).ok_or_else(|| {
                    bad_query(
                        "sort_key",
                        v,
                        &format!("'{v}' is not one of the allowed sort keys"),
                    )
                })?
            }
            "sort_dir" => {
                q.descending = match v.as_str() {
                    "desc" => true,
                    "asc" => false,
                    _ => {
                        return Err(bad_query(
                            "sort_dir",
                            v,
                            &format!("'{v}' is not one of ['asc', 'desc']"),
                        ))
                    }
                }
            }
            "changes-since" | "changes-before" => {
                let t = time::parse(v)
                    .ok_or_else(|| bad_query(k, v, &format!("'{v}' is not a 'date-time'")))?;
                if k == "changes-since" {
                    q.changed_since = Some(t.timestamp_millis());
                    q.include_deleted = true;
                } else {
                    q.changed_before = Some(t.timestamp_millis());
                    q.include_deleted = true;
                }
            }
            "status" => q.status = Some(v.to_uppercase()),
            "image" => q.image_id = Some(id_of_ref(v)),
            "flavor" => q.flavor_id = Some(id_of_ref(v)),
            "host" if c.is_admin() => q.host = Some(v.clone()),
            "availability_zone" => {
                q.site_id = Some(
                    c.top
                        .sites
                        .by_az(v)
                        .map(|s| s.id().to_string())
                        .unwrap_or_else(|| "-".into()),
                )
            }
            "all_tenants" => {
                all_tenants = v.is_empty()
                    || !matches!(v.to_lowercase().as_str(), "false" | "0" | "no" | "off")
            }
            "project_id" | "tenant_id" => project_filter = Some(v.clone()),
            "deleted" if c.is_admin() => {
                q.include_deleted = matches!(v.to_lowercase().as_str(), "true" | "1")
            }
            "name" => {
                p.name = Some(
                    regex::Regex::new(v)
                        .map_err(|_| bad_query("name", v, "not a valid regular expression"))?,
                )
            }
            "ip" | "ip6" => {
                p.ip = Some(
                    regex::Regex::new(v)
                        .map_err(|_| bad_query(k, v, "not a valid regular expression"))?,
                )
            }
            "tags" if mv.at_least(2, 26) => p.tags = split_tags(v),
            "tags-any" if mv.at_least(2, 26) => p.tags_any = split_tags(v),
            "not-tags" if mv.at_least(2, 26) => p.not_tags = split_tags(v),
            "not-tags-any" if mv.at_least(2, 26) => p.not_tags_any = split_tags(v),
            _ => {}
        }
    }
    if all_tenants {
        if !c.is_admin() {
            return Err(super::policy(
                "os_compute_api:servers:index:get_all_tenants",
            ));
        }
        q.project_id = project_filter;
    } else if let (Some(p), true) = (project_filter, c.is_admin()) {
        q.project_id = Some(p);
    }
    p.query = q;
    Ok(p)
}

/// `a=b&c=d` into pairs (percent-decoded).
fn url_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// True when a row passes the filters the index cannot answer (regex, tags, addresses).
fn passes(p: &ListParams, row: &ServerRow) -> bool {
    if let Some(sites) = &p.sites {
        if !row.site_id.as_ref().is_some_and(|s| sites.contains(s)) {
            return false;
        }
    }
    if p.name.as_ref().is_some_and(|re| !re.is_match(&row.name)) {
        return false;
    }
    let tags: Vec<&str> = row
        .body
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let has = |t: &String| tags.contains(&t.as_str());
    if !p.tags.iter().all(has) || (!p.tags_any.is_empty() && !p.tags_any.iter().any(has)) {
        return false;
    }
    if (!p.not_tags.is_empty() && p.not_tags.iter().all(has)) || p.not_tags_any.iter().any(has) {
        return false;
    }
    if let Some(re) = &p.ip {
        let addrs = row.body.get("addresses").and_then(Value::as_object);
        let any = addrs
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(|a| a.get("addr").and_then(Value::as_str))
            .any(|a| re.is_match(a));
        if !any {
            return false;
        }
    }
    true
}

/// One page of the index, with the filters the store cannot apply.
async fn page(top: &Top, p: &ListParams) -> Result<Vec<ServerRow>, fedstack_api_types::ApiError> {
    let want = p.query.limit as usize;
    let post_filtered = p.name.is_some()
        || p.ip.is_some()
        || p.sites.is_some()
        || !(p.tags.is_empty()
            && p.tags_any.is_empty()
            && p.not_tags.is_empty()
            && p.not_tags_any.is_empty());
    let mut q = p.query.clone();
    if !post_filtered {
        return top.store.list_servers(&q).await.map_err(store_err);
    }
    q.limit = (want as i64).clamp(100, MAX_LIMIT);
    let mut out = Vec::new();
    loop {
        let batch = top.store.list_servers(&q).await.map_err(store_err)?;
        let done = (batch.len() as i64) < q.limit;
        q.after = batch.last().cloned();
        out.extend(batch.into_iter().filter(|r| passes(p, r)));
        if out.len() >= want || done {
            out.truncate(want);
            return Ok(out);
        }
    }
}

fn next_link(top: &Top, detail: bool, p: &ListParams, rows: &[ServerRow]) -> Option<Value> {
    if rows.len() as i64 != p.query.limit || rows.is_empty() {
        return None;
    }
    let last = rows.last()?;
    let mut q: Vec<String> = p
        .pairs
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    if !p.pairs.iter().any(|(k, _)| k == "limit") {
        q.push(format!("limit={}", p.query.limit));
    }
    q.push(format!("marker={}", last.id));
    let path = if detail { "servers/detail" } else { "servers" };
    Some(
        json!([{"rel": "next", "href": format!("{}/v2.1/{path}?{}", top.service_root(Service::Compute), q.join("&"))}]),
    )
}

async fn list(c: Caller, Mv(mv): Mv, RawQuery(raw): RawQuery) -> Res {
    let p = list_params(&c, mv, raw.as_deref()).await?;
    let rows = page(&c.top, &p).await?;
    let servers: Vec<Value> = rows.iter().map(|r| json!({"id": r.id, "links": links(&c.top, &format!("servers/{}", r.id)), "name": r.name})).collect();
    let mut body = json!({ "servers": servers });
    if let Some(l) = next_link(&c.top, false, &p, &rows) {
        body["servers_links"] = l;
    }
    Ok(Json(body).into_response())
}

async fn detail(c: Caller, Mv(mv): Mv, RawQuery(raw): RawQuery) -> Res {
    let p = list_params(&c, mv, raw.as_deref()).await?;
    let rows = page(&c.top, &p).await?;
    let servers: Vec<Value> = rows
        .iter()
        .map(|r| view(&c.top, r, mv, c.is_admin(), View::Detail))
        .collect();
    let mut body = json!({ "servers": servers });
    if let Some(l) = next_link(&c.top, true, &p, &rows) {
        body["servers_links"] = l;
    }
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_and_encode() {
        assert_eq!(
            url_pairs("name=a%20b&x=&tags=a,b"),
            vec![
                ("name".into(), "a b".into()),
                ("x".into(), "".into()),
                ("tags".into(), "a,b".into())
            ]
        );
        assert_eq!(encode("a b/c"), "a+b%2Fc");
        assert_eq!(id_of_ref("http://x/compute/flavors/3"), "3");
    }
}
