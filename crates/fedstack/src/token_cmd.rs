//! `fedstack token issue --scope '{...}'`: a top token bound to a site scope, for
//! `openstack --os-auth-type token --os-token ...` (any unmodified client then works scoped).

use crate::osc;
use crate::output::print_object;
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use fedstack_site_client::SiteAuth;
use fedstack_top::scope::{ServiceScope, AUTH_SCOPE_KEY};
use serde_json::{json, Map, Value};
use std::time::Duration;

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
    #[command(flatten)]
    cloud: osc::CloudArgs,
    /// Only these fields (repeatable), e.g. `-c id -f value` prints the token alone.
    #[arg(short = 'c', long = "column", global = true)]
    columns: Vec<String>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token, bound to a site scope when given.
    Issue {
        /// JSON map from service type to site expression, e.g.
        /// '{"compute": "CloudOne", "image": "CloudTwo | CloudThree"}'.
        #[arg(long)]
        scope: Option<String>,
    },
}

/// Runs `fedstack token ...`.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let TokenCommand::Issue { scope } = args.command;
    let scope = scope
        .as_deref()
        .map(ServiceScope::parse)
        .transpose()
        .map_err(|e| anyhow!("--scope: {e}"))?
        .unwrap_or_default();
    let creds = osc::client(args.cloud.os_cloud.as_deref())?
        .credentials()
        .clone();
    let mut body = auth_body(&creds.auth);
    if !scope.is_empty() {
        let keystone_scope = body["auth"]
            .as_object_mut()
            .map(|a| a.entry("scope").or_insert_with(|| json!({})));
        if let Some(s) = keystone_scope {
            s[AUTH_SCOPE_KEY] = serde_json::to_value(&scope)?;
        }
    }
    let url = format!(
        "{}/auth/tokens?nocatalog",
        creds.auth_url.trim_end_matches('/')
    );
    let resp = reqwest::Client::new()
        .post(&url)
        .timeout(Duration::from_secs(60))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    let token = resp
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let answer: Value = resp.json().await.unwrap_or_default();
    let Some(token) = token.filter(|_| status.is_success()) else {
        let why = answer
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        bail!("the top refused the token ({status}): {why}");
    };
    let t = &answer["token"];
    let shown = json!({
        "id": token,
        "expires": t["expires_at"],
        "project_id": t.pointer("/project/id"),
        "user_id": t.pointer("/user/id"),
        "scope": if scope.is_empty() { Value::Null } else { json!(scope.to_string()) },
    });
    print_object(&only(shown, &args.columns), args.cloud.format);
    Ok(())
}

/// The token request of the cloud's credentials (password with its project, or an
/// application credential).
fn auth_body(auth: &SiteAuth) -> Value {
    match auth {
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
    }
}

/// The fields of `obj` named by `columns` (all when none is named).
fn only(obj: Value, columns: &[String]) -> Value {
    if columns.is_empty() {
        return obj;
    }
    let kept: Map<String, Value> = obj
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| columns.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pick_fields() {
        let o = json!({"id": "t", "expires": "x"});
        assert_eq!(only(o.clone(), &[]), o);
        assert_eq!(only(o, &["id".into()]), json!({"id": "t"}));
    }
}
