//! The image data from one site to another: streamed from the source's Glance into the
//! destination's (never held whole) and counted for progress. The check is end to end: the
//! destination Glance's own sha512 of what it stored (`os_hash_value`; its md5 `checksum` for
//! a Glance without multihash) must equal the source's, else the copy is deleted and made
//! again. Hashing again at the top would prove less (not what was stored) for a core's worth
//! of CPU. A re-run finds a finished copy by its recorded ID and hash and does not move the
//! bytes again; an interrupted one resumes reading the source where the top's spool ends
//! (see [`super::spool`]).

use super::site::{self, site_failure};
use super::spool::{JobSpool, Spool};
use crate::sites::SiteHandle;
use fedstack_api_types::glance::data::OCTET_STREAM;
use fedstack_jobs::{JobContext, StepError};
use fedstack_site_client::{Scope, SiteRequest};
use futures::stream::{BoxStream, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// How often progress is recorded while bytes flow.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// One end of the copy: a site and the project the image lives in there.
pub struct End<'a> {
    pub site: &'a SiteHandle,
    pub project: &'a str,
}

impl End<'_> {
    fn scope(&self) -> Scope {
        Scope::Project(self.project.to_string())
    }
}

/// Where one copy sits in the job's byte count when a job moves several images.
#[derive(Debug, Clone, Copy)]
pub struct Share {
    /// Bytes of the copies before this one.
    pub before: u64,
    /// Bytes of all the copies.
    pub total: u64,
}

/// Copies the source image `src` (its document, active) to the destination: the destination
/// image ID, recorded under `key` before it is created there.
pub async fn copy_image(
    cx: &mut JobContext,
    from: &End<'_>,
    src: &Value,
    to: &End<'_>,
    key: &str,
    share: Share,
    spool: &JobSpool,
) -> Result<String, StepError> {
    let image_id = src["id"].as_str().unwrap_or_default();
    let size = src["size"].as_u64().unwrap_or(0);
    let mut id: String = cx.get(key).unwrap_or_else(|| image_id.to_string());
    match site::image(to.site, &id).await? {
        Some(d) if d["status"] == "active" && same_data(src, &d) => {
            cx.progress(share.before + size, share.total).await?;
            return Ok(id);
        }
        Some(d) if d["status"] == "queued" => {}
        Some(_) => {
            site::delete_image(to.site, &id).await?;
            id = uuid::Uuid::new_v4().to_string();
            cx.put(key, &id).await?;
            create(to, src, &id).await?;
        }
        None => {
            cx.put(key, &id).await?;
            if !create(to, src, &id).await? {
                id = uuid::Uuid::new_v4().to_string();
                cx.put(key, &id).await?;
                create(to, src, &id).await?;
            }
        }
    }
    let spooled = spool.file(key);
    let copy = Copy {
        from_id: image_id,
        to_id: &id,
        size,
        share,
        spool: &spooled,
    };
    stream(cx, from, to, &copy).await?;
    // Whatever the check says, the next attempt reads the source afresh.
    spooled.discard().await;
    let copy = site::wait_image(cx, to.site, &id).await?;
    if !same_data(src, &copy) {
        site::delete_image(to.site, &id).await?;
        return Err(StepError::Transient(format!(
            "the copy on site {} has other data than the source (checksums differ); it was deleted",
            to.site.name()
        )));
    }
    Ok(id)
}

/// Whether two Glance images hold the same data by their checksums: sha512 when both have
/// it, else md5; never for an image with neither.
fn same_data(a: &Value, b: &Value) -> bool {
    let sum = |img: &Value, key: &str| {
        img[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let sha = (sum(a, "os_hash_value"), sum(b, "os_hash_value"));
    if let (Some(x), Some(y)) = &sha {
        return a["os_hash_algo"] == b["os_hash_algo"] && x == y;
    }
    matches!((sum(a, "checksum"), sum(b, "checksum")), (Some(x), Some(y)) if x == y)
        && a["size"] == b["size"]
}

/// Creates the queued image on the destination: false when the site refuses the ID (409).
async fn create(to: &End<'_>, src: &Value, id: &str) -> Result<bool, StepError> {
    let body = json!({
        "id": id,
        "name": src["name"],
        "disk_format": src["disk_format"],
        "container_format": src["container_format"],
        "visibility": "private",
    });
    let r = site::send(
        to.site,
        SiteRequest::new(Method::POST, "image", "/v2/images", to.scope()).json(&body),
    )
    .await?;
    if r.status.as_u16() == 409 {
        return Ok(false);
    }
    r.ok().map(|_| true).map_err(|e| site_failure(to.site, e))
}

/// The source's bytes: what the spool holds of them, then the rest read from the source
/// (ranged when resuming), appended to the spool on the way.
async fn source_bytes(
    cx: &JobContext,
    from: &End<'_>,
    image_id: &str,
    size: u64,
    spool: &Spool,
) -> Result<BoxStream<'static, std::io::Result<bytes::Bytes>>, StepError> {
    let spool_failure = |e: std::io::Error| StepError::Transient(format!("the top's spool: {e}"));
    let have = spool.len().await.min(size);
    if have == size && size > 0 {
        cx.note(
            "transfer",
            &format!("all {size} bytes of image {image_id} come from the top's spool"),
        )
        .await;
        return Ok(spool.replay(size).await.map_err(spool_failure)?.boxed());
    }
    let mut req = SiteRequest::new(
        Method::GET,
        "image",
        format!("/v2/images/{image_id}/file"),
        from.scope(),
    );
    if have > 0 {
        req = req.header("range", &format!("bytes={have}-"));
    }
    let download = from
        .site
        .client
        .send_streaming(req)
        .await
        .map_err(|e| site_failure(from.site, e))?;
    if !download.status().is_success() {
        return Err(StepError::Transient(format!(
            "site {} answered {} to the image download",
            from.site.name(),
            download.status()
        )));
    }
    let at = if download.status() == StatusCode::PARTIAL_CONTENT {
        have
    } else {
        0
    };
    let fresh = download
        .bytes_stream()
        .map(|c| c.map_err(std::io::Error::other));
    let fresh = spool.tee(at, fresh).await.map_err(spool_failure)?;
    if at == 0 {
        return Ok(fresh.boxed());
    }
    cx.note(
        "transfer",
        &format!(
            "resumed at byte {at} of {size}: {at} bytes from the top's spool, the rest read from site {}",
            from.site.name()
        ),
    )
    .await;
    let head = spool.replay(at).await.map_err(spool_failure)?;
    Ok(head.chain(fresh).boxed())
}

/// One image's copy.
struct Copy<'a> {
    /// The source image.
    from_id: &'a str,
    /// The (queued) destination image.
    to_id: &'a str,
    size: u64,
    share: Share,
    spool: &'a Spool,
}

/// Streams the data.
async fn stream(
    cx: &mut JobContext,
    from: &End<'_>,
    to: &End<'_>,
    c: &Copy<'_>,
) -> Result<(), StepError> {
    let (size, share, id) = (c.size, c.share, c.to_id);
    let chunks = source_bytes(cx, from, c.from_id, size, c.spool).await?;
    let (body, tally) = crate::image::stream::count(chunks);
    let req = SiteRequest::new(
        Method::PUT,
        "image",
        format!("/v2/images/{id}/file"),
        to.scope(),
    )
    .header("content-type", OCTET_STREAM)
    .header("content-length", &size.to_string());
    let upload = to.site.client.send_body(req, body);
    tokio::pin!(upload);
    let answer = loop {
        tokio::select! {
            r = &mut upload => break r,
            _ = tokio::time::sleep(PROGRESS_EVERY) => {
                cx.progress(share.before + tally.moved(), share.total).await?;
            }
        }
    };
    let answer = answer.map_err(|e| site_failure(to.site, e))?;
    answer.ok().map_err(|e| site_failure(to.site, e))?;
    let done = tally.moved();
    cx.progress(share.before + done, share.total).await?;
    if done != size {
        return Err(StepError::Transient(format!(
            "{done} of {size} bytes arrived from site {}",
            from.site.name()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::same_data;
    use serde_json::json;

    #[test]
    fn copies_are_compared_by_sha512_else_md5_never_by_nothing() {
        let img = |sha: &str, md5: &str| json!({"os_hash_algo": "sha512", "os_hash_value": sha, "checksum": md5, "size": 3});
        assert!(same_data(&img("aa", "m"), &img("aa", "m")));
        assert!(
            !same_data(&img("aa", "m"), &img("bb", "m")),
            "sha512 decides over md5"
        );
        let old = json!({"os_hash_algo": null, "os_hash_value": null, "checksum": "m", "size": 3});
        assert!(
            same_data(&img("aa", "m"), &old),
            "a Glance without multihash: md5"
        );
        assert!(!same_data(&img("aa", "x"), &old));
        let bare = json!({"os_hash_value": null, "checksum": null, "size": 3});
        assert!(!same_data(&bare, &bare));
    }
}
