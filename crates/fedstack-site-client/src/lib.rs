//! A client for one OpenStack site, through its public REST APIs only.
//!
//! It authenticates with the site's service account (password or application credential),
//! caches tokens per scope (the account's own project, or a tenant's project on the site),
//! finds endpoints in the catalog, re-authenticates once on 401, and bounds every call with a
//! timeout. It knows nothing about the top's IDs: callers translate.

mod catalog;
mod session;

pub use catalog::Catalog;
pub use session::{SiteAuth, SiteCredentials};

use bytes::Bytes;
use parking_lot::Mutex;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use session::Session;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Why a site call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SiteError {
    /// The site could not be reached (connection refused, DNS, reset).
    #[error("site unreachable: {0}")]
    Unreachable(String),
    /// The site did not answer in time.
    #[error("site did not answer within {0:?}")]
    Timeout(Duration),
    /// The service account was refused.
    #[error("site refused the service account: {0}")]
    Auth(String),
    /// The catalog has no endpoint for a service.
    #[error("site catalog has no {0} endpoint")]
    NoEndpoint(String),
    /// The site answered, but not with what was expected.
    #[error("site answered {status}: {body}")]
    Http { status: u16, body: String },
}

/// Which token a call uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The service account's own project (administrative calls).
    Admin,
    /// A project on the site (tenant calls run there).
    Project(String),
}

/// The site's answer to a call.
#[derive(Debug, Clone)]
pub struct SiteResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl SiteResponse {
    /// The body as JSON (Null when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }
    /// Fails with [`SiteError::Http`] unless 2xx.
    pub fn ok(self) -> Result<Self, SiteError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(SiteError::Http {
                status: self.status.as_u16(),
                body: String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(2000)
                    .collect(),
            })
        }
    }
}

/// A request to a site service.
#[derive(Debug, Clone)]
pub struct SiteRequest {
    pub method: Method,
    /// Catalog service type: `compute`, `image`, `block-storage`, `network`, `identity`.
    pub service: &'static str,
    /// Path and query relative to the endpoint, e.g. `/servers/detail?limit=10`.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub scope: Scope,
}

impl SiteRequest {
    /// A request without body or extra headers.
    pub fn new(
        method: Method,
        service: &'static str,
        path: impl Into<String>,
        scope: Scope,
    ) -> Self {
        SiteRequest {
            method,
            service,
            path: path.into(),
            headers: HeaderMap::new(),
            body: None,
            scope,
        }
    }
    /// With a JSON body.
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(Bytes::from(serde_json::to_vec(body).unwrap_or_default()));
        self.headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self
    }
    /// With a raw body and content type.
    pub fn raw(mut self, body: Bytes, content_type: &str) -> Self {
        self.body = Some(body);
        if let Ok(v) = HeaderValue::from_str(content_type) {
            self.headers.insert(reqwest::header::CONTENT_TYPE, v);
        }
        self
    }
    /// With a header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(HeaderName::from_static(name), v);
        }
        self
    }
}

/// A client for one site. Cheap to clone.
#[derive(Clone)]
pub struct SiteClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    creds: SiteCredentials,
    timeout: Duration,
    sessions: Mutex<HashMap<Scope, Arc<Session>>>,
    /// Serialises authentication so that a burst of calls authenticates once.
    auth_lock: tokio::sync::Mutex<()>,
}

impl SiteClient {
    /// A client for the site described by `creds`; every call is bounded by `timeout`.
    pub fn new(creds: SiteCredentials, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(32)
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        SiteClient {
            inner: Arc::new(Inner {
                http,
                creds,
                timeout,
                sessions: Mutex::new(HashMap::new()),
                auth_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The credentials this client authenticates with.
    pub fn credentials(&self) -> &SiteCredentials {
        &self.inner.creds
    }

    /// The service account's own session (authenticating if needed).
    pub async fn admin_session(&self) -> Result<Arc<Session>, SiteError> {
        self.session(&Scope::Admin).await
    }

    /// The catalog of the service account's session.
    pub async fn catalog(&self) -> Result<Catalog, SiteError> {
        Ok(self.admin_session().await?.catalog.clone())
    }

    async fn session(&self, scope: &Scope) -> Result<Arc<Session>, SiteError> {
        if let Some(s) = self.cached(scope) {
            return Ok(s);
        }
        let _guard = self.inner.auth_lock.lock().await;
        if let Some(s) = self.cached(scope) {
            return Ok(s);
        }
        let s = Arc::new(match scope {
            Scope::Admin => {
                Session::authenticate(&self.inner.http, &self.inner.creds, self.inner.timeout)
                    .await?
            }
            Scope::Project(p) => {
                let admin = match self.cached(&Scope::Admin) {
                    Some(a) => a,
                    None => {
                        let a = Arc::new(
                            Session::authenticate(
                                &self.inner.http,
                                &self.inner.creds,
                                self.inner.timeout,
                            )
                            .await?,
                        );
                        self.inner.sessions.lock().insert(Scope::Admin, a.clone());
                        a
                    }
                };
                admin
                    .rescope(&self.inner.http, &self.inner.creds, p, self.inner.timeout)
                    .await?
            }
        });
        self.inner.sessions.lock().insert(scope.clone(), s.clone());
        Ok(s)
    }

    fn cached(&self, scope: &Scope) -> Option<Arc<Session>> {
        self.inner
            .sessions
            .lock()
            .get(scope)
            .filter(|s| !s.expiring())
            .cloned()
    }

    fn forget(&self, scope: &Scope) {
        self.inner.sessions.lock().remove(scope);
    }

    /// Sends a request; on 401 re-authenticates once and retries.
    pub async fn send(&self, req: SiteRequest) -> Result<SiteResponse, SiteError> {
        let first = self.send_once(&req).await?;
        if first.status != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        self.forget(&req.scope);
        if req.scope != Scope::Admin {
            self.forget(&Scope::Admin);
        }
        self.send_once(&req).await
    }

    async fn send_once(&self, req: &SiteRequest) -> Result<SiteResponse, SiteError> {
        let session = self.session(&req.scope).await?;
        let base = session
            .catalog
            .endpoint(req.service, session.project_id.as_deref())?;
        let url = format!("{}{}", base.trim_end_matches('/'), req.path);
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), &url)
            .timeout(self.inner.timeout)
            .headers(req.headers.clone())
            .header("x-auth-token", &session.token);
        if !req.headers.contains_key(reqwest::header::ACCEPT) {
            builder = builder.header(reqwest::header::ACCEPT, "application/json");
        }
        if let Some(b) = &req.body {
            builder = builder.body(b.clone());
        }
        let resp = builder.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        Ok(SiteResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends a request and streams the answer (image data).
    pub async fn send_streaming(&self, req: SiteRequest) -> Result<reqwest::Response, SiteError> {
        let session = self.session(&req.scope).await?;
        let base = session
            .catalog
            .endpoint(req.service, session.project_id.as_deref())?;
        let url = format!("{}{}", base.trim_end_matches('/'), req.path);
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), &url)
            .headers(req.headers.clone())
            .header("x-auth-token", &session.token);
        if let Some(b) = &req.body {
            builder = builder.body(b.clone());
        }
        builder.send().await.map_err(|e| self.transport_error(e))
    }

    /// Uploads a streamed body (image data) with the given content length.
    pub async fn send_body(
        &self,
        req: SiteRequest,
        body: reqwest::Body,
    ) -> Result<SiteResponse, SiteError> {
        let session = self.session(&req.scope).await?;
        let base = session
            .catalog
            .endpoint(req.service, session.project_id.as_deref())?;
        let url = format!("{}{}", base.trim_end_matches('/'), req.path);
        let resp = self
            .inner
            .http
            .request(req.method.clone(), &url)
            .headers(req.headers.clone())
            .header("x-auth-token", &session.token)
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| self.transport_error(e))?;
        Ok(SiteResponse {
            status,
            headers,
            body,
        })
    }

    /// A JSON call that must succeed: returns the body.
    pub async fn json(&self, req: SiteRequest) -> Result<Value, SiteError> {
        Ok(self.send(req).await?.ok()?.json())
    }

    fn transport_error(&self, e: reqwest::Error) -> SiteError {
        if e.is_timeout() {
            SiteError::Timeout(self.inner.timeout)
        } else {
            SiteError::Unreachable(e.to_string())
        }
    }
}
