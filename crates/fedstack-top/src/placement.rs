//! Placement across sites when a request names no availability zone: filters (site
//! schedulable, capacity, image reachable, server group policy, labels), then a weigher.

use crate::sites::{Capacity, SiteHandle};
use fedstack_store::flavors::Flavor;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// How candidate sites are ranked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weigher {
    /// Most free RAM first (spreads load).
    #[default]
    Spread,
    /// Least free RAM first (fills sites one by one).
    Pack,
}

/// What a server needs from a site.
pub struct Demand<'a> {
    pub flavor: &'a Flavor,
    /// Sites the image can be booted on (`None`: any, it can be copied).
    pub image_sites: Option<&'a [String]>,
    /// Server group policy and how many members each site already holds.
    pub group: Option<(&'a str, &'a HashMap<String, i64>)>,
    /// Labels a site must carry.
    pub labels: &'a BTreeMap<String, String>,
    /// Sites already chosen for servers of the same request (anti-affinity within a request).
    pub taken: &'a [String],
}

/// Why no site fits, for the server's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoValidHost(pub String);

fn fits(cap: Option<Capacity>, f: &Flavor) -> bool {
    cap.is_none_or(|c| {
        c.free_ram_mb >= f.ram && c.free_vcpus >= f.vcpus && c.free_disk_gb >= f.disk + f.ephemeral
    })
}

/// Picks a site for one server.
pub fn choose(
    sites: &[Arc<SiteHandle>],
    d: &Demand<'_>,
    weigher: Weigher,
) -> Result<Arc<SiteHandle>, NoValidHost> {
    let mut candidates: Vec<&Arc<SiteHandle>> = sites.iter().filter(|s| s.schedulable()).collect();
    if candidates.is_empty() {
        return Err(NoValidHost(
            "no site is up and accepting new servers".into(),
        ));
    }
    candidates.retain(|s| {
        d.labels
            .iter()
            .all(|(k, v)| s.record.labels.get(k) == Some(v))
    });
    candidates.retain(|s| fits(s.health().capacity, d.flavor));
    if let Some(ok) = d.image_sites {
        candidates.retain(|s| ok.iter().any(|id| id == s.id()));
    }
    if let Some((policy, members)) = d.group {
        let holds = |s: &SiteHandle| {
            members.get(s.id()).copied().unwrap_or(0) > 0 || d.taken.iter().any(|t| t == s.id())
        };
        match policy {
            "affinity" => {
                let any = members.values().any(|n| *n > 0) || !d.taken.is_empty();
                if any {
                    candidates.retain(|s| holds(s));
                }
            }
            "anti-affinity" => candidates.retain(|s| !holds(s)),
            "soft-affinity" => candidates.sort_by_key(|s| !holds(s)),
            "soft-anti-affinity" => candidates.sort_by_key(|s| holds(s)),
            _ => {}
        }
    }
    let free = |s: &SiteHandle| s.health().capacity.map(|c| c.free_ram_mb).unwrap_or(0);
    let soft = d.group.is_some_and(|(p, _)| p.starts_with("soft-"));
    let best = if soft {
        candidates.first().copied()
    } else {
        match weigher {
            Weigher::Spread => candidates
                .iter()
                .copied()
                .max_by_key(|s| (free(s), std::cmp::Reverse(s.name().to_string()))),
            Weigher::Pack => candidates
                .iter()
                .copied()
                .min_by_key(|s| (free(s), s.name().to_string())),
        }
    };
    best.cloned().ok_or_else(|| {
        NoValidHost("no site has the capacity, image and placement policy the server needs".into())
    })
}
