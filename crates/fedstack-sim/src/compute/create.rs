//! Server create: the body checked against Nova's schema per microversion
//! ([`nova::validate_server_create`]), the checks Nova's API makes (flavor, image, key pair,
//! networks, availability zone, group, quotas), then scheduling, NICs, boot volumes and the
//! disk of each server.

use super::flavors::{flavor_not_found, Flavor};
use super::groups::group_not_found;
use super::hosts::{Request, Resources};
use super::quotas::{QuotaKind, Usage};
use super::server::{Attachment, Disk, Fault, Server, Task, VmState};
use super::servers::lock_settled;
use super::{bad_request, forbidden, json_status, links, policy, ComputeData, Res};
use crate::ctx::{Ctx, Mv, OsJson};
use crate::image::BootImage;
use crate::network::NicRequest;
use crate::site::SiteData;
use axum::http::{header, HeaderValue, StatusCode};
use chrono::{DateTime, Utc};
use fedstack_api_types::jsonschema::is_uuid_like;
use fedstack_api_types::nova::{self, schema};
use fedstack_api_types::ApiError;
use indexmap::IndexMap;
use rand::distributions::{Alphanumeric, DistString};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// How a server boots.
enum Boot {
    Image(BootImage),
    /// A new volume (from an image or blank) of `size` GB.
    NewVolume {
        image: Option<BootImage>,
        size: u64,
        delete_on_termination: bool,
    },
    Volume {
        id: String,
        delete_on_termination: bool,
    },
}

/// A create request, checked.
struct Spec {
    name: String,
    flavor: Flavor,
    boot: Boot,
    nics: Vec<NicRequest>,
    key_name: Option<String>,
    user_data: Option<String>,
    metadata: IndexMap<String, String>,
    tags: BTreeSet<String>,
    description: Option<String>,
    requested_az: Option<String>,
    forced_host: Option<String>,
    security_groups: Vec<String>,
    min: u32,
    max: u32,
    admin_pass: String,
    config_drive: bool,
    access_ipv4: String,
    access_ipv6: String,
    hints: Map<String, Value>,
    group: Option<String>,
    hostname: Option<String>,
}

/// `POST /servers`.
pub async fn create(ctx: Ctx, mv: Mv, OsJson(body): OsJson) -> Res {
    nova::validate_server_create(&body, mv.0)?;
    let mut g = lock_settled(&ctx);
    let spec = parse(&ctx, mv, &body, &mut g)?;
    let count = admit(&ctx, &g.compute, &spec)?;
    let reservation_id = format!(
        "r-{}",
        Alphanumeric
            .sample_string(&mut rand::thread_rng(), 8)
            .to_lowercase()
    );
    let now = Utc::now();
    let mut ids = Vec::new();
    for index in 0..count {
        match build(&ctx, &mut g, &spec, index, count, &reservation_id, now) {
            Ok(id) => ids.push(id),
            Err(e) => {
                for id in &ids {
                    discard(&mut g, id);
                }
                return Err(e);
            }
        }
    }
    if body["server"]
        .get("return_reservation_id")
        .is_some_and(schema::truthy)
    {
        return Ok(json_status(
            StatusCode::ACCEPTED,
            json!({ "reservation_id": reservation_id }),
        ));
    }
    let first = ids.first().cloned().unwrap_or_default();
    let groups = body["server"]
        .get("security_groups")
        .cloned()
        .unwrap_or_else(|| json!([{"name": "default"}]));
    let answer = json!({"server": {
        "id": first,
        "links": links(&ctx.site, &format!("servers/{first}")),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": groups,
        "adminPass": spec.admin_pass,
    }});
    let mut resp = json_status(StatusCode::ACCEPTED, answer);
    let location = format!("{}/v2.1/servers/{first}", super::root(&ctx.site));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Checks the request against the site's data (flavor, image, key, networks...).
fn parse(ctx: &Ctx, mv: Mv, body: &Value, g: &mut SiteData) -> Result<Spec, ApiError> {
    let s = &body["server"];
    let project = ctx.project_id();
    let flavor_ref = match &s["flavorRef"] {
        Value::Number(n) => n.to_string(),
        v => v
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    let flavor = g
        .compute
        .flavors
        .visible(&flavor_ref, project, ctx.is_admin())
        .cloned()
        .ok_or_else(|| bad_request(flavor_not_found(&flavor_ref).message))?;
    let boot = boot_source(ctx, s, g)?;
    if let Boot::Image(i) = &boot {
        check_image_fits(&flavor, i)?;
    }
    let (min, max) = counts(s)?;
    let nics = nics(ctx, mv, s, g, max)?;
    let key_name = s["key_name"].as_str().map(str::to_string);
    if let Some(k) = &key_name {
        if g.compute.keypairs.get(ctx.user_id(), k).is_none() {
            return Err(bad_request("Invalid key_name provided."));
        }
    }
    let metadata: IndexMap<String, String> = s["metadata"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let allowed = g.compute.quotas.limit(project, QuotaKind::MetadataItems);
    if allowed >= 0 && metadata.len() as i64 > allowed {
        return Err(forbidden(format!(
            "Maximum number of metadata items exceeds {allowed}"
        )));
    }
    let security_groups: Vec<String> = s["security_groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect();
    g.network.check_security_groups(project, &security_groups)?;
    let (requested_az, forced_host) = availability_zone(ctx, mv, s, &g.compute)?;
    let hints = body
        .get("os:scheduler_hints")
        .or_else(|| body.get("OS-SCH-HNT:scheduler_hints"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let group = hints
        .get("group")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(gid) = &group {
        g.compute
            .groups
            .visible(gid, project, ctx.is_admin())
            .ok_or_else(|| bad_request(group_not_found(gid).message))?;
    }
    Ok(Spec {
        name: s["name"].as_str().unwrap_or_default().to_string(),
        flavor,
        boot,
        nics,
        key_name,
        user_data: s["user_data"].as_str().map(str::to_string),
        metadata,
        tags: s["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        description: s["description"].as_str().map(str::to_string),
        requested_az,
        forced_host,
        security_groups: if security_groups.is_empty() {
            vec!["default".into()]
        } else {
            security_groups
        },
        min,
        max,
        admin_pass: s["adminPass"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 12)),
        config_drive: s.get("config_drive").is_some_and(schema::truthy),
        access_ipv4: s["accessIPv4"].as_str().unwrap_or_default().to_string(),
        access_ipv6: s["accessIPv6"].as_str().unwrap_or_default().to_string(),
        hints,
        group,
        hostname: s["hostname"].as_str().map(str::to_string),
    })
}

fn image_not_found() -> ApiError {
    bad_request("Can not find requested image")
}

/// The image or volume a server boots from (`imageRef` or the boot index 0 mapping).
fn boot_source(ctx: &Ctx, s: &Value, g: &SiteData) -> Result<Boot, ApiError> {
    let project = ctx.project_id();
    let image = |id: &str| g.image.boot_image(project, id).ok_or_else(image_not_found);
    let bdms = s["block_device_mapping_v2"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let boot_bdm = bdms
        .iter()
        .find(|b| schema::as_int(&b["boot_index"]) == Some(0));
    let image_ref = s["imageRef"].as_str().filter(|i| !i.is_empty());
    let Some(b) = boot_bdm else {
        return match image_ref {
            Some(id) => Ok(Boot::Image(image(id)?)),
            None => Err(bad_request("Missing imageRef attribute")),
        };
    };
    let delete_on_termination = b.get("delete_on_termination").is_some_and(schema::truthy);
    let uuid = b["uuid"].as_str().unwrap_or_default();
    match (
        b["source_type"].as_str().unwrap_or_default(),
        b["destination_type"].as_str().unwrap_or("volume"),
    ) {
        ("image", "local") => Ok(Boot::Image(image(uuid)?)),
        ("image", _) => {
            let size = b.get("volume_size").and_then(schema::as_int).unwrap_or(0);
            if size <= 0 {
                return Err(bad_request(
                    "Images with destination_type 'volume' need to have a non-zero size specified",
                ));
            }
            Ok(Boot::NewVolume {
                image: Some(image(uuid)?),
                size: size as u64,
                delete_on_termination,
            })
        }
        ("volume", _) => Ok(Boot::Volume {
            id: uuid.to_string(),
            delete_on_termination,
        }),
        ("blank", _) => Ok(Boot::NewVolume {
            image: None,
            size: b
                .get("volume_size")
                .and_then(schema::as_int)
                .unwrap_or(1)
                .max(1) as u64,
            delete_on_termination,
        }),
        _ => Err(bad_request(
            "Block Device Mapping is Invalid: booting from a volume snapshot is not supported.",
        )),
    }
}

/// Nova's flavor/image size checks.
fn check_image_fits(f: &Flavor, i: &BootImage) -> Result<(), ApiError> {
    const GIB: u64 = 1 << 30;
    if i.min_ram > f.ram {
        return Err(bad_request(
            "Flavor's memory is too small for requested image.",
        ));
    }
    if f.disk > 0 && i.size > f.disk * GIB {
        return Err(bad_request(format!(
            "Flavor's disk is too small for requested image. Flavor disk is {} bytes, image is {} bytes.",
            f.disk * GIB,
            i.size
        )));
    }
    if f.disk > 0 && i.min_disk > f.disk {
        return Err(bad_request(format!(
            "Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is {} bytes, minimum size is {} bytes.",
            f.disk * GIB,
            i.min_disk * GIB
        )));
    }
    Ok(())
}

fn counts(s: &Value) -> Result<(u32, u32), ApiError> {
    let n = |k: &str| {
        s.get(k)
            .and_then(schema::as_int)
            .map(|v| v.clamp(1, 1000) as u32)
    };
    let min = n("min_count").unwrap_or(1);
    let max = n("max_count").unwrap_or(min);
    if min > max {
        return Err(bad_request("min_count must be <= max_count"));
    }
    Ok((min, max))
}

/// The NICs asked for (2.37+: `networks` is required, "auto" or "none" allowed).
fn nics(ctx: &Ctx, mv: Mv, s: &Value, g: &SiteData, max: u32) -> Result<Vec<NicRequest>, ApiError> {
    let auto = || -> Result<Vec<NicRequest>, ApiError> {
        match g.network.auto_network(ctx.project_id()) {
            Some(id) => Ok(vec![NicRequest::Network { id, fixed_ip: None }]),
            None if mv.at_least(2, 37) => Err(bad_request(format!(
                "Unable to automatically allocate a network for project {}",
                ctx.project_id()
            ))),
            None => Ok(vec![]),
        }
    };
    match &s["networks"] {
        Value::Null => auto(),
        Value::String(v) if v == "auto" => auto(),
        Value::String(_) => Ok(vec![]),
        Value::Array(list) => list.iter().map(|n| nic(n, max)).collect(),
        _ => Ok(vec![]),
    }
}

fn nic(n: &Value, max: u32) -> Result<NicRequest, ApiError> {
    if let Some(port) = n["port"].as_str() {
        if max > 1 {
            return Err(bad_request(
                "Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.",
            ));
        }
        return Ok(NicRequest::Port {
            id: port.to_string(),
        });
    }
    let id = n["uuid"].as_str().unwrap_or_default();
    if !is_uuid_like(id) {
        return Err(bad_request(format!(
            "Bad networks format: network uuid is not in proper format ({id})"
        )));
    }
    let fixed_ip = match n["fixed_ip"].as_str() {
        Some(ip) => Some(
            ip.parse()
                .map_err(|_| bad_request(format!("Invalid fixed IP address ({ip})")))?,
        ),
        None => None,
    };
    Ok(NicRequest::Network {
        id: id.to_string(),
        fixed_ip,
    })
}

/// `availability_zone` ("nova", "nova:host" for admins) and 2.74's `host`: the zone asked
/// for and the host forced.
fn availability_zone(
    ctx: &Ctx,
    mv: Mv,
    s: &Value,
    c: &ComputeData,
) -> Result<(Option<String>, Option<String>), ApiError> {
    let mut zone = None;
    let mut host = None;
    if let Some(az) = s["availability_zone"].as_str() {
        let mut parts = az.splitn(3, ':');
        let z = parts.next().unwrap_or_default();
        if !z.is_empty() {
            if z != "nova" {
                return Err(bad_request(
                    "The requested availability zone is not available",
                ));
            }
            zone = Some(z.to_string());
        }
        host = parts.next().filter(|h| !h.is_empty()).map(str::to_string);
        if host.is_some() && !ctx.is_admin() {
            return Err(policy("os_compute_api:servers:create:forced_host"));
        }
    }
    if mv.at_least(2, 74) {
        if let Some(h) = s["host"].as_str().or(s["hypervisor_hostname"].as_str()) {
            if !ctx.is_admin() {
                return Err(policy("compute:servers:create:requested_destination"));
            }
            host = Some(h.to_string());
        }
    }
    if let Some(h) = &host {
        if c.hosts.get(h).is_none() {
            return Err(bad_request(format!("Compute host {h} could not be found.")));
        }
    }
    Ok((zone, host))
}

/// Quotas: how many servers to build (between min and max count), or Nova's 403.
fn admit(ctx: &Ctx, c: &ComputeData, spec: &Spec) -> Result<u32, ApiError> {
    let project = ctx.project_id();
    let used = c.servers.usage(project);
    let want = |n: u32| Usage {
        instances: n as i64,
        cores: n as i64 * spec.flavor.vcpus as i64,
        ram: n as i64 * spec.flavor.ram as i64,
    };
    let fits = (spec.min..=spec.max)
        .rev()
        .find(|n| c.quotas.check_servers(project, used, want(*n)).is_ok());
    let count = match fits {
        Some(n) => n,
        None => {
            c.quotas.check_servers(project, used, want(spec.min))?;
            spec.min
        }
    };
    if let Some(gid) = &spec.group {
        let limit = c.quotas.limit(project, QuotaKind::ServerGroupMembers);
        let members = c
            .groups
            .visible(gid, project, true)
            .map_or(0, |g| g.members.len());
        if limit >= 0 && (members + count as usize) as i64 > limit {
            return Err(forbidden("Quota exceeded, too many servers in group"));
        }
    }
    Ok(count)
}

/// What a server takes on its host (a volume-backed one has no local root disk).
fn resources(spec: &Spec) -> Resources {
    let f = &spec.flavor;
    let root = if matches!(spec.boot, Boot::Image(_)) {
        f.disk
    } else {
        0
    };
    Resources {
        vcpus: u64::from(f.vcpus),
        ram: f.ram,
        disk: root + f.ephemeral + f.swap.div_ceil(1024),
    }
}

/// Builds server number `index` of the request: schedules it, plugs its NICs, prepares its
/// boot volume and disk, and starts its BUILD. Returns its ID.
#[allow(clippy::too_many_arguments)]
fn build(
    ctx: &Ctx,
    g: &mut SiteData,
    spec: &Spec,
    index: u32,
    count: u32,
    reservation_id: &str,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let id = uuid::Uuid::new_v4().to_string();
    let res = resources(spec);
    let group = spec
        .group
        .as_ref()
        .and_then(|gid| g.compute.groups.visible(gid, ctx.project_id(), true));
    let member_hosts = group.map(|grp| {
        let hosts = grp
            .members
            .iter()
            .filter_map(|m| g.compute.servers.get(m).and_then(|s| s.host.clone()))
            .collect();
        (grp.placement(), hosts)
    });
    let host = g.compute.hosts.schedule(&Request {
        resources: res,
        forced_host: spec.forced_host.as_deref(),
        group: member_hosts,
    });
    let name = if count > 1 {
        format!("{}-{}", spec.name, index + 1)
    } else {
        spec.name.clone()
    };
    let seq = g.compute.servers.next_seq();
    let mut server = Server {
        id: id.clone(),
        seq,
        name: name.clone(),
        project_id: ctx.project_id().to_string(),
        user_id: ctx.user_id().to_string(),
        flavor: spec.flavor.clone(),
        image_id: match &spec.boot {
            Boot::Image(i) => Some(i.id.clone()),
            _ => None,
        },
        image_properties: match &spec.boot {
            Boot::Image(i) => i.properties.clone(),
            _ => Map::new(),
        },
        created: now,
        updated: now,
        launched_at: None,
        terminated_at: None,
        vm_state: VmState::Building,
        pending: None,
        host: host.clone(),
        requested_az: spec.requested_az.clone(),
        key_name: spec.key_name.clone(),
        user_data: spec.user_data.clone(),
        metadata: spec.metadata.clone(),
        tags: spec.tags.clone(),
        description: spec.description.clone(),
        lock: None,
        security_groups: spec.security_groups.clone(),
        access_ipv4: spec.access_ipv4.clone(),
        access_ipv6: spec.access_ipv6.clone(),
        config_drive: spec.config_drive,
        reservation_id: reservation_id.to_string(),
        launch_index: index,
        hostname: spec.hostname.clone().unwrap_or_else(|| hostname_of(&name)),
        fault: None,
        disk: Disk::default(),
        volumes: Vec::new(),
        actions: Vec::new(),
        group: spec.group.clone(),
        scheduler_hints: spec.hints.clone(),
        resources: res,
    };
    let delay = chrono::Duration::from_std(ctx.site.timing.build()).unwrap_or_default();
    let then = match &host {
        Some(h) => {
            place(ctx, g, spec, &mut server, h)?;
            VmState::Active
        }
        None => {
            server.fault = Some(no_valid_host(now + delay));
            VmState::Error
        }
    };
    server.record(
        "create",
        "compute__do_build_and_run_instance",
        ctx.user_id(),
        now,
        now + delay,
    );
    if let Some(gid) = &spec.group {
        g.compute.groups.add_member(gid, &id);
    }
    g.compute.servers.insert(server);
    g.compute.servers.begin(&id, Task::Build, now, delay, then);
    Ok(id)
}

/// Nova's fault when the scheduler finds no host.
fn no_valid_host(at: DateTime<Utc>) -> Fault {
    Fault {
        code: 500,
        created: at,
        message: "No valid host was found. There are not enough hosts available.".into(),
        details: "Traceback (most recent call last):\n  File \"/opt/stack/nova/nova/conductor/manager.py\", line 1654, in schedule_and_build_instances\nnova.exception.NoValidHost: No valid host was found. There are not enough hosts available.\n".into(),
    }
}

/// A hostname from a display name, as Nova sanitizes it.
fn hostname_of(name: &str) -> String {
    let mut h: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    h.truncate(63);
    let h = h.trim_matches('-').to_string();
    if h.is_empty() {
        "server".into()
    } else {
        h
    }
}

/// Claims the host, plugs the NICs, prepares the boot volume and the disk; undoes all of
/// it on error.
fn place(
    ctx: &Ctx,
    g: &mut SiteData,
    spec: &Spec,
    server: &mut Server,
    host: &str,
) -> Result<(), ApiError> {
    g.compute.hosts.claim(host, &server.id, server.resources);
    let result = plug_and_boot(ctx, g, spec, server, host);
    if result.is_err() {
        g.compute.hosts.release(host, &server.id, server.resources);
        g.network.unplug_server(&server.id);
        for a in server.volumes.drain(..) {
            let _ = g.volume.detach(&a.volume_id, &server.id);
            g.compute.volume_owner.remove(&a.volume_id);
            if a.delete_on_termination {
                g.volume.delete_for_server(&a.volume_id);
            }
        }
    }
    result
}

fn plug_and_boot(
    ctx: &Ctx,
    g: &mut SiteData,
    spec: &Spec,
    server: &mut Server,
    host: &str,
) -> Result<(), ApiError> {
    let project = ctx.project_id();
    let groups: Vec<String> = spec.security_groups.clone();
    for nic in &spec.nics {
        g.network
            .plug_server(project, &server.id, host, nic, &groups)?;
    }
    let (volume_id, delete_on_termination, created) = match &spec.boot {
        Boot::Image(i) => {
            server.disk = Disk::new(i.data.clone());
            return Ok(());
        }
        Boot::NewVolume {
            image,
            size,
            delete_on_termination,
        } => {
            let id = g
                .volume
                .create_for_boot(project, *size, image.as_ref(), "")?;
            (id, *delete_on_termination, true)
        }
        Boot::Volume {
            id,
            delete_on_termination,
        } => (id.clone(), *delete_on_termination, false),
    };
    if let Some(other) = g.compute.volume_owner.get(&volume_id) {
        return Err(bad_request(format!(
            "Invalid volume: volume {volume_id} is already attached to instances: {other}"
        )));
    }
    let attachment_id = match g
        .volume
        .attach(project, &volume_id, &server.id, host, "/dev/vda")
    {
        Ok(a) => a,
        Err(e) => {
            if created {
                g.volume.delete_for_server(&volume_id);
            }
            return Err(e);
        }
    };
    server.disk = Disk::new(g.volume.volume_data(&volume_id).unwrap_or_default());
    g.compute
        .volume_owner
        .insert(volume_id.clone(), server.id.clone());
    server.volumes.push(Attachment {
        volume_id,
        device: "/dev/vda".into(),
        attachment_id,
        bdm_uuid: uuid::Uuid::new_v4().to_string(),
        tag: None,
        delete_on_termination,
    });
    Ok(())
}

/// Removes a server built by a request that failed later (no trace left).
fn discard(g: &mut SiteData, id: &str) {
    let Some(s) = g.compute.servers.discard(id) else {
        return;
    };
    super::servers::release_everything(g, &s);
}
