//! `fedstack`: run many OpenStack clouds as one.

mod bench_cmd;
mod migration_cmd;
mod osc;
mod output;
mod serve_cmd;
mod sim_cmd;
mod site_cmd;
mod token_cmd;
mod up_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "fedstack", version, about = "Run many OpenStack clouds as one")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Parsed once at start: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve simulated OpenStack sites (Keystone, Nova, Glance, Cinder, Neutron) on 127.0.0.1.
    Sim(sim_cmd::SimArgs),
    /// Run the top and simulated sites in one process (the embedded default).
    Up(up_cmd::UpArgs),
    /// Run one top node from a configuration file.
    Serve(serve_cmd::ServeArgs),
    /// Register and operate sites (through the top's /fed/v1 API).
    Site(site_cmd::SiteArgs),
    /// Move servers between sites (cold migration through the top's /fed/v1 API).
    Migration(migration_cmd::MigrationArgs),
    /// Measure the sim and the top against in-run references (see README: Benchmarks).
    Bench(bench_cmd::BenchArgs),
    /// Issue top tokens, bound to a site scope (see README: Scoped collaboration).
    Token(token_cmd::TokenArgs),
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
        Command::Up(args) => up_cmd::run(args).await,
        Command::Serve(args) => serve_cmd::run(args).await,
        Command::Site(args) => site_cmd::run(args).await,
        Command::Migration(args) => migration_cmd::run(args).await,
        Command::Bench(args) => bench_cmd::run(args).await,
        Command::Token(args) => token_cmd::run(args).await,
    }
}
