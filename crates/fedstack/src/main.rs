//! `fedstack`: run many OpenStack clouds as one.

mod sim_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fedstack", version, about = "Run many OpenStack clouds as one")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve simulated OpenStack sites (Keystone, Nova, Glance, Cinder, Neutron) on 127.0.0.1.
    Sim(sim_cmd::SimArgs),
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FEDSTACK_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let json = std::env::var("FEDSTACK_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    match Cli::parse().command {
        Command::Sim(args) => sim_cmd::run(args).await,
    }
}
