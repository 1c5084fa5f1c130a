//! Index records (read from sites as admin at [`super::INDEX_MV`]) rendered for a caller's
//! microversion and role, as Cinder's view builders would have written them.

use fedstack_api_types::Microversion;
use serde_json::{Map, Value};

/// A field of a view: from which 3.x microversion it appears, and whether only admins see it.
struct Field {
    name: &'static str,
    since: u16,
    admin: bool,
}

const fn field(name: &'static str, since: u16, admin: bool) -> Field {
    Field { name, since, admin }
}

/// Volume fields that depend on the microversion or the role.
const VOLUME_FIELDS: [Field; 12] = [
    field("migration_status", 0, true),
    field("group_id", 13, false),
    field("provider_id", 21, true),
    field("shared_targets", 48, false),
    field("service_uuid", 48, false),
    field("cluster_name", 61, true),
    field("volume_type_id", 63, false),
    field("consumes_quota", 65, false),
    field("os-vol-host-attr:host", 0, true),
    field("os-vol-mig-status-attr:migstat", 0, true),
    field("os-vol-mig-status-attr:name_id", 0, true),
    field("encryption_key_id", 64, false),
];

/// Snapshot fields that depend on the microversion.
const SNAPSHOT_FIELDS: [Field; 3] = [
    field("group_snapshot_id", 14, false),
    field("user_id", 41, false),
    field("consumes_quota", 65, false),
];

fn keep(o: &mut Map<String, Value>, fields: &[Field], mv: Microversion, admin: bool) {
    for f in fields {
        if !mv.at_least(3, f.since) || (f.admin && !admin) {
            o.remove(f.name);
        }
    }
}

/// A volume's detailed view for `mv` and the caller's role.
pub fn volume(body: &Value, mv: Microversion, admin: bool) -> Value {
    let mut v = body.clone();
    if let Some(o) = v.as_object_mut() {
        keep(o, &VOLUME_FIELDS, mv, admin);
        if !admin {
            for a in o
                .get_mut("attachments")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                a["host_name"] = Value::Null;
            }
        }
    }
    v
}

/// A snapshot's detailed view for `mv`.
pub fn snapshot(body: &Value, mv: Microversion) -> Value {
    let mut v = body.clone();
    if let Some(o) = v.as_object_mut() {
        keep(o, &SNAPSHOT_FIELDS, mv, true);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_follow_microversion_and_role() {
        let body = json!({"id": "v", "volume_type_id": "t", "group_id": null,
            "os-vol-host-attr:host": "h", "attachments": [{"host_name": "c1"}]});
        let old = volume(&body, Microversion::new(3, 0), false);
        assert!(old.get("volume_type_id").is_none() && old.get("group_id").is_none());
        assert!(old.get("os-vol-host-attr:host").is_none());
        assert_eq!(old["attachments"][0]["host_name"], Value::Null);
        let new = volume(&body, Microversion::new(3, 71), true);
        assert_eq!(new, body);
        let s = snapshot(
            &json!({"id": "s", "user_id": "u"}),
            Microversion::new(3, 40),
        );
        assert!(s.get("user_id").is_none());
    }
}
