//! Where the bytes of an image copy come from: the top's own file when it holds the image's
//! data, else a site holding an active copy (a registered site image, or an earlier copy),
//! downloaded with Glance v2 and relayed to the destination without the top keeping any byte.

use super::copy::{CopyError, ACTIVE};
use super::record::TopImage;
use super::storage;
use super::stream::{self, Tally};
use crate::sites::SiteHandle;
use crate::Top;
use fedstack_store::images::ImageCopy;
use std::sync::Arc;

/// The data of a copy, ready to upload.
pub struct Source {
    pub body: reqwest::Body,
    /// What went through, when the bytes come from a site (the top's file was hashed when it
    /// was uploaded).
    pub tally: Option<(Arc<SiteHandle>, Tally)>,
}

/// The active copies of the image on other sites than `dest`, with their site when it is
/// up; `NoData` when the top has no data and no site has a copy.
async fn holders(
    top: &Top,
    image: &TopImage,
    dest: &SiteHandle,
) -> Result<Vec<(ImageCopy, Option<Arc<SiteHandle>>)>, CopyError> {
    let copies: Vec<_> = top
        .store
        .image_copies(&image.record.id)
        .await?
        .into_iter()
        .filter(|c| c.state == ACTIVE && c.site_id != dest.id())
        .map(|c| {
            let site = top.sites.get(&c.site_id).filter(|s| s.is_up());
            (c, site)
        })
        .collect();
    if copies.is_empty() {
        return Err(CopyError::NoData(image.record.id.clone()));
    }
    Ok(copies)
}

/// Whether a copy to `dest` can start now: the top holds the data, or a site that is up
/// holds an active copy (`NoData` / `SourceDown` otherwise).
pub async fn check(top: &Top, image: &TopImage, dest: &SiteHandle) -> Result<(), CopyError> {
    if image.local_data {
        return Ok(());
    }
    let copies = holders(top, image, dest).await?;
    if copies.iter().any(|(_, s)| s.is_some()) {
        return Ok(());
    }
    Err(source_down(top, image, &copies, "not available".into()))
}

/// Opens the data of `image` for a copy to `dest`: the top's file, else the download of the
/// first site holding an active copy that serves it.
pub async fn open(top: &Top, image: &TopImage, dest: &SiteHandle) -> Result<Source, CopyError> {
    if image.local_data {
        let body = storage::upload_body(top, &image.record.id)
            .await
            .map_err(|e| CopyError::Failed(format!("the top cannot read the image data: {e}")))?;
        return Ok(Source { body, tally: None });
    }
    let copies = holders(top, image, dest).await?;
    let mut last = "not available".to_string();
    for (c, site) in &copies {
        let Some(site) = site else { continue };
        let req = super::data::data_request(c, &axum::http::HeaderMap::new());
        match site.client.send_streaming(req).await {
            Ok(r) if r.status().as_u16() == 200 => {
                let (body, tally) = stream::relay(r);
                return Ok(Source {
                    body,
                    tally: Some((site.clone(), tally)),
                });
            }
            Ok(r) => {
                last = format!(
                    "site {} answered {} to the download",
                    site.name(),
                    r.status()
                )
            }
            Err(e) => last = format!("site {}: {e}", site.name()),
        }
        tracing::warn!(image = %image.record.id, error = %last, "image data not served for a copy");
    }
    Err(source_down(top, image, &copies, last))
}

fn source_down(
    top: &Top,
    image: &TopImage,
    copies: &[(ImageCopy, Option<Arc<SiteHandle>>)],
    reason: String,
) -> CopyError {
    let sites = copies
        .iter()
        .map(|(c, _)| {
            top.sites
                .get(&c.site_id)
                .map_or_else(|| c.site_id.clone(), |s| s.name().to_string())
        })
        .collect::<Vec<_>>()
        .join(", ");
    CopyError::SourceDown {
        image: image.record.id.clone(),
        sites,
        reason,
    }
}
