//! `fedstack bench`: the figures of two scale questions, each measured next to a reference
//! taken in the same run, so that what matters is a ratio rather than an absolute time on a
//! noisy machine.
//!
//! - `bench sim`: the memory of one sim process holding many servers (populated through the
//!   API), and the latency of a 1000-server page of `servers/detail` on one site against a
//!   trivial call on the same site (`flavors`).
//! - `bench top`: `server show` and the server list through the top against the same calls
//!   made directly on the sites, in the tenant's own projects there.
//!
//! Timed calls of a figure and of its reference alternate, so that both see the same noise.

mod migration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use fedstack_api_types::Service;
use fedstack_sim::config::HostSpec;
use fedstack_sim::{Sim, SimConfig, Site};
use fedstack_site_client::SiteAuth;
use fedstack_top::bootstrap::{bootstrap, Account};
use fedstack_top::config::TopConfig;
use fedstack_top::register::{upsert_site, NewSite};
use fedstack_top::tenancy::site_project_name;
use fedstack_top::Top;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Compute microversion of every call: the first that takes `networks: "auto"`.
const COMPUTE_MV: &str = "compute 2.37";
/// Flavor of every server: `m1.tiny`.
const FLAVOR: &str = "1";
/// Password of the top's users.
const TOP_PASSWORD: &str = "secret";
/// Untimed calls before each measurement (connections, caches).
const WARMUP: usize = 5;
/// Servers a simulated host of `bench sim` takes.
const SERVERS_PER_HOST: u32 = 1000;
/// Nova's largest page: `bench top` compares one page at the top with one page per site.
const MAX_PAGE: u32 = 1000;
/// How long to wait for the top to register images and index servers.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Memory of one sim process holding N sites × M servers, and p50/p99 of a 1000-server
    /// `servers/detail` page on one site against `flavors`.
    Sim(SimBench),
    /// `server show` and `server list` through the top against directly on the sites.
    Top(TopBench),
    /// A cold migration of a server with an N MiB disk between two sites against a plain
    /// copy of the same bytes between them.
    Migration(migration::MigrationBench),
}

/// Options of `fedstack bench sim`.
#[derive(Args)]
struct SimBench {
    /// Number of simulated sites in the process.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    sites: u32,
    /// Servers created on each site (in its admin project).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    servers_per_site: u32,
    /// Server creations in flight while populating.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Timed calls of each kind.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    samples: u32,
}

/// Options of `fedstack bench top`.
#[derive(Args)]
struct TopBench {
    /// Number of simulated sites behind the top.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    sites: u32,
    /// Servers created through the top in each site's availability zone.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    servers_per_site: u32,
    /// Server creations in flight.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Timed calls of each kind.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    samples: u32,
}

/// Runs the chosen bench and prints its table.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.bench {
        Bench::Sim(a) => bench_sim(a).await,
        Bench::Top(a) => bench_top(a).await,
        Bench::Migration(a) => migration::bench(a).await,
    }
}

// ---------------------------------------------------------------------------------------------
// bench sim

/// Populates the sims through the API, then measures memory and the 1000-server page.
async fn bench_sim(args: SimBench) -> anyhow::Result<()> {
    let command = format!(
        "fedstack bench sim --sites {} --servers-per-site {} --concurrency {} --samples {}",
        args.sites, args.servers_per_site, args.concurrency, args.samples
    );
    let mut config = SimConfig::with_sites(args.sites as usize);
    config.timing.build_ms = 0;
    for spec in &mut config.sites {
        spec.hosts = args.servers_per_site.div_ceil(SERVERS_PER_HOST);
        spec.host = HostSpec {
            vcpus: 128,
            memory_mb: 1 << 20,
            disk_gb: 4096,
        };
    }
    let sim = Sim::start(config).await?;
    let rss_empty = resident_bytes()?;
    let http = Http::new()?;
    let mut targets = Vec::with_capacity(sim.sites.len());
    for (s, spec) in sim.sites.iter().zip(&sim.config.sites) {
        let site = Endpoints::of_site(&s.site);
        let admin = http
            .token(&site.auth, "admin", &spec.password, "admin")
            .await?;
        unlimited_quotas(&http, &site, &admin.id, &admin.project_id).await?;
        let image = cirros(&http, &site, &admin.id).await?;
        targets.push(Target {
            site,
            token: admin.id,
            image,
            zone: None,
        });
    }
    let rss_before = resident_bytes()?;
    let total = args.sites as usize * args.servers_per_site as usize;
    eprintln!("populating {total} servers on {} sites...", args.sites);
    let targets = Arc::new(targets);
    let population = populate(&http, &targets, total, args.concurrency as usize).await;
    let rss_after = resident_bytes()?;

    let site = &targets[0];
    let detail = format!("{}/servers/detail?limit={MAX_PAGE}", site.site.compute);
    let flavors = format!("{}/flavors", site.site.compute);
    let page = http.get(&detail, &site.token).await?;
    let servers = page["servers"].as_array().map_or(&[][..], Vec::as_slice);
    let not_active = servers.iter().filter(|s| s["status"] != "ACTIVE").count();
    let page_bytes = serde_json::to_vec(&page)?.len();
    let (list, trivial) = interleaved(
        args.samples as usize,
        || http.timed_get(&detail, &site.token),
        || http.timed_get(&flavors, &site.token),
    )
    .await?;

    let mib = |b: u64| format!("{:.1}", b as f64 / f64::from(1 << 20));
    let mut t = Table::new(command, "value", "flavors");
    t.figure(
        "sites × servers per site",
        format!("{} × {}", args.sites, args.servers_per_site),
    );
    t.figure("servers created", population.created);
    t.figure("failed creations", population.failed());
    t.figure(
        "population time (s)",
        format!("{:.1}", population.elapsed.as_secs_f64()),
    );
    t.figure(
        "population rate (servers/s)",
        format!(
            "{:.0}",
            population.created as f64 / population.elapsed.as_secs_f64()
        ),
    );
    t.figure("RSS, sites bootstrapped (MiB)", mib(rss_empty));
    t.figure("RSS, before population (MiB)", mib(rss_before));
    t.figure("RSS, after population (MiB)", mib(rss_after));
    t.figure(
        "RSS growth per server (bytes)",
        format!(
            "{:.0}",
            rss_after.saturating_sub(rss_before) as f64 / population.created.max(1) as f64
        ),
    );
    t.figure("servers in the measured page", servers.len());
    t.figure("of which not ACTIVE", not_active);
    t.figure(
        "page size (KiB)",
        format!("{:.0}", page_bytes as f64 / 1024.0),
    );
    t.compare("detail?limit=1000 p50 (ms)", list.p50, trivial.p50);
    t.compare("detail?limit=1000 p99 (ms)", list.p99, trivial.p99);
    t.compare("detail?limit=1000 max (ms)", list.max, trivial.max);
    t.print();
    population.print_failures();
    Ok(())
}

/// Lifts the Nova instance, core and RAM quotas and the Neutron port quota of `project`.
async fn unlimited_quotas(
    http: &Http,
    site: &Endpoints,
    admin_token: &str,
    project: &str,
) -> anyhow::Result<()> {
    http.expect(
        Method::PUT,
        &format!("{}/os-quota-sets/{project}", site.compute),
        admin_token,
        Some(&json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
        StatusCode::OK,
    )
    .await?;
    http.expect(
        Method::PUT,
        &format!("{}/quotas/{project}", site.network),
        admin_token,
        Some(&json!({"quota": {"port": -1}})),
        StatusCode::OK,
    )
    .await?;
    Ok(())
}

/// The ID of the site's `cirros` image.
async fn cirros(http: &Http, site: &Endpoints, token: &str) -> anyhow::Result<String> {
    let list = http
        .get(&format!("{}/images?name=cirros", site.image), token)
        .await?;
    list.pointer("/images/0/id")
        .and_then(Value::as_str)
        .map(String::from)
        .with_context(|| format!("no cirros image at {}", site.image))
}

/// Where servers are created: a cloud, a token, the image to boot and the zone to ask for.
struct Target {
    site: Endpoints,
    token: String,
    image: String,
    zone: Option<String>,
}

/// What a population made.
#[derive(Default)]
struct Population {
    created: usize,
    elapsed: Duration,
    /// Failed creations by kind ("HTTP 403", "transport"), with the first message of each.
    failures: BTreeMap<String, (usize, String)>,
}

impl Population {
    /// How many creations failed.
    fn failed(&self) -> usize {
        self.failures.values().map(|(n, _)| n).sum()
    }

    /// Adds what another worker made.
    fn merge(&mut self, other: Population) {
        self.created += other.created;
        for (kind, (n, message)) in other.failures {
            self.failures.entry(kind).or_insert((0, message)).0 += n;
        }
    }

    /// Counts one failure of `kind`, keeping the first message of each kind.
    fn fail(&mut self, kind: String, message: String) {
        self.failures.entry(kind).or_insert((0, message)).0 += 1;
    }

    /// One line per kind of failure, after the table.
    fn print_failures(&self) {
        for (kind, (n, message)) in &self.failures {
            println!("failed creations: {n} × {kind}, first: {message}");
        }
    }
}

/// Creates `total` servers, server `i` on target `i % targets.len()`, with `concurrency`
/// creations in flight; progress goes to stderr every tenth.
async fn populate(
    http: &Http,
    targets: &Arc<Vec<Target>>,
    total: usize,
    concurrency: usize,
) -> Population {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let step = (total / 10).max(1);
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, targets, next, done) =
                (http.clone(), targets.clone(), next.clone(), done.clone());
            tokio::spawn(async move {
                let mut mine = Population::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return mine;
                    }
                    let target = &targets[i % targets.len()];
                    let name = format!("bench-{}-{}", i % targets.len(), i / targets.len());
                    match create_server(&http, target, &name).await {
                        Ok(()) => mine.created += 1,
                        Err((kind, message)) => mine.fail(kind, message),
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if d % step == 0 {
                        eprintln!("  {d}/{total} in {:.1}s", start.elapsed().as_secs_f64());
                    }
                }
            })
        })
        .collect();
    let mut all = Population::default();
    for w in workers {
        match w.await {
            Ok(p) => all.merge(p),
            Err(e) => all.fail("worker".into(), e.to_string()),
        }
    }
    all.elapsed = start.elapsed();
    all
}

/// `POST /servers` of one `m1.tiny` cirros server with an automatic network; on failure the
/// kind of failure and its message.
async fn create_server(http: &Http, target: &Target, name: &str) -> Result<(), (String, String)> {
    let mut server = json!({
        "name": name, "imageRef": target.image, "flavorRef": FLAVOR, "networks": "auto",
    });
    if let Some(zone) = &target.zone {
        server["availability_zone"] = json!(zone);
    }
    let url = format!("{}/servers", target.site.compute);
    match http
        .call(
            Method::POST,
            &url,
            Some(&target.token),
            Some(&json!({ "server": server })),
        )
        .await
    {
        Ok((StatusCode::ACCEPTED, _)) => Ok(()),
        Ok((status, body)) => Err((format!("HTTP {}", status.as_u16()), body.to_string())),
        Err(e) => Err(("transport".into(), format!("{e:#}"))),
    }
}

/// Resident memory of this process (`VmRSS`), in bytes.
fn resident_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .context("no VmRSS in /proc/self/status")
}

// ---------------------------------------------------------------------------------------------
// bench top

/// Runs the sims and a top in this process (its data in a temporary directory) and
/// measures the top against the sites.
async fn bench_top(args: TopBench) -> anyhow::Result<()> {
    if args.sites * args.servers_per_site > MAX_PAGE {
        bail!("at most {MAX_PAGE} servers in all: the list is compared page for page");
    }
    let mut config = SimConfig::with_sites(args.sites as usize);
    config.timing.build_ms = 0;
    let sim = Sim::start(config).await?;
    let data_dir = std::env::temp_dir().join(format!("fedstack-bench-{}", std::process::id()));
    let result = async {
        let top = start_top(&sim, &data_dir).await?;
        measure_top(&args, &sim, &top).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

/// Starts a top over the sims in this process, as `fedstack up` does (SQLite in `data_dir`).
async fn start_top(sim: &Sim, data_dir: &Path) -> anyhow::Result<Arc<Top>> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("binding the top's port")?;
    let addr = listener.local_addr()?;
    let config = TopConfig {
        listen: addr,
        data_dir: data_dir.to_path_buf(),
        ..TopConfig::default()
    };
    let top = Top::open(config, format!("http://{addr}")).await?;
    let accounts = [
        Account {
            user: "admin",
            password: TOP_PASSWORD,
            project: "admin",
            role: "admin",
        },
        Account {
            user: "demo",
            password: TOP_PASSWORD,
            project: "demo",
            role: "member",
        },
    ];
    bootstrap(&top, &accounts).await?;
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
    let serving = top.clone();
    tokio::spawn(async move {
        if let Err(e) = fedstack_top::serve(serving, listener, std::future::pending()).await {
            tracing::error!(error = %e, "the top stopped serving");
        }
    });
    Ok(top)
}

/// A site as the tenant reaches it directly: its endpoints and a token of the tenant's
/// project there.
struct TenantSite {
    site: Endpoints,
    token: String,
}

/// Prepares the tenant on every site, creates the servers through the top, and times
/// `server show` and `servers/detail` at the top and on the sites.
async fn measure_top(args: &TopBench, sim: &Sim, top_node: &Top) -> anyhow::Result<()> {
    let top = &Endpoints::new(top_node.auth_url(), |s| top_node.service_root(s));
    let command = format!(
        "fedstack bench top --sites {} --servers-per-site {} --concurrency {} --samples {}",
        args.sites, args.servers_per_site, args.concurrency, args.samples
    );
    let http = Http::new()?;
    let demo = http
        .token(&top.auth, "demo", TOP_PASSWORD, "demo")
        .await
        .context("demo token at the top")?;
    let tenant_project = site_project_name(&demo.project_id);

    // Each site: the tenant's project made ahead (the top adopts it by name) with quotas for
    // the bench's servers.
    for (s, spec) in sim.sites.iter().zip(&sim.config.sites) {
        let site = Endpoints::of_site(&s.site);
        let admin = http
            .token(&site.auth, "admin", &spec.password, "admin")
            .await?;
        let project = create_project(&http, &site, &admin.id, &tenant_project).await?;
        unlimited_quotas(&http, &site, &admin.id, &project).await?;
    }
    // The sites' cirros (the same bytes everywhere) is one image at the top, with each site's
    // own as its copy there once the top has seen every site: boots then copy nothing.
    settle("cirros at the top with a copy on every site", || async {
        let Ok(id) = cirros(&http, top, &demo.id).await else {
            return Ok(false);
        };
        let copies = top_node.store.image_copies(&id).await?;
        Ok(copies.iter().filter(|c| c.state == "active").count() == sim.sites.len())
    })
    .await?;
    let image = cirros(&http, top, &demo.id).await?;
    let targets: Vec<Target> = sim
        .sites
        .iter()
        .map(|s| Target {
            site: top.clone(),
            token: demo.id.clone(),
            image: image.clone(),
            zone: Some(s.site.name.clone()),
        })
        .collect();

    let total = (args.sites * args.servers_per_site) as usize;
    let created = populate(&http, &Arc::new(targets), total, args.concurrency as usize).await;
    if created.failed() > 0 {
        created.print_failures();
        bail!("{} creations through the top failed", created.failed());
    }
    let top_detail = format!("{}/servers/detail?limit={MAX_PAGE}", top.compute);
    let index_start = Instant::now();
    settle("the servers in the top's index, ACTIVE", || async {
        let page = http.get(&top_detail, &demo.id).await?;
        let servers = page["servers"].as_array().map_or(&[][..], Vec::as_slice);
        Ok(servers.len() == total && servers.iter().all(|s| s["status"] == "ACTIVE"))
    })
    .await?;
    let index_wait = index_start.elapsed();

    // The tenant's view of each site, and where each server is.
    let mut sites = Vec::with_capacity(sim.sites.len());
    for (s, spec) in sim.sites.iter().zip(&sim.config.sites) {
        let site = Endpoints::of_site(&s.site);
        let token = http
            .token(&site.auth, "admin", &spec.password, &tenant_project)
            .await
            .with_context(|| format!("token of {tenant_project} on {}", s.site.name))?;
        sites.push(TenantSite {
            site,
            token: token.id,
        });
    }
    let first = &sites[0];
    let name = "bench-0-0";
    let top_id = server_id(&http, &top.compute, &demo.id, name).await?;
    let site_id = server_id(&http, &first.site.compute, &first.token, name).await?;
    let site_lists: Vec<(String, &str)> = sites
        .iter()
        .map(|s| {
            (
                format!("{}/servers/detail", s.site.compute),
                s.token.as_str(),
            )
        })
        .collect();
    let mut listed_on_sites = 0;
    for (url, token) in &site_lists {
        listed_on_sites += http.get(url, token).await?["servers"]
            .as_array()
            .map_or(0, Vec::len);
    }
    let top_list = format!("{}/servers/detail", top.compute);
    let listed_at_top = http.get(&top_list, &demo.id).await?["servers"]
        .as_array()
        .map_or(0, Vec::len);

    let top_show = format!("{}/servers/{top_id}", top.compute);
    let site_show = format!("{}/servers/{site_id}", first.site.compute);
    let (show_top, show_site) = interleaved(
        args.samples as usize,
        || http.timed_get(&top_show, &demo.id),
        || http.timed_get(&site_show, &first.token),
    )
    .await?;
    let (list_top, list_sites) = interleaved(
        args.samples as usize,
        || http.timed_get(&top_list, &demo.id),
        || async {
            let start = Instant::now();
            for (url, token) in &site_lists {
                http.timed_get(url, token).await?;
            }
            Ok(start.elapsed())
        },
    )
    .await?;

    let mut t = Table::new(command, "top", "sites");
    t.figure(
        "servers created through the top",
        format!("{total} ({} per site)", args.servers_per_site),
    );
    t.figure(
        "creation time (s)",
        format!("{:.1}", created.elapsed.as_secs_f64()),
    );
    t.figure(
        "then all ACTIVE in the index after (s)",
        format!("{:.1}", index_wait.as_secs_f64()),
    );
    t.figure(
        "servers listed, top / sites",
        format!("{listed_at_top} / {listed_on_sites}"),
    );
    t.compare("server show p50 (ms)", show_top.p50, show_site.p50);
    t.compare("server show p99 (ms)", show_top.p99, show_site.p99);
    let in_a_row = format!("sites: {} lists in a row", sites.len());
    t.compare(
        &format!("servers/detail p50 (ms; {in_a_row})"),
        list_top.p50,
        list_sites.p50,
    );
    t.compare(
        &format!("servers/detail p99 (ms; {in_a_row})"),
        list_top.p99,
        list_sites.p99,
    );
    t.print();
    Ok(())
}

/// Creates project `name` in the site's default domain; its ID.
async fn create_project(
    http: &Http,
    site: &Endpoints,
    admin_token: &str,
    name: &str,
) -> anyhow::Result<String> {
    let body = json!({"project": {"name": name, "domain_id": "default"}});
    let made = http
        .expect(
            Method::POST,
            &format!("{}/projects", site.auth),
            admin_token,
            Some(&body),
            StatusCode::CREATED,
        )
        .await?;
    made.pointer("/project/id")
        .and_then(Value::as_str)
        .map(String::from)
        .context("a project without an ID")
}

/// The ID of the server named `name` in the caller's list.
async fn server_id(http: &Http, compute: &str, token: &str, name: &str) -> anyhow::Result<String> {
    let list = http
        .get(&format!("{compute}/servers?name=^{name}$"), token)
        .await?;
    list.pointer("/servers/0/id")
        .and_then(Value::as_str)
        .map(String::from)
        .with_context(|| format!("no server {name} at {compute}"))
}

/// Polls `done` every 200 ms until it holds; an error naming `what` after [`SETTLE_TIMEOUT`].
async fn settle<F, Fut>(what: &str, done: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !done().await? {
        if Instant::now() > deadline {
            bail!("waited {SETTLE_TIMEOUT:?} for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// shared

/// Where a cloud's services answer (a site or the top).
#[derive(Clone)]
struct Endpoints {
    /// Keystone v3.
    auth: String,
    /// Nova v2.1.
    compute: String,
    /// Glance v2.
    image: String,
    /// Neutron v2.0.
    network: String,
}

impl Endpoints {
    /// The endpoints under Keystone `auth` and the service roots given by `root`.
    fn new(auth: String, root: impl Fn(Service) -> String) -> Self {
        Endpoints {
            auth,
            compute: format!("{}/v2.1", root(Service::Compute)),
            image: format!("{}/v2", root(Service::Image)),
            network: format!("{}/v2.0", root(Service::Network)),
        }
    }

    /// A simulated site's endpoints.
    fn of_site(site: &Site) -> Self {
        Endpoints::new(site.auth_url(), |s| site.service_root(s))
    }
}

/// A project-scoped Keystone token.
struct Token {
    id: String,
    project_id: String,
}

/// An HTTP client for the bench's calls to 127.0.0.1 (no proxies); every call carries the
/// compute microversion [`COMPUTE_MV`], which the other services ignore.
#[derive(Clone)]
struct Http(reqwest::Client);

impl Http {
    /// A client that goes to 127.0.0.1 directly, whatever the proxy settings.
    fn new() -> anyhow::Result<Self> {
        Ok(Http(reqwest::Client::builder().no_proxy().build()?))
    }

    /// Sends a call; its response, body unread.
    async fn send(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut req = self
            .0
            .request(method, url)
            .header("OpenStack-API-Version", COMPUTE_MV);
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.with_context(|| url.to_string())
    }

    /// Sends a call; its status and JSON body (`Null` when there is none).
    async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let resp = self.send(method, url, token, body).await?;
        let status = resp.status();
        let raw = resp.bytes().await.with_context(|| url.to_string())?;
        Ok((status, serde_json::from_slice(&raw).unwrap_or(Value::Null)))
    }

    /// A call that must answer `expected`: its JSON body.
    async fn expect(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: Option<&Value>,
        expected: StatusCode,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method.clone(), url, Some(token), body).await?;
        if status != expected {
            bail!("{method} {url}: {status} {answer}");
        }
        Ok(answer)
    }

    /// A GET that must answer 200: its JSON body.
    async fn get(&self, url: &str, token: &str) -> anyhow::Result<Value> {
        self.expect(Method::GET, url, token, None, StatusCode::OK)
            .await
    }

    /// A GET that must answer 200: how long until its whole body was read.
    async fn timed_get(&self, url: &str, token: &str) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let resp = self.send(Method::GET, url, Some(token), None).await?;
        let status = resp.status();
        let body = resp.bytes().await.with_context(|| url.to_string())?;
        let elapsed = start.elapsed();
        if status != StatusCode::OK {
            bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(elapsed)
    }

    /// A password token of `user` (domain Default) scoped to `project` (domain Default).
    async fn token(
        &self,
        auth_url: &str,
        user: &str,
        password: &str,
        project: &str,
    ) -> anyhow::Result<Token> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }});
        let url = format!("{auth_url}/auth/tokens");
        let resp = self.send(Method::POST, &url, None, Some(&body)).await?;
        let status = resp.status();
        let id = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        let (Some(id), StatusCode::CREATED) = (id, status) else {
            bail!("token of {user} in {project} at {auth_url}: {status} {answer}");
        };
        let project_id = answer
            .pointer("/token/project/id")
            .and_then(Value::as_str)
            .context("a token without a project")?
            .to_string();
        Ok(Token { id, project_id })
    }
}

/// Percentiles of timed calls, in milliseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (at least one).
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1000.0
        };
        Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// Times `samples` rounds of `a` then `b` (each returning how long it took), after
/// [`WARMUP`] untimed rounds; the percentiles of each.
async fn interleaved<A, B, FA, FB>(
    samples: usize,
    a: A,
    b: B,
) -> anyhow::Result<(Percentiles, Percentiles)>
where
    A: Fn() -> FA,
    B: Fn() -> FB,
    FA: Future<Output = anyhow::Result<Duration>>,
    FB: Future<Output = anyhow::Result<Duration>>,
{
    for _ in 0..WARMUP {
        a().await?;
        b().await?;
    }
    let mut times_a = Vec::with_capacity(samples);
    let mut times_b = Vec::with_capacity(samples);
    for _ in 0..samples {
        times_a.push(a().await?);
        times_b.push(b().await?);
    }
    Ok((Percentiles::of(times_a), Percentiles::of(times_b)))
}

/// A printed result: the command that reproduces it, then one line per figure, with a
/// reference and the ratio to it where there is one.
struct Table {
    command: String,
    columns: [&'static str; 2],
    rows: Vec<[String; 4]>,
}

impl Table {
    /// A table whose figures are in column `measured`, their references in `reference`.
    fn new(command: String, measured: &'static str, reference: &'static str) -> Self {
        Table {
            command,
            columns: [measured, reference],
            rows: Vec::new(),
        }
    }

    /// A figure without a reference.
    fn figure(&mut self, metric: &str, value: impl std::fmt::Display) {
        self.rows.push([
            metric.into(),
            value.to_string(),
            String::new(),
            String::new(),
        ]);
    }

    /// A figure, its reference and their ratio.
    fn compare(&mut self, metric: &str, value: f64, reference: f64) {
        self.rows.push([
            metric.into(),
            format!("{value:.3}"),
            format!("{reference:.3}"),
            format!("{:.2}", value / reference),
        ]);
    }

    /// Prints the command, a header and the rows, aligned.
    fn print(&self) {
        println!("{}", self.command);
        let [measured, reference] = self.columns;
        let widest = |column: usize, least: usize| {
            self.rows
                .iter()
                .map(|r| r[column].chars().count())
                .fold(least, usize::max)
        };
        let (width, values) = (widest(0, 6), widest(1, 12));
        println!(
            "{:<width$}  {measured:>values$} {reference:>12} {:>8}",
            "metric", "ratio"
        );
        for [metric, value, reference, ratio] in &self.rows {
            println!("{metric:<width$}  {value:>values$} {reference:>12} {ratio:>8}");
        }
    }
}
