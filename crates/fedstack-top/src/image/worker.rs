//! The copy worker: submits pending copies as `image-copy` jobs, failed ones again after a
//! backoff, and copies left `copying` with no job (the engine dedups: one active job per
//! image and site, and resumes the jobs of a node that stopped).

use super::copy::{COPYING, FAILED, PENDING};
use super::replicate;
use crate::Top;
use fedstack_store::images::ImageCopy;
use fedstack_store::{now_ms, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// How often the worker looks for work.
const POLL: Duration = Duration::from_secs(1);
/// Failed attempts after which a copy is left failed (a boot there still retries it).
const MAX_ATTEMPTS: i64 = 12;
/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 60_000;

/// Runs forever.
pub async fn run(top: Arc<Top>) {
    loop {
        if let Err(e) = round(&top).await {
            tracing::warn!(error = %e, "image copy worker round failed");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Milliseconds to wait after the `attempts`-th failure: 1 s, 2 s, 4 s, ... up to a minute.
fn backoff_ms(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    1000i64.saturating_mul(1 << exp).min(MAX_BACKOFF_MS)
}

/// True when a copy in `state` should run now.
fn due(c: &ImageCopy, now: i64) -> bool {
    match c.state.as_str() {
        PENDING | COPYING => true,
        FAILED => c.attempts < MAX_ATTEMPTS && now >= c.updated_at + backoff_ms(c.attempts),
        _ => false,
    }
}

/// Submits every due copy to a site that is up.
async fn round(top: &Arc<Top>) -> Result<(), StoreError> {
    let now = now_ms();
    for state in [PENDING, COPYING, FAILED] {
        for c in top.store.image_copies_in_state(state).await? {
            if !due(&c, now) || !top.sites.get(&c.site_id).is_some_and(|s| s.is_up()) {
                continue;
            }
            if let Err(e) = replicate::submit(top, &c.image_id, &c.site_id).await {
                tracing::warn!(image = %c.image_id, site = %c.site_id, error = %e, "image copy not submitted");
            }
        }
    }
    // Runs the copies whose backoff ended, also where no job loop runs (tests of the image
    // loops alone).
    if let Err(e) = top.jobs.round().await {
        tracing::warn!(error = %e, "image copy jobs not started");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(state: &str, attempts: i64, updated_at: i64) -> ImageCopy {
        ImageCopy {
            image_id: "i".into(),
            site_id: "s".into(),
            site_image_id: "i".into(),
            state: state.into(),
            error: None,
            attempts,
            updated_at,
        }
    }

    #[test]
    fn failed_copies_wait_longer_each_time() {
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(3), 4000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
        assert!(due(&copy(PENDING, 0, 0), 0));
        assert!(!due(&copy(FAILED, 2, 1000), 2500));
        assert!(due(&copy(FAILED, 2, 1000), 3000));
        assert!(!due(&copy(FAILED, MAX_ATTEMPTS, 0), i64::MAX));
        assert!(!due(&copy("active", 1, 0), 0));
    }
}
