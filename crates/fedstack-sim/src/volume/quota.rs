//! Cinder quotas: defaults, per-project overrides, usage kept incrementally, and the checks
//! with Cinder's 413 messages.

use std::collections::{BTreeMap, HashMap};

pub use fedstack_api_types::cinder::{default_limit, OverQuota, DEFAULTS};

/// The resources counted per volume type (`volumes_<type>`, ...).
pub const PER_TYPE: [&str; 3] = ["volumes", "gigabytes", "snapshots"];

/// What one project (or one of its volume types) uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub volumes: i64,
    pub gigabytes: i64,
    pub snapshots: i64,
}

impl Counts {
    /// The count of a resource named `volumes`, `gigabytes` or `snapshots`.
    pub fn of(&self, resource: &str) -> i64 {
        match resource {
            "volumes" => self.volumes,
            "gigabytes" => self.gigabytes,
            "snapshots" => self.snapshots,
            _ => 0,
        }
    }

    fn add(&mut self, d: Counts) {
        self.volumes += d.volumes;
        self.gigabytes += d.gigabytes;
        self.snapshots += d.snapshots;
    }
}

/// A project's usage: totals and per volume type ID.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub total: Counts,
    pub per_type: HashMap<String, Counts>,
}

/// Quota overrides and usage of every project.
#[derive(Debug, Default)]
pub struct Quotas {
    overrides: HashMap<String, BTreeMap<String, i64>>,
    usage: HashMap<String, Usage>,
}

impl Quotas {
    /// The limit of `key` for a project.
    pub fn limit(&self, project: &str, key: &str) -> i64 {
        self.overrides
            .get(project)
            .and_then(|o| o.get(key))
            .copied()
            .unwrap_or_else(|| default_limit(key))
    }

    /// Sets a project's limit for `key`.
    pub fn set_limit(&mut self, project: &str, key: &str, value: i64) {
        self.overrides
            .entry(project.to_string())
            .or_default()
            .insert(key.to_string(), value);
    }

    /// Drops a project's overrides (back to defaults).
    pub fn reset(&mut self, project: &str) {
        self.overrides.remove(project);
    }

    /// A project's usage.
    pub fn usage(&self, project: &str) -> Usage {
        self.usage.get(project).cloned().unwrap_or_default()
    }

    /// Adds `delta` to a project's usage (negative to release), in total and for a type.
    pub fn add(&mut self, project: &str, type_id: &str, delta: Counts) {
        let u = self.usage.entry(project.to_string()).or_default();
        u.total.add(delta);
        u.per_type
            .entry(type_id.to_string())
            .or_default()
            .add(delta);
    }

    /// Moves a volume's per-type usage from one type to another (retype).
    pub fn move_type(&mut self, project: &str, from: &str, to: &str, size: i64) {
        let u = self.usage.entry(project.to_string()).or_default();
        let moved = Counts {
            volumes: 1,
            gigabytes: size,
            snapshots: 0,
        };
        u.per_type.entry(from.to_string()).or_default().add(Counts {
            volumes: -1,
            gigabytes: -size,
            snapshots: 0,
        });
        u.per_type.entry(to.to_string()).or_default().add(moved);
    }

    /// Gigabytes allocated over all projects (volumes and snapshots).
    pub fn total_gigabytes(&self) -> i64 {
        self.usage.values().map(|u| u.total.gigabytes).sum()
    }

    /// True when any project has volumes or snapshots of a type.
    pub fn type_in_use(&self, type_id: &str) -> bool {
        self.usage.values().any(|u| {
            u.per_type
                .get(type_id)
                .is_some_and(|c| c.volumes > 0 || c.snapshots > 0)
        })
    }

    /// Checks that `delta` fits a project's quotas, in Cinder's order: the per-volume size
    /// limit, then counts before gigabytes, totals before the type's keys.
    pub fn check(
        &self,
        project: &str,
        type_id: &str,
        type_name: &str,
        delta: Counts,
        new_volume_size: Option<i64>,
    ) -> Result<(), OverQuota> {
        if let Some(size) = new_volume_size {
            let limit = self.limit(project, "per_volume_gigabytes");
            if limit >= 0 && size > limit {
                return Err(OverQuota {
                    exception: "VolumeSizeExceedsLimit",
                    message: format!(
                        "Requested volume size {size}G is larger than maximum allowed limit {limit}G."
                    ),
                });
            }
        }
        let usage = self.usage(project);
        let typed = usage.per_type.get(type_id).copied().unwrap_or_default();
        let counted = ["volumes", "snapshots", "gigabytes"];
        let keys = counted
            .iter()
            .map(|r| (r.to_string(), usage.total.of(r), delta.of(r)))
            .chain(
                counted
                    .iter()
                    .map(|r| (format!("{r}_{type_name}"), typed.of(r), delta.of(r))),
            );
        for (key, used, want) in keys {
            let limit = self.limit(project, &key);
            if want > 0 && limit >= 0 && used + want > limit {
                return Err(OverQuota::of(&key, limit, used, want));
            }
        }
        Ok(())
    }
}
