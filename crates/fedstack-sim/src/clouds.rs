//! `clouds.yaml` entries for the sites, as openstacksdk and the `openstack` CLI read them.

use crate::site::Site;
use serde::Serialize;
use std::collections::BTreeMap;

/// One `clouds:` entry with password authentication.
#[derive(Debug, Clone, Serialize)]
pub struct CloudEntry {
    pub auth: CloudAuth,
    pub auth_type: String,
    pub region_name: String,
    pub identity_api_version: u8,
    pub interface: String,
}

/// The `auth:` part of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct CloudAuth {
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
}

impl CloudEntry {
    /// A password entry for `username` in `project_name` at `auth_url`.
    pub fn password(
        auth_url: String,
        region: &str,
        username: &str,
        password: &str,
        project_name: &str,
    ) -> Self {
        CloudEntry {
            auth: CloudAuth {
                auth_url,
                username: username.into(),
                password: password.into(),
                project_name: project_name.into(),
                user_domain_name: "Default".into(),
                project_domain_name: "Default".into(),
            },
            auth_type: "password".into(),
            region_name: region.into(),
            identity_api_version: 3,
            interface: "public".into(),
        }
    }
}

/// The whole file: `clouds: {name: entry}`.
#[derive(Debug, Default, Serialize)]
pub struct CloudsYaml {
    pub clouds: BTreeMap<String, CloudEntry>,
}

impl CloudsYaml {
    /// Adds `<Site>` (admin) and `<Site>-demo` (member of project demo) for a site.
    pub fn add_site(&mut self, site: &Site, password: &str) {
        let url = site.auth_url();
        self.clouds.insert(
            site.name.clone(),
            CloudEntry::password(url.clone(), &site.region, "admin", password, "admin"),
        );
        self.clouds.insert(
            format!("{}-demo", site.name),
            CloudEntry::password(url, &site.region, "demo", password, "demo"),
        );
    }

    /// The YAML text.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }
}
