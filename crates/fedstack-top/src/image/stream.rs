//! Image data relayed from one site's Glance download into another site's upload, never held
//! whole: counted, and for image copies hashed (sha512) as the chunks go through, so the
//! caller can check what arrived against the image's `os_hash_value`. Cold migration only
//! counts (it checks the destination's own checksums).

use futures::StreamExt;
use sha2::{Digest, Sha512};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What went through a [`relay`] (or a [`count`]) so far.
#[derive(Clone, Default)]
pub struct Tally {
    moved: Arc<AtomicU64>,
    /// `None` when the relay only counts.
    hasher: Option<Arc<Mutex<Sha512>>>,
}

impl Tally {
    /// Bytes relayed.
    pub fn moved(&self) -> u64 {
        self.moved.load(Ordering::Relaxed)
    }

    /// The hex sha512 of the bytes relayed (`None` when not hashing, or if a hashing thread
    /// panicked).
    pub fn sha512(&self) -> Option<String> {
        self.hasher
            .as_ref()?
            .lock()
            .ok()
            .map(|h| hex::encode(h.clone().finalize()))
    }

    fn hashing() -> Tally {
        Tally {
            moved: Arc::default(),
            hasher: Some(Arc::default()),
        }
    }

    fn add(&self, chunk: &[u8]) {
        self.moved.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if let Some(Ok(mut h)) = self.hasher.as_ref().map(|h| h.lock()) {
            h.update(chunk);
        }
    }
}

/// The body of `download` as a request body, with the [`Tally`] (count and sha512) of what it
/// passes on.
pub fn relay(download: reqwest::Response) -> (reqwest::Body, Tally) {
    tallied(download.bytes_stream(), Tally::hashing())
}

/// Any stream of chunks as a request body, with the count of what it passes on.
pub fn count<S, E>(chunks: S) -> (reqwest::Body, Tally)
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    tallied(chunks, Tally::default())
}

fn tallied<S, E>(chunks: S, tally: Tally) -> (reqwest::Body, Tally)
where
    S: futures::Stream<Item = Result<bytes::Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
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
        let t = Tally::hashing();
        t.add(b"hello ");
        t.add(b"world");
        assert_eq!(t.moved(), 11);
        assert_eq!(
            t.sha512().as_deref(),
            Some(hex::encode(Sha512::digest(b"hello world")).as_str())
        );
    }
}
