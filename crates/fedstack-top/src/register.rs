//! Registering a site from code (as `fedstack up` does for its simulated sites), sharing the
//! validation-free path of the `/fed/v1/sites` API: sealed credentials, store, registry.

use crate::sites::SiteHandle;
use crate::Top;
use fedstack_site_client::SiteAuth;
use fedstack_store::now_ms;
use fedstack_store::sites::SiteRecord;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A site to register.
pub struct NewSite<'a> {
    pub name: &'a str,
    pub az: &'a str,
    pub auth_url: &'a str,
    pub region: Option<&'a str>,
    pub auth: SiteAuth,
    pub labels: BTreeMap<String, String>,
}

/// Registers a site, or updates the one with the same name (its URL may change between runs).
pub async fn upsert_site(top: &Top, s: NewSite<'_>) -> anyhow::Result<Arc<SiteHandle>> {
    let sealed = top.secrets.seal(&serde_json::to_vec(&s.auth)?);
    let existing = top
        .store
        .sites()
        .await?
        .into_iter()
        .find(|r| r.name == s.name);
    let record = match existing {
        Some(mut r) => {
            r.auth_url = s.auth_url.into();
            r.region = s.region.map(String::from);
            r.credentials = sealed;
            r.az = s.az.into();
            top.store.update_site(&r).await?;
            r
        }
        None => {
            let now = now_ms();
            let r = SiteRecord {
                id: uuid::Uuid::new_v4().to_string(),
                name: s.name.into(),
                az: s.az.into(),
                auth_url: s.auth_url.into(),
                region: s.region.map(String::from),
                interface: "public".into(),
                credentials: sealed,
                labels: s.labels,
                enabled: true,
                drained: false,
                created_at: now,
                updated_at: now,
            };
            top.store.create_site(&r).await?;
            r
        }
    };
    Ok(top.sites.insert(record, &top.secrets)?)
}
