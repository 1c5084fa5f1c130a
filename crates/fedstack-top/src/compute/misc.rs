//! Version documents, availability zones (one per site) and limits.

use super::{store_err, Res};
use crate::auth::Caller;
use crate::Top;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use fedstack_api_types::nova;
use fedstack_api_types::Service;
use fedstack_store::servers::ServerQuery;
use serde_json::{json, Value};
use std::sync::Arc;

/// Nova's default quotas, shown by `limits` (issue: global quotas come with the next step).
const DEFAULT_LIMITS: [(&str, i64); 13] = [
    ("maxTotalCores", 20),
    ("maxPersonality", 5),
    ("maxPersonalitySize", 10240),
    ("maxTotalInstances", 10),
    ("maxTotalKeypairs", 100),
    ("maxServerMeta", 128),
    ("maxImageMeta", 128),
    ("maxTotalRAMSize", 51200),
    ("maxServerGroups", 10),
    ("maxServerGroupMembers", 10),
    ("maxTotalFloatingIps", -1),
    ("maxSecurityGroups", -1),
    ("maxSecurityGroupRules", -1),
];

/// The unversioned documents (outside the microversion layer).
pub fn version_routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/", get(versions))
        .route("/v2.1", get(version))
        .route("/v2.1/", get(version))
}

pub fn routes() -> Router<Arc<Top>> {
    Router::new()
        .route("/v2.1/os-availability-zone", get(zones))
        .route("/v2.1/os-availability-zone/detail", get(zones))
        .route("/v2.1/limits", get(limits))
}

async fn versions(State(top): State<Arc<Top>>) -> Json<Value> {
    Json(nova::versions(&top.service_root(Service::Compute)))
}

async fn version(State(top): State<Arc<Top>>) -> Json<Value> {
    Json(nova::version(&top.service_root(Service::Compute)))
}

/// One zone per enabled site, available while the site answers.
async fn zones(c: Caller) -> Res {
    let zones: Vec<Value> = c
        .top
        .sites
        .all()
        .iter()
        .filter(|s| s.record.enabled)
        .map(|s| json!({"zoneName": s.record.az, "zoneState": {"available": s.is_up()}, "hosts": null}))
        .collect();
    Ok(Json(json!({ "availabilityZoneInfo": zones })).into_response())
}

async fn limits(c: Caller) -> Res {
    let q = ServerQuery {
        project_id: Some(c.project_id().to_string()),
        limit: i64::MAX,
        ..Default::default()
    };
    let rows = c.top.store.list_servers(&q).await.map_err(store_err)?;
    let (mut cores, mut ram) = (0, 0);
    for r in &rows {
        cores += r
            .body
            .pointer("/flavor/vcpus")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        ram += r
            .body
            .pointer("/flavor/ram")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    }
    let groups = c
        .top
        .store
        .server_groups(Some(c.project_id()))
        .await
        .map_err(store_err)?
        .len();
    let mut absolute = serde_json::Map::new();
    for (k, v) in DEFAULT_LIMITS {
        absolute.insert(k.into(), json!(v));
    }
    absolute.insert("totalRAMUsed".into(), json!(ram));
    absolute.insert("totalCoresUsed".into(), json!(cores));
    absolute.insert("totalInstancesUsed".into(), json!(rows.len()));
    absolute.insert("totalFloatingIpsUsed".into(), json!(0));
    absolute.insert("totalSecurityGroupsUsed".into(), json!(0));
    absolute.insert("totalServerGroupsUsed".into(), json!(groups));
    Ok(Json(json!({"limits": {"rate": [], "absolute": absolute}})).into_response())
}
