//! Translation between a site's view of a server and the top's: IDs, links, availability
//! zone, project and user, key names, server groups, and the routing marker.

use super::links;
use crate::sites::SiteHandle;
use crate::Top;
use fedstack_api_types::{time, Service};
use fedstack_store::servers::ServerRow;
use serde_json::{json, Value};

/// Metadata key carrying the top ID on the site's server, so that a server created just
/// before a crash is found and adopted; never shown to clients.
pub const TOP_ID_KEY: &str = "fedstack_top_id";

/// A name made unique on a site by a suffix from a top ID (`mykey-fs-0123abcd`, within the
/// characters every Nova microversion accepts for key pair names): key pairs of
/// every top user live under one service account, and a site may already use a flavor name.
pub fn site_name(name: &str, top_id: &str) -> String {
    format!("{name}-fs-{}", &top_id[..top_id.len().min(8)])
}

/// The top name of a site name made by [`site_name`] (other names are kept).
pub fn top_name(site_name: &str) -> &str {
    match site_name.rsplit_once("-fs-") {
        Some((name, suffix))
            if suffix.len() <= 8 && suffix.chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            name
        }
        _ => site_name,
    }
}

/// What the top knows of a server besides the site's document.
pub struct Known<'a> {
    pub top_id: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub site: &'a SiteHandle,
}

/// The site's server document (Nova's detail view) in top terms.
pub async fn server(top: &Top, k: &Known<'_>, site_server: &Value) -> Value {
    let mut v = site_server.clone();
    v["id"] = json!(k.top_id);
    v["links"] = links(top, &format!("servers/{}", k.top_id));
    v["tenant_id"] = json!(k.project_id);
    v["user_id"] = json!(k.user_id);
    v["OS-EXT-AZ:availability_zone"] = json!(k.site.record.az);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove(TOP_ID_KEY);
    }
    if let Some(name) = v.get("key_name").and_then(Value::as_str) {
        v["key_name"] = json!(top_name(name));
    }
    if let Some(name) = v.pointer("/flavor/original_name").and_then(Value::as_str) {
        v["flavor"]["original_name"] = json!(top_name(name));
    }
    if let Some(image_id) = v
        .pointer("/image/id")
        .and_then(Value::as_str)
        .map(String::from)
    {
        let top_image = top
            .store
            .top_image_of(k.site.id(), &image_id)
            .await
            .ok()
            .flatten()
            .unwrap_or(image_id);
        v["image"]["id"] = json!(top_image);
        v["image"]["links"] = json!([{"rel": "bookmark", "href": format!("{}/images/{top_image}", top.service_root(Service::Compute))}]);
    }
    if let Some(groups) = v.get("server_groups").and_then(Value::as_array).cloned() {
        let mut mapped = Vec::new();
        for g in groups.iter().filter_map(Value::as_str) {
            if let Ok(Some(top_group)) = top.store.top_server_group_of(k.site.id(), g).await {
                mapped.push(json!(top_group));
            }
        }
        v["server_groups"] = json!(mapped);
    }
    crate::volume::boot::server_volumes(top, k.site, &mut v).await;
    v
}

/// Milliseconds of a Nova timestamp (0 when absent).
fn millis(v: &Value, key: &str) -> i64 {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(time::parse)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// A figure of the flavor embedded in a server document (2.47 and later).
fn flavor_figure(body: &Value, key: &str) -> i64 {
    body.get("flavor")
        .and_then(|f| f.get(key))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The index row of a server document in top terms.
pub async fn index_row(top: &Top, k: &Known<'_>, body: Value, group: Option<String>) -> ServerRow {
    let flavor_id = match body
        .pointer("/flavor/original_name")
        .and_then(Value::as_str)
    {
        Some(name) => top
            .store
            .flavor_by_name(name)
            .await
            .ok()
            .flatten()
            .map(|f| f.id),
        None => body
            .pointer("/flavor/id")
            .and_then(Value::as_str)
            .map(String::from),
    };
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN")
        .to_string();
    ServerRow {
        id: k.top_id.to_string(),
        project_id: k.project_id.to_string(),
        user_id: k.user_id.to_string(),
        site_id: Some(k.site.id().to_string()),
        name: body
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        deleted: status == "DELETED",
        status,
        image_id: body
            .pointer("/image/id")
            .and_then(Value::as_str)
            .map(String::from),
        flavor_id,
        host: body
            .get("OS-EXT-SRV-ATTR:host")
            .and_then(Value::as_str)
            .map(String::from),
        server_group_id: group,
        vcpus: flavor_figure(&body, "vcpus"),
        ram: flavor_figure(&body, "ram"),
        created_at: millis(&body, "created"),
        updated_at: millis(&body, "updated").max(millis(&body, "created")),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_round_trip() {
        let s = site_name("mykey", "0123456789abcdef");
        assert_eq!(s, "mykey-fs-01234567");
        assert_eq!(top_name(&s), "mykey");
        assert_eq!(top_name("plain.key"), "plain.key");
        assert_eq!(top_name("a-fs-zz"), "a-fs-zz");
    }
}
