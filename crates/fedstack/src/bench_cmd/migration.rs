//! `fedstack bench migration`: the time of a cold migration of a server with a disk of N MiB
//! between two sims, next to the time of a plain copy of the same bytes between the same two
//! sites (download from one Glance, upload to the other, wait active), with the time of each
//! step of the migration. Each round moves the server to the other site and copies the bytes
//! the same way; the medians are compared (one round is at the mercy of a noisy machine).

use super::{start_top, Endpoints, Http, Table, TOP_PASSWORD};
use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use fedstack_sim::{Sim, SimConfig};
use fedstack_store::routes::kind;
use fedstack_top::Top;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Options of `fedstack bench migration`.
#[derive(Args)]
pub struct MigrationBench {
    /// Size of the server's disk, in MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    disk_mib: u64,
    /// Migrations (back and forth) and plain copies measured; medians are shown.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    rounds: u64,
}

/// Longest wait for the migration or the copy.
const LIMIT: Duration = Duration::from_secs(1800);

/// Runs the bench with two sims and a top in this process.
pub async fn bench(args: MigrationBench) -> anyhow::Result<()> {
    let mut config = SimConfig::with_sites(2);
    config.timing.build_ms = 0;
    config.timing.action_ms = 0;
    config.timing.image_ms = 0;
    let sim = Sim::start(config).await?;
    let data_dir = std::env::temp_dir().join(format!("fedstack-bench-mig-{}", std::process::id()));
    let result = async {
        let top = start_top(&sim, &data_dir).await?;
        measure(&args, &sim, &top).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

async fn measure(args: &MigrationBench, sim: &Sim, node: &Top) -> anyhow::Result<()> {
    let http = Http::new()?;
    let top = Endpoints::new(node.auth_url(), |s| node.service_root(s));
    let demo = http.token(&top.auth, "demo", TOP_PASSWORD, "demo").await?;
    let one = &sim.sites[0].site;
    let image = upload(
        &http,
        &top.image,
        &demo.id,
        Bytes::from_static(&[0u8; 4096]),
    )
    .await?;
    let body = json!({"server": {"name": "bench-mig", "imageRef": image, "flavorRef": "1", "networks": "auto", "availability_zone": one.name}});
    let created = http
        .expect(
            Method::POST,
            &format!("{}/servers", top.compute),
            &demo.id,
            Some(&body),
            StatusCode::ACCEPTED,
        )
        .await?;
    let id = created["server"]["id"]
        .as_str()
        .context("no server ID")?
        .to_string();
    wait(|| async {
        let s = http
            .get(&format!("{}/servers/{id}", top.compute), &demo.id)
            .await?;
        Ok(s["server"]["status"] == "ACTIVE")
    })
    .await?;
    let route = node
        .store
        .route(kind::SERVER, &id)
        .await?
        .context("no route")?;
    let site_server = route.site_resource_id.context("no site server")?;
    let size = args.disk_mib * 1024 * 1024;
    let disk = Bytes::from(
        (0..size)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    );
    one.data
        .lock()
        .compute
        .replace_disk(&site_server, disk.clone())
        .map_err(anyhow::Error::msg)?;

    let mut plains = Vec::new();
    let mut migrations = Vec::new();
    let fed = format!("{}/fed/v1", node.public_url);
    for round in 0..args.rounds {
        let (from, to) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        let to_name = &sim.sites[to].site.name;
        migrations.push(migrate(&http, &fed, &demo.id, &id, to_name).await?);
        plains.push(plain_copy(&http, sim, from, to, disk.clone()).await?);
    }
    plains.sort();
    migrations.sort_by_key(|(d, _)| *d);
    let plain = plains[plains.len() / 2];
    let (migration, last) = migrations[migrations.len() / 2].clone();
    let mut t = Table::new(
        format!(
            "fedstack bench migration --disk-mib {} --rounds {} (medians)",
            args.disk_mib, args.rounds
        ),
        "migration",
        "plain copy",
    );
    t.compare(
        &format!("{} MiB disk site to site (s)", args.disk_mib),
        migration.as_secs_f64(),
        plain.as_secs_f64(),
    );
    t.figure(
        "migration rate (MiB/s)",
        format!("{:.1}", args.disk_mib as f64 / migration.as_secs_f64()),
    );
    t.figure(
        "plain copy rate (MiB/s)",
        format!("{:.1}", args.disk_mib as f64 / plain.as_secs_f64()),
    );
    for (step, secs) in step_times(&last) {
        t.figure(&format!("  step {step} (s)"), format!("{secs:.3}"));
    }
    t.print();
    Ok(())
}

/// One plain copy of `disk` from site `from` to site `to` (admin on both): its time. The
/// images are deleted afterwards.
async fn plain_copy(
    http: &Http,
    sim: &Sim,
    from: usize,
    to: usize,
    disk: Bytes,
) -> anyhow::Result<Duration> {
    let (a, b) = (&sim.sites[from].site, &sim.sites[to].site);
    let a_api = Endpoints::of_site(a);
    let b_api = Endpoints::of_site(b);
    let password = |i: usize| sim.config.sites[i].password.as_str();
    let admin_a = http
        .token(&a_api.auth, "admin", password(from), "admin")
        .await?;
    let admin_b = http
        .token(&b_api.auth, "admin", password(to), "admin")
        .await?;
    let source_image = upload(http, &a_api.image, &admin_a.id, disk).await?;
    let started = Instant::now();
    let copy = copy(
        http,
        (&a_api.image, &admin_a.id),
        &source_image,
        (&b_api.image, &admin_b.id),
    )
    .await?;
    let took = started.elapsed();
    for (api, token, img) in [
        (&a_api, &admin_a.id, &source_image),
        (&b_api, &admin_b.id, &copy),
    ] {
        http.call(
            Method::DELETE,
            &format!("{}/images/{img}", api.image),
            Some(token),
            None,
        )
        .await?;
    }
    Ok(took)
}

/// One migration of server `id` to site `to` through the top's API: its time and the
/// migration as it ended.
async fn migrate(
    http: &Http,
    fed: &str,
    token: &str,
    id: &str,
    to: &str,
) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let m = http
        .expect(
            Method::POST,
            &format!("{fed}/migrations"),
            token,
            Some(&json!({"migration": {"server_id": id, "destination": to}})),
            StatusCode::ACCEPTED,
        )
        .await?;
    let mid = m["migration"]["id"]
        .as_str()
        .context("no migration ID")?
        .to_string();
    let mut last = Value::Null;
    let deadline = Instant::now() + LIMIT;
    while !matches!(
        last["state"].as_str(),
        Some("done" | "rolled_back" | "cancelled" | "failed")
    ) {
        if Instant::now() > deadline {
            bail!("the migration did not end in {LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = http.get(&format!("{fed}/migrations/{mid}"), token).await?["migration"].clone();
    }
    let took = started.elapsed();
    if last["state"] != "done" {
        bail!("the migration ended {}: {}", last["state"], last["error"]);
    }
    Ok((took, last))
}

/// Seconds between each step's start and end, from the migration's events.
fn step_times(m: &Value) -> Vec<(String, f64)> {
    let at = |e: &Value| {
        e["at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    let events = m["events"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e["kind"] == "step_done") {
        let step = e["step"].as_str().unwrap_or_default();
        let start = events
            .iter()
            .rev()
            .filter(|s| s["kind"] == "step_started" && s["step"] == step)
            .find_map(at);
        if let (Some(a), Some(b)) = (start, at(e)) {
            out.push((step.to_string(), (b - a) as f64 / 1000.0));
        }
    }
    out
}

/// Polls `done` every 100 ms for at most [`LIMIT`].
async fn wait<F, Fut>(done: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + LIMIT;
    while !done().await? {
        if Instant::now() > deadline {
            bail!("waited {LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A raw image with `data` in the Glance at `image` (`.../v2`): its ID, once active.
async fn upload(http: &Http, image: &str, token: &str, data: Bytes) -> anyhow::Result<String> {
    let body = json!({"name": "bench-mig", "disk_format": "raw", "container_format": "bare"});
    let made = http
        .expect(
            Method::POST,
            &format!("{image}/images"),
            token,
            Some(&body),
            StatusCode::CREATED,
        )
        .await?;
    let id = made["id"].as_str().context("no image ID")?.to_string();
    let r = http
        .0
        .put(format!("{image}/images/{id}/file"))
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/octet-stream")
        .body(data)
        .send()
        .await?;
    if r.status() != StatusCode::NO_CONTENT {
        bail!("upload to {image}: {}", r.status());
    }
    wait(|| async {
        Ok(http.get(&format!("{image}/images/{id}"), token).await?["status"] == "active")
    })
    .await?;
    Ok(id)
}

/// Streams image `id` from one Glance to a new image of the other: the new image's ID, once
/// active.
async fn copy(
    http: &Http,
    from: (&str, &str),
    id: &str,
    to: (&str, &str),
) -> anyhow::Result<String> {
    let body = json!({"name": "bench-copy", "disk_format": "raw", "container_format": "bare"});
    let made = http
        .expect(
            Method::POST,
            &format!("{}/images", to.0),
            to.1,
            Some(&body),
            StatusCode::CREATED,
        )
        .await?;
    let new = made["id"].as_str().context("no image ID")?.to_string();
    let download = http
        .0
        .get(format!("{}/images/{id}/file", from.0))
        .header("X-Auth-Token", from.1)
        .send()
        .await?;
    let len = download.content_length().unwrap_or_default();
    let r = http
        .0
        .put(format!("{}/images/{new}/file", to.0))
        .header("X-Auth-Token", to.1)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", len)
        .body(reqwest::Body::wrap_stream(download.bytes_stream()))
        .send()
        .await?;
    if r.status() != StatusCode::NO_CONTENT {
        bail!("copy upload: {}", r.status());
    }
    wait(|| async {
        Ok(http.get(&format!("{}/images/{new}", to.0), to.1).await?["status"] == "active")
    })
    .await?;
    Ok(new)
}
