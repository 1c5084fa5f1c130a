//! `POST /volumes/{id}/action`: extend, reset status, bootable, upload to image, and the
//! legacy attach / detach / reserve family.

use super::volumes::VolumePath;
use super::{json_response, version_not_found, Req, Res};
use crate::ctx::OsJson;
use crate::image::{NewImage, Visibility};
use crate::site::SiteData;
use crate::volume::model::{Volume, VolumeStatus};
use crate::volume::ops::policy_denied;
use crate::volume::schema::{self, bad, field_error, py_repr};
use crate::volume::views::{db_time, upload_volume_type};
use crate::volume::VolumeData;
use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use fedstack_api_types::ApiError;
use serde_json::{json, Map, Value};

/// The image properties Cinder does not copy from `volume_image_metadata` to a new image.
const CORE_IMAGE_KEYS: [&str; 8] = [
    "image_id",
    "image_name",
    "checksum",
    "container_format",
    "disk_format",
    "min_disk",
    "min_ram",
    "size",
];

/// Disk formats an upload may ask for.
const DISK_FORMATS: [&str; 7] = ["raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop"];

/// A 202 with no body, as Cinder's actions answer (JSON content type).
fn accepted() -> Response {
    let mut r = StatusCode::ACCEPTED.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Dispatches a volume action by its single body key.
pub async fn action(req: Req, Path(p): Path<VolumePath>, OsJson(body): OsJson) -> Res {
    let Some((name, args)) = body.as_object().and_then(single_key) else {
        return Err(bad("Malformed request body"));
    };
    let id = p.volume_id.as_str();
    match name.as_str() {
        "os-extend" => extend(&req, id, &args),
        "os-reset_status" => reset_status(&req, id, &args),
        "os-set_bootable" => set_bootable(&req, id, &args),
        "os-volume_upload_image" => upload_image(&req, id, &args),
        "os-attach" => attach(&req, id, &args),
        "os-detach" => detach(&req, id, &args),
        "os-force_delete" => force_delete(&req, id),
        "os-retype" => retype(&req, id, &args),
        "revert" if req.at_least(40) => revert(&req, id, &args),
        "revert" => Err(version_not_found()),
        "os-update_readonly_flag" => readonly(&req, id, &args),
        "os-reserve" | "os-unreserve" | "os-begin_detaching" | "os-roll_detaching" => {
            simple(&req, id, &name)
        }
        other => Err(bad(format!(
            "There is no such action: {other}. Verify the request body and Content-Type header and try again."
        ))),
    }
}

fn single_key(o: &Map<String, Value>) -> Option<(String, Value)> {
    if o.len() != 1 {
        return None;
    }
    o.iter().next().map(|(k, v)| (k.clone(), v.clone()))
}

/// The action's argument object (null allowed as empty where Cinder allows it).
fn args_object<'a>(name: &str, args: &'a Value) -> Result<&'a Map<String, Value>, ApiError> {
    args.as_object()
        .ok_or_else(|| schema::type_error(name, args, "'object'"))
}

/// Rejects properties outside `allowed`.
fn only(name: &str, o: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(field_error(
            name,
            &Value::Object(o.clone()),
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        )),
        None => Ok(()),
    }
}

/// A required property.
fn required<'a>(name: &str, o: &'a Map<String, Value>, key: &str) -> Result<&'a Value, ApiError> {
    o.get(key).ok_or_else(|| {
        field_error(
            name,
            &Value::Object(o.clone()),
            &format!("'{key}' is a required property"),
        )
    })
}

/// Locks the site's Cinder state, settled at `now`, and runs `f` on it.
fn with_volumes<T>(
    req: &Req,
    now: chrono::DateTime<Utc>,
    f: impl FnOnce(&mut VolumeData) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut g = req.ctx.site.data.lock();
    g.volume.settle(now);
    f(&mut g.volume)
}

/// `os-extend` (in-use volumes from 3.42).
fn extend(req: &Req, id: &str, args: &Value) -> Res {
    let o = args_object("os-extend", args)?;
    only("os-extend", o, &["new_size"])?;
    let new_size = schema::size("new_size", Some(required("os-extend", o, "new_size")?))?
        .ok_or_else(|| schema::type_error("new_size", &Value::Null, "'integer', 'string'"))?;
    let now = Utc::now();
    let clock = req.clock(now);
    let caller = req.caller();
    with_volumes(req, now, |d| {
        d.extend_volume(&caller, id, new_size, req.at_least(42), clock)
    })?;
    Ok(accepted())
}

/// `os-reset_status` (admin).
fn reset_status(req: &Req, id: &str, args: &Value) -> Res {
    req.require_admin("volume_extension:volume_admin_actions:reset_status")?;
    let o = args_object("os-reset_status", args)?;
    only(
        "os-reset_status",
        o,
        &["status", "attach_status", "migration_status"],
    )?;
    let status = match schema::opt_string(o, "status")? {
        Some(s) if !s.is_empty() => Some(VolumeStatus::parse(&s).ok_or_else(|| {
            field_error(
                "status",
                &Value::String(s.clone()),
                &format!("'{s}' is not a 'volume_status'"),
            )
        })?),
        _ => None,
    };
    let attach_status = schema::opt_string(o, "attach_status")?;
    if let Some(a) = attach_status.as_deref().filter(|a| !a.is_empty()) {
        if !["attached", "detached"].contains(&a.to_ascii_lowercase().as_str()) {
            return Err(field_error(
                "attach_status",
                &Value::String(a.into()),
                &format!("'{a}' is not a 'volume_attach_status'"),
            ));
        }
    }
    let migration = schema::opt_string(o, "migration_status")?;
    if status.is_none() && attach_status.is_none() && migration.is_none() {
        return Err(bad(
            "Must specify 'status', 'attach_status' or 'migration_status' for update.",
        ));
    }
    if matches!(
        status,
        Some(VolumeStatus::Deleting | VolumeStatus::ErrorDeleting)
    ) {
        return Err(bad(
            "Cannot reset-state to deleting or error_deleting status",
        ));
    }
    let detach_all = attach_status
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("detached"));
    let now = Utc::now();
    let caller = req.caller();
    with_volumes(req, now, |d| {
        d.reset_volume_status(&caller, id, status, detach_all, now)
    })?;
    Ok(accepted())
}

/// `os-set_bootable` (200, no body).
fn set_bootable(req: &Req, id: &str, args: &Value) -> Res {
    let o = args_object("os-set_bootable", args)?;
    only("os-set_bootable", o, &["bootable"])?;
    let bootable = schema::strict_bool(required("os-set_bootable", o, "bootable")?)?;
    let now = Utc::now();
    let caller = req.caller();
    with_volumes(req, now, |d| d.set_bootable(&caller, id, bootable, now))?;
    Ok(StatusCode::OK.into_response())
}

/// `os-update_readonly_flag`: accepted (volumes are always attached read-write here).
fn readonly(req: &Req, id: &str, args: &Value) -> Res {
    let o = args_object("os-update_readonly_flag", args)?;
    only("os-update_readonly_flag", o, &["readonly"])?;
    schema::strict_bool(required("os-update_readonly_flag", o, "readonly")?)?;
    let now = Utc::now();
    let caller = req.caller();
    with_volumes(req, now, |d| d.visible_volume(&caller, id).map(|_| ()))?;
    Ok(accepted())
}

/// `os-retype` with `new_type` (name or ID) and an optional `migration_policy`.
fn retype(req: &Req, id: &str, args: &Value) -> Res {
    let o = args_object("os-retype", args)?;
    only("os-retype", o, &["new_type", "migration_policy"])?;
    let new_type = match required("os-retype", o, "new_type")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        v => return Err(schema::type_error("new_type", v, "'string'")),
    };
    if let Some(p) = schema::opt_string(o, "migration_policy")? {
        if p != "never" && p != "on-demand" {
            let v = Value::String(p.clone());
            let msg = format!("{} is not one of ['never', 'on-demand']", py_repr(&v));
            return Err(field_error("migration_policy", &v, &msg));
        }
    }
    let now = Utc::now();
    let clock = req.clock(now);
    let caller = req.caller();
    with_volumes(req, now, |d| d.retype_volume(&caller, id, &new_type, clock))?;
    Ok(accepted())
}

/// `revert` (3.40) with the volume's latest `snapshot_id`.
fn revert(req: &Req, id: &str, args: &Value) -> Res {
    let o = args_object("revert", args)?;
    only("revert", o, &["snapshot_id"])?;
    let snapshot_id = schema::opt_string(o, "snapshot_id")?;
    let now = Utc::now();
    let clock = req.clock(now);
    let caller = req.caller();
    with_volumes(req, now, |d| {
        d.revert_volume(&caller, id, snapshot_id.as_deref(), clock)
    })?;
    Ok(accepted())
}

/// `os-force_delete` (admin): deletes whatever the status.
fn force_delete(req: &Req, id: &str) -> Res {
    req.require_admin("volume_extension:volume_admin_actions:force_delete")?;
    let now = Utc::now();
    let clock = req.clock(now);
    let caller = req.caller();
    with_volumes(req, now, |d| {
        d.delete_volume(&caller, id, true, true, clock)
    })?;
    Ok(accepted())
}

/// Parsed `os-volume_upload_image` arguments.
struct Upload {
    image_name: String,
    force: bool,
    disk_format: String,
    container_format: String,
    visibility: Visibility,
    visibility_name: &'static str,
    protected: bool,
}

fn parse_upload(req: &Req, args: &Value) -> Result<Upload, ApiError> {
    let name = "os-volume_upload_image";
    let o = args_object(name, args)?;
    let mut allowed = vec!["image_name", "force", "disk_format", "container_format"];
    if req.at_least(1) {
        allowed.extend(["visibility", "protected"]);
    }
    only(name, o, &allowed)?;
    let image_name = match required(name, o, "image_name")? {
        Value::String(s) if !s.is_empty() && s.chars().count() <= 255 => s.clone(),
        v @ Value::String(_) => {
            return Err(field_error(
                "image_name",
                v,
                &format!("{} is too short", py_repr(v)),
            ))
        }
        v => return Err(schema::type_error("image_name", v, "'string'")),
    };
    let flag = |k: &str| o.get(k).map(schema::strict_bool).transpose();
    let force = flag("force")?.unwrap_or(false);
    let protected = flag("protected")?.unwrap_or(false);
    let disk_format = match o.get("disk_format") {
        None => "raw".to_string(),
        Some(Value::String(s)) if DISK_FORMATS.contains(&s.as_str()) => s.clone(),
        Some(v) => {
            let msg = format!("{} is not one of {}", py_repr(v), py_list(&DISK_FORMATS));
            return Err(field_error("disk_format", v, &msg));
        }
    };
    let container_format =
        schema::opt_string(o, "container_format")?.unwrap_or_else(|| "bare".into());
    let (visibility, visibility_name) = upload_visibility(req, o)?;
    Ok(Upload {
        image_name,
        force,
        disk_format,
        container_format,
        visibility,
        visibility_name,
        protected,
    })
}

/// `['a', 'b']`
fn py_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The new image's visibility: Glance's default `shared` before 3.1, else the request's
/// (default `private`; `public` needs admin).
fn upload_visibility(
    req: &Req,
    o: &Map<String, Value>,
) -> Result<(Visibility, &'static str), ApiError> {
    if !req.at_least(1) {
        return Ok((Visibility::Shared, "shared"));
    }
    const NAMES: [&str; 4] = ["community", "public", "private", "shared"];
    let name = match o.get("visibility") {
        None => "private",
        Some(Value::String(s)) => NAMES.iter().find(|n| **n == s).copied().ok_or_else(|| {
            let v = Value::String(s.clone());
            field_error(
                "visibility",
                &v,
                &format!("{} is not one of {}", py_repr(&v), py_list(&NAMES)),
            )
        })?,
        Some(v) => return Err(schema::type_error("visibility", v, "'string'")),
    };
    if name == "public" && !req.ctx.is_admin() {
        return Err(policy_denied(
            "volume_extension:volume_actions:upload_public",
        ));
    }
    let vis = Visibility::parse(name).unwrap_or_default();
    Ok((vis, name))
}

/// `os-volume_upload_image`: the volume goes `uploading`, a Glance image is created with the
/// volume's bytes (active at the end of the operation), and the volume returns to its status.
fn upload_image(req: &Req, id: &str, args: &Value) -> Res {
    let up = parse_upload(req, args)?;
    let now = Utc::now();
    let clock = req.clock(now);
    let caller = req.caller();
    let mut g = req.ctx.site.data.lock();
    let SiteData { image, volume, .. } = &mut *g;
    volume.settle(now);
    let before = volume.begin_upload(&caller, id, up.force, clock)?;
    let new = NewImage {
        owner: caller.project_id.clone(),
        name: up.image_name.clone(),
        data: before.data.clone().unwrap_or_default(),
        disk_format: Some(up.disk_format.clone()),
        container_format: Some(up.container_format.clone()),
        visibility: up.visibility,
        properties: copied_properties(&before),
        ..Default::default()
    };
    let image_id = image.create_image_with_data(new, clock.ready_at);
    let body = upload_answer(volume, &before, &up, &image_id);
    Ok(json_response(StatusCode::ACCEPTED, body))
}

/// The Glance properties a volume passes on to its image.
fn copied_properties(v: &Volume) -> Map<String, Value> {
    v.image_metadata
        .iter()
        .flatten()
        .filter(|(k, _)| !CORE_IMAGE_KEYS.contains(&k.as_str()))
        .map(|(k, val)| (k.clone(), Value::String(val.clone())))
        .collect()
}

fn upload_answer(d: &VolumeData, v: &Volume, up: &Upload, image_id: &str) -> Value {
    let type_ = d
        .types
        .get(&v.type_id)
        .map_or(Value::Null, upload_volume_type);
    json!({"os-volume_upload_image": {
        "id": v.id,
        "updated_at": v.updated_at.map(db_time),
        "status": "uploading",
        "display_description": v.description,
        "size": v.size,
        "volume_type": type_,
        "image_id": image_id,
        "container_format": up.container_format,
        "disk_format": up.disk_format,
        "image_name": up.image_name,
        "protected": up.protected,
        "visibility": up.visibility_name,
    }})
}

/// Legacy `os-attach`.
fn attach(req: &Req, id: &str, args: &Value) -> Res {
    let o = args_object("os-attach", args)?;
    only(
        "os-attach",
        o,
        &["instance_uuid", "mountpoint", "host_name", "mode"],
    )?;
    let mountpoint = match required("os-attach", o, "mountpoint")? {
        Value::String(s) if !s.is_empty() => s.clone(),
        v => return Err(schema::type_error("mountpoint", v, "'string'")),
    };
    let server = schema::opt_string(o, "instance_uuid")?;
    let host = schema::opt_string(o, "host_name")?;
    if server.is_none() && host.is_none() {
        let shown = Value::Object(o.clone());
        let msg = format!(
            "{} is not valid under any of the given schemas",
            py_repr(&shown)
        );
        return Err(field_error("os-attach", &shown, &msg));
    }
    let now = Utc::now();
    let caller = req.caller();
    with_volumes(req, now, |d| {
        d.legacy_attach(
            &caller,
            id,
            server.as_deref(),
            host.as_deref(),
            &mountpoint,
            now,
        )
    })?;
    Ok(accepted())
}

/// Legacy `os-detach`.
fn detach(req: &Req, id: &str, args: &Value) -> Res {
    let attachment_id = match args {
        Value::Null => None,
        Value::Object(o) => {
            only("os-detach", o, &["attachment_id"])?;
            schema::opt_string(o, "attachment_id")?
        }
        other => return Err(schema::type_error("os-detach", other, "'object', 'null'")),
    };
    let now = Utc::now();
    let caller = req.caller();
    with_volumes(req, now, |d| {
        d.legacy_detach(&caller, id, attachment_id.as_deref(), now)
    })?;
    Ok(accepted())
}

/// `os-reserve`, `os-unreserve`, `os-begin_detaching`, `os-roll_detaching`.
fn simple(req: &Req, id: &str, name: &str) -> Res {
    let now = Utc::now();
    let caller = req.caller();
    with_volumes(req, now, |d| match name {
        "os-reserve" => d.reserve(&caller, id, now),
        "os-unreserve" => d.unreserve(&caller, id, now),
        "os-begin_detaching" => d.begin_detaching(&caller, id, now),
        _ => d.roll_detaching(&caller, id, now),
    })?;
    Ok(accepted())
}
