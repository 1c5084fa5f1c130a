//! `/v2.0/<collection>/{id}/tags[/{tag}]` (standard-attr-tag) for networks, subnets,
//! ports, security groups, routers and floating IPs.

use super::body::{invalid_attr, py};
use super::{
    floating_ips, networks, no_content, ok, policy_denied, ports, routers, security_groups,
    subnets, Caller, Res,
};
use crate::ctx::{Ctx, OsJson};
use crate::network::model::Std;
use crate::network::ops::neutron_error;
use crate::network::NetworkData;
use crate::site::Site;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use fedstack_api_types::ApiError;
use serde_json::{json, Value};
use std::sync::Arc;

/// A taggable collection.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    Router,
    FloatingIp,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Network,
        Kind::Subnet,
        Kind::Port,
        Kind::SecurityGroup,
        Kind::Router,
        Kind::FloatingIp,
    ];

    fn collection(self) -> &'static str {
        match self {
            Kind::Network => "networks",
            Kind::Subnet => "subnets",
            Kind::Port => "ports",
            Kind::SecurityGroup => "security-groups",
            Kind::Router => "routers",
            Kind::FloatingIp => "floatingips",
        }
    }

    fn resource(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::SecurityGroup => "security_group",
            Kind::Router => "router",
            Kind::FloatingIp => "floatingip",
        }
    }
}

/// The tag routes of every taggable collection.
pub fn routes(mut r: Router<Arc<Site>>) -> Router<Arc<Site>> {
    for kind in Kind::ALL {
        let base = format!("/v2.0/{}/{{id}}/tags", kind.collection());
        r = r
            .route(
                &base,
                get(move |ctx: Ctx, Path(id): Path<String>| list(kind, ctx, id))
                    .put(move |ctx: Ctx, Path(id): Path<String>, body: OsJson| {
                        replace(kind, ctx, id, body)
                    })
                    .delete(move |ctx: Ctx, Path(id): Path<String>| clear(kind, ctx, id)),
            )
            .route(
                &format!("{base}/{{tag}}"),
                get(move |ctx: Ctx, Path(p): Path<(String, String)>| check(kind, ctx, p))
                    .put(move |ctx: Ctx, Path(p): Path<(String, String)>| add(kind, ctx, p))
                    .delete(move |ctx: Ctx, Path(p): Path<(String, String)>| remove(kind, ctx, p)),
            );
    }
    r
}

/// The project owning a resource the caller can see.
fn owner(d: &NetworkData, c: &Caller, kind: Kind, id: &str) -> Result<String, ApiError> {
    Ok(match kind {
        Kind::Network => networks::find(d, c, id)?.project_id.to_string(),
        Kind::Subnet => subnets::find(d, c, id)?.project_id.to_string(),
        Kind::Port => ports::find(d, c, id)?.project_id.to_string(),
        Kind::SecurityGroup => security_groups::find(d, c, id)?.project_id.to_string(),
        Kind::Router => routers::find(d, c, id)?.project_id.to_string(),
        Kind::FloatingIp => floating_ips::find(d, c, id)?.project_id.to_string(),
    })
}

fn std_of<'a>(d: &'a NetworkData, c: &Caller, kind: Kind, id: &str) -> Result<&'a Std, ApiError> {
    Ok(match kind {
        Kind::Network => &networks::find(d, c, id)?.std,
        Kind::Subnet => &subnets::find(d, c, id)?.std,
        Kind::Port => &ports::find(d, c, id)?.std,
        Kind::SecurityGroup => &security_groups::find(d, c, id)?.std,
        Kind::Router => &routers::find(d, c, id)?.std,
        Kind::FloatingIp => &floating_ips::find(d, c, id)?.std,
    })
}

/// The standard attributes of a resource the caller may change.
fn std_mut<'a>(
    d: &'a mut NetworkData,
    c: &Caller,
    kind: Kind,
    id: &str,
) -> Result<&'a mut Std, ApiError> {
    let project = owner(d, c, kind, id)?;
    if !c.owns(&project) {
        return Err(policy_denied(&format!("rule:update_{}", kind.resource())));
    }
    c.require_member(&format!("update_{}", kind.resource()))?;
    let std = match kind {
        Kind::Network => d.networks.get_mut(id).map(|x| &mut x.std),
        Kind::Subnet => d.subnets.get_mut(id).map(|x| &mut x.std),
        Kind::Port => d.ports.get_mut(id).map(|x| &mut x.std),
        Kind::SecurityGroup => d.security_groups.get_mut(id).map(|x| &mut x.std),
        Kind::Router => d.routers.get_mut(id).map(|x| &mut x.std),
        Kind::FloatingIp => d.floating_ips.get_mut(id).map(|x| &mut x.std),
    };
    std.ok_or_else(|| neutron_error(404, "HTTPNotFound", "The resource could not be found."))
}

fn tag_not_found(kind: Kind, id: &str, tag: &str) -> ApiError {
    neutron_error(
        404,
        "TagNotFound",
        format!("Tag {tag} could not be found for {} {id}.", kind.resource()),
    )
}

async fn list(kind: Kind, ctx: Ctx, id: String) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let std = std_of(&g.network, &c, kind, &id)?;
    Ok(ok(json!({"tags": std.tags})))
}

async fn replace(kind: Kind, ctx: Ctx, id: String, OsJson(body): OsJson) -> Res {
    let c = Caller::of(&ctx);
    let tags = body
        .get("tags")
        .and_then(Value::as_array)
        .and_then(|l| {
            l.iter()
                .map(|t| t.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            invalid_attr(
                "tags",
                format!("'{}' is not a list of strings", py(&body["tags"])),
            )
        })?;
    let mut g = ctx.site.data.lock();
    let std = std_mut(&mut g.network, &c, kind, &id)?;
    std.tags = dedup(tags);
    std.touch();
    Ok(ok(json!({"tags": std.tags})))
}

fn dedup(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

async fn clear(kind: Kind, ctx: Ctx, id: String) -> Res {
    let c = Caller::of(&ctx);
    let mut g = ctx.site.data.lock();
    let std = std_mut(&mut g.network, &c, kind, &id)?;
    std.tags.clear();
    std.touch();
    Ok(no_content())
}

async fn check(kind: Kind, ctx: Ctx, (id, tag): (String, String)) -> Res {
    let c = Caller::of(&ctx);
    let g = ctx.site.data.lock();
    let std = std_of(&g.network, &c, kind, &id)?;
    if std.tags.contains(&tag) {
        Ok(no_content())
    } else {
        Err(tag_not_found(kind, &id, &tag))
    }
}

async fn add(kind: Kind, ctx: Ctx, (id, tag): (String, String)) -> Res {
    let c = Caller::of(&ctx);
    let mut g = ctx.site.data.lock();
    let std = std_mut(&mut g.network, &c, kind, &id)?;
    if !std.tags.contains(&tag) {
        std.tags.push(tag);
        std.touch();
    }
    Ok(StatusCode::CREATED.into_response())
}

async fn remove(kind: Kind, ctx: Ctx, (id, tag): (String, String)) -> Res {
    let c = Caller::of(&ctx);
    let mut g = ctx.site.data.lock();
    let std = std_mut(&mut g.network, &c, kind, &id)?;
    let before = std.tags.len();
    std.tags.retain(|t| t != &tag);
    if std.tags.len() == before {
        return Err(tag_not_found(kind, &id, &tag));
    }
    std.touch();
    Ok(no_content())
}
