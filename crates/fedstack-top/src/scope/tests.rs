//! Scopes through the top's HTTP API, against real simulated sites (in-process top).

use crate::testing::TestTop;
use axum::http::{Method, StatusCode};
use fedstack_api_types::Service;
use fedstack_sim::faults::DownMode;
use fedstack_sim::{Sim, SimConfig};
use serde_json::{json, Value};
use std::sync::Arc;

async fn bed() -> (TestTop, Arc<Sim>) {
    let sim = Sim::start(SimConfig::with_sites(2)).await.unwrap();
    let t = TestTop::new().await;
    for s in &sim.sites {
        t.register_site(&s.site.name, &s.site.auth_url()).await;
    }
    (t, sim)
}

fn password_auth(password: &str, scope: Option<Value>) -> Value {
    let mut body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}});
    if let Some(s) = scope {
        body["auth"]["scope"]["OS-FEDSTACK:scope"] = s;
    }
    body
}

/// Issues a token; `(status, token)`.
async fn issue(t: &TestTop, body: Value, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let a = t
        .call_raw(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            headers,
            serde_json::to_vec(&body).unwrap(),
            "application/json",
        )
        .await;
    let token = a
        .headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (a.status, token)
}

fn scope_of(t: &TestTop, token: &str) -> String {
    t.top.tokens.verify(token).unwrap().scope.to_string()
}

#[tokio::test]
async fn tokens_carry_the_scope_through_exchange() {
    let (t, _sim) = bed().await;
    let (status, tok) = issue(
        &t,
        password_auth("secret", Some(json!({"compute": "CloudOne"}))),
        &[("x-scope", r#"{"image": "CloudOne | CloudTwo"}"#)],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        scope_of(&t, &tok),
        r#"{"compute":"CloudOne","image":"CloudOne | CloudTwo"}"#
    );
    let exchange = |token: String| {
        json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})
    };
    let (status, kept) = issue(&t, exchange(tok.clone()), &[]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(scope_of(&t, &kept), scope_of(&t, &tok));
    let suffixed = format!("{tok}!SCOPE!{{\"compute\": \"CloudTwo\"}}");
    let (status, changed) = issue(&t, exchange(suffixed), &[]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        scope_of(&t, &changed),
        r#"{"compute":"CloudTwo","image":"CloudOne | CloudTwo"}"#
    );
    // Unknown sites and malformed scopes are Keystone's 400.
    for bad in [
        json!({"compute": "Nowhere"}),
        json!({"compute": "A | B & C"}),
        json!([1]),
    ] {
        let (status, _) = issue(&t, password_auth("secret", Some(bad)), &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn requests_take_the_scope_of_header_and_suffix() {
    let (t, _sim) = bed().await;
    let demo = t.demo_token.clone();
    let a = t
        .call_raw(
            Method::GET,
            "/compute/v2.1/servers",
            Some(&demo),
            &[("x-scope", "{not json")],
            vec![],
            "application/json",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid scope"));
    let suffixed = format!("{demo}!SCOPE!{{\"compute\": \"Nowhere\"}}");
    let a = t
        .call(Method::GET, "/compute/v2.1/servers", Some(&suffixed), None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("Nowhere"));
    let suffixed = format!("{demo}!SCOPE!{{\"compute\": \"CloudTwo\"}}");
    let a = t
        .call(Method::GET, "/compute/v2.1/servers", Some(&suffixed), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn identity_scoped_to_sites_asks_their_keystone_and_falls_over() {
    let (t, sim) = bed().await;
    let scoped = |expr: &str| Some(json!({"identity": expr}));
    let (status, _) = issue(&t, password_auth("secret", scoped("CloudOne")), &[]).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = issue(&t, password_auth("wrong", scoped("CloudOne")), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    sim.set_down("CloudOne", Some(DownMode::Refuse))
        .await
        .unwrap();
    let (status, tok) = issue(
        &t,
        password_auth("secret", scoped("CloudOne | CloudTwo")),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "CloudTwo answers for CloudOne");
    assert_eq!(
        t.top
            .tokens
            .verify(&tok)
            .unwrap()
            .scope
            .get(Service::Identity)
            .unwrap()
            .to_string(),
        "CloudOne | CloudTwo"
    );
    let a = t
        .call(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            Some(password_auth("secret", scoped("CloudOne & CloudTwo"))),
        )
        .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("CloudOne"));
}
