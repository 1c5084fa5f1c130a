//! In-process test bed for the service modules: a bootstrapped site whose router is called
//! directly (no sockets), with admin and demo tokens at hand.

use crate::config::{SiteSpec, Timing};
use crate::sim::site_router;
use crate::site::Site;
use axum::http::{Method, StatusCode};
use axum::Router;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;

/// A site and its router, for tests.
pub struct TestSite {
    pub site: Arc<Site>,
    pub router: Router,
    pub admin_token: String,
    pub demo_token: String,
}

pub use fedstack_api_types::testing::Answer;

impl TestSite {
    /// A fresh site with instant transitions (all delays 0).
    pub async fn new() -> Self {
        Self::with_timing(Timing {
            build_ms: 0,
            action_ms: 0,
            volume_ms: 0,
            image_ms: 0,
        })
        .await
    }

    /// A fresh site with the given timing.
    pub async fn with_timing(timing: Timing) -> Self {
        let spec = SiteSpec::named("TestCloud");
        let addr: SocketAddr = "127.0.0.1:5000".parse().expect("literal address");
        let site = Arc::new(Site::new(&spec, addr, timing));
        let router = site_router(site.clone());
        let mut me = TestSite {
            site,
            router,
            admin_token: String::new(),
            demo_token: String::new(),
        };
        me.admin_token = me.token("admin", "admin").await;
        me.demo_token = me.token("demo", "demo").await;
        me
    }

    /// A project-scoped token for `user` in `project` (password "secret").
    pub async fn token(&self, user: &str, project: &str) -> String {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": "secret"}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
        let a = self
            .call(
                Method::POST,
                "/identity/v3/auth/tokens",
                None,
                &[],
                Some(body),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "token for {user}: {}",
            a.body
        );
        a.headers["x-subject-token"]
            .to_str()
            .expect("ascii token")
            .to_string()
    }

    /// Sends a request; `headers` are extra (name, value) pairs.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let raw = body
            .map(|b| serde_json::to_vec(&b).expect("json"))
            .unwrap_or_default();
        self.call_raw(method, path, token, headers, raw, "application/json")
            .await
    }

    /// Sends a request with a raw body and content type.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        content_type: &str,
    ) -> Answer {
        fedstack_api_types::testing::call(
            &self.router,
            method,
            path,
            token,
            headers,
            body,
            content_type,
        )
        .await
    }

    /// GET as admin.
    pub async fn get(&self, path: &str) -> Answer {
        self.call(
            Method::GET,
            path,
            Some(&self.admin_token.clone()),
            &[],
            None,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn identity_basics() {
        let t = TestSite::new().await;
        let a = t.get("/identity/v3/projects").await;
        assert_eq!(a.status, StatusCode::OK);
        let names: Vec<&str> = a.body["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"admin") && names.contains(&"demo"),
            "{names:?}"
        );
        let a = t
            .call(
                Method::GET,
                "/identity/v3/users",
                Some(&t.demo_token.clone()),
                &[],
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(
            a.body["error"]["message"],
            "You are not authorized to perform the requested action: identity:list_users."
        );
        let a = t
            .call(Method::GET, "/identity/v3/projects", None, &[], None)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            a.headers["www-authenticate"],
            "Keystone uri=\"http://127.0.0.1:5000/identity/v3\""
        );
        let a = t.get("/identity").await;
        assert_eq!(a.status, StatusCode::MULTIPLE_CHOICES);
        let a = t.get("/identity/").await;
        assert_eq!(a.status, StatusCode::MULTIPLE_CHOICES);
    }

    #[tokio::test]
    async fn tokens_validate_and_revoke() {
        let t = TestSite::new().await;
        let tok = t.demo_token.clone();
        let admin = t.admin_token.clone();
        let a = t
            .call(
                Method::GET,
                "/identity/v3/auth/tokens",
                Some(&admin),
                &[("x-subject-token", &tok)],
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        let roles: Vec<&str> = a.body["token"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["member", "reader"]);
        assert!(a.body["token"]["catalog"].as_array().unwrap().len() >= 5);
        let a = t
            .call(
                Method::DELETE,
                "/identity/v3/auth/tokens",
                Some(&admin),
                &[("x-subject-token", &tok)],
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT);
        let a = t
            .call(
                Method::GET,
                "/identity/v3/auth/tokens",
                Some(&admin),
                &[("x-subject-token", &tok)],
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert_eq!(a.body["error"]["message"], "Failed to validate token");
        let bad = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": "wrong"}}}}});
        let a = t
            .call(
                Method::POST,
                "/identity/v3/auth/tokens",
                None,
                &[],
                Some(bad),
            )
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        let a = t
            .call_raw(
                Method::POST,
                "/identity/v3/auth/tokens",
                None,
                &[],
                b"{not json".to_vec(),
                "application/json",
            )
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.body["error"]["code"], 400);
    }
}
