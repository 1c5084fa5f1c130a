//! Image data relayed from one site's Glance download into another site's upload, never held
//! whole: counted and hashed (sha512) as the chunks go through, so the caller can check what
//! arrived against the image's `os_hash_value`. Used by image copies and cold migration.

use futures::StreamExt;
use sha2::{Digest, Sha512};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What went through a [`relay`] so far.
#[derive(Clone, Default)]
pub struct Tally {
    moved: Arc<AtomicU64>,
    hasher: Arc<Mutex<Sha512>>,
}

impl Tally {
    /// Bytes relayed.
    pub fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// The hex sha512 of the bytes relayed (`None` if a hashing thread panicked).
    pub fn sha512(&self) -> Option<String> {
        self.hasher
            .lock()
            .ok()
            .map(|h| hex::encode(h.clone().finalize()))
    }

    fn add(&self, chunk: &[u8]) {
        self.moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if let Ok(mut h) = self.hasher.lock() {
            h.update(chunk);
        }
    }
}

/// The body of `download` as a request body, with the [`Tally`] of what it passes on.
pub fn relay(download: reqwest::Response) -> (reqwest::Body, Tally) {
    relay_stream(download.bytes_stream())
}

/// Any stream of chunks as a request body, with the [`Tally`] of what it passes on.
pub fn relay_stream<S, E>(chunks: S) -> (reqwest::Body, Tally)
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let tally = Tally::default();
    let t = tally.clone();
    let body = chunks.map(move |chunk| {
        if let Ok(c) = &chunk {
            t.add(c);
        }
        chunk
    });
    (reqwest::Body::wrap_stream(body), tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_and_hashes_every_chunk() {
        let t = Tally::default();
        t.add(b"hello ");
        t.add(b"world");
        assert_eq!(t.moved(), 11);
        assert_eq!(
            t.sha512().as_deref(),
            Some(hex::encode(Sha512::digest(b"hello world")).as_str())
        );
    }
}
