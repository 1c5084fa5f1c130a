//! In-process test bed for the top: a bootstrapped top in a temporary directory whose router
//! is called directly, with admin and demo tokens at hand.

use crate::auth::Claims;
use crate::bootstrap::{bootstrap, Account};
use crate::config::TopConfig;
use crate::http::router;
use crate::register::{upsert_site, NewSite};
use crate::sites::{health, SiteHandle};
use crate::Top;
use axum::http::Method;
use axum::Router;
use fedstack_api_types::keystone::implied_roles;
use fedstack_site_client::SiteAuth;
use fedstack_store::now_ms;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

pub use fedstack_api_types::testing::Answer;

/// A top and its router, for tests.
pub struct TestTop {
    pub top: Arc<Top>,
    pub router: Router,
    pub admin_token: String,
    pub demo_token: String,
}

impl TestTop {
    /// Registers a site (a simulated one: `admin`/`secret` in project `admin`) under `name`,
    /// also its availability zone, and checks its health once so that it is up.
    pub async fn register_site(&self, name: &str, auth_url: &str) -> Arc<SiteHandle> {
        let auth = SiteAuth::Password {
            username: "admin".into(),
            password: "secret".into(),
            user_domain_name: "Default".into(),
            project_name: "admin".into(),
            project_domain_name: "Default".into(),
        };
        let site = upsert_site(
            &self.top,
            NewSite {
                name,
                az: name,
                auth_url,
                region: None,
                auth,
                labels: Default::default(),
            },
        )
        .await
        .expect("register the site");
        health::check(&site).await;
        site
    }

    /// A fresh top with users `admin` (admin of project `admin`) and `demo` (member of `demo`),
    /// password `secret`, and no sites.
    pub async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("fedstack-top-test-{}", uuid::Uuid::new_v4()));
        let config = TopConfig {
            data_dir: dir,
            ..TopConfig::default()
        };
        let top = Top::open(config, "http://127.0.0.1:8000".into())
            .await
            .expect("open top");
        let accounts = [
            Account {
                user: "admin",
                password: "secret",
                project: "admin",
                role: "admin",
            },
            Account {
                user: "demo",
                password: "secret",
                project: "demo",
                role: "member",
            },
        ];
        bootstrap(&top, &accounts).await.expect("bootstrap");
        let router = router(top.clone());
        let mut t = TestTop {
            top,
            router,
            admin_token: String::new(),
            demo_token: String::new(),
        };
        t.admin_token = t.token("admin", "admin").await;
        t.demo_token = t.token("demo", "demo").await;
        t
    }

    /// A token for `user` scoped to `project`, issued directly (no HTTP).
    pub async fn token(&self, user: &str, project: &str) -> String {
        let s = &self.top.store;
        let u = s
            .user_by_name(user)
            .await
            .expect("store")
            .expect("user exists");
        let p = s
            .project_by_name(project)
            .await
            .expect("store")
            .expect("project exists");
        let names: std::collections::HashMap<String, String> =
            s.roles().await.expect("roles").into_iter().collect();
        let mut roles = BTreeSet::new();
        for (_, _, r) in s
            .assignments(Some(&u.id), Some(&p.id))
            .await
            .expect("assignments")
        {
            if let Some(n) = names.get(&r) {
                roles.insert(n.clone());
                roles.extend(implied_roles(n).iter().map(|x| x.to_string()));
            }
        }
        self.top.tokens.issue(&Claims {
            user_id: u.id,
            user_name: u.name,
            project: Some((p.id, p.name)),
            roles: roles.into_iter().collect(),
            methods: vec!["password".into()],
            audit_ids: vec![fedstack_api_types::keystone::audit_id()],
            issued_ms: now_ms(),
            expires_ms: now_ms() + 3_600_000,
            app_cred: None,
            scope: Default::default(),
        })
    }

    /// Sends a JSON request.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let raw = body
            .map(|b| serde_json::to_vec(&b).expect("json"))
            .unwrap_or_default();
        fedstack_api_types::testing::call(
            &self.router,
            method,
            path,
            token,
            &[],
            raw,
            "application/json",
        )
        .await
    }

    /// Sends a request with extra headers and a raw body.
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
}
