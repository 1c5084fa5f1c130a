//! Health checks of the sites: each round authenticates (cached token), times a cheap
//! authenticated call, and reads capacity from hypervisor statistics.

use super::{Capacity, Health, SiteHandle, SiteState};
use crate::Top;
use fedstack_site_client::{Scope, SiteRequest};
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Calls slower than this make a site `degraded`.
const SLOW: Duration = Duration::from_secs(2);

/// Checks one site now and records the result.
pub async fn check(site: &SiteHandle) -> Health {
    let started = Instant::now();
    let probe = SiteRequest::new(
        Method::GET,
        "compute",
        "/os-hypervisors/statistics",
        Scope::Admin,
    )
    .header("openstack-api-version", "compute 2.87");
    let result = site.client.send(probe).await;
    let latency = started.elapsed();
    let h = match result {
        Ok(r) if r.is_success() => Health {
            state: if latency > SLOW {
                SiteState::Degraded
            } else {
                SiteState::Up
            },
            latency_ms: Some(latency.as_millis() as u64),
            checked_at: Some(chrono::Utc::now()),
            error: None,
            capacity: capacity(&r.json()),
        },
        Ok(r) if r.status.is_server_error() && r.status.as_u16() != 503 => Health {
            state: SiteState::Degraded,
            latency_ms: Some(latency.as_millis() as u64),
            checked_at: Some(chrono::Utc::now()),
            error: Some(format!("site answered {}", r.status)),
            capacity: site.health().capacity,
        },
        Ok(r) => down(format!("site answered {}", r.status)),
        Err(e) => down(e.to_string()),
    };
    site.set_health(h.clone());
    h
}

fn down(error: String) -> Health {
    Health {
        state: SiteState::Down,
        latency_ms: None,
        checked_at: Some(chrono::Utc::now()),
        error: Some(error),
        capacity: None,
    }
}

/// Free resources from `{"hypervisor_statistics": {...}}`.
fn capacity(v: &Value) -> Option<Capacity> {
    let s = v.get("hypervisor_statistics")?;
    let n = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
    Some(Capacity {
        free_vcpus: n("vcpus") - n("vcpus_used"),
        free_ram_mb: n("free_ram_mb"),
        free_disk_gb: n("free_disk_gb"),
    })
}

/// Checks every site every `health_interval_ms`, concurrently, forever.
pub async fn run(top: Arc<Top>) {
    let every = Duration::from_millis(top.config.health_interval_ms);
    loop {
        let sites = top.sites.all();
        futures::future::join_all(sites.iter().map(|s| check(s))).await;
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capacity_from_statistics() {
        let c = capacity(&json!({"hypervisor_statistics": {"vcpus": 48, "vcpus_used": 8, "free_ram_mb": 1000, "free_disk_gb": 20}})).unwrap();
        assert_eq!(
            c,
            Capacity {
                free_vcpus: 40,
                free_ram_mb: 1000,
                free_disk_gb: 20
            }
        );
        assert!(capacity(&json!({})).is_none());
    }
}
