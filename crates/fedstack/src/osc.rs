//! Authentication the way the `openstack` CLI does it: `--os-cloud` / `OS_CLOUD` with a
//! `clouds.yaml` found where openstacksdk looks (`OS_CLIENT_CONFIG_FILE`, the current
//! directory, `~/.config/openstack`, `/etc/openstack`), or the `OS_*` variables.

use anyhow::{anyhow, Context};
use fedstack_site_client::{SiteAuth, SiteClient, SiteCredentials};
use serde_yaml_ng::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Where openstacksdk looks for `clouds.yaml`, in order.
fn candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(p) = std::env::var("OS_CLIENT_CONFIG_FILE") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("clouds.yaml"));
    let config_home = std::env::var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .ok()
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .map(|h| PathBuf::from(h).join(".config"))
        });
    if let Some(c) = config_home {
        v.push(c.join("openstack/clouds.yaml"));
    }
    v.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    v
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

/// Credentials of cloud `name` from the first `clouds.yaml` that has it.
fn from_clouds_yaml(name: &str) -> anyhow::Result<SiteCredentials> {
    for path in candidates() {
        let Ok(raw) = std::fs::read_to_string(&path) else {
            continue;
        };
        let doc: Value =
            serde_yaml_ng::from_str(&raw).with_context(|| format!("parsing {}", path.display()))?;
        let Some(cloud) = doc.get("clouds").and_then(|c| c.get(name)) else {
            continue;
        };
        let auth = cloud.get("auth").cloned().unwrap_or(Value::Null);
        return credentials(
            text(&auth, "auth_url"),
            text(cloud, "region_name"),
            text(cloud, "interface"),
            |k| text(&auth, k),
        );
    }
    Err(anyhow!(
        "cloud {name} was not found in any clouds.yaml (looked in {:?})",
        candidates()
    ))
}

fn credentials(
    auth_url: Option<String>,
    region: Option<String>,
    interface: Option<String>,
    get: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<SiteCredentials> {
    let auth_url =
        auth_url.ok_or_else(|| anyhow!("no auth_url (set OS_AUTH_URL or --os-cloud)"))?;
    let auth = match (
        get("application_credential_id"),
        get("application_credential_secret"),
    ) {
        (Some(id), Some(secret)) => SiteAuth::ApplicationCredential { id, secret },
        _ => SiteAuth::Password {
            username: get("username").ok_or_else(|| anyhow!("no username (OS_USERNAME)"))?,
            password: get("password").ok_or_else(|| anyhow!("no password (OS_PASSWORD)"))?,
            user_domain_name: get("user_domain_name").unwrap_or_else(|| "Default".into()),
            project_name: get("project_name")
                .ok_or_else(|| anyhow!("no project_name (OS_PROJECT_NAME)"))?,
            project_domain_name: get("project_domain_name").unwrap_or_else(|| "Default".into()),
        },
    };
    Ok(SiteCredentials {
        auth_url,
        region,
        interface: interface.unwrap_or_else(|| "public".into()),
        auth,
    })
}

/// A client authenticated as the `openstack` CLI would be.
pub fn client(cloud: Option<&str>) -> anyhow::Result<SiteClient> {
    let creds = match cloud {
        Some(name) => from_clouds_yaml(name)?,
        None => {
            let env = |k: &str| std::env::var(format!("OS_{}", k.to_uppercase())).ok();
            credentials(env("auth_url"), env("region_name"), env("interface"), env)?
        }
    };
    Ok(SiteClient::new(creds, Duration::from_secs(60)))
}

/// The options every authenticated subcommand shares, as the `openstack` CLI has them.
#[derive(clap::Args)]
pub struct CloudArgs {
    /// Cloud in clouds.yaml to authenticate with.
    #[arg(long, global = true, env = "OS_CLOUD")]
    pub os_cloud: Option<String>,
    /// Output format.
    #[arg(
        short = 'f',
        long = "format",
        global = true,
        value_enum,
        default_value = "table"
    )]
    pub format: crate::output::Format,
}
