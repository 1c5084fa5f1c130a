//! Nova's quotas as the API shows them: the quota names, their defaults, which microversions
//! show them, the update schema, the over-quota message and the `limits` document. Shared by
//! the simulated site and the top, which keep usage and overrides their own way.

use crate::nova::schema;
use crate::Microversion;
use serde_json::{json, Map, Value};

/// One compute quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKind {
    Cores,
    FixedIps,
    FloatingIps,
    InjectedFileContentBytes,
    InjectedFilePathBytes,
    InjectedFiles,
    Instances,
    KeyPairs,
    MetadataItems,
    Ram,
    SecurityGroupRules,
    SecurityGroups,
    ServerGroupMembers,
    ServerGroups,
}

impl QuotaKind {
    /// Every quota, in the order Nova lists them.
    pub const ALL: [QuotaKind; 14] = [
        QuotaKind::Cores,
        QuotaKind::FixedIps,
        QuotaKind::FloatingIps,
        QuotaKind::InjectedFileContentBytes,
        QuotaKind::InjectedFilePathBytes,
        QuotaKind::InjectedFiles,
        QuotaKind::Instances,
        QuotaKind::KeyPairs,
        QuotaKind::MetadataItems,
        QuotaKind::Ram,
        QuotaKind::SecurityGroupRules,
        QuotaKind::SecurityGroups,
        QuotaKind::ServerGroupMembers,
        QuotaKind::ServerGroups,
    ];

    /// The key in a `quota_set`.
    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Cores => "cores",
            QuotaKind::FixedIps => "fixed_ips",
            QuotaKind::FloatingIps => "floating_ips",
            QuotaKind::InjectedFileContentBytes => "injected_file_content_bytes",
            QuotaKind::InjectedFilePathBytes => "injected_file_path_bytes",
            QuotaKind::InjectedFiles => "injected_files",
            QuotaKind::Instances => "instances",
            QuotaKind::KeyPairs => "key_pairs",
            QuotaKind::MetadataItems => "metadata_items",
            QuotaKind::Ram => "ram",
            QuotaKind::SecurityGroupRules => "security_group_rules",
            QuotaKind::SecurityGroups => "security_groups",
            QuotaKind::ServerGroupMembers => "server_group_members",
            QuotaKind::ServerGroups => "server_groups",
        }
    }

    /// The quota named `key`.
    pub fn from_key(key: &str) -> Option<QuotaKind> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    /// Nova's default limit (-1 = unlimited).
    pub fn default_limit(self) -> i64 {
        match self {
            QuotaKind::Cores => 20,
            QuotaKind::InjectedFileContentBytes => 10240,
            QuotaKind::InjectedFilePathBytes => 255,
            QuotaKind::InjectedFiles => 5,
            QuotaKind::Instances => 10,
            QuotaKind::KeyPairs => 100,
            QuotaKind::MetadataItems => 128,
            QuotaKind::Ram => 51200,
            QuotaKind::ServerGroupMembers | QuotaKind::ServerGroups => 10,
            QuotaKind::FixedIps
            | QuotaKind::FloatingIps
            | QuotaKind::SecurityGroupRules
            | QuotaKind::SecurityGroups => -1,
        }
    }

    /// False for the quotas removed at `mv` (network proxies at 2.36, files at 2.57).
    pub fn shown_at(self, mv: Microversion) -> bool {
        match self {
            QuotaKind::FixedIps
            | QuotaKind::FloatingIps
            | QuotaKind::SecurityGroupRules
            | QuotaKind::SecurityGroups => !mv.at_least(2, 36),
            QuotaKind::InjectedFileContentBytes
            | QuotaKind::InjectedFilePathBytes
            | QuotaKind::InjectedFiles => !mv.at_least(2, 57),
            _ => true,
        }
    }

    /// The quotas shown at `mv`, in Nova's order.
    pub fn shown(mv: Microversion) -> impl Iterator<Item = QuotaKind> {
        Self::ALL.into_iter().filter(move |k| k.shown_at(mv))
    }
}

/// The schema of `PUT /os-quota-sets/{project}` at `mv`.
pub fn update_schema(mv: Microversion) -> Value {
    let value = json!({"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": 2147483647});
    let mut props: Map<String, Value> = QuotaKind::shown(mv)
        .map(|k| (k.key().to_string(), value.clone()))
        .collect();
    props.insert("force".into(), schema::boolean());
    json!({
        "type": "object",
        "properties": {"quota_set": {"type": "object", "properties": props, "additionalProperties": false}},
        "required": ["quota_set"],
        "additionalProperties": false,
    })
}

/// One quota a request would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Over {
    pub kind: QuotaKind,
    pub requested: i64,
    pub used: i64,
    pub limit: i64,
}

/// Nova's 403 message for a server create over quota, e.g. "Quota exceeded for instances:
/// Requested 1, but already used 10 of 10 instances" (figures of the first quota exceeded).
pub fn over_quota_message(over: &[Over]) -> String {
    let names: Vec<&str> = over.iter().map(|o| o.kind.key()).collect();
    let names = names.join(", ");
    let first = over.first().copied().unwrap_or(Over {
        kind: QuotaKind::Instances,
        requested: 0,
        used: 0,
        limit: 0,
    });
    format!(
        "Quota exceeded for {names}: Requested {}, but already used {} of {} {names}",
        first.requested, first.used, first.limit
    )
}

/// Nova's message when an update sets a limit below what is used.
pub fn below_usage_message(kind: QuotaKind, limit: i64, used: i64) -> String {
    format!(
        "Quota limit {limit} for {} must be greater than or equal to already used and reserved {used}.",
        kind.key()
    )
}

/// The `absolute` part of `GET /limits` at `mv`, from a project's limits and usage.
pub fn absolute_limits(
    mv: Microversion,
    limit: impl Fn(QuotaKind) -> i64,
    used: impl Fn(QuotaKind) -> i64,
) -> Map<String, Value> {
    let mut a = Map::new();
    a.insert("maxTotalCores".into(), json!(limit(QuotaKind::Cores)));
    if !mv.at_least(2, 57) {
        a.insert(
            "maxPersonality".into(),
            json!(limit(QuotaKind::InjectedFiles)),
        );
        a.insert(
            "maxPersonalitySize".into(),
            json!(limit(QuotaKind::InjectedFileContentBytes)),
        );
    }
    a.insert(
        "maxTotalInstances".into(),
        json!(limit(QuotaKind::Instances)),
    );
    a.insert("maxTotalKeypairs".into(), json!(limit(QuotaKind::KeyPairs)));
    a.insert(
        "maxServerMeta".into(),
        json!(limit(QuotaKind::MetadataItems)),
    );
    if !mv.at_least(2, 39) {
        a.insert(
            "maxImageMeta".into(),
            json!(limit(QuotaKind::MetadataItems)),
        );
    }
    a.insert("maxTotalRAMSize".into(), json!(limit(QuotaKind::Ram)));
    a.insert(
        "maxServerGroups".into(),
        json!(limit(QuotaKind::ServerGroups)),
    );
    a.insert(
        "maxServerGroupMembers".into(),
        json!(limit(QuotaKind::ServerGroupMembers)),
    );
    let proxies = !mv.at_least(2, 36);
    if proxies {
        a.insert(
            "maxTotalFloatingIps".into(),
            json!(limit(QuotaKind::FloatingIps)),
        );
        a.insert(
            "maxSecurityGroups".into(),
            json!(limit(QuotaKind::SecurityGroups)),
        );
        a.insert(
            "maxSecurityGroupRules".into(),
            json!(limit(QuotaKind::SecurityGroupRules)),
        );
    }
    a.insert("totalRAMUsed".into(), json!(used(QuotaKind::Ram)));
    a.insert("totalCoresUsed".into(), json!(used(QuotaKind::Cores)));
    a.insert(
        "totalInstancesUsed".into(),
        json!(used(QuotaKind::Instances)),
    );
    if proxies {
        a.insert(
            "totalFloatingIpsUsed".into(),
            json!(used(QuotaKind::FloatingIps)),
        );
        a.insert(
            "totalSecurityGroupsUsed".into(),
            json!(used(QuotaKind::SecurityGroups)),
        );
    }
    a.insert(
        "totalServerGroupsUsed".into(),
        json!(used(QuotaKind::ServerGroups)),
    );
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_every_quota_and_the_first_figures() {
        let over = [
            Over {
                kind: QuotaKind::Cores,
                requested: 2,
                used: 19,
                limit: 20,
            },
            Over {
                kind: QuotaKind::Instances,
                requested: 1,
                used: 10,
                limit: 10,
            },
        ];
        assert_eq!(
            over_quota_message(&over),
            "Quota exceeded for cores, instances: Requested 2, but already used 19 of 20 cores, instances"
        );
    }

    #[test]
    fn network_and_file_quotas_disappear_at_their_microversions() {
        let keys = |mv| QuotaKind::shown(mv).map(|k| k.key()).collect::<Vec<_>>();
        assert!(keys(Microversion::new(2, 1)).contains(&"floating_ips"));
        assert!(!keys(Microversion::new(2, 36)).contains(&"floating_ips"));
        assert!(keys(Microversion::new(2, 56)).contains(&"injected_files"));
        assert!(!keys(Microversion::new(2, 57)).contains(&"injected_files"));
        assert_eq!(QuotaKind::from_key("ram"), Some(QuotaKind::Ram));
        assert_eq!(QuotaKind::from_key("nope"), None);
    }
}
