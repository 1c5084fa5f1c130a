//! `/v2.0/security-groups` and `/v2.0/security-group-rules`.

use super::body::{invalid_attr, py, Attrs};
use super::query::ListQuery;
use super::{
    bad_request, collection_url, created, no_content, ok, policy_denied, set, shown, Caller, Pairs,
    Res,
};
use crate::ctx::{Ctx, OsJson};
use crate::network::model::{Resource, SecurityGroup, SgRule, Std};
use crate::network::ops::{neutron_error, over_quota};
use crate::network::{new_id, NetworkData};
use axum::extract::{Path, Query};
use fedstack_api_types::{time, ApiError};
use ipnet::IpNet;
use serde_json::{json, Value};

/// Every attribute of a security group.
pub const ATTRS: &[&str] = &[
    "id",
    "name",
    "stateful",
    "tenant_id",
    "project_id",
    "description",
    "shared",
    "security_group_rules",
    "tags",
    "created_at",
    "updated_at",
    "revision_number",
];

const POST: &[&str] = &[
    "name",
    "stateful",
    "tenant_id",
    "project_id",
    "description",
    "tags",
];
const PUT: &[&str] = &["name", "stateful", "description"];

/// Every attribute of a security group rule.
pub const RULE_ATTRS: &[&str] = &[
    "id",
    "project_id",
    "tenant_id",
    "security_group_id",
    "ethertype",
    "direction",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_address_group_id",
    "normalized_cidr",
    "remote_group_id",
    "belongs_to_default_sg",
    "description",
    "created_at",
    "updated_at",
    "revision_number",
];

const RULE_POST: &[&str] = &[
    "project_id",
    "tenant_id",
    "security_group_id",
    "ethertype",
    "direction",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_address_group_id",
    "remote_group_id",
    "description",
];

/// Protocol names Neutron accepts.
const PROTOCOLS: [&str; 22] = [
    "ah",
    "dccp",
    "egp",
    "esp",
    "gre",
    "hopopt",
    "icmp",
    "igmp",
    "ipip",
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "icmpv6",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
    "tcp",
    "udp",
];

/// Protocols whose port range is a range of ports.
const PORT_PROTOCOLS: [&str; 10] = [
    "tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136",
];

const ICMP_PROTOCOLS: [&str; 5] = ["icmp", "ipv6-icmp", "icmpv6", "1", "58"];

/// How a rule is shown: inside its group (`embedded`) or on its own; `default` is
/// `belongs_to_default_sg` (`None` shows `null`, as the group list does).
fn rule_view(r: &SgRule, embedded: bool, default: Option<bool>) -> Value {
    let mut v = json!({
        "id": r.id, "project_id": r.project_id, "security_group_id": r.security_group_id,
        "ethertype": r.ethertype, "direction": r.direction, "protocol": r.protocol,
        "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix.map(|p| p.to_string()),
        "remote_address_group_id": null,
        "normalized_cidr": r.remote_ip_prefix.map(|p| p.trunc().to_string()),
        "remote_group_id": r.remote_group_id,
    });
    if embedded {
        v["standard_attr_id"] = json!(r.standard_attr_id);
    }
    v["belongs_to_default_sg"] = json!(default);
    v["description"] = json!(r.description);
    if embedded {
        v["tags"] = json!(r.std.tags);
    }
    v["created_at"] = json!(time::iso_z(r.std.created_at));
    v["updated_at"] = json!(time::iso_z(r.std.updated_at));
    v["revision_number"] = json!(r.std.revision);
    v["tenant_id"] = json!(r.project_id);
    v
}

/// A group with its rules (`listed`: as the list shows it, with `belongs_to_default_sg: null`).
fn view(d: &NetworkData, g: &SecurityGroup, listed: bool) -> Value {
    let default = (!listed).then(|| d.is_default_group(g));
    let rules: Vec<Value> = g
        .rules
        .iter()
        .filter_map(|id| d.rules.get(id))
        .map(|r| rule_view(r, true, default))
        .collect();
    json!({
        "id": g.id, "name": g.name, "stateful": g.stateful, "tenant_id": g.project_id,
        "project_id": g.project_id, "description": g.std.description, "shared": false,
        "security_group_rules": rules, "tags": g.std.tags,
        "created_at": time::iso_z(g.std.created_at), "updated_at": time::iso_z(g.std.updated_at),
        "revision_number": g.std.revision,
    })
}

fn not_found(id: &str) -> ApiError {
    neutron_error(
        404,
        "SecurityGroupNotFound",
        format!("Security group {id} does not exist"),
    )
}

fn rule_not_found(id: &str) -> ApiError {
    neutron_error(
        404,
        "SecurityGroupRuleNotFound",
        format!("Security group rule {id} does not exist"),
    )
}

/// A security group the caller may see (its not-found error otherwise).
pub fn find<'a>(d: &'a NetworkData, c: &Caller, id: &str) -> Result<&'a SecurityGroup, ApiError> {
    d.security_groups
        .get(id)
        .filter(|g| c.owns(&g.project_id))
        .ok_or_else(|| not_found(id))
}

/// `GET /v2.0/security-groups`.
pub async fn list(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let q = ListQuery::parse(pairs, ATTRS)?;
    let url = collection_url(&ctx.site, "security-groups");
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    d.ensure_default_group(&c.project);
    let d = &*d;
    let body = q.answer("security_groups", &url, d.security_groups.keys(), |id| {
        find(d, &c, id).ok().map(|g| view(d, g, true))
    });
    Ok(ok(body))
}

/// `GET /v2.0/security-groups/{id}`.
pub async fn show(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    d.ensure_default_group(&c.project);
    let sg = find(d, &c, &id)?;
    Ok(shown("security_group", view(d, sg, false), &pairs))
}

/// `POST /v2.0/security-groups`.
pub async fn create(ctx: Ctx, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "security_group")?;
    a.check(ATTRS, POST, true)?;
    c.require_member("create_security_group")?;
    let project = c.target_project(&a)?;
    let name = a.string("name")?.unwrap_or_default();
    let description = a.string("description")?.unwrap_or_default();
    let stateful = a.boolean("stateful")?.unwrap_or(true);
    let tags = a.strings("tags")?.unwrap_or_default();
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    d.ensure_default_group(&project);
    if name == "default" {
        return Err(neutron_error(
            409,
            "SecurityGroupDefaultAlreadyExists",
            "Default security group already exists.",
        ));
    }
    if !d.has_room(&project, Resource::SecurityGroup, 1) {
        return Err(over_quota(Resource::SecurityGroup));
    }
    if !d.has_room(&project, Resource::SecurityGroupRule, 2) {
        return Err(over_quota(Resource::SecurityGroupRule));
    }
    let id = d.insert_group(&project, &name, &description, stateful);
    if let Some(sg) = d.security_groups.get_mut(&id) {
        sg.std.tags = tags;
    }
    let sg = find(d, &c, &id)?;
    Ok(created(json!({"security_group": view(d, sg, false)})))
}

/// `PUT /v2.0/security-groups/{id}`.
pub async fn update(ctx: Ctx, Path(id): Path<String>, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "security_group")?;
    a.check(ATTRS, PUT, false)?;
    c.require_member("update_security_group")?;
    let name = a.string("name")?;
    let description = a.string("description")?;
    let stateful = a.boolean("stateful")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let sg = find(d, &c, &id)?;
    if d.is_default_group(sg) && name.as_deref().is_some_and(|n| n != "default") {
        return Err(neutron_error(
            409,
            "SecurityGroupCannotUpdateDefault",
            "Updating default security group not allowed.",
        ));
    }
    let Some(sg) = d.security_groups.get_mut(id.as_str()) else {
        return Err(not_found(&id));
    };
    set(&mut sg.name, name);
    set(&mut sg.std.description, description);
    set(&mut sg.stateful, stateful);
    sg.std.touch();
    let sg = find(d, &c, &id)?;
    Ok(ok(json!({"security_group": view(d, sg, false)})))
}

/// `DELETE /v2.0/security-groups/{id}`.
pub async fn delete(ctx: Ctx, Path(id): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    c.require_member("delete_security_group")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    let sg = find(d, &c, &id)?;
    if d.is_default_group(sg) && !c.admin {
        return Err(neutron_error(
            409,
            "SecurityGroupCannotRemoveDefault",
            "Insufficient rights for removing default security group.",
        ));
    }
    if d.ports
        .values()
        .any(|p| p.security_groups.iter().any(|g| g == &id))
    {
        return Err(neutron_error(
            409,
            "SecurityGroupInUse",
            format!("Security Group {id} in use."),
        ));
    }
    d.remove_group(&id);
    Ok(no_content())
}

/// `GET /v2.0/security-group-rules`.
pub async fn list_rules(ctx: Ctx, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let q = ListQuery::parse(pairs, RULE_ATTRS)?;
    let url = collection_url(&ctx.site, "security-group-rules");
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    d.ensure_default_group(&c.project);
    let d = &*d;
    let render = |id: &str| {
        let r = d.rules.get(id).filter(|r| c.owns(&r.project_id))?;
        let default = d
            .security_groups
            .get(r.security_group_id.as_str())
            .map(|g| d.is_default_group(g));
        Some(rule_view(r, false, default))
    };
    let body = match q.values("security_group_id") {
        Some([sg]) => {
            let ids = d.security_groups.get(sg.as_str()).map(|g| &g.rules);
            q.answer(
                "security_group_rules",
                &url,
                ids.into_iter().flatten(),
                render,
            )
        }
        _ => q.answer("security_group_rules", &url, d.rules.keys(), render),
    };
    Ok(ok(body))
}

fn find_rule<'a>(d: &'a NetworkData, c: &Caller, id: &str) -> Result<&'a SgRule, ApiError> {
    d.rules
        .get(id)
        .filter(|r| c.owns(&r.project_id))
        .ok_or_else(|| rule_not_found(id))
}

/// `GET /v2.0/security-group-rules/{id}`.
pub async fn show_rule(ctx: Ctx, Path(id): Path<String>, Query(pairs): Pairs) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let d = &g.network;
    let r = find_rule(d, &c, &id)?;
    let default = d
        .security_groups
        .get(r.security_group_id.as_str())
        .map(|g| d.is_default_group(g));
    Ok(shown(
        "security_group_rule",
        rule_view(r, false, default),
        &pairs,
    ))
}

fn required(key: &str) -> ApiError {
    bad_request(format!(
        "Failed to parse request. Required attribute '{key}' not specified"
    ))
}

fn parse_direction(a: &Attrs) -> Result<String, ApiError> {
    match a.string("direction")? {
        None => Err(required("direction")),
        Some(d) if d == "ingress" || d == "egress" => Ok(d),
        Some(d) => Err(invalid_attr(
            "direction",
            format!("'{d}' is not in ['ingress', 'egress']"),
        )),
    }
}

fn parse_ethertype(a: &Attrs) -> Result<String, ApiError> {
    match a.string("ethertype")? {
        None => Ok("IPv4".into()),
        Some(e) if e.eq_ignore_ascii_case("ipv4") => Ok("IPv4".into()),
        Some(e) if e.eq_ignore_ascii_case("ipv6") => Ok("IPv6".into()),
        Some(e) => Err(neutron_error(
            400,
            "SecurityGroupRuleInvalidEtherType",
            format!("Security group rule for ethertype '{e}' not supported. Allowed values are ['IPv4', 'IPv6']."),
        )),
    }
}

fn parse_protocol(a: &Attrs) -> Result<Option<String>, ApiError> {
    let p = match a.raw("protocol") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(v) => py(v),
    };
    let numeric_ok = p.parse::<u16>().is_ok_and(|n| n <= 255);
    if PROTOCOLS.contains(&p.as_str()) || p == "udplite" || numeric_ok || p == "any" {
        return Ok((p != "any").then_some(p));
    }
    Err(neutron_error(
        400,
        "SecurityGroupRuleInvalidProtocol",
        format!("Security group rule protocol {p} not supported. Only protocol values {PROTOCOLS:?} and integer representations [0 to 255] are supported.").replace('"', "'"),
    ))
}

/// Checks the port range (or ICMP type/code) against the protocol.
fn check_ports(protocol: Option<&str>, min: Option<i64>, max: Option<i64>) -> Result<(), ApiError> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let Some(proto) = protocol else {
        return Err(neutron_error(
            400,
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        ));
    };
    if PORT_PROTOCOLS.contains(&proto) {
        for port in [min, max].into_iter().flatten() {
            if !(1..=65535).contains(&port) {
                return Err(neutron_error(
                    400,
                    "SecurityGroupInvalidPortValue",
                    format!("Invalid value for port {port}"),
                ));
            }
        }
        if let (Some(a), Some(b)) = (min, max) {
            if a > b {
                return Err(neutron_error(
                    400,
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                ));
            }
        }
    } else if ICMP_PROTOCOLS.contains(&proto) {
        for (field, attr, v) in [
            ("type", "port_range_min", min),
            ("code", "port_range_max", max),
        ] {
            if let Some(v) = v.filter(|v| !(0..=255).contains(v)) {
                return Err(neutron_error(
                    400,
                    "SecurityGroupInvalidIcmpValue",
                    format!("Invalid value for ICMP {field} ({attr}): {v}. It must be 0 to 255."),
                ));
            }
        }
        if let (None, Some(code)) = (min, max) {
            return Err(neutron_error(
                400,
                "SecurityGroupMissingIcmpType",
                format!("ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."),
            ));
        }
    }
    Ok(())
}

fn parse_prefix(a: &Attrs, ethertype: &str) -> Result<Option<IpNet>, ApiError> {
    let Some(s) = a.nullable_string("remote_ip_prefix")?.flatten() else {
        return Ok(None);
    };
    let net: IpNet = s
        .parse()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            invalid_attr(
                "remote_ip_prefix",
                format!("'{s}' is not a valid IP subnet"),
            )
        })?;
    if net.network().is_ipv4() != (ethertype == "IPv4") {
        return Err(neutron_error(
            400,
            "SecurityGroupRuleParameterConflict",
            format!("Conflicting value ethertype {ethertype} for CIDR {s}"),
        ));
    }
    Ok(Some(net))
}

/// A new rule from a request body (its group and remote group checked by the caller).
fn parse_rule(a: &Attrs, project: &str, group: &str) -> Result<SgRule, ApiError> {
    let direction = parse_direction(a)?;
    let ethertype = parse_ethertype(a)?;
    let protocol = parse_protocol(a)?;
    let min = a.integer("port_range_min")?;
    let max = a.integer("port_range_max")?;
    check_ports(protocol.as_deref(), min, max)?;
    let prefix = parse_prefix(a, &ethertype)?;
    let remote_group = a.nullable_string("remote_group_id")?.flatten();
    if prefix.is_some() && remote_group.is_some() {
        return Err(neutron_error(
            400,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    Ok(SgRule {
        id: new_id(),
        project_id: project.to_string(),
        security_group_id: group.to_string(),
        ethertype,
        direction,
        protocol,
        port_range_min: min,
        port_range_max: max,
        remote_ip_prefix: prefix,
        remote_group_id: remote_group,
        description: Some(a.string("description")?.unwrap_or_default()),
        standard_attr_id: 0,
        std: Std::new(0, String::new()),
    })
}

/// `POST /v2.0/security-group-rules`.
pub async fn create_rule(ctx: Ctx, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let a = Attrs::of(&body, "security_group_rule")?;
    a.check(RULE_ATTRS, RULE_POST, true)?;
    c.require_member("create_security_group_rule")?;
    let group_id = a
        .string("security_group_id")?
        .ok_or_else(|| required("security_group_id"))?;
    let project = c.target_project(&a)?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    d.ensure_default_group(&c.project);
    let sg = find(d, &c, &group_id)?;
    let rule = parse_rule(&a, &sg.project_id, &group_id)?;
    if !c.owns(&project) {
        return Err(policy_denied("rule:create_security_group_rule"));
    }
    if let Some(remote) = &rule.remote_group_id {
        find(d, &c, remote)?;
    }
    if let Some(dup) = sg
        .rules
        .iter()
        .filter_map(|id| d.rules.get(id))
        .find(|r| r.same_as(&rule))
    {
        return Err(neutron_error(
            409,
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. Rule id is {}.", dup.id),
        ));
    }
    if !d.has_room(&rule.project_id, Resource::SecurityGroupRule, 1) {
        return Err(over_quota(Resource::SecurityGroupRule));
    }
    let default = d.is_default_group(sg);
    let id = d.insert_rule(rule);
    let r = find_rule(d, &c, &id)?;
    Ok(created(
        json!({"security_group_rule": rule_view(r, false, Some(default))}),
    ))
}

/// `DELETE /v2.0/security-group-rules/{id}`.
pub async fn delete_rule(ctx: Ctx, Path(id): Path<String>) -> Res {
    let c = Caller::of(&ctx);
    c.require_member("delete_security_group_rule")?;
    let mut g = ctx.site.data.lock();
    let d = &mut g.network;
    find_rule(d, &c, &id)?;
    d.remove_rule(&id);
    Ok(no_content())
}
