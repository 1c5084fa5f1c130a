//! Neutron's quotas as the API shows them: the resources with their default limits and the
//! messages of the over-quota and below-usage errors. Shared by the simulated site and the top.

/// Neutron's quota resources in the order it lists them, with their defaults (-1 = unlimited).
pub const QUOTA_DEFAULTS: [(&str, i64); 9] = [
    ("network", 100),
    ("subnet", 100),
    ("subnetpool", -1),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("rbac_policy", 10),
    ("security_group", 10),
    ("security_group_rule", 100),
];

/// The default limit of a quota resource (-1 for one Neutron does not know).
pub fn default_limit(resource: &str) -> i64 {
    QUOTA_DEFAULTS
        .iter()
        .find(|(r, _)| *r == resource)
        .map_or(-1, |(_, v)| *v)
}

/// The message of Neutron's 409 `OverQuota`.
pub fn over_quota_message(resource: &str) -> String {
    format!("Quota exceeded for resources: ['{resource}'].")
}

/// The message of Neutron's 400 when an update sets a limit below what is used.
pub fn below_usage_message(resource: &str, limit: i64, used: i64) -> String {
    format!("Bad quota request: Quota limit {limit} for {resource} must be greater than or equal to already used {used} and reserved 0.")
}
