//! `fedstack site ...`: register and operate sites through the top's `/fed/v1` API.

use crate::osc;
use crate::output::{print_list, print_object};
use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use fedstack_site_client::{Scope, SiteClient, SiteRequest};
use reqwest::Method;
use serde_json::{json, Map, Value};

#[derive(Args)]
pub struct SiteArgs {
    #[command(subcommand)]
    command: SiteCommand,
    #[command(flatten)]
    cloud: osc::CloudArgs,
}

/// Parsed once at start: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum SiteCommand {
    /// List sites with their state.
    List,
    /// Show one site.
    Show { site: String },
    /// Register a site.
    Create(CreateArgs),
    /// Change a site: enable/disable, drain, labels, availability zone, credentials.
    Set(SetArgs),
    /// Delete a site (refused while it holds resources, unless --force).
    Delete {
        site: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
struct CreateArgs {
    name: String,
    #[arg(long)]
    auth_url: String,
    #[arg(long)]
    region: Option<String>,
    /// Availability zone the site appears as (default: its name).
    #[arg(long)]
    availability_zone: Option<String>,
    #[arg(long, default_value = "public")]
    interface: String,
    #[arg(long)]
    username: Option<String>,
    #[arg(long)]
    password: Option<String>,
    #[arg(long)]
    project_name: Option<String>,
    #[arg(long, default_value = "Default")]
    user_domain_name: String,
    #[arg(long, default_value = "Default")]
    project_domain_name: String,
    #[arg(long)]
    application_credential_id: Option<String>,
    #[arg(long)]
    application_credential_secret: Option<String>,
    /// key=value, repeatable.
    #[arg(long = "label")]
    labels: Vec<String>,
}

#[derive(Args)]
struct SetArgs {
    site: String,
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
    #[arg(long, conflicts_with = "undrain")]
    drain: bool,
    #[arg(long)]
    undrain: bool,
    #[arg(long)]
    availability_zone: Option<String>,
    /// key=value, repeatable (replaces the labels).
    #[arg(long = "label")]
    labels: Vec<String>,
}

const COLUMNS: [(&str, &str); 7] = [
    ("ID", "id"),
    ("Name", "name"),
    ("Availability Zone", "availability_zone"),
    ("State", "state"),
    ("Enabled", "enabled"),
    ("Drained", "drained"),
    ("Latency (ms)", "latency_ms"),
];

fn labels(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_string(), json!(v)))
                .ok_or_else(|| anyhow!("label {p} is not key=value"))
        })
        .collect()
}

pub(crate) async fn call(
    client: &SiteClient,
    method: Method,
    path: String,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = SiteRequest::new(method, "federation", path, Scope::Admin);
    if let Some(b) = &body {
        req = req.json(b);
    }
    let resp = client.send(req).await?;
    if !resp.is_success() {
        let v = resp.json();
        let msg = v
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|i| i.get("message"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| String::from_utf8_lossy(&resp.body).into_owned());
        bail!("{msg} (HTTP {})", resp.status.as_u16());
    }
    Ok(resp.json())
}

pub async fn run(args: SiteArgs) -> anyhow::Result<()> {
    let client = osc::client(args.cloud.os_cloud.as_deref())?;
    let f = args.cloud.format;
    match args.command {
        SiteCommand::List => {
            let v = call(&client, Method::GET, "/sites".into(), None).await?;
            print_list(
                v["sites"].as_array().map(Vec::as_slice).unwrap_or_default(),
                &COLUMNS,
                f,
            );
        }
        SiteCommand::Show { site } => print_object(
            &call(&client, Method::GET, format!("/sites/{site}"), None).await?["site"],
            f,
        ),
        SiteCommand::Create(a) => {
            let credentials = match (a.application_credential_id, a.application_credential_secret) {
                (Some(id), Some(secret)) => {
                    json!({"type": "application_credential", "id": id, "secret": secret})
                }
                _ => json!({
                    "type": "password",
                    "username": a.username.ok_or_else(|| anyhow!("--username or --application-credential-id is required"))?,
                    "password": a.password.ok_or_else(|| anyhow!("--password is required"))?,
                    "project_name": a.project_name.ok_or_else(|| anyhow!("--project-name is required"))?,
                    "user_domain_name": a.user_domain_name,
                    "project_domain_name": a.project_domain_name,
                }),
            };
            let body = json!({"site": {
                "name": a.name, "auth_url": a.auth_url, "region": a.region, "availability_zone": a.availability_zone,
                "interface": a.interface, "credentials": credentials, "labels": labels(&a.labels)?,
            }});
            print_object(
                &call(&client, Method::POST, "/sites".into(), Some(body)).await?["site"],
                f,
            );
        }
        SiteCommand::Set(a) => {
            let mut s = Map::new();
            if a.enable || a.disable {
                s.insert("enabled".into(), json!(a.enable));
            }
            if a.drain || a.undrain {
                s.insert("drained".into(), json!(a.drain));
            }
            if let Some(az) = a.availability_zone {
                s.insert("availability_zone".into(), json!(az));
            }
            if !a.labels.is_empty() {
                s.insert("labels".into(), Value::Object(labels(&a.labels)?));
            }
            let v = call(
                &client,
                Method::PATCH,
                format!("/sites/{}", a.site),
                Some(json!({ "site": s })),
            )
            .await?;
            print_object(&v["site"], f);
        }
        SiteCommand::Delete { site, force } => {
            let q = if force { "?force=true" } else { "" };
            call(&client, Method::DELETE, format!("/sites/{site}{q}"), None).await?;
        }
    }
    Ok(())
}
