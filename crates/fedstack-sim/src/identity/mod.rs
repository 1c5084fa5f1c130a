//! Keystone v3 of a simulated site: the default domain, projects, users, roles with Keystone's
//! implied roles (admin → manager → member → reader), role assignments, and tokens.

mod api;
mod catalog;

pub use api::router;

use crate::config::SiteSpec;
use crate::site::Bootstrap;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap};

/// How long a token lives, as Keystone's default `[token] expiration`.
pub const TOKEN_LIFETIME: Duration = Duration::hours(1);

/// A Keystone project (all in the default domain).
#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub tags: Vec<String>,
}

/// A Keystone user (all in the default domain).
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    pub password: String,
    pub description: Option<String>,
    pub email: Option<String>,
    pub enabled: bool,
    pub default_project_id: Option<String>,
}

/// A global role.
#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub name: String,
}

/// A (project, name) reference carried by tokens.
#[derive(Debug, Clone)]
pub struct ProjectRef {
    pub id: String,
    pub name: String,
}

/// Everything a token says about its holder.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub user_id: String,
    pub user_name: String,
    pub project: Option<ProjectRef>,
    /// Effective roles (implied ones included), by (id, name).
    pub roles: Vec<(String, String)>,
    pub methods: Vec<String>,
    pub audit_ids: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl TokenInfo {
    /// True when the token carries `role` (directly or implied).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|(_, n)| n == role)
    }
}

/// The identity state of a site.
#[derive(Debug, Default)]
pub struct IdentityData {
    pub projects: HashMap<String, Project>,
    pub users: HashMap<String, User>,
    pub roles: Vec<Role>,
    /// (user id, project id, role id)
    pub assignments: BTreeSet<(String, String, String)>,
    tokens: HashMap<String, TokenInfo>,
}

/// A Keystone-style ID: 32 hex characters.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl IdentityData {
    /// The default domain with `admin`, `service` and `demo` projects, `admin` and `demo` users
    /// (password from the spec) and the standard roles.
    pub fn bootstrap(spec: &SiteSpec) -> (Self, Bootstrap) {
        let mut d = IdentityData::default();
        for name in ["admin", "manager", "member", "reader", "service"] {
            d.roles.push(Role {
                id: new_id(),
                name: name.into(),
            });
        }
        let admin_project = d.add_project("admin", "Bootstrap project for initializing the cloud.");
        let service_project = d.add_project("service", "Service project");
        let demo_project = d.add_project("demo", "Demo project");
        let admin_user = d.add_user("admin", &spec.password, Some(admin_project.clone()));
        let demo_user = d.add_user("demo", &spec.password, Some(demo_project.clone()));
        let role = |d: &IdentityData, n: &str| d.role_by_name(n).map(|r| r.id.clone());
        if let (Some(admin), Some(member)) = (role(&d, "admin"), role(&d, "member")) {
            d.assignments
                .insert((admin_user.clone(), admin_project.clone(), admin));
            d.assignments
                .insert((demo_user.clone(), demo_project.clone(), member));
        }
        let b = Bootstrap {
            admin_project_id: admin_project,
            admin_user_id: admin_user,
            demo_project_id: demo_project,
            demo_user_id: demo_user,
            service_project_id: service_project,
        };
        (d, b)
    }

    fn add_project(&mut self, name: &str, description: &str) -> String {
        let id = new_id();
        self.projects.insert(
            id.clone(),
            Project {
                id: id.clone(),
                name: name.into(),
                description: description.into(),
                enabled: true,
                tags: vec![],
            },
        );
        id
    }

    fn add_user(&mut self, name: &str, password: &str, default_project: Option<String>) -> String {
        let id = new_id();
        self.users.insert(
            id.clone(),
            User {
                id: id.clone(),
                name: name.into(),
                password: password.into(),
                description: None,
                email: None,
                enabled: true,
                default_project_id: default_project,
            },
        );
        id
    }

    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }
    pub fn project_by_name(&self, name: &str) -> Option<&Project> {
        self.projects.values().find(|p| p.name == name)
    }
    pub fn user_by_name(&self, name: &str) -> Option<&User> {
        self.users.values().find(|u| u.name == name)
    }

    /// Effective roles of a user on a project, implied roles included, sorted by name.
    pub fn effective_roles(&self, user_id: &str, project_id: &str) -> Vec<(String, String)> {
        let mut names = BTreeSet::new();
        for (u, p, r) in &self.assignments {
            if u == user_id && p == project_id {
                if let Some(role) = self.role(r) {
                    names.insert(role.name.clone());
                    names.extend(
                        fedstack_api_types::keystone::implied_roles(&role.name)
                            .iter()
                            .map(|s| s.to_string()),
                    );
                }
            }
        }
        names
            .into_iter()
            .filter_map(|n| {
                self.role_by_name(&n)
                    .map(|r| (r.id.clone(), r.name.clone()))
            })
            .collect()
    }

    /// Issues a token and returns its ID.
    pub fn issue(&mut self, info: TokenInfo) -> String {
        let id = format!("gAAAAA{}{}", new_id(), new_id());
        self.tokens.insert(id.clone(), info);
        id
    }

    /// The token's holder if the token is valid now: not expired nor revoked, its user and
    /// project still there and enabled.
    pub fn validate(&self, token: &str) -> Option<TokenInfo> {
        let t = self.tokens.get(token)?;
        if t.expires_at <= Utc::now() {
            return None;
        }
        self.users.get(&t.user_id).filter(|u| u.enabled)?;
        if let Some(p) = &t.project {
            self.projects.get(&p.id).filter(|p| p.enabled)?;
        }
        Some(t.clone())
    }

    /// Revokes a token; false when it was not valid.
    pub fn revoke(&mut self, token: &str) -> bool {
        self.tokens.remove(token).is_some()
    }

    /// Drops tokens that have expired (called on every issue, so the map stays small).
    fn purge_expired(&mut self) {
        let now = Utc::now();
        if self.tokens.len() > 1024 {
            self.tokens.retain(|_, t| t.expires_at > now);
        }
    }
}
