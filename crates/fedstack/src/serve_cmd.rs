//! `fedstack serve`: one top node from a configuration file, sites registered through the
//! `/fed/v1` API.

use crate::sim_cmd::wait_for_shutdown;
use anyhow::Context;
use clap::Args;
use fedstack_top::bootstrap::{bootstrap, Account};
use fedstack_top::config::TopConfig;
use fedstack_top::Top;
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    /// YAML configuration (see README: "Running a top").
    #[arg(long)]
    config: PathBuf,
    /// Password given to the `admin` user when it is first created.
    #[arg(long, env = "FEDSTACK_ADMIN_PASSWORD")]
    admin_password: String,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config: TopConfig = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("parsing {}", args.config.display()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let public = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let top = Top::open(config, public).await?;
    bootstrap(
        &top,
        &[Account {
            user: "admin",
            password: &args.admin_password,
            project: "admin",
            role: "admin",
        }],
    )
    .await?;
    top.spawn_loops();
    println!(
        "fedstack serve ready: {} ({} sites)",
        top.auth_url(),
        top.sites.all().len()
    );
    fedstack_top::serve(top, listener, wait_for_shutdown()).await?;
    Ok(())
}
