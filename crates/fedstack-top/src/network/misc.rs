//! The version document, core resources, extensions and availability zones (one per site).

use super::doc;
use crate::auth::Caller;
use crate::Top;
use axum::extract::{Query, State};
use axum::Json;
use fedstack_api_types::Service;
use serde_json::{json, Value};
use std::sync::Arc;

/// The extensions the top implements: (alias, name, description).
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("security-group", "security-group", "The security groups extension."),
    ("stateful-security-group", "Stateful security group", "Extension adding a stateful attribute to security groups."),
    ("port-security", "Port Security", "Provides port security"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support for network."),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes."),
];

/// `GET /networking`: the one API version.
pub async fn versions(State(top): State<Arc<Top>>) -> Json<Value> {
    let root = top.service_root(Service::Network);
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT",
        "links": [{"rel": "self", "href": format!("{root}/v2.0/")}]}]}))
}

/// `GET /networking/v2.0/`: the core resources.
pub async fn resources(State(top): State<Arc<Top>>) -> Json<Value> {
    let root = top.service_root(Service::Network);
    let list: Vec<Value> = [("network", "networks"), ("subnet", "subnets"), ("port", "ports")]
        .iter()
        .map(|(name, coll)| json!({"name": name, "collection": coll, "links": [{"rel": "self", "href": format!("{root}/v2.0/{coll}")}]}))
        .collect();
    Json(json!({ "resources": list }))
}

/// `GET /v2.0/extensions`.
pub async fn extensions(_c: Caller) -> Json<Value> {
    let list: Vec<Value> = EXTENSIONS
        .iter()
        .map(|(alias, name, description)| json!({"alias": alias, "name": name, "description": description, "updated": "2026-01-01T00:00:00-00:00", "links": []}))
        .collect();
    Json(json!({ "extensions": list }))
}

/// `GET /v2.0/availability_zones`: each site is a zone for networks and routers.
pub async fn availability_zones(
    c: Caller,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Json<Value> {
    let zones: Vec<Value> = c
        .top
        .sites
        .all()
        .iter()
        .filter(|s| s.record.enabled)
        .flat_map(|s| {
            let state = if s.is_up() {
                "available"
            } else {
                "unavailable"
            };
            ["network", "router"]
                .map(|r| json!({"name": s.record.az, "resource": r, "state": state}))
        })
        .filter(|z| doc::matches(z, &pairs))
        .collect();
    Json(json!({ "availability_zones": zones }))
}
