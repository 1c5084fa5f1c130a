//! Changes of a top image carried to its copies on sites, in the background and best effort
//! (a failure is logged; a registered image's record follows its site again at the next
//! sync round).

use super::copy::{self, ACTIVE};
use crate::Top;
use fedstack_site_client::SiteRequest;
use fedstack_store::images::ImageCopy;
use std::sync::Arc;

/// Sends `request(site_image_id)` to every site holding an active copy of the image.
pub fn forward<F>(top: &Arc<Top>, image_id: &str, request: F)
where
    F: Fn(&str) -> SiteRequest + Send + 'static,
{
    let (top, image_id) = (top.clone(), image_id.to_string());
    tokio::spawn(async move {
        let copies = match top.store.image_copies(&image_id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(image = %image_id, error = %e, "image change not carried to sites");
                return;
            }
        };
        for c in copies.iter().filter(|c| c.state == ACTIVE) {
            let Some(site) = top.sites.get(&c.site_id) else {
                continue;
            };
            let sent = site.client.send(request(&c.site_image_id)).await;
            if let Err(e) = sent.and_then(|r| r.ok()) {
                tracing::warn!(image = %image_id, site = %site.name(), error = %e, "image change not carried to site");
            }
        }
    });
}

/// Deletes the copies of a deleted image on their sites.
pub fn delete_copies(top: &Arc<Top>, copies: Vec<ImageCopy>) {
    let top = top.clone();
    tokio::spawn(async move {
        for c in copies {
            let Some(site) = top.sites.get(&c.site_id) else {
                continue;
            };
            match copy::delete_on_site(&site, &c.site_image_id).await {
                Ok(()) => {
                    tracing::info!(image = %c.image_id, site = %site.name(), "image copy deleted")
                }
                Err(e) => {
                    tracing::warn!(image = %c.image_id, site = %site.name(), error = %e, "image copy not deleted")
                }
            }
        }
    });
}

/// A path segment with every byte outside RFC 3986's unreserved set percent-encoded.
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(path_segment("a b/ü"), "a%20b%2F%C3%BC");
        assert_eq!(path_segment("plain-tag_1.0~"), "plain-tag_1.0~");
    }
}
