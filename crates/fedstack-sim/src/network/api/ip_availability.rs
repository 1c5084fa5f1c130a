//! `/v2.0/network-ip-availabilities` (admin): addresses in the pools of each network and
//! subnet, and how many are allocated.

use super::query::ListQuery;
use super::{collection_url, networks, ok, shown, Caller, Pairs, Res};
use crate::ctx::Ctx;
use crate::network::model::Network;
use crate::network::NetworkData;
use axum::extract::{Path, Query};
use serde_json::{json, Value};

/// Every attribute of a network's IP availability.
const ATTRS: &[&str] = &[
    "network_id",
    "network_name",
    "tenant_id",
    "project_id",
    "total_ips",
    "used_ips",
];

/// A count as JSON (IPv6 pools can hold more than a JSON number carries).
fn count(n: u128) -> Value {
    json!(u64::try_from(n).unwrap_or(u64::MAX))
}

/// The availability of a network, over its subnets of `version` (all when `None`); `None`
/// when a version is asked and the network has no such subnet.
fn view(d: &NetworkData, n: &Network, version: Option<u8>) -> Option<Value> {
    let subnets: Vec<_> = n
        .subnets
        .iter()
        .filter_map(|id| d.subnets.get(id))
        .filter(|s| version.is_none_or(|v| s.ip_version() == v))
        .collect();
    if version.is_some() && subnets.is_empty() {
        return None;
    }
    let (mut total, mut used) = (0u128, 0u128);
    let per_subnet: Vec<Value> = subnets
        .iter()
        .map(|s| {
            let (t, u) = s.ipam.usage();
            total = total.saturating_add(t);
            used += u as u128;
            json!({"subnet_id": s.id, "subnet_name": s.name, "cidr": s.cidr.to_string(),
                "ip_version": s.ip_version(), "total_ips": count(t), "used_ips": u})
        })
        .collect();
    Some(json!({
        "network_id": n.id, "network_name": n.name, "tenant_id": n.project_id,
        "project_id": n.project_id, "total_ips": count(total), "used_ips": count(used),
        "subnet_ip_availability": per_subnet,
    }))
}

/// Lists are empty for non-admins (the policy hides every entry).
pub async fn list(ctx: Ctx, Query(mut pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let version = pairs
        .iter()
        .find(|(k, _)| k == "ip_version")
        .and_then(|(_, v)| v.parse::<u8>().ok());
    pairs.retain(|(k, _)| k != "ip_version");
    let q = ListQuery::parse(pairs, ATTRS)?;
    let url = collection_url(&ctx.site, "network-ip-availabilities");
    let g = ctx.site.data.lock();
    let d = &g.network;
    let body = q.answer("network_ip_availabilities", &url, d.networks.keys(), |id| {
        d.networks
            .get(id)
            .filter(|_| c.admin)
            .and_then(|n| view(d, n, version))
    });
    Ok(ok(body))
}

/// `GET /v2.0/network-ip-availabilities/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let d = &g.network;
    let n = d
        .networks
        .get(id.as_str())
        .filter(|_| c.admin)
        .ok_or_else(|| networks::not_found(&id))?;
    let v = view(d, n, None).unwrap_or(Value::Null);
    Ok(shown("network_ip_availability", v, &pairs))
}
