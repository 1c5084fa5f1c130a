//! Fault injection: a site that is down, slow, or failing a share of the calls on a path.
//! Connection refusal is done by the listener; everything else by [`fault_middleware`].

use crate::site::{service_of_path, Site};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fedstack_api_types::{ApiError, Service};
use parking_lot::Mutex;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How a site that is down behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownMode {
    /// Connections are refused (the listener is closed).
    #[serde(rename = "refuse")]
    Refuse,
    /// Every request answers 503, as a load balancer with no backend does.
    #[serde(rename = "503")]
    Unavailable,
}

/// Calls matching a path prefix (and optionally a method) fail with `status` at `rate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailureRule {
    #[serde(default)]
    pub id: u64,
    pub path_prefix: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "one")]
    pub rate: f64,
    #[serde(default = "default_status")]
    pub status: u16,
}

fn one() -> f64 {
    1.0
}
fn default_status() -> u16 {
    500
}

/// The fault settings of one site.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FaultState {
    pub down: Option<DownMode>,
    pub latency_ms: u64,
    pub rules: Vec<FailureRule>,
    next_rule: u64,
}

/// Shared, mutable fault settings of one site.
#[derive(Debug, Default)]
pub struct Faults(Mutex<FaultState>);

impl Faults {
    /// A copy of the current settings.
    pub fn snapshot(&self) -> FaultState {
        self.0.lock().clone()
    }
    pub fn set_down(&self, mode: Option<DownMode>) {
        self.0.lock().down = mode;
    }
    pub fn set_latency(&self, ms: u64) {
        self.0.lock().latency_ms = ms;
    }
    /// Adds a rule and returns it with its id.
    pub fn add_rule(&self, mut rule: FailureRule) -> FailureRule {
        let mut s = self.0.lock();
        s.next_rule += 1;
        rule.id = s.next_rule;
        s.rules.push(rule.clone());
        rule
    }
    pub fn clear_rules(&self) {
        self.0.lock().rules.clear();
    }

    /// What to do with a request: its delay, and whether it fails (with which status).
    fn decide(&self, method: &str, path: &str) -> (Duration, Option<u16>) {
        let s = self.0.lock();
        let delay = Duration::from_millis(s.latency_ms);
        if s.down == Some(DownMode::Unavailable) {
            return (delay, Some(503));
        }
        let mut rng = rand::thread_rng();
        let failed = s.rules.iter().find(|r| {
            path.starts_with(&r.path_prefix)
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && rng.gen_bool(r.rate.clamp(0.0, 1.0))
        });
        (delay, failed.map(|r| r.status))
    }
}

/// Applies latency, 503-mode and failure rules to every request of a site.
pub async fn fault_middleware(State(site): State<Arc<Site>>, req: Request, next: Next) -> Response {
    let (delay, fail) = site.faults.decide(req.method().as_str(), req.uri().path());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(status) = fail {
        let service = service_of_path(req.uri().path()).unwrap_or(Service::Identity);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let msg = if status == StatusCode::SERVICE_UNAVAILABLE {
            "The server is currently unavailable. Please try again at a later time."
        } else {
            "Injected failure (fedstack sim fault injection)."
        };
        return ApiError::new(service, status, msg).into_response();
    }
    next.run(req).await
}
