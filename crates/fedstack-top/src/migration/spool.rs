//! The top's spool of a transfer, which makes it resumable. The bytes read from the source's
//! Glance are also appended to a file in the top's data directory; a transfer interrupted by a
//! crash resumes reading the source at the spool's length (a ranged Glance download) instead
//! of at zero. The destination's Glance only takes an upload whole, so it is sent the spool's
//! bytes first, then the rest; the sha512 of the whole is checked as always, so a spool that
//! lost its tail in a power cut costs a retry from zero, never a bad copy.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_util::io::ReaderStream;

/// Chunks in flight between the relay and the spool writer.
const BACKLOG: usize = 64;

/// The spool files of one job.
#[derive(Debug, Clone)]
pub struct JobSpool {
    dir: PathBuf,
}

impl JobSpool {
    /// The spool of job `job` under the top's data directory.
    pub fn new(data_dir: &Path, job: &str) -> JobSpool {
        JobSpool {
            dir: data_dir.join("spool").join(job),
        }
    }

    /// The spool file of one copy (`key`: the job data key of the copy).
    pub fn file(&self, key: &str) -> Spool {
        let name: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Spool {
            path: self.dir.join(name),
        }
    }

    /// Removes every spool file of the job.
    pub async fn discard(&self) {
        if let Err(e) = tokio::fs::remove_dir_all(&self.dir).await {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(dir = %self.dir.display(), error = %e, "spool not removed");
            }
        }
    }
}

/// The spool file of one copy.
#[derive(Debug, Clone)]
pub struct Spool {
    path: PathBuf,
}

impl Spool {
    /// Bytes spooled so far (0 when there is no spool).
    pub async fn len(&self) -> u64 {
        tokio::fs::metadata(&self.path)
            .await
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// Removes the file.
    pub async fn discard(&self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }

    /// The first `n` spooled bytes, as a stream.
    pub async fn replay(&self, n: u64) -> io::Result<impl Stream<Item = io::Result<Bytes>>> {
        let file = tokio::fs::File::open(&self.path).await?;
        Ok(ReaderStream::new(file.take(n)))
    }

    /// Passes `fresh` through unchanged while appending it to the spool from byte `at` on
    /// (what lies past `at` is dropped first). The writes run on a blocking thread; the
    /// stream waits for them when they fall behind.
    pub async fn tee<S, E>(
        &self,
        at: u64,
        fresh: S,
    ) -> io::Result<impl Stream<Item = Result<Bytes, E>>>
    where
        S: Stream<Item = Result<Bytes, E>>,
    {
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&self.path)?;
        file.set_len(at)?;
        let (tx, rx) = mpsc::channel::<Bytes>(BACKLOG);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_all(file, rx, &path));
        Ok(fresh.then(move |chunk| {
            let tx = tx.clone();
            async move {
                if let Ok(c) = &chunk {
                    // A spool that cannot keep up is only a lost chance to resume.
                    let _ = tx.send(c.clone()).await;
                }
                chunk
            }
        }))
    }
}

/// Appends what arrives until the relay is done (or the spool fails, which only stops it).
fn write_all(mut file: std::fs::File, mut rx: mpsc::Receiver<Bytes>, path: &Path) {
    let mut out = file
        .seek(io::SeekFrom::End(0))
        .map(|_| io::BufWriter::new(file));
    while let Some(chunk) = rx.blocking_recv() {
        if let Ok(w) = &mut out {
            if let Err(e) = w.write_all(&chunk) {
                tracing::warn!(path = %path.display(), error = %e, "spool write failed");
                out = Err(e);
            }
        }
    }
    if let Ok(mut w) = out {
        let _ = w.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, io::Error>> {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    async fn collect<E: std::fmt::Debug>(s: impl Stream<Item = Result<Bytes, E>>) -> Vec<u8> {
        s.map(|c| c.unwrap().to_vec()).concat().await
    }

    async fn settle(spool: &Spool, want: u64) {
        for _ in 0..200 {
            if spool.len().await == want {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("spool has {} bytes, not {want}", spool.len().await);
    }

    #[tokio::test]
    async fn a_spooled_prefix_replays_and_the_rest_appends_after_it() {
        let dir = std::env::temp_dir().join(format!("fedstack-spool-{}", uuid::Uuid::new_v4()));
        let job = JobSpool::new(&dir, "job-1");
        let spool = job.file("dest_volume_image/v-1");
        assert_eq!(spool.len().await, 0);
        let passed = collect(spool.tee(0, chunks(&[b"hello ", b"wor"])).await.unwrap()).await;
        assert_eq!(passed, b"hello wor");
        settle(&spool, 9).await;
        // Resumed at byte 6: the tail past it is dropped, the new bytes follow the prefix.
        let head = collect(spool.replay(6).await.unwrap()).await;
        assert_eq!(head, b"hello ");
        let passed = collect(spool.tee(6, chunks(&[b"world"])).await.unwrap()).await;
        assert_eq!(passed, b"world");
        settle(&spool, 11).await;
        assert_eq!(
            collect(spool.replay(11).await.unwrap()).await,
            b"hello world"
        );
        job.discard().await;
        assert_eq!(spool.len().await, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
