//! `POST /v3/auth/tokens` decided: who is asking (password, an earlier token, or an
//! application credential), for which project, with which roles. Every refusal is Keystone's
//! bare 401, whatever the reason.

use super::roles::effective_roles;
use super::{check_secret, expecting, forbidden_action, internal, unauthorized};
use crate::auth::Claims;
use crate::scope::resolve::{bad_scope, validate};
use crate::scope::{self, ServiceScope, SiteExpr};
use crate::Top;
use fedstack_api_types::keystone::{self as ks, AppCredAuth, AuthRequest, ProjectRef, UserRef};
use fedstack_api_types::{ApiError, Service};
use fedstack_store::identity::{AppCredential, Project, User};
use fedstack_store::now_ms;
use serde_json::Value;

/// A proven identity, before scoping.
struct Proof {
    user: User,
    methods: Vec<String>,
    audit_ids: Vec<String>,
    expires_ms: i64,
    /// The application credential the identity acts through.
    app_cred: Option<AppCredential>,
    /// The sites the token pins services to.
    scope: ServiceScope,
}

/// The claims of the token an auth request earns; `asked` is the scope the request binds
/// (on top of an exchanged token's).
pub async fn claims(
    top: &Top,
    auth: &AuthRequest,
    asked: ServiceScope,
) -> Result<Claims, ApiError> {
    let proof = prove(top, auth, asked).await?;
    let project = scope(top, auth, &proof).await?;
    let roles = match &project {
        Some(p) => roles(top, &proof, p).await?,
        None => vec![],
    };
    Ok(Claims {
        user_id: proof.user.id,
        user_name: proof.user.name,
        project: project.map(|p| (p.id, p.name)),
        roles,
        methods: proof.methods,
        audit_ids: proof.audit_ids,
        issued_ms: now_ms(),
        expires_ms: proof.expires_ms,
        app_cred: proof.app_cred.map(|c| c.id),
        scope: proof.scope,
    })
}

async fn prove(top: &Top, auth: &AuthRequest, asked: ServiceScope) -> Result<Proof, ApiError> {
    let mut proof = if let Some((user, password)) = &auth.password {
        match asked.get(Service::Identity) {
            Some(sites) => by_site_password(top, sites, user, password).await?,
            None => by_password(top, user, password).await?,
        }
    } else if auth.methods.iter().any(|m| m == "token") {
        let token = auth
            .token
            .as_deref()
            .ok_or_else(|| expecting("id", "token"))?;
        by_token(top, token).await?
    } else if let Some(ac) = &auth.application_credential {
        by_app_cred(top, ac).await?
    } else {
        return Err(unauthorized(top));
    };
    proof.scope = std::mem::take(&mut proof.scope).overlaid(asked);
    Ok(proof)
}

/// A user named by ID or by name (in the default domain), if it exists and is enabled.
async fn enabled_user(top: &Top, user: &UserRef) -> Result<User, ApiError> {
    let u = match user {
        UserRef::Id(id) => top.store.user(id).await,
        UserRef::Name(name) => top.store.user_by_name(name).await,
    };
    u.map_err(internal)?
        .filter(|u| u.enabled)
        .ok_or_else(|| unauthorized(top))
}

async fn by_password(top: &Top, user: &UserRef, password: &str) -> Result<Proof, ApiError> {
    let user = enabled_user(top, user).await?;
    if !check_secret(password, &user.password_hash).await? {
        return Err(unauthorized(top));
    }
    Ok(password_proof(top, user))
}

/// Identity scoped to sites: the password is checked by their Keystone; the identity is the
/// top user of the same name.
async fn by_site_password(
    top: &Top,
    sites: &SiteExpr,
    user: &UserRef,
    password: &str,
) -> Result<Proof, ApiError> {
    let user = enabled_user(top, user).await?;
    if !scope::identity::password_accepted(top, sites, &user.name, password).await? {
        return Err(unauthorized(top));
    }
    Ok(password_proof(top, user))
}

fn password_proof(top: &Top, user: User) -> Proof {
    Proof {
        user,
        methods: vec!["password".into()],
        audit_ids: vec![ks::audit_id()],
        expires_ms: now_ms() + top.tokens.lifetime_ms(),
        app_cred: None,
        scope: ServiceScope::default(),
    }
}

/// Rescoping: the new token keeps the methods, the expiry and the root of the audit chain
/// of the old one, its application credential and its site scope (with the services of an
/// OpenStackoïd `!SCOPE!` suffix replacing the old token's).
async fn by_token(top: &Top, token: &str) -> Result<Proof, ApiError> {
    let (token, suffix) = scope::carry::split_token(token);
    let old = top.tokens.verify(token).ok_or_else(|| unauthorized(top))?;
    let mut site_scope = old.scope.clone();
    if let Some(text) = suffix {
        let extra = ServiceScope::parse(text)
            .and_then(|s| validate(&s, &top.sites).map(|()| s))
            .map_err(|e| bad_scope(Service::Identity, e))?;
        site_scope = site_scope.overlaid(extra);
    }
    let user = enabled_user(top, &UserRef::Id(old.user_id.clone())).await?;
    let app_cred = match &old.app_cred {
        Some(id) => Some(
            top.store
                .app_credential(id)
                .await
                .map_err(internal)?
                .ok_or_else(|| unauthorized(top))?,
        ),
        None => None,
    };
    let mut methods = old.methods.clone();
    if !methods.iter().any(|m| m == "token") {
        methods.push("token".into());
    }
    let mut audit_ids = vec![ks::audit_id()];
    audit_ids.extend(old.audit_ids.last().cloned());
    Ok(Proof {
        user,
        methods,
        audit_ids,
        expires_ms: old.expires_ms,
        app_cred,
        scope: site_scope,
    })
}

/// The credential an `application_credential` method names: by ID, or by name and user.
async fn find_app_cred(top: &Top, ac: &AppCredAuth) -> Result<AppCredential, ApiError> {
    let found = match (&ac.id, &ac.name) {
        (Some(id), _) => top.store.app_credential(id).await.map_err(internal)?,
        (None, Some(name)) => {
            let user_ref = ac
                .user
                .as_ref()
                .ok_or_else(|| expecting("user", "application credential"))?;
            let user = enabled_user(top, user_ref).await?;
            let creds = top
                .store
                .app_credentials_of(&user.id)
                .await
                .map_err(internal)?;
            creds.into_iter().find(|c| c.name == *name)
        }
        (None, None) => return Err(expecting("id or name", "application credential")),
    };
    found.ok_or_else(|| unauthorized(top))
}

async fn by_app_cred(top: &Top, ac: &AppCredAuth) -> Result<Proof, ApiError> {
    let cred = find_app_cred(top, ac).await?;
    let now = now_ms();
    if cred.expires_at.is_some_and(|e| e <= now)
        || !check_secret(&ac.secret, &cred.secret_hash).await?
    {
        return Err(unauthorized(top));
    }
    let user = enabled_user(top, &UserRef::Id(cred.user_id.clone())).await?;
    let lifetime_end = now + top.tokens.lifetime_ms();
    Ok(Proof {
        user,
        methods: vec!["application_credential".into()],
        audit_ids: vec![ks::audit_id()],
        expires_ms: cred
            .expires_at
            .map_or(lifetime_end, |e| e.min(lifetime_end)),
        app_cred: Some(cred),
        scope: ServiceScope::default(),
    })
}

/// True for an explicit request of an unscoped token (`"scope": "unscoped"`).
fn explicitly_unscoped(scope: &Value) -> bool {
    scope.as_str() == Some("unscoped") || scope.get("unscoped").is_some()
}

/// The project a token is for: the one asked, the credential's, or the user's default.
async fn scope(top: &Top, auth: &AuthRequest, proof: &Proof) -> Result<Option<Project>, ApiError> {
    if let Some(cred) = &proof.app_cred {
        if auth.scope.is_some() {
            return Err(match auth.application_credential {
                Some(_) => unauthorized(top),
                None => forbidden_action(
                    "Using an application credential token to create a scoped token is not allowed.",
                ),
            });
        }
        return usable_project(top, &ProjectRef::Id(cred.project_id.clone()))
            .await
            .map(Some);
    }
    match (&auth.project, &auth.scope) {
        (Some(p), _) => usable_project(top, p).await.map(Some),
        (None, Some(s)) if explicitly_unscoped(s) => Ok(None),
        // Domain and system scopes: nobody has roles on them at the top.
        (None, Some(_)) => Err(unauthorized(top)),
        (None, None) => default_project(top, &proof.user).await,
    }
}

/// A project a token may be scoped to: existing and enabled.
async fn usable_project(top: &Top, p: &ProjectRef) -> Result<Project, ApiError> {
    let found = match p {
        ProjectRef::Id(id) => top.store.project(id).await,
        ProjectRef::Name(name) => top.store.project_by_name(name).await,
    };
    found
        .map_err(internal)?
        .filter(|p| p.enabled)
        .ok_or_else(|| unauthorized(top))
}

/// As Keystone: a request without a scope gets the user's default project when it is
/// enabled and the user has a role there, else an unscoped token.
async fn default_project(top: &Top, user: &User) -> Result<Option<Project>, ApiError> {
    let Some(id) = &user.default_project_id else {
        return Ok(None);
    };
    let Some(project) = top.store.project(id).await.map_err(internal)? else {
        return Ok(None);
    };
    let grants = top
        .store
        .assignments(Some(&user.id), Some(id))
        .await
        .map_err(internal)?;
    Ok((project.enabled && !grants.is_empty()).then_some(project))
}

/// The roles of a project-scoped token: the user's effective roles there, cut down to the
/// credential's; none is a 401.
async fn roles(top: &Top, proof: &Proof, project: &Project) -> Result<Vec<String>, ApiError> {
    let mut roles = effective_roles(top, &proof.user.id, &project.id).await?;
    if let Some(cred) = &proof.app_cred {
        roles.retain(|r| cred.roles.contains(r));
    }
    if roles.is_empty() {
        return Err(unauthorized(top));
    }
    Ok(roles)
}
