//! Rendering an indexed server (kept as Nova's admin detail view at [`INDEX_MV`]) for the
//! microversion and role of a request, as Nova would have answered it.

use fedstack_api_types::Microversion;
use serde_json::{json, Map, Value};

/// The microversion server documents are read from sites at and kept in the index.
pub const INDEX_MV: Microversion = Microversion::new(2, 100);

/// Which view is wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `GET /servers/{id}`.
    Show,
    /// `GET /servers/detail`.
    Detail,
}

/// Fields added by later microversions: (field, first version).
const VERSIONED: [(&str, u16); 9] = [
    ("locked", 9),
    ("description", 19),
    ("tags", 26),
    ("trusted_image_certificates", 63),
    ("server_groups", 71),
    ("locked_reason", 73),
    ("pinned_availability_zone", 96),
    ("scheduler_hints", 100),
    ("host_status", 16),
];

/// Admin-only attributes that appeared in 2.3.
const ADMIN_2_3: [&str; 7] = [
    "OS-EXT-SRV-ATTR:reservation_id",
    "OS-EXT-SRV-ATTR:launch_index",
    "OS-EXT-SRV-ATTR:hostname",
    "OS-EXT-SRV-ATTR:kernel_id",
    "OS-EXT-SRV-ATTR:ramdisk_id",
    "OS-EXT-SRV-ATTR:root_device_name",
    "OS-EXT-SRV-ATTR:user_data",
];

/// Renders `server` (an [`INDEX_MV`] admin view in top terms) for `mv`. `flavor_link` is
/// the flavor reference shown before 2.47: `(top flavor id, bookmark href)`.
pub fn server(
    server: &Value,
    mv: Microversion,
    is_admin: bool,
    view: View,
    flavor_link: Option<(&str, String)>,
) -> Value {
    let Value::Object(src) = server else {
        return server.clone();
    };
    let mut v: Map<String, Value> = src.clone();
    for (field, minor) in VERSIONED {
        if !mv.at_least(2, minor) {
            v.remove(field);
        }
    }
    if view == View::Detail {
        v.remove("server_groups");
    }
    if !mv.at_least(2, 98) {
        if let Some(Value::Object(img)) = v.get_mut("image") {
            img.remove("properties");
        }
    }
    if !mv.at_least(2, 47) {
        if let Some((id, href)) = flavor_link {
            v.insert(
                "flavor".into(),
                json!({"id": id, "links": [{"rel": "bookmark", "href": href}]}),
            );
        }
    }
    if !mv.at_least(2, 3) {
        if let Some(Value::Array(vols)) = v.get_mut("os-extended-volumes:volumes_attached") {
            for a in vols.iter_mut().filter_map(Value::as_object_mut) {
                a.remove("delete_on_termination");
            }
        }
    }
    if is_admin {
        if !mv.at_least(2, 3) {
            for f in ADMIN_2_3 {
                v.remove(f);
            }
        }
    } else {
        let hostname = v.get("OS-EXT-SRV-ATTR:hostname").cloned();
        v.retain(|k, _| !k.starts_with("OS-EXT-SRV-ATTR:"));
        v.remove("host_status");
        if mv.at_least(2, 90) {
            if let Some(h) = hostname {
                v.insert("OS-EXT-SRV-ATTR:hostname".into(), h);
            }
        }
        if let Some(Value::Object(f)) = v.get_mut("fault") {
            if f.get("code").and_then(Value::as_i64) == Some(500) {
                f.remove("details");
            }
        }
    }
    Value::Object(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexed() -> Value {
        json!({
            "id": "s1", "status": "ACTIVE", "locked": false, "description": null, "tags": ["a"],
            "trusted_image_certificates": null, "server_groups": [], "locked_reason": null,
            "pinned_availability_zone": null, "scheduler_hints": {}, "host_status": "UP",
            "flavor": {"original_name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, "extra_specs": {}},
            "image": {"id": "i1", "links": [], "properties": {"os": "cirros"}},
            "OS-EXT-SRV-ATTR:host": "h1", "OS-EXT-SRV-ATTR:hostname": "vm", "OS-EXT-SRV-ATTR:user_data": null,
            "os-extended-volumes:volumes_attached": [{"id": "v1", "delete_on_termination": false}],
            "fault": {"code": 500, "message": "No valid host", "details": "trace", "created": "x"},
        })
    }

    #[test]
    fn old_microversions_lose_later_fields_and_get_flavor_links() {
        let v = server(
            &indexed(),
            Microversion::new(2, 1),
            true,
            View::Show,
            Some(("1", "http://top/compute/flavors/1".into())),
        );
        for gone in [
            "locked",
            "description",
            "tags",
            "server_groups",
            "pinned_availability_zone",
            "scheduler_hints",
            "host_status",
            "OS-EXT-SRV-ATTR:hostname",
        ] {
            assert!(v.get(gone).is_none(), "{gone} at 2.1");
        }
        assert_eq!(v["flavor"]["id"], "1");
        assert!(v["image"].get("properties").is_none());
        assert!(v["os-extended-volumes:volumes_attached"][0]
            .get("delete_on_termination")
            .is_none());
        assert_eq!(
            v["OS-EXT-SRV-ATTR:host"], "h1",
            "admins keep the 2.1 extended attributes"
        );
    }

    #[test]
    fn members_lose_admin_attributes() {
        let v = server(
            &indexed(),
            Microversion::new(2, 100),
            false,
            View::Detail,
            None,
        );
        assert!(v.get("OS-EXT-SRV-ATTR:host").is_none());
        assert!(v.get("host_status").is_none());
        assert_eq!(
            v["OS-EXT-SRV-ATTR:hostname"], "vm",
            "2.90 shows the hostname to everyone"
        );
        assert!(
            v.get("server_groups").is_none(),
            "lists never show server_groups"
        );
        assert!(v["fault"].get("details").is_none());
        assert_eq!(v["flavor"]["original_name"], "m1.tiny");
        let v = server(
            &indexed(),
            Microversion::new(2, 89),
            false,
            View::Show,
            None,
        );
        assert!(v.get("OS-EXT-SRV-ATTR:hostname").is_none());
        assert_eq!(v["tags"], json!(["a"]));
    }
}
