//! Prometheus text exposition of the jobs, computed from the jobs table at scrape time: the
//! figures are the same on every node and survive restarts, with no registry to keep.

use crate::store::{JobStore, KindStats, StoreError, DURATION_BUCKETS_S};
use std::fmt::Write;

/// The job metrics in Prometheus' text format (version 0.0.4).
pub async fn render(store: &JobStore) -> Result<String, StoreError> {
    Ok(format(&store.stats().await?))
}

fn format(stats: &[KindStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP fedstack_jobs Jobs by type and state (final states are outcomes)."
    );
    let _ = writeln!(out, "# TYPE fedstack_jobs gauge");
    for s in stats {
        let _ = writeln!(
            out,
            "fedstack_jobs{{type=\"{}\",state=\"{}\"}} {}",
            s.kind,
            s.state.as_str(),
            s.count
        );
    }
    let _ = writeln!(out, "# HELP fedstack_job_duration_seconds Time from creation to the end of finished jobs, by type and outcome.");
    let _ = writeln!(out, "# TYPE fedstack_job_duration_seconds histogram");
    for s in stats.iter().filter(|s| s.state.is_final()) {
        let labels = format!("type=\"{}\",outcome=\"{}\"", s.kind, s.state.as_str());
        for (bound, n) in DURATION_BUCKETS_S.iter().zip(&s.buckets) {
            let _ = writeln!(
                out,
                "fedstack_job_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "fedstack_job_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
            s.count
        );
        let _ = writeln!(
            out,
            "fedstack_job_duration_seconds_sum{{{labels}}} {:.3}",
            s.duration_ms as f64 / 1000.0
        );
        let _ = writeln!(
            out,
            "fedstack_job_duration_seconds_count{{{labels}}} {}",
            s.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP fedstack_job_bytes Bytes moved by jobs, by type and state."
    );
    let _ = writeln!(out, "# TYPE fedstack_job_bytes gauge");
    for s in stats {
        let _ = writeln!(
            out,
            "fedstack_job_bytes{{type=\"{}\",state=\"{}\"}} {}",
            s.kind,
            s.state.as_str(),
            s.bytes
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobState;

    #[test]
    fn histogram_lines_carry_type_and_outcome() {
        let text = format(&[KindStats {
            kind: "migration".into(),
            state: JobState::Done,
            count: 2,
            duration_ms: 3500,
            buckets: vec![0, 1, 2, 2, 2, 2, 2, 2],
            bytes: 1024,
        }]);
        assert!(text.contains("fedstack_jobs{type=\"migration\",state=\"done\"} 2"));
        assert!(text.contains(
            "fedstack_job_duration_seconds_bucket{type=\"migration\",outcome=\"done\",le=\"5\"} 1"
        ));
        assert!(text.contains(
            "fedstack_job_duration_seconds_sum{type=\"migration\",outcome=\"done\"} 3.500"
        ));
        assert!(text.contains("fedstack_job_bytes{type=\"migration\",state=\"done\"} 1024"));
    }
}
