//! `/v2.0/security-groups` and `/v2.0/security-group-rules`: kept at the top (a `default`
//! group per project, made on first use), copied to a site the first time a port there uses
//! them, and kept in sync when rules change at the top.

use super::doc::{self, attrs, check_known, find, owns, string_attr};
use super::{invalid_input, neutron_error, policy_denied, remote_groups, sites, store_err, Res};
use crate::auth::Caller;
use crate::sites::SiteHandle;
use crate::Top;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use fedstack_api_types::http::OsJson;
use fedstack_api_types::ApiError;
use fedstack_store::networks::{net_kind, NetResource};
use futures::future::BoxFuture;
use ipnet::IpNet;
use reqwest::Method;
use serde_json::{json, Map, Value};

/// The attributes that make two rules the same rule.
pub(super) const RULE_KEY: &[&str] = &[
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
];

fn not_found(id: &str) -> ApiError {
    neutron_error(
        StatusCode::NOT_FOUND,
        "SecurityGroupNotFound",
        format!("Security group {id} does not exist"),
    )
}

fn rule_not_found(id: &str) -> ApiError {
    neutron_error(
        StatusCode::NOT_FOUND,
        "SecurityGroupRuleNotFound",
        format!("Security group rule {id} does not exist"),
    )
}

/// A new rule of `group` (attributes already checked).
fn new_rule(group: &str, project: &str, mut a: Map<String, Value>) -> NetResource {
    a.insert("security_group_id".into(), json!(group));
    for k in RULE_KEY {
        a.entry(k.to_string()).or_insert(Value::Null);
    }
    a.entry("remote_address_group_id").or_insert(Value::Null);
    let normalized = a["remote_ip_prefix"]
        .as_str()
        .and_then(|p| p.parse::<IpNet>().ok())
        .map(|n| n.trunc().to_string());
    a.insert("normalized_cidr".into(), json!(normalized));
    doc::new_resource(net_kind::SECURITY_GROUP_RULE, project, Some(group), a)
}

/// The rules every new group starts with: egress to anywhere, IPv4 and IPv6; the `default`
/// group also lets in traffic from its own members.
fn initial_rules(group: &str, project: &str, default: bool) -> Vec<NetResource> {
    let mut rules = vec![];
    for ethertype in ["IPv4", "IPv6"] {
        let rule = |direction: &str, remote: Value| {
            let mut a = Map::new();
            a.insert("direction".into(), json!(direction));
            a.insert("ethertype".into(), json!(ethertype));
            a.insert("remote_group_id".into(), remote);
            new_rule(group, project, a)
        };
        rules.push(rule("egress", Value::Null));
        if default {
            rules.push(rule("ingress", json!(group)));
        }
    }
    rules
}

/// A group as Neutron shows it, with its rules.
fn view(g: &NetResource, rules: &[NetResource]) -> Value {
    let mut v = g.body.clone();
    v["security_group_rules"] = json!(rules
        .iter()
        .filter(|r| r.parent_id.as_deref() == Some(&g.id))
        .map(|r| r.body.clone())
        .collect::<Vec<_>>());
    v
}

async fn rules_of(top: &Top, group: &str) -> Result<Vec<NetResource>, ApiError> {
    top.store
        .net_resources(net_kind::SECURITY_GROUP_RULE, None, Some(group))
        .await
        .map_err(store_err)
}

async fn make_group(
    top: &Top,
    project: &str,
    a: Map<String, Value>,
    default: bool,
) -> Result<NetResource, ApiError> {
    let mut a = a;
    a.entry("stateful").or_insert(json!(true));
    a.insert("shared".into(), json!(false));
    let g = doc::new_resource(net_kind::SECURITY_GROUP, project, None, a);
    if default {
        // Made on first use, as Neutron does, whatever the quota.
        top.store.insert_net_resource(&g).await.map_err(store_err)?;
    } else {
        crate::quota::network::insert_counted(top, &g).await?;
    }
    for r in initial_rules(&g.id, project, default) {
        top.store.insert_net_resource(&r).await.map_err(store_err)?;
    }
    Ok(g)
}

/// The ID of a project's `default` group, made on first use.
pub async fn default_group(top: &Top, project: &str) -> Result<String, ApiError> {
    let find = || async {
        let groups = top
            .store
            .net_resources(net_kind::SECURITY_GROUP, Some(project), None)
            .await
            .map_err(store_err)?;
        Ok::<_, ApiError>(
            groups
                .into_iter()
                .find(|g| g.name == "default")
                .map(|g| g.id),
        )
    };
    if let Some(id) = find().await? {
        return Ok(id);
    }
    let lock = top.lock_for(&format!("net/default-sg/{project}"));
    let _guard = lock.lock().await;
    if let Some(id) = find().await? {
        return Ok(id);
    }
    let mut a = Map::new();
    a.insert("name".into(), json!("default"));
    a.insert("description".into(), json!("Default security group"));
    Ok(make_group(top, project, a, true).await?.id)
}

/// Security group names or IDs of a request, as IDs of the project's groups.
pub async fn resolve(c: &Caller, project: &str, v: &Value) -> Result<Vec<String>, ApiError> {
    let items = v.as_array().ok_or_else(|| {
        super::bad_request(format!(
            "Invalid input for security_groups. Reason: '{v}' is not a list."
        ))
    })?;
    let groups = c
        .top
        .store
        .net_resources(net_kind::SECURITY_GROUP, Some(project), None)
        .await
        .map_err(store_err)?;
    let mut ids = vec![];
    for i in items {
        let key = i.as_str().unwrap_or_default();
        let id = match groups
            .iter()
            .find(|g| g.id == key)
            .or_else(|| groups.iter().find(|g| g.name == key))
        {
            Some(g) => g.id.clone(),
            None if key == "default" => default_group(&c.top, project).await?,
            None => return Err(not_found(key)),
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

pub async fn list(c: Caller, Query(pairs): Query<Vec<(String, String)>>) -> Res {
    if !c.project_id().is_empty() {
        default_group(&c.top, c.project_id()).await?;
    }
    let store = &c.top.store;
    let groups = store
        .net_resources(net_kind::SECURITY_GROUP, None, None)
        .await
        .map_err(store_err)?;
    let rules = store
        .net_resources(net_kind::SECURITY_GROUP_RULE, None, None)
        .await
        .map_err(store_err)?;
    Ok(doc::list_answer(
        &c,
        "security_groups",
        groups,
        &pairs,
        |g| view(g, &rules),
    ))
}

pub async fn show(
    c: Caller,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Res {
    let g = find(&c, net_kind::SECURITY_GROUP, &id, || not_found(&id)).await?;
    let rules = rules_of(&c.top, &id).await?;
    Ok(Json(json!({"security_group": doc::with_fields(view(&g, &rules), &pairs)})).into_response())
}

pub async fn create(c: Caller, OsJson(body): OsJson) -> Res {
    let a = attrs(&body, "security_group")?;
    check_known(
        &a,
        &[
            "name",
            "description",
            "stateful",
            "tags",
            "project_id",
            "tenant_id",
        ],
    )?;
    let name = string_attr(&a, "name")?.unwrap_or_default();
    let project = doc::target_project(&c, &a)?;
    if name == "default" {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    let mut a = a;
    a.remove("project_id");
    a.remove("tenant_id");
    let g = make_group(&c.top, &project, a, false).await?;
    let rules = rules_of(&c.top, &g.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"security_group": view(&g, &rules)})),
    )
        .into_response())
}

pub async fn update(c: Caller, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let mut g = find(&c, net_kind::SECURITY_GROUP, &id, || not_found(&id)).await?;
    if !owns(&c, &g) {
        return Err(policy_denied("rule:update_security_group"));
    }
    let a = attrs(&body, "security_group")?;
    check_known(&a, &["name", "description"])?;
    if g.name == "default" && a.get("name").is_some_and(|n| n != "default") {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "SecurityGroupCannotUpdateDefault",
            "Updating default security group not allowed.",
        ));
    }
    doc::apply(&mut g, &a);
    c.top
        .store
        .update_net_resource(&g)
        .await
        .map_err(store_err)?;
    if g.name != "default" {
        sites::update_pieces(
            &c.top,
            net_kind::SECURITY_GROUP,
            "security-groups",
            &id,
            "security_group",
            a,
        )
        .await;
    }
    let rules = rules_of(&c.top, &id).await?;
    Ok(Json(json!({"security_group": view(&g, &rules)})).into_response())
}

pub async fn delete(c: Caller, Path(id): Path<String>) -> Res {
    let g = find(&c, net_kind::SECURITY_GROUP, &id, || not_found(&id)).await?;
    if !owns(&c, &g) {
        return Err(not_found(&id));
    }
    if g.name == "default" && !c.is_admin() {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    let ports = c
        .top
        .store
        .net_resources(net_kind::PORT, None, None)
        .await
        .map_err(store_err)?;
    if ports.iter().any(|p| {
        p.body["security_groups"]
            .as_array()
            .is_some_and(|gs| gs.iter().any(|x| x == id.as_str()))
    }) {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    if g.name == "default" {
        for p in c
            .top
            .store
            .pieces(net_kind::SECURITY_GROUP, &id)
            .await
            .map_err(store_err)?
        {
            let _ = c
                .top
                .store
                .delete_piece(net_kind::SECURITY_GROUP, &id, &p.site_id)
                .await;
        }
    } else {
        sites::delete_pieces(&c.top, net_kind::SECURITY_GROUP, "security-groups", &id).await?;
    }
    for r in rules_of(&c.top, &id).await? {
        for p in c
            .top
            .store
            .pieces(net_kind::SECURITY_GROUP_RULE, &r.id)
            .await
            .map_err(store_err)?
        {
            let _ = c
                .top
                .store
                .delete_piece(net_kind::SECURITY_GROUP_RULE, &r.id, &p.site_id)
                .await;
        }
        c.top
            .store
            .delete_net_resource(net_kind::SECURITY_GROUP_RULE, &r.id)
            .await
            .map_err(store_err)?;
    }
    c.top
        .store
        .delete_net_resource(net_kind::SECURITY_GROUP, &id)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_rules(c: Caller, Query(pairs): Query<Vec<(String, String)>>) -> Res {
    let rules = c
        .top
        .store
        .net_resources(net_kind::SECURITY_GROUP_RULE, None, None)
        .await
        .map_err(store_err)?;
    Ok(doc::list_answer(
        &c,
        "security_group_rules",
        rules,
        &pairs,
        |r| r.body.clone(),
    ))
}

pub async fn show_rule(
    c: Caller,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Res {
    let r = find(&c, net_kind::SECURITY_GROUP_RULE, &id, || {
        rule_not_found(&id)
    })
    .await?;
    Ok(Json(json!({"security_group_rule": doc::with_fields(r.body, &pairs)})).into_response())
}

/// Checks a rule's attributes as Neutron does and normalises them.
fn parse_rule(a: &mut Map<String, Value>) -> Result<(), ApiError> {
    let direction = string_attr(a, "direction")?.unwrap_or_default();
    if !["ingress", "egress"].contains(&direction.as_str()) {
        return Err(super::bad_request(format!(
            "Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress']."
        )));
    }
    let ethertype = string_attr(a, "ethertype")?.unwrap_or_else(|| "IPv4".into());
    let ethertype = match ethertype.to_lowercase().as_str() {
        "ipv4" => "IPv4",
        "ipv6" => "IPv6",
        _ => {
            return Err(super::bad_request(format!(
                "Invalid input for ethertype. Reason: '{ethertype}' is not in ['IPv4', 'IPv6']."
            )))
        }
    };
    a.insert("ethertype".into(), json!(ethertype));
    match a.get("protocol") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p == "any" => {
            a.insert("protocol".into(), Value::Null);
        }
        Some(Value::String(p)) => {
            a.insert("protocol".into(), json!(p.to_lowercase()));
        }
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= 255) => {
            a.insert("protocol".into(), json!(n.to_string()));
        }
        Some(other) => {
            return Err(neutron_error(
                StatusCode::BAD_REQUEST,
                "SecurityGroupRuleInvalidProtocol",
                format!("Security group rule protocol {other} not supported."),
            ))
        }
    }
    for k in ["port_range_min", "port_range_max"] {
        match a.get(k) {
            None | Some(Value::Null) => {}
            Some(v) => {
                let n = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|n| *n <= 65535)
                    .ok_or_else(|| {
                        neutron_error(
                            StatusCode::BAD_REQUEST,
                            "SecurityGroupInvalidPortValue",
                            format!("Invalid value for port {v}."),
                        )
                    })?;
                a.insert(k.into(), json!(n));
            }
        }
    }
    if let (Some(lo), Some(hi)) = (
        a.get("port_range_min").and_then(Value::as_u64),
        a.get("port_range_max").and_then(Value::as_u64),
    ) {
        if lo > hi {
            return Err(neutron_error(
                StatusCode::BAD_REQUEST,
                "SecurityGroupInvalidPortRange",
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            ));
        }
    }
    if let Some(prefix) = string_attr(a, "remote_ip_prefix")? {
        let net: IpNet = prefix.parse().or_else(|_| prefix.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(|_| {
            super::bad_request(format!("Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid IP subnet."))
        })?;
        if net.addr().is_ipv4() != (ethertype == "IPv4") {
            return Err(invalid_input(format!(
                "Conflicting value ethertype {ethertype} for CIDR {prefix}"
            )));
        }
        a.insert("remote_ip_prefix".into(), json!(net.to_string()));
        if a.get("remote_group_id").is_some_and(|v| !v.is_null()) {
            return Err(neutron_error(
                StatusCode::BAD_REQUEST,
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
    }
    Ok(())
}

pub async fn create_rule(c: Caller, OsJson(body): OsJson) -> Res {
    let mut a = attrs(&body, "security_group_rule")?;
    check_known(
        &a,
        &[
            "security_group_id",
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
            "description",
            "project_id",
            "tenant_id",
            "remote_address_group_id",
        ],
    )?;
    let group_id = string_attr(&a, "security_group_id")?.ok_or_else(|| {
        super::bad_request(
            "Failed to parse request. Required attribute 'security_group_id' not specified",
        )
    })?;
    let g = find(&c, net_kind::SECURITY_GROUP, &group_id, || {
        not_found(&group_id)
    })
    .await?;
    if !owns(&c, &g) {
        return Err(policy_denied("rule:create_security_group_rule"));
    }
    parse_rule(&mut a)?;
    if let Some(remote) = string_attr(&a, "remote_group_id")? {
        find(&c, net_kind::SECURITY_GROUP, &remote, || not_found(&remote)).await?;
    }
    a.remove("project_id");
    a.remove("tenant_id");
    let rule = new_rule(&group_id, &g.project_id, a);
    let existing = rules_of(&c.top, &group_id).await?;
    if let Some(dup) = existing
        .iter()
        .find(|r| same_rule(&r.body, &rule.body, |id| id.to_string()))
    {
        return Err(neutron_error(
            StatusCode::CONFLICT,
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. Rule id is {}.", dup.id),
        ));
    }
    crate::quota::network::insert_counted(&c.top, &rule).await?;
    for p in c
        .top
        .store
        .pieces(net_kind::SECURITY_GROUP, &group_id)
        .await
        .map_err(store_err)?
    {
        let (Some(site), Some(site_group)) = (c.top.sites.get(&p.site_id), p.site_resource_id)
        else {
            continue;
        };
        if !site.is_up() {
            tracing::warn!(rule = %rule.id, site = %site.name(), "site down: rule copied when the group is next used there");
            continue;
        }
        let site_project = crate::tenancy::site_project(
            &c.top,
            &site,
            &g.project_id,
            fedstack_api_types::Service::Network,
        )
        .await?;
        rule_on_site(&c.top, &site, &site_project, &site_group, &rule).await?;
    }
    if let Err(e) = remote_groups::sync_rule(&c.top, &rule).await {
        tracing::warn!(rule = %rule.id, error = %e.message, "remote group expansions not synced");
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"security_group_rule": rule.body})),
    )
        .into_response())
}

pub async fn delete_rule(c: Caller, Path(id): Path<String>) -> Res {
    let r = find(&c, net_kind::SECURITY_GROUP_RULE, &id, || {
        rule_not_found(&id)
    })
    .await?;
    if !owns(&c, &r) {
        return Err(rule_not_found(&id));
    }
    remote_groups::drop_rule(&c.top, &r).await?;
    sites::delete_pieces(
        &c.top,
        net_kind::SECURITY_GROUP_RULE,
        "security-group-rules",
        &id,
    )
    .await?;
    c.top
        .store
        .delete_net_resource(net_kind::SECURITY_GROUP_RULE, &id)
        .await
        .map_err(store_err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// True when two rule documents are the same rule (`remote` maps the first one's remote
/// group to the second one's terms).
fn same_rule(a: &Value, b: &Value, remote: impl Fn(&str) -> String) -> bool {
    RULE_KEY.iter().all(|k| match *k {
        "remote_group_id" => a[k].as_str().map(&remote).as_deref() == b[k].as_str(),
        "protocol" => a[k].as_str().map(str::to_lowercase) == b[k].as_str().map(str::to_lowercase),
        _ => a[k] == b[k],
    })
}

/// The site security group of a top group on `site`: the site project's own `default`
/// group for the top's `default`, else a group of the same name; its rules are made the
/// top's the first time.
pub fn ensure_on_site<'a>(
    top: &'a Top,
    site: &'a SiteHandle,
    site_project: &'a str,
    group_id: &'a str,
) -> BoxFuture<'a, Result<String, ApiError>> {
    Box::pin(async move {
        let g = top
            .store
            .net_resource(net_kind::SECURITY_GROUP, group_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| not_found(group_id))?;
        let known = top
            .store
            .piece(net_kind::SECURITY_GROUP, group_id, site.id())
            .await
            .map_err(store_err)?
            .and_then(|p| p.site_resource_id);
        if let Some(id) = known {
            return Ok(id);
        }
        let site_group = sites::ensure_piece(top, net_kind::SECURITY_GROUP, group_id, site, || async {
            if g.name == "default" {
                let r = sites::call(site, Method::GET, format!("/security-groups?name=default&project_id={site_project}"), Some(site_project), None).await?;
                if let Some(first) = r["security_groups"].as_array().and_then(|l| l.first()) {
                    return sites::id_of(site, first);
                }
            }
            let body = json!({"security_group": {"name": g.name, "description": g.body["description"]}});
            let r = sites::call(site, Method::POST, "/security-groups".into(), Some(site_project), Some(body)).await?;
            sites::id_of(site, &r["security_group"])
        })
        .await?;
        reconcile(top, site, site_project, &g, &site_group).await?;
        Ok(site_group)
    })
}

/// Makes the rules of a site group the top group's: matching site rules are recorded,
/// missing ones created, others deleted.
async fn reconcile(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    g: &NetResource,
    site_group: &str,
) -> Result<(), ApiError> {
    let lock = top.lock_for(&format!("net/sg-rules/{}/{}", g.id, site.id()));
    let _guard = lock.lock().await;
    let r = sites::call(
        site,
        Method::GET,
        format!("/security-group-rules?security_group_id={site_group}"),
        Some(site_project),
        None,
    )
    .await?;
    let mut site_rules: Vec<Value> = r["security_group_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| !remote_groups::is_expansion(s))
        .cloned()
        .collect();
    let rules = rules_of(top, &g.id).await?;
    for rule in &rules {
        let remote = remote_on_site(top, site, site_project, rule).await?;
        let found = site_rules
            .iter()
            .position(|s| same_rule(&rule.body, s, |_| remote.clone().unwrap_or_default()));
        match found {
            Some(i) => {
                let s = site_rules.remove(i);
                record_rule(top, &rule.id, site, &s).await?;
            }
            None => rule_on_site(top, site, site_project, site_group, rule).await?,
        }
    }
    for extra in site_rules {
        if let Some(id) = extra["id"].as_str() {
            sites::call(
                site,
                Method::DELETE,
                format!("/security-group-rules/{id}"),
                Some(site_project),
                None,
            )
            .await?;
        }
    }
    for rule in rules
        .iter()
        .filter(|r| r.body["remote_group_id"].is_string())
    {
        remote_groups::sync_on_site(top, site, site_project, site_group, rule).await?;
    }
    Ok(())
}

/// The site group a rule's remote group is on `site` (made there if needed).
async fn remote_on_site(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    rule: &NetResource,
) -> Result<Option<String>, ApiError> {
    match rule.body["remote_group_id"].as_str() {
        Some(remote) => Ok(Some(ensure_on_site(top, site, site_project, remote).await?)),
        None => Ok(None),
    }
}

async fn record_rule(
    top: &Top,
    rule_id: &str,
    site: &SiteHandle,
    site_rule: &Value,
) -> Result<(), ApiError> {
    let site_rule_id = sites::id_of(site, site_rule)?;
    match top
        .store
        .insert_piece(net_kind::SECURITY_GROUP_RULE, rule_id, site.id())
        .await
    {
        Ok(()) | Err(fedstack_store::StoreError::Conflict(_)) => {}
        Err(e) => return Err(store_err(e)),
    }
    top.store
        .set_piece(
            net_kind::SECURITY_GROUP_RULE,
            rule_id,
            site.id(),
            &site_rule_id,
        )
        .await
        .map_err(store_err)
}

/// Copies one top rule to a site group and records it.
async fn rule_on_site(
    top: &Top,
    site: &SiteHandle,
    site_project: &str,
    site_group: &str,
    rule: &NetResource,
) -> Result<(), ApiError> {
    let remote = remote_on_site(top, site, site_project, rule).await?;
    let mut body: Map<String, Value> = RULE_KEY
        .iter()
        .filter_map(|k| {
            rule.body
                .get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect();
    body.insert("security_group_id".into(), json!(site_group));
    if let Some(r) = remote {
        body.insert("remote_group_id".into(), json!(r));
    }
    let r = sites::call(
        site,
        Method::POST,
        "/security-group-rules".into(),
        Some(site_project),
        Some(json!({"security_group_rule": body})),
    )
    .await?;
    record_rule(top, &rule.id, site, &r["security_group_rule"]).await
}
