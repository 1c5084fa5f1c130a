//! Store records as Keystone shows them.

use crate::bootstrap::ROLES;
use crate::Top;
use fedstack_api_types::keystone as ks;
use fedstack_store::identity::{Project, User};
use serde_json::{json, Value};

/// A project.
pub fn project(top: &Top, p: &Project) -> Value {
    ks::project(
        &top.auth_url(),
        &p.id,
        &p.name,
        &p.description,
        p.enabled,
        &p.tags,
    )
}

/// A user (never its password).
pub fn user(top: &Top, u: &User) -> Value {
    let extras = ks::UserExtras {
        description: u.description.as_deref(),
        email: u.email.as_deref(),
        default_project_id: u.default_project_id.as_deref(),
    };
    ks::user(&top.auth_url(), &u.id, &u.name, u.enabled, extras)
}

/// True for the roles bootstrap makes, which Keystone marks immutable.
pub fn is_immutable_role(name: &str) -> bool {
    ROLES.contains(&name)
}

/// A role: the bootstrap roles are immutable, the others have no options.
pub fn role(top: &Top, id: &str, name: &str) -> Value {
    let mut v = ks::role(&top.auth_url(), id, name);
    if !is_immutable_role(name) {
        v["options"] = json!({});
    }
    v
}
