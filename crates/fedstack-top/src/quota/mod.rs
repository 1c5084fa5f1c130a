//! Global quotas at the top: one limit per project and resource for the whole federation,
//! enforced atomically before anything is made on a site (reserve → commit / release), with
//! usage counted from the index. Sites' own quotas for tenant projects are lifted (see
//! [`crate::tenancy`]), so the top's are the ones that hold.

pub mod compute;
pub mod network;
pub mod volume;

use crate::Top;
use fedstack_api_types::nova::quota::QuotaKind;
use fedstack_store::quotas::{Claim, Exceeded, DEFAULT_CLASS};
use fedstack_store::StoreError;
use std::collections::BTreeMap;

/// How long a reservation holds if its create never finishes (the node died).
const RESERVATION_TTL_MS: i64 = 10 * 60 * 1000;

/// The built-in default of a resource, as the owning service ships it (-1 = unlimited).
pub fn builtin_default(resource: &str) -> i64 {
    if let Some(k) = QuotaKind::from_key(resource) {
        return k.default_limit();
    }
    if fedstack_api_types::cinder::DEFAULTS
        .iter()
        .any(|(k, _)| *k == resource)
    {
        return fedstack_api_types::cinder::default_limit(resource);
    }
    fedstack_api_types::neutron::default_limit(resource)
}

/// The limits in force for a project: its own, else the default class, else built-in.
pub struct Limits {
    own: BTreeMap<String, i64>,
    class: BTreeMap<String, i64>,
}

impl Limits {
    /// Reads the limits of `project_id`.
    pub async fn of(top: &Top, project_id: &str) -> Result<Limits, StoreError> {
        Ok(Limits {
            own: top.store.quota_limits(project_id).await?,
            class: top.store.quota_limits(DEFAULT_CLASS).await?,
        })
    }

    /// The default limits (the `default` quota class).
    pub async fn defaults(top: &Top) -> Result<Limits, StoreError> {
        Ok(Limits {
            own: BTreeMap::new(),
            class: top.store.quota_limits(DEFAULT_CLASS).await?,
        })
    }

    /// The limit of `resource` (-1 = unlimited).
    pub fn get(&self, resource: &str) -> i64 {
        self.own
            .get(resource)
            .or_else(|| self.class.get(resource))
            .copied()
            .unwrap_or_else(|| builtin_default(resource))
    }
}

/// A claim held for a create under way; [`Reservation::finish`] ends it once the resource is
/// in the index (commit) or was not made (release).
#[derive(Debug)]
#[must_use = "a reservation holds quota until finished"]
pub struct Reservation {
    id: String,
}

impl Reservation {
    /// Ends the reservation. A failure only delays the release until the reservation expires.
    pub async fn finish(self, top: &Top) {
        if let Err(e) = top.store.finish_reservation(&self.id).await {
            tracing::warn!(reservation = %self.id, error = %e, "quota reservation not finished; it will expire");
        }
    }
}

/// Reserves `amounts` (resource, amount) of `project_id`'s quotas for the top resource
/// `resource_id`: all of them, or none and the list of those exceeded.
pub async fn reserve(
    top: &Top,
    project_id: &str,
    resource_id: &str,
    amounts: &[(&str, i64)],
) -> Result<Result<Reservation, Vec<Exceeded>>, StoreError> {
    let limits = Limits::of(top, project_id).await?;
    let claims: Vec<Claim> = amounts
        .iter()
        .map(|(resource, amount)| Claim {
            resource,
            amount: *amount,
            limit: limits.get(resource),
        })
        .collect();
    Ok(top
        .store
        .reserve_quota(project_id, resource_id, &claims, RESERVATION_TTL_MS)
        .await?
        .map(|id| Reservation { id }))
}
