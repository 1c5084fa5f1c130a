//! `fedstack sim`: serve simulated sites until interrupted.

use anyhow::Context;
use clap::Args;
use fedstack_sim::{Sim, SimConfig};
use std::path::PathBuf;

#[derive(Args)]
pub struct SimArgs {
    /// Number of sites (CloudOne, CloudTwo, ...); ignored with --config.
    #[arg(long, default_value_t = 1)]
    sites: usize,
    /// A YAML file describing the sites (see README: "Simulated sites").
    #[arg(long)]
    config: Option<PathBuf>,
    /// Where to write clouds.yaml.
    #[arg(long, default_value = "clouds.yaml")]
    clouds_yaml: PathBuf,
    /// Port of the /sim/v1 control API (0 = a free port).
    #[arg(long)]
    control_port: Option<u16>,
    /// Time for a server to go from BUILD to ACTIVE, in milliseconds.
    #[arg(long)]
    build_delay_ms: Option<u64>,
    /// Time for server actions, volume and image transitions, in milliseconds.
    #[arg(long)]
    action_delay_ms: Option<u64>,
    /// Latency added to every request of every site, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_yaml_ng::from_str::<SimConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => SimConfig::with_sites(args.sites.max(1)),
    };
    if let Some(p) = args.control_port {
        config.control_port = p;
    }
    if let Some(ms) = args.build_delay_ms {
        config.timing.build_ms = ms;
    }
    if let Some(ms) = args.action_delay_ms {
        config.timing.action_ms = ms;
        config.timing.volume_ms = ms;
        config.timing.image_ms = ms;
    }
    let sim = Sim::start(config).await?;
    for s in &sim.sites {
        s.site.faults.set_latency(args.latency_ms);
        println!("{:<16} {}", s.site.name, s.site.auth_url());
    }
    std::fs::write(&args.clouds_yaml, sim.clouds_yaml().to_yaml())
        .with_context(|| format!("writing {}", args.clouds_yaml.display()))?;
    let path = std::fs::canonicalize(&args.clouds_yaml).unwrap_or(args.clouds_yaml.clone());
    println!(
        "fedstack sim ready: {} sites; clouds.yaml: {}; control: {}",
        sim.sites.len(),
        path.display(),
        sim.control_url()
    );
    println!(
        "try: OS_CLIENT_CONFIG_FILE={} openstack --os-cloud {} server list",
        path.display(),
        sim.sites[0].site.name
    );
    wait_for_shutdown().await;
    Ok(())
}

/// Returns on SIGINT or SIGTERM.
pub async fn wait_for_shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
