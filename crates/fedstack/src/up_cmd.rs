//! `fedstack up`: the embedded default — the top and N simulated sites in one process,
//! SQLite in a data directory, a clouds.yaml for the `openstack` CLI.

use crate::sim_cmd::wait_for_shutdown;
use anyhow::Context;
use clap::Args;
use fedstack_sim::clouds::CloudEntry;
use fedstack_sim::{Sim, SimConfig};
use fedstack_site_client::SiteAuth;
use fedstack_top::bootstrap::{bootstrap, Account};
use fedstack_top::config::TopConfig;
use fedstack_top::register::{upsert_site, NewSite};
use fedstack_top::Top;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub struct UpArgs {
    /// Number of simulated sites (CloudOne, CloudTwo, ...).
    #[arg(long, default_value_t = 3)]
    sites: usize,
    /// Data directory (SQLite database, image data, keys).
    #[arg(long, default_value = "fedstack-data")]
    data_dir: PathBuf,
    /// Where to write clouds.yaml.
    #[arg(long, default_value = "clouds.yaml")]
    clouds_yaml: PathBuf,
    /// Port of the top's API (0 = a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Password of the top's `admin` and `demo` users.
    #[arg(long, env = "FEDSTACK_ADMIN_PASSWORD", default_value = "secret")]
    password: String,
    /// Time for a simulated server to go from BUILD to ACTIVE, in milliseconds.
    #[arg(long)]
    build_delay_ms: Option<u64>,
}

/// Simulated sites start empty on every run: what a previous run of the same data directory
/// kept about them (routes, tenant projects, flavor and image copies, indexed servers) no
/// longer exists there, so it is dropped before they are registered again.
async fn forget_previous_sims(top: &Top, sim: &Sim) -> anyhow::Result<()> {
    for old in top.store.sites().await? {
        if sim.site(&old.name).is_some() {
            top.store.mark_site_servers_deleted(&old.id).await?;
            top.store.forget_site_volumes(&old.id).await?;
            top.store.delete_routes_of_site(&old.id).await?;
            top.store.delete_site(&old.id).await?;
            top.sites.remove(&old.id);
        }
    }
    Ok(())
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut sim_config = SimConfig::with_sites(args.sites.max(1));
    if let Some(ms) = args.build_delay_ms {
        sim_config.timing.build_ms = ms;
    }
    let sim = Sim::start(sim_config).await?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await
        .context("binding the top's port")?;
    let addr = listener.local_addr()?;
    let config = TopConfig {
        listen: addr,
        data_dir: args.data_dir.clone(),
        ..TopConfig::default()
    };
    let top = Top::open(config, format!("http://{addr}")).await?;
    let accounts = [
        Account {
            user: "admin",
            password: &args.password,
            project: "admin",
            role: "admin",
        },
        Account {
            user: "demo",
            password: &args.password,
            project: "demo",
            role: "member",
        },
    ];
    bootstrap(&top, &accounts).await?;
    forget_previous_sims(&top, &sim).await?;
    for (s, spec) in sim.sites.iter().zip(&sim.config.sites) {
        let auth = SiteAuth::Password {
            username: "admin".into(),
            password: spec.password.clone(),
            user_domain_name: "Default".into(),
            project_name: "admin".into(),
            project_domain_name: "Default".into(),
        };
        let site = NewSite {
            name: &s.site.name,
            az: &s.site.name,
            auth_url: &s.site.auth_url(),
            region: Some(&s.site.region),
            auth,
            labels: Default::default(),
        };
        upsert_site(&top, site).await?;
    }
    top.spawn_loops();
    let mut clouds = sim.clouds_yaml();
    let top_auth = top.auth_url();
    clouds.clouds.insert(
        "fedstack".into(),
        CloudEntry::password(
            top_auth.clone(),
            &top.config.region,
            "admin",
            &args.password,
            "admin",
        ),
    );
    clouds.clouds.insert(
        "fedstack-demo".into(),
        CloudEntry::password(
            top_auth.clone(),
            &top.config.region,
            "demo",
            &args.password,
            "demo",
        ),
    );
    std::fs::write(&args.clouds_yaml, clouds.to_yaml())
        .with_context(|| format!("writing {}", args.clouds_yaml.display()))?;
    let path = std::fs::canonicalize(&args.clouds_yaml).unwrap_or(args.clouds_yaml.clone());
    for s in &sim.sites {
        println!("site {:<14} {}", s.site.name, s.site.auth_url());
    }
    println!("top                 {top_auth}");
    println!(
        "use it: OS_CLIENT_CONFIG_FILE={} openstack --os-cloud fedstack-demo server list",
        path.display()
    );
    println!(
        "fedstack up ready: top {top_auth}; {} sites; clouds.yaml: {}; control: {}",
        sim.sites.len(),
        path.display(),
        sim.control_url()
    );
    fedstack_top::serve(top, listener, wait_for_shutdown()).await?;
    Ok(())
}
