//! The `/sim/v1` control API of a simulator process: fault injection, server disks and
//! volume contents (what a guest would have written).
//! It is served on its own port, so it answers while a site refuses connections.

use crate::ctx::read_body;
use crate::faults::{DownMode, FailureRule};
use crate::sim::{Sim, SimSite};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha512};
use std::sync::Weak;

type Ctl = State<Weak<Sim>>;

/// Largest disk write accepted in one call.
const MAX_DISK_WRITE: usize = 4 << 30;

/// The control routes.
pub fn router(sim: Weak<Sim>) -> Router {
    Router::new()
        .route("/sim/v1/sites", get(list_sites))
        .route("/sim/v1/sites/{site}/down", post(down))
        .route("/sim/v1/sites/{site}/up", post(up))
        .route("/sim/v1/sites/{site}/latency", put(latency))
        .route(
            "/sim/v1/sites/{site}/failures",
            post(add_failure).delete(clear_failures),
        )
        .route("/sim/v1/sites/{site}/hosts/{host}/fail", post(fail_host))
        .route(
            "/sim/v1/sites/{site}/hosts/{host}/recover",
            post(recover_host),
        )
        .route(
            "/sim/v1/sites/{site}/servers/{id}/disk",
            get(read_disk).put(put_disk).patch(patch_disk),
        )
        .route(
            "/sim/v1/sites/{site}/servers/{id}/disk/sha512",
            get(disk_sha512),
        )
        .route("/sim/v1/sites/{site}/volumes/{id}/data", put(put_volume))
        .route(
            "/sim/v1/sites/{site}/volumes/{id}/data/sha512",
            get(volume_sha512),
        )
        .with_state(sim)
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let msg = msg.into();
    (
        status,
        Json(json!({"error": {"code": status.as_u16(), "message": msg}})),
    )
        .into_response()
}

/// Runs `f` on the named site, or answers 404.
fn with_site(sim: &Weak<Sim>, name: &str, f: impl FnOnce(&SimSite) -> Response) -> Response {
    let Some(sim) = sim.upgrade() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "simulator stopping");
    };
    match sim.site(name) {
        Some(site) => f(site),
        None => error(StatusCode::NOT_FOUND, format!("no site named {name}")),
    }
}

fn site_json(s: &SimSite) -> Value {
    let f = s.site.faults.snapshot();
    json!({
        "name": s.site.name,
        "region": s.site.region,
        "auth_url": s.site.auth_url(),
        "listening": s.listener.is_open(),
        "down": f.down,
        "latency_ms": f.latency_ms,
        "failures": f.rules,
    })
}

async fn list_sites(State(sim): Ctl) -> Response {
    match sim.upgrade() {
        Some(sim) => Json(json!({"sites": sim.sites.iter().map(site_json).collect::<Vec<_>>()}))
            .into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "simulator stopping"),
    }
}

#[derive(Deserialize)]
struct DownBody {
    #[serde(default = "refuse")]
    mode: DownMode,
}
fn refuse() -> DownMode {
    DownMode::Refuse
}

async fn down(State(sim): Ctl, Path(site): Path<String>, body: Option<Json<DownBody>>) -> Response {
    let mode = body.map(|b| b.0.mode).unwrap_or(DownMode::Refuse);
    set_down(sim, site, Some(mode)).await
}

async fn up(State(sim): Ctl, Path(site): Path<String>) -> Response {
    set_down(sim, site, None).await
}

async fn set_down(sim: Weak<Sim>, site: String, mode: Option<DownMode>) -> Response {
    let Some(sim) = sim.upgrade() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "simulator stopping");
    };
    match sim.set_down(&site, mode).await {
        Ok(()) => match sim.site(&site) {
            Some(s) => Json(site_json(s)).into_response(),
            None => error(StatusCode::NOT_FOUND, format!("no site named {site}")),
        },
        Err(e) if sim.site(&site).is_none() => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct LatencyBody {
    ms: u64,
}

async fn latency(
    State(sim): Ctl,
    Path(site): Path<String>,
    Json(b): Json<LatencyBody>,
) -> Response {
    with_site(&sim, &site, |s| {
        s.site.faults.set_latency(b.ms);
        Json(site_json(s)).into_response()
    })
}

async fn add_failure(
    State(sim): Ctl,
    Path(site): Path<String>,
    Json(rule): Json<FailureRule>,
) -> Response {
    if !(0.0..=1.0).contains(&rule.rate) || !(100..=599).contains(&rule.status) {
        return error(
            StatusCode::BAD_REQUEST,
            "rate must be within 0..1 and status within 100..599",
        );
    }
    with_site(&sim, &site, |s| {
        (StatusCode::CREATED, Json(s.site.faults.add_rule(rule))).into_response()
    })
}

async fn clear_failures(State(sim): Ctl, Path(site): Path<String>) -> Response {
    with_site(&sim, &site, |s| {
        s.site.faults.clear_rules();
        StatusCode::NO_CONTENT.into_response()
    })
}

async fn fail_host(State(sim): Ctl, Path((site, host)): Path<(String, String)>) -> Response {
    host_state(sim, site, host, true)
}

async fn recover_host(State(sim): Ctl, Path((site, host)): Path<(String, String)>) -> Response {
    host_state(sim, site, host, false)
}

fn host_state(sim: Weak<Sim>, site: String, host: String, failed: bool) -> Response {
    with_site(&sim, &site, |s| {
        if s.site.data.lock().compute.set_host_failed(&host, failed) {
            Json(json!({"host": host, "failed": failed})).into_response()
        } else {
            error(
                StatusCode::NOT_FOUND,
                format!("no host {host} on site {site}"),
            )
        }
    })
}

async fn read_disk(State(sim): Ctl, Path((site, id)): Path<(String, String)>) -> Response {
    with_site(&sim, &site, |s| {
        match s.site.data.lock().compute.disk(&id) {
            Some(bytes) => ([("content-type", "application/octet-stream")], bytes).into_response(),
            None => error(
                StatusCode::NOT_FOUND,
                format!("no server {id} on site {site}"),
            ),
        }
    })
}

async fn disk_sha512(State(sim): Ctl, Path((site, id)): Path<(String, String)>) -> Response {
    let bytes = sim.upgrade().and_then(|sim| {
        sim.site(&site)
            .map(|s| s.site.data.lock().compute.disk(&id))
    });
    sha512_of(bytes, || format!("no server {id} on site {site}")).await
}

async fn volume_sha512(State(sim): Ctl, Path((site, id)): Path<(String, String)>) -> Response {
    let bytes = sim.upgrade().and_then(|sim| {
        sim.site(&site)
            .map(|s| s.site.data.lock().volume.volume_data(&id))
    });
    sha512_of(bytes, || format!("no volume {id} on site {site}")).await
}

/// The sha512 and size of some bytes, hashed off the async threads; 404 when there are none.
async fn sha512_of(
    bytes: Option<Option<bytes::Bytes>>,
    missing: impl FnOnce() -> String,
) -> Response {
    let Some(Some(data)) = bytes else {
        return error(StatusCode::NOT_FOUND, missing());
    };
    let digest =
        tokio::task::spawn_blocking(move || (hex::encode(Sha512::digest(&data)), data.len())).await;
    match digest {
        Ok((sha, size)) => Json(json!({"sha512": sha, "size": size})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct Offset {
    #[serde(default)]
    offset: u64,
}

/// Replaces the whole disk with the body.
async fn put_disk(
    State(sim): Ctl,
    Path((site, id)): Path<(String, String)>,
    body: Body,
) -> Response {
    write_disk(sim, site, id, None, body).await
}

/// Writes the body at `?offset=N` of the disk.
async fn patch_disk(
    State(sim): Ctl,
    Path((site, id)): Path<(String, String)>,
    Query(o): Query<Offset>,
    body: Body,
) -> Response {
    write_disk(sim, site, id, Some(o.offset), body).await
}

/// The bytes a guest writes (a disk or volume body): at most [`MAX_DISK_WRITE`], else the
/// 413 to answer.
async fn written(body: Body) -> Result<bytes::Bytes, Response> {
    read_body(body, MAX_DISK_WRITE)
        .await
        .map_err(|e| error(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))
}

/// Replaces a volume's contents with the body.
async fn put_volume(
    State(sim): Ctl,
    Path((site, id)): Path<(String, String)>,
    body: Body,
) -> Response {
    let data = match written(body).await {
        Ok(d) => d,
        Err(too_large) => return too_large,
    };
    with_site(&sim, &site, |s| {
        if s.site.data.lock().volume.set_volume_data(&id, data) {
            StatusCode::NO_CONTENT.into_response()
        } else {
            error(
                StatusCode::NOT_FOUND,
                format!("no volume {id} on site {site}"),
            )
        }
    })
}

async fn write_disk(
    sim: Weak<Sim>,
    site: String,
    id: String,
    offset: Option<u64>,
    body: Body,
) -> Response {
    let data = match written(body).await {
        Ok(d) => d,
        Err(too_large) => return too_large,
    };
    with_site(&sim, &site, |s| {
        match s.site.data.lock().write_server_disk(&id, offset, data) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => error(StatusCode::NOT_FOUND, e),
        }
    })
}
