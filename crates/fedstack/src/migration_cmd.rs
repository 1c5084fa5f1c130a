//! `fedstack migration ...`: move servers between sites through the top's
//! `/fed/v1/migrations` API, and follow them.

use crate::osc;
use crate::output::{print_list, print_object, Format};
use crate::site_cmd::call;
use anyhow::bail;
use clap::{Args, Subcommand};
use fedstack_site_client::SiteClient;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct MigrationArgs {
    #[command(subcommand)]
    command: MigrationCommand,
    #[command(flatten)]
    cloud: osc::CloudArgs,
}

#[derive(Subcommand)]
enum MigrationCommand {
    /// Cold-migrate a server to another site (its top ID, fixed IPs and MACs stay).
    Start {
        /// The server's top ID.
        server: String,
        /// Destination site (name, ID or availability zone).
        #[arg(long)]
        destination: String,
        /// Creating again with the same key returns the same migration.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Follow it with a progress bar; exit non-zero unless it ends done.
        #[arg(long)]
        wait: bool,
    },
    /// List migrations.
    List {
        /// queued, running, rolling_back, done, rolled_back, cancelled or failed.
        #[arg(long)]
        state: Option<String>,
        /// Only the migrations of this server.
        #[arg(long)]
        server: Option<String>,
    },
    /// Show a migration with its steps and events.
    Show { migration: String },
    /// Cancel a migration: its running step stops and what it made is undone.
    Cancel {
        migration: String,
        /// Wait until it has rolled back.
        #[arg(long)]
        wait: bool,
    },
}

const COLUMNS: [(&str, &str); 8] = [
    ("ID", "id"),
    ("Server", "server_id"),
    ("Source", "source"),
    ("Destination", "destination"),
    ("State", "state"),
    ("Step", "step"),
    ("Progress", "progress"),
    ("Error", "error"),
];

/// How often `--wait` polls.
const POLL: Duration = Duration::from_millis(500);

pub async fn run(args: MigrationArgs) -> anyhow::Result<()> {
    let client = osc::client(args.cloud.os_cloud.as_deref())?;
    let f = args.cloud.format;
    match args.command {
        MigrationCommand::Start {
            server,
            destination,
            idempotency_key,
            wait,
        } => {
            let body = json!({"migration": {
                "server_id": server, "destination": destination, "type": "cold",
                "idempotency_key": idempotency_key,
            }});
            let v = call(&client, Method::POST, "/migrations".into(), Some(body)).await?;
            let m = &v["migration"];
            if wait {
                let id = m["id"].as_str().unwrap_or_default().to_string();
                return finish(&client, &id, f).await;
            }
            print_object(&brief(m), f);
        }
        MigrationCommand::List { state, server } => {
            let mut q = Vec::new();
            if let Some(s) = state {
                q.push(format!("state={s}"));
            }
            if let Some(s) = server {
                q.push(format!("server_id={s}"));
            }
            let path = if q.is_empty() {
                "/migrations".to_string()
            } else {
                format!("/migrations?{}", q.join("&"))
            };
            let v = call(&client, Method::GET, path, None).await?;
            print_list(
                v["migrations"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                &COLUMNS,
                f,
            );
        }
        MigrationCommand::Show { migration } => {
            let v = call(
                &client,
                Method::GET,
                format!("/migrations/{migration}"),
                None,
            )
            .await?;
            print_object(&v["migration"], f);
        }
        MigrationCommand::Cancel { migration, wait } => {
            let path = format!("/migrations/{migration}/cancel");
            let v = call(&client, Method::POST, path, None).await?;
            if wait {
                return finish(&client, &migration, f).await;
            }
            print_object(&brief(&v["migration"]), f);
        }
    }
    Ok(())
}

/// A migration without its history (start and cancel answers).
fn brief(m: &Value) -> Value {
    let mut m = m.clone();
    if let Some(o) = m.as_object_mut() {
        o.remove("events");
        o.remove("steps");
    }
    m
}

/// Follows a migration to its end with a progress bar on stderr; fails unless it is done.
async fn finish(client: &SiteClient, id: &str, f: Format) -> anyhow::Result<()> {
    let mut bar = Bar::new();
    let m = loop {
        let v = call(client, Method::GET, format!("/migrations/{id}"), None).await?;
        let m = v["migration"].clone();
        bar.draw(&m);
        if matches!(
            m["state"].as_str(),
            Some("done" | "rolled_back" | "cancelled" | "failed")
        ) {
            break m;
        }
        tokio::time::sleep(POLL).await;
    };
    bar.end();
    print_object(&brief(&m), f);
    match m["state"].as_str() {
        Some("done") => Ok(()),
        state => bail!(
            "migration {id} {}: {}",
            state.unwrap_or("ended"),
            m["error"].as_str().unwrap_or("no reason given")
        ),
    }
}

/// A one-line progress bar: percent, step, bytes and rate.
struct Bar {
    started: Instant,
    last: Option<(Instant, u64)>,
    rate: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Bar {
    fn new() -> Bar {
        Bar {
            started: Instant::now(),
            last: None,
            rate: 0.0,
        }
    }

    fn draw(&mut self, m: &Value) {
        let pct = m["progress"].as_f64().unwrap_or(0.0);
        let moved = m["bytes_moved"].as_u64().unwrap_or(0);
        let total = m["bytes_total"].as_u64().unwrap_or(0);
        let now = Instant::now();
        if let Some((t, b)) = self.last {
            let dt = now.duration_since(t).as_secs_f64();
            if dt > 0.0 && moved >= b {
                self.rate = (moved - b) as f64 / dt;
            }
        }
        self.last = Some((now, moved));
        let width = 30;
        let filled = ((pct / 100.0) * width as f64).round() as usize;
        let step = m["step"]
            .as_str()
            .unwrap_or(m["state"].as_str().unwrap_or("-"));
        let line = format!(
            "\r[{}{}] {pct:5.1}% {step:<10} {:.1}/{:.1} MiB {:.1} MiB/s {:>5.0}s",
            "#".repeat(filled.min(width)),
            ".".repeat(width - filled.min(width)),
            moved as f64 / MIB,
            total as f64 / MIB,
            self.rate / MIB,
            self.started.elapsed().as_secs_f64(),
        );
        let mut err = std::io::stderr();
        let _ = write!(err, "{line}");
        let _ = err.flush();
    }

    fn end(&self) {
        eprintln!();
    }
}
