//! Rules that name a remote group whose members live on several sites. A site resolves
//! `remote_group_id` only among its own ports, so on each site a rule of group H naming G is
//! expanded into one `remote_ip_prefix` rule (`/32` or `/128`) per fixed IP of G's member
//! ports on the other sites. An expansion carries a description naming its top rule, so the
//! set on a site is recomputed from the top's ports whenever G's members or the rule change.

use super::groups::RULE_KEY;
use super::{sites, store_err};
use crate::sites::SiteHandle;
use crate::Top;
use axum::http::StatusCode;
use fedstack_api_types::{ApiError, Service};
use fedstack_store::networks::{net_kind, NetResource};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The description of an expansion, followed by its top rule's ID.
const MARK: &str = "fedstack: remote group member of rule ";

/// True when a site rule is an expansion made by the top (not a copy of a top rule).
pub fn is_expansion(site_rule: &Value) -> bool {
    site_rule["description"]
        .as_str()
        .is_some_and(|d| d.starts_with(MARK))
}

/// The prefixes `rule` must admit on `site`: each fixed IP, of the rule's ethertype, of the
/// remote group's member ports that live on another site (none when the rule has no remote
/// group).
async fn wanted(top: &Top, rule: &NetResource, site: &str) -> Result<BTreeSet<String>, ApiError> {
    let mut out = BTreeSet::new();
    let Some(remote) = rule.body["remote_group_id"].as_str() else {
        return Ok(out);
    };
    let v4 = rule.body["ethertype"] != "IPv6";
    let ports = top
        .store
        .net_resources(net_kind::PORT, None, None)
        .await
        .map_err(store_err)?;
    for p in ports.iter().filter(|p| {
        p.body["security_groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == remote))
    }) {
        let pieces = top
            .store
            .pieces(net_kind::PORT, &p.id)
            .await
            .map_err(store_err)?;
        if !pieces
            .iter()
            .any(|x| x.site_id != site && x.site_resource_id.is_some())
        {
            continue;
        }
        for ip in p.body["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["ip_address"].as_str()?.parse::<IpAddr>().ok())
            .filter(|ip| ip.is_ipv4() == v4)
        {
            let len = if v4 { 32 } else { 128 };
            out.insert(format!("{ip}/{len}"));
        }
    }
    Ok(out)
}

/// Makes the expansions of `rule` in `site_group` (its group's copy on `site`) exactly
/// `wanted`: missing ones are created, stale ones deleted.
async fn apply(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    site_group: &str,
    rule: &NetResource,
    wanted: BTreeSet<String>,
) -> Result<(), ApiError> {
    let lock = top.lock_for(&format!("net/sg-expand/{}/{}", rule.id, site.id()));
    let _guard = lock.lock().await;
    let mark = format!("{MARK}{}", rule.id);
    let r = sites::call(
        site,
        Method::GET,
        format!("/security-group-rules?security_group_id={site_group}"),
        Some(site_project),
        None,
    )
    .await?;
    let mut have = BTreeSet::new();
    for s in r["security_group_rules"].as_array().into_iter().flatten() {
        if s["description"] != mark.as_str() {
            continue;
        }
        let prefix = s["remote_ip_prefix"].as_str().unwrap_or_default();
        if wanted.contains(prefix) {
            have.insert(prefix.to_string());
        } else if let Some(id) = s["id"].as_str() {
            let gone = sites::call(
                site,
                Method::DELETE,
                format!("/security-group-rules/{id}"),
                Some(site_project),
                None,
            )
            .await;
            match gone {
                Ok(_) => {}
                Err(e) if e.status == StatusCode::NOT_FOUND => {}
                Err(e) => return Err(e),
            }
        }
    }
    for prefix in wanted.difference(&have) {
        let mut body: Map<String, Value> = RULE_KEY
            .iter()
            .filter(|k| **k != "remote_group_id" && **k != "remote_ip_prefix")
            .filter_map(|k| {
                rule.body
                    .get(*k)
                    .filter(|v| !v.is_null())
                    .map(|v| (k.to_string(), v.clone()))
            })
            .collect();
        body.insert("security_group_id".into(), json!(site_group));
        body.insert("remote_ip_prefix".into(), json!(prefix));
        body.insert("description".into(), json!(mark));
        let made = sites::call(
            site,
            Method::POST,
            "/security-group-rules".into(),
            Some(site_project),
            Some(json!({ "security_group_rule": body })),
        )
        .await;
        match made {
            Ok(_) => {}
            // The same rule already stands there (another top rule admits the same address).
            Err(e) if e.status == StatusCode::CONFLICT => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Brings `rule`'s expansions on `site` in line with its remote group's members (the group's
/// copy there is `site_group`).
pub async fn sync_on_site(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    site_group: &str,
    rule: &NetResource,
) -> Result<(), ApiError> {
    let wanted = wanted(top, rule, site.id()).await?;
    apply(top, site, site_project, site_group, rule, wanted).await
}

/// Syncs (`keep`) or deletes the expansions of `rule` on every site copy of its group. A
/// site that is down is skipped by a sync (caught up at the next change) and stops a delete
/// with its 503, so no expansion is left untracked.
async fn each_copy(top: &Top, rule: &NetResource, keep: bool) -> Result<(), ApiError> {
    let group = rule.parent_id.as_deref().unwrap_or_default();
    for p in top
        .store
        .pieces(net_kind::SECURITY_GROUP, group)
        .await
        .map_err(store_err)?
    {
        let (Some(site), Some(site_group)) = (top.sites.get(&p.site_id), p.site_resource_id) else {
            continue;
        };
        if !site.is_up() {
            if keep {
                tracing::warn!(rule = %rule.id, site = %site.name(), "site down: remote group expansions synced at the next change");
                continue;
            }
            return Err(sites::site_down(&site));
        }
        let site_project =
            crate::tenancy::site_project(top, &site, &rule.project_id, Service::Network).await?;
        let wanted = if keep {
            wanted(top, rule, site.id()).await?
        } else {
            BTreeSet::new()
        };
        apply(top, &site, &site_project, &site_group, rule, wanted).await?;
    }
    Ok(())
}

/// Brings `rule`'s expansions in line on every site that has its group.
pub async fn sync_rule(top: &Top, rule: &NetResource) -> Result<(), ApiError> {
    each_copy(top, rule, true).await
}

/// Deletes `rule`'s expansions from every site (before the rule itself goes).
pub async fn drop_rule(top: &Top, rule: &NetResource) -> Result<(), ApiError> {
    each_copy(top, rule, false).await
}

/// After the members of `groups` changed (a port joined or left, or moved onto a site): the
/// expansions of every rule naming one of them follow. A site that fails is logged and
/// caught up the next time the members change.
pub async fn members_changed(top: &Top, groups: &[String]) {
    if groups.is_empty() {
        return;
    }
    let rules = match top
        .store
        .net_resources(net_kind::SECURITY_GROUP_RULE, None, None)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "remote group expansions not synced");
            return;
        }
    };
    for rule in rules.iter().filter(|r| {
        r.body["remote_group_id"]
            .as_str()
            .is_some_and(|g| groups.iter().any(|x| x == g))
    }) {
        if let Err(e) = sync_rule(top, rule).await {
            tracing::warn!(rule = %rule.id, error = %e.message, "remote group expansions not synced");
        }
    }
}

/// The security groups of a port document.
pub fn groups_of(port: &Value) -> Vec<String> {
    port["security_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g.as_str().map(String::from))
        .collect()
}
