//! Cinder's quotas as the API shows them: the quota keys and defaults, the over-quota
//! exceptions with their messages, the validation of limits and the `limits` document.
//! Shared by the simulated site and the top.

use serde_json::{json, Value};

/// Cinder's default quotas (`[DEFAULT] quota_*`), before the per-type keys.
pub const DEFAULTS: [(&str, i64); 7] = [
    ("volumes", 10),
    ("per_volume_gigabytes", -1),
    ("snapshots", 10),
    ("gigabytes", 1000),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
];

/// The largest limit Cinder stores.
pub const DB_MAX_INT: i64 = 0x7FFF_FFFF;

/// The default limit of a quota key (per-type keys are unlimited).
pub fn default_limit(key: &str) -> i64 {
    DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(-1, |(_, v)| *v)
}

/// A quota request refused: Cinder's exception class and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverQuota {
    pub exception: &'static str,
    pub message: String,
}

impl OverQuota {
    /// The exception Cinder raises when `key` (`volumes`, `gigabytes_<type>`, ...) would go
    /// over `limit`.
    pub fn of(key: &str, limit: i64, used: i64, want: i64) -> OverQuota {
        if key.starts_with("gigabytes") {
            OverQuota {
                exception: "VolumeSizeExceedsAvailableQuota",
                message: format!(
                    "Requested volume or snapshot exceeds allowed {key} quota. Requested {want}G, quota is {limit}G and {used}G has been consumed."
                ),
            }
        } else if key.starts_with("snapshots") {
            OverQuota {
                exception: "SnapshotLimitExceeded",
                message: format!("Maximum number of snapshots allowed ({limit}) exceeded"),
            }
        } else {
            OverQuota {
                exception: "VolumeLimitExceeded",
                message: format!(
                    "Maximum number of volumes allowed ({limit}) exceeded for quota '{key}'."
                ),
            }
        }
    }

    /// The message as the API shows it (413 `overLimit`): `Class: message`.
    pub fn api_message(&self) -> String {
        format!("{}: {}", self.exception, self.message)
    }
}

/// A quota limit in an update, read as Cinder's `validate_integer` does; the error is the
/// message of Cinder's 400.
pub fn quota_value(key: &str, v: &Value) -> Result<i64, String> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("Invalid input received: {key} must be an integer."))?;
    if n < -1 {
        return Err(format!("Invalid input received: {key} must be >= -1"));
    }
    if n > DB_MAX_INT {
        return Err(format!(
            "Invalid input received: {key} must be <= {DB_MAX_INT}"
        ));
    }
    Ok(n)
}

/// Cinder's 400 when an update sets a limit below what is used.
pub fn below_usage_message(key: &str, limit: i64, used: i64) -> String {
    format!(
        "Quota {key} limit must be equal or greater than existing resources. Current usage is {used} and the requested limit is {limit}."
    )
}

/// The `GET /limits` document from a project's limits and usage of `volumes`, `snapshots`
/// and `gigabytes` (backups are not counted).
pub fn limits_document(limit: impl Fn(&str) -> i64, used: impl Fn(&str) -> i64) -> Value {
    json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": limit("volumes"),
        "maxTotalSnapshots": limit("snapshots"),
        "maxTotalVolumeGigabytes": limit("gigabytes"),
        "maxTotalBackups": limit("backups"),
        "maxTotalBackupGigabytes": limit("backup_gigabytes"),
        "totalVolumesUsed": used("volumes"),
        "totalGigabytesUsed": used("gigabytes"),
        "totalSnapshotsUsed": used("snapshots"),
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_values_follow_validate_integer() {
        assert_eq!(quota_value("volumes", &json!("5")), Ok(5));
        assert_eq!(quota_value("volumes", &json!(-1)), Ok(-1));
        assert_eq!(
            quota_value("volumes", &json!(-2)),
            Err("Invalid input received: volumes must be >= -1".into())
        );
        assert_eq!(
            quota_value("volumes", &json!("x")),
            Err("Invalid input received: volumes must be an integer.".into())
        );
    }

    #[test]
    fn over_quota_names_the_exception_cinder_raises() {
        assert_eq!(
            OverQuota::of("volumes", 1, 1, 1).api_message(),
            "VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota 'volumes'."
        );
        assert_eq!(
            OverQuota::of("gigabytes", 10, 8, 5).api_message(),
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested 5G, quota is 10G and 8G has been consumed."
        );
        assert_eq!(
            OverQuota::of("snapshots", 2, 2, 1).exception,
            "SnapshotLimitExceeded"
        );
    }
}
