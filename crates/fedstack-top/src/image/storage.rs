//! The image data the top holds: one file per image under `<data_dir>/images`, written while
//! it streams in (hashed on a blocking thread) and read back as a stream.

use crate::Top;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use fedstack_api_types::glance::data::{read_error, too_large};
use fedstack_api_types::glance::format::HEAD;
use fedstack_api_types::glance::{Digests, Hasher};
use fedstack_api_types::ApiError;
use futures::{Stream, StreamExt};
use std::io::{self, Write};
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

/// Bytes read from a file at a time.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the request and the writer thread.
const QUEUE: usize = 16;

fn dir(top: &Top) -> PathBuf {
    top.config.data_dir.join("images")
}

/// The file name of an image's data: its ID when it is a plain one, else the ID in hex.
fn file_name(id: &str) -> String {
    let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain {
        id.to_string()
    } else {
        hex::encode(id)
    }
}

fn path(top: &Top, id: &str) -> PathBuf {
    dir(top).join(file_name(id))
}

fn partial_path(top: &Top, id: &str) -> PathBuf {
    dir(top).join(format!("{}.partial", file_name(id)))
}

/// What an upload stored: digests and the first bytes of the data (for the format
/// inspector).
pub struct Received {
    pub digests: Digests,
    pub head: Vec<u8>,
}

/// Streams `body` into the image's partial file, hashing as it goes, up to `cap` bytes.
pub async fn receive(top: &Top, id: &str, body: Body, cap: u64) -> Result<Received, ApiError> {
    let target = partial_path(top, id);
    std::fs::create_dir_all(dir(top)).map_err(|e| disk_error(&e))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(QUEUE);
    let writer = tokio::task::spawn_blocking(move || write_file(target, rx));
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    let mut outcome = Ok(());
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) => {
                outcome = Err(read_error());
                break;
            }
        };
        total += chunk.len() as u64;
        if total > cap {
            outcome = Err(too_large());
            break;
        }
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    let written = writer
        .await
        .map_err(|e| disk_error(&io::Error::other(e)))
        .and_then(|r| r.map_err(|e| disk_error(&e)));
    let result = outcome.and(written);
    if result.is_err() {
        discard_partial(top, id).await;
    }
    result
}

/// Writes the chunks to `target`, hashing them.
fn write_file(target: PathBuf, mut rx: tokio::sync::mpsc::Receiver<Bytes>) -> io::Result<Received> {
    let mut file = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(target)?);
    let mut hasher = Hasher::default();
    let mut head = Vec::with_capacity(HEAD);
    while let Some(chunk) = rx.blocking_recv() {
        let missing = HEAD.saturating_sub(head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..missing]);
        hasher.update(&chunk);
        file.write_all(&chunk)?;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(Received {
        digests: hasher.finish(),
        head,
    })
}

fn disk_error(e: &io::Error) -> ApiError {
    super::access::internal(format!("The top could not store the image data: {e}"))
}

/// Makes the received partial file the image's data.
pub async fn commit(top: &Top, id: &str) -> io::Result<()> {
    tokio::fs::rename(partial_path(top, id), path(top, id)).await
}

/// Removes a partial upload, if any.
pub async fn discard_partial(top: &Top, id: &str) {
    remove_file(partial_path(top, id)).await;
}

/// Removes the image's data, if any.
pub async fn remove(top: &Top, id: &str) {
    remove_file(path(top, id)).await;
}

async fn remove_file(p: PathBuf) {
    match tokio::fs::remove_file(&p).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            tracing::warn!(path = %p.display(), error = %e, "image data not removed");
        }
        _ => {}
    }
}

/// The image's data, or the inclusive byte `range` of it, as a response body.
pub async fn read(top: &Top, id: &str, range: Option<(u64, u64)>) -> io::Result<Body> {
    let mut file = tokio::fs::File::open(path(top, id)).await?;
    Ok(match range {
        Some((first, last)) => {
            file.seek(io::SeekFrom::Start(first)).await?;
            Body::from_stream(chunks(file.take(last - first + 1)))
        }
        None => Body::from_stream(chunks(file)),
    })
}

/// The image's data as a request body to a site.
pub async fn upload_body(top: &Top, id: &str) -> io::Result<reqwest::Body> {
    let file = tokio::fs::File::open(path(top, id)).await?;
    Ok(reqwest::Body::wrap_stream(chunks(file)))
}

/// A reader as a stream of chunks.
fn chunks<R>(reader: R) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    futures::stream::try_unfold(reader, |mut r| async move {
        let mut buf = BytesMut::with_capacity(CHUNK);
        let n = r.read_buf(&mut buf).await?;
        Ok((n > 0).then(|| (buf.freeze(), r)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_stay_in_the_directory() {
        assert_eq!(file_name("4e991859-5476-4b79"), "4e991859-5476-4b79");
        assert_eq!(file_name("../x"), hex::encode("../x"));
    }
}
