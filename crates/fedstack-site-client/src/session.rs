//! Keystone sessions of a site's service account.

use crate::catalog::Catalog;
use crate::SiteError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// How the service account authenticates.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SiteAuth {
    /// A user and its project (the account must be able to create projects and assign roles).
    Password {
        username: String,
        password: String,
        #[serde(default = "default_domain")]
        user_domain_name: String,
        project_name: String,
        #[serde(default = "default_domain")]
        project_domain_name: String,
    },
    /// An application credential (scoped to its own project; it cannot rescope).
    ApplicationCredential { id: String, secret: String },
}

fn default_domain() -> String {
    "Default".into()
}

/// Where and how to reach a site.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SiteCredentials {
    /// Keystone v3 URL, e.g. `https://keystone.example.org/v3`.
    pub auth_url: String,
    /// Region of the endpoints to use; `None` takes the first.
    pub region: Option<String>,
    /// Endpoint interface: `public`, `internal` or `admin`.
    pub interface: String,
    pub auth: SiteAuth,
}

/// A token with its catalog.
#[derive(Debug)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user_id: String,
    /// The project the token is scoped to.
    pub project_id: Option<String>,
    pub catalog: Catalog,
}

impl Session {
    /// True when the token expires within a minute.
    pub fn expiring(&self) -> bool {
        self.expires_at - chrono::Duration::seconds(60) <= Utc::now()
    }

    /// Authenticates the service account in its own scope.
    pub async fn authenticate(
        http: &reqwest::Client,
        creds: &SiteCredentials,
        timeout: Duration,
    ) -> Result<Session, SiteError> {
        let body = match &creds.auth {
            SiteAuth::Password {
                username,
                password,
                user_domain_name,
                project_name,
                project_domain_name,
            } => json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {"name": username, "domain": {"name": user_domain_name}, "password": password}}},
                "scope": {"project": {"name": project_name, "domain": {"name": project_domain_name}}}}}),
            SiteAuth::ApplicationCredential { id, secret } => json!({"auth": {
                "identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": secret}}}}),
        };
        Self::issue(http, creds, &body, timeout).await
    }

    /// A token of the same account scoped to `project_id` on the site.
    pub async fn rescope(
        &self,
        http: &reqwest::Client,
        creds: &SiteCredentials,
        project_id: &str,
        timeout: Duration,
    ) -> Result<Session, SiteError> {
        let body = match &creds.auth {
            SiteAuth::Password { username, password, user_domain_name, .. } => json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {"name": username, "domain": {"name": user_domain_name}, "password": password}}},
                "scope": {"project": {"id": project_id}}}}),
            SiteAuth::ApplicationCredential { .. } => {
                return Err(SiteError::Auth(format!(
                    "an application credential cannot act in project {project_id}; give the site a password account"
                )))
            }
        };
        Self::issue(http, creds, &body, timeout).await
    }

    async fn issue(
        http: &reqwest::Client,
        creds: &SiteCredentials,
        body: &Value,
        timeout: Duration,
    ) -> Result<Session, SiteError> {
        let url = format!("{}/auth/tokens", creds.auth_url.trim_end_matches('/'));
        let resp = http
            .post(&url)
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    SiteError::Timeout(timeout)
                } else {
                    SiteError::Unreachable(e.to_string())
                }
            })?;
        let status = resp.status();
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = body
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(if status.as_u16() == 401 || status.as_u16() == 403 {
                SiteError::Auth(format!("{status}: {msg}"))
            } else {
                SiteError::Http {
                    status: status.as_u16(),
                    body: msg.to_string(),
                }
            });
        }
        let token =
            token.ok_or_else(|| SiteError::Auth("no X-Subject-Token in the answer".into()))?;
        let t = &body["token"];
        let expires_at = t["expires_at"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(30));
        Ok(Session {
            token,
            expires_at,
            user_id: t
                .pointer("/user/id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            project_id: t
                .pointer("/project/id")
                .and_then(Value::as_str)
                .map(String::from),
            catalog: Catalog::from_token(t, creds.region.as_deref(), &creds.interface),
        })
    }
}
