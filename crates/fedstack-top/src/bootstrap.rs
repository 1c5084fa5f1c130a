//! First start of a top: roles, the admin project and user, optionally a demo project and
//! user, and Nova's default flavors. Idempotent.

use crate::auth::hash_password;
use crate::Top;
use fedstack_store::flavors::Flavor;
use fedstack_store::identity::{Project, User};
use fedstack_store::StoreError;
use std::collections::BTreeMap;

/// The roles Keystone's bootstrap makes, in implication order.
pub const ROLES: [&str; 5] = ["admin", "manager", "member", "reader", "service"];

/// Nova's default flavors: (id, name, vcpus, ram MB, disk GB).
const FLAVORS: [(&str, &str, i64, i64, i64); 5] = [
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
];

/// A user to create with a member role in its own project.
pub struct Account<'a> {
    pub user: &'a str,
    pub password: &'a str,
    pub project: &'a str,
    pub role: &'a str,
}

/// Ensures the roles, the given accounts and the default flavors exist.
pub async fn bootstrap(top: &Top, accounts: &[Account<'_>]) -> Result<(), StoreError> {
    for r in ROLES {
        top.store
            .ensure_role(&uuid::Uuid::new_v4().simple().to_string(), r)
            .await?;
    }
    for a in accounts {
        ensure_account(top, a).await?;
    }
    for (id, name, vcpus, ram, disk) in FLAVORS {
        if top.store.flavor(id).await?.is_none() {
            let f = Flavor {
                id: id.into(),
                name: name.into(),
                vcpus,
                ram,
                disk,
                ephemeral: 0,
                swap: 0,
                rxtx_factor: 1.0,
                is_public: true,
                description: None,
                extra_specs: BTreeMap::new(),
            };
            top.store.create_flavor(&f).await?;
        }
    }
    Ok(())
}

async fn ensure_account(top: &Top, a: &Account<'_>) -> Result<(), StoreError> {
    let project = match top.store.project_by_name(a.project).await? {
        Some(p) => p,
        None => {
            let p = Project {
                id: new_id(),
                name: a.project.into(),
                description: format!("{} project", a.project),
                enabled: true,
                tags: vec![],
            };
            top.store.create_project(&p).await?;
            p
        }
    };
    let user = match top.store.user_by_name(a.user).await? {
        Some(u) => u,
        None => {
            let u = User {
                id: new_id(),
                name: a.user.into(),
                password_hash: hash_password(a.password),
                description: None,
                email: None,
                enabled: true,
                default_project_id: Some(project.id.clone()),
            };
            top.store.create_user(&u).await?;
            u
        }
    };
    let role = top.store.ensure_role(&new_id(), a.role).await?;
    top.store.assign(&user.id, &project.id, &role).await
}

/// A Keystone-style ID: 32 hex characters.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
