//! Keystone at the top, checked against the captured exchanges of a real Keystone 2026.1
//! (`shared/openstack-samples/identity`): statuses, envelopes, messages and document keys.

use crate::testing::{Answer, TestTop};
use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const TOP: &str = "http://127.0.0.1:8000";

/// The response body of a captured sample (`identity/NNN-...`).
fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/openstack-samples/identity/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).expect("sample JSON");
    v["response"]["body"].clone()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Asserts that `got` has exactly the keys of the object at `pointer` in a sample.
fn same_keys(got: &Value, file: &str, pointer: &str) {
    let want = sample(file);
    let want = want.pointer(pointer).expect("pointer in sample");
    assert_eq!(keys(got), keys(want), "keys of {file}{pointer} in {got}");
}

fn password_body(user: &str, password: &str, project: Option<&str>) -> Value {
    let mut b = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}});
    if let Some(p) = project {
        b["auth"]["scope"] = json!({"project": {"name": p, "domain": {"id": "default"}}});
    }
    b
}

fn subject_token(a: &Answer) -> String {
    a.headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .expect("X-Subject-Token")
        .to_string()
}

struct Api {
    t: TestTop,
}

impl Api {
    async fn new() -> Self {
        Api {
            t: TestTop::new().await,
        }
    }

    async fn call(
        &self,
        m: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.t
            .call(m, &format!("/identity{path}"), token, body)
            .await
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn auth(&self, body: Value) -> Answer {
        self.call(Method::POST, "/v3/auth/tokens", None, Some(body))
            .await
    }

    /// A password token; panics unless it is issued.
    async fn login(&self, user: &str, password: &str, project: Option<&str>) -> (String, Value) {
        let a = self.auth(password_body(user, password, project)).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        (subject_token(&a), a.body)
    }

    async fn with_subject(&self, m: Method, path: &str, token: &str, subject: &str) -> Answer {
        self.t
            .call_raw(
                m,
                &format!("/identity{path}"),
                Some(token),
                &[("x-subject-token", subject)],
                vec![],
                "application/json",
            )
            .await
    }

    async fn validate(&self, token: &str, subject: &str) -> Answer {
        self.with_subject(Method::GET, "/v3/auth/tokens", token, subject)
            .await
    }

    async fn id_of(&self, kind: &str, name: &str) -> String {
        let a = self
            .get(&format!("/v3/{kind}?name={name}"), &self.t.admin_token)
            .await;
        a.body[kind][0]["id"].as_str().expect("id").to_string()
    }

    async fn create_user(&self, name: &str, default_project: Option<&str>) -> String {
        let mut u = json!({"name": name, "password": "pw", "domain_id": "default"});
        if let Some(p) = default_project {
            u["default_project_id"] = json!(p);
        }
        let a = self
            .call(
                Method::POST,
                "/v3/users",
                Some(&self.t.admin_token),
                Some(json!({ "user": u })),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body["user"]["id"].as_str().expect("id").to_string()
    }

    async fn create_project(&self, name: &str) -> String {
        let body = json!({"project": {"name": name, "domain_id": "default"}});
        let a = self
            .call(
                Method::POST,
                "/v3/projects",
                Some(&self.t.admin_token),
                Some(body),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        a.body["project"]["id"].as_str().expect("id").to_string()
    }

    async fn grant(&self, project: &str, user: &str, role: &str) {
        let rid = self.id_of("roles", role).await;
        let path = format!("/v3/projects/{project}/users/{user}/roles/{rid}");
        let a = self
            .call(Method::PUT, &path, Some(&self.t.admin_token), None)
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    }
}

fn role_names(token_body: &Value) -> Vec<String> {
    let mut names: Vec<String> = token_body["token"]["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn versions_answer_as_keystone() {
    let api = Api::new().await;
    let a = api.call(Method::GET, "/", None, None).await;
    assert_eq!(a.status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(a.headers["location"], format!("{TOP}/identity/v3/"));
    let want = sample("001-versions");
    assert_eq!(
        keys(&a.body["versions"]["values"][0]),
        keys(&want["versions"]["values"][0])
    );
    for path in ["/v3", "/v3/"] {
        let a = api.call(Method::GET, path, None, None).await;
        assert_eq!(a.status, StatusCode::OK);
        same_keys(&a.body["version"], "002-version-v3", "/version");
    }
}

#[tokio::test]
async fn password_tokens_authorize_by_role() {
    let api = Api::new().await;
    let (admin, body) = api.login("admin", "secret", Some("admin")).await;
    same_keys(
        &body["token"],
        "003-auth-tokens-password-project-scoped-as-admin",
        "/token",
    );
    assert_eq!(
        role_names(&body),
        ["admin", "manager", "member", "reader"],
        "implied roles are effective"
    );
    assert_eq!(body["token"]["methods"], json!(["password"]));
    let a = api.get("/v3/projects", &admin).await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(&a.body, "004-projects-list-as-admin", "");
    let names: BTreeSet<&str> = a.body["projects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains("admin") && names.contains("demo"));

    let (demo, body) = api.login("demo", "secret", Some("demo")).await;
    assert_eq!(role_names(&body), ["member", "reader"]);
    let a = api.get("/v3/projects", &demo).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.body["error"]["message"],
        "You are not authorized to perform the requested action: identity:list_projects."
    );
    let a = api.get("/v3/users", &demo).await;
    assert_eq!(a.body, sample("031-users-list-forbidden-as-member"));
    // By user ID and project ID too.
    let uid = body["token"]["user"]["id"].as_str().unwrap_or_default();
    let pid = body["token"]["project"]["id"].as_str().unwrap_or_default();
    let by_id = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": uid, "password": "secret"}}}, "scope": {"project": {"id": pid}}}});
    assert_eq!(api.auth(by_id).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn refusals_are_keystones_bare_401() {
    let api = Api::new().await;
    let realm = format!("Keystone uri=\"{TOP}/identity/v3\"");
    let wrong = api.auth(password_body("demo", "nope", Some("demo"))).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, sample("015-auth-tokens-wrong-password"));
    assert_eq!(wrong.headers["www-authenticate"], realm.as_str());
    let mut unknown_project = password_body("demo", "secret", None);
    unknown_project["auth"]["scope"] =
        json!({"project": {"id": "75608991c16f47a88b0c417bdc89c4f2"}});
    let a = api.auth(unknown_project).await;
    assert_eq!(a.body, sample("016-auth-tokens-unknown-project"));
    for body in [
        password_body("nobody", "secret", None),
        password_body("demo", "secret", Some("admin")),
    ] {
        let a = api.auth(body).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
        assert_eq!(a.headers["www-authenticate"], realm.as_str());
    }
    // Disabled users and projects.
    let pid = api.id_of("projects", "demo").await;
    let admin = api.t.admin_token.clone();
    let disable = json!({"project": {"enabled": false}});
    let path = format!("/v3/projects/{pid}");
    let a = api
        .call(Method::PATCH, &path, Some(&admin), Some(disable))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = api
        .auth(password_body("demo", "secret", Some("demo")))
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let uid = api.id_of("users", "demo").await;
    let disable = json!({"user": {"enabled": false}});
    let path = format!("/v3/users/{uid}");
    api.call(Method::PATCH, &path, Some(&admin), Some(disable))
        .await;
    let a = api.auth(password_body("demo", "secret", None)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_auth_requests_are_400() {
    let api = Api::new().await;
    let a = api
        .t
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
    let a = api.auth(json!({"auth": {}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body["error"]["message"],
        "'identity' is a required property"
    );
    let a = api
        .auth(json!({"auth": {"identity": {"methods": ["token"], "token": {}}}}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Expecting to find id in token.")));
    let a = api
        .auth(json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"secret": "x"}}}}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unscoped_tokens_and_default_projects() {
    let api = Api::new().await;
    let uid = api.create_user("loner", None).await;
    let (_, body) = api.login("loner", "pw", None).await;
    same_keys(
        &body["token"],
        "014-auth-tokens-password-unscoped",
        "/token",
    );
    assert_eq!(body["token"]["user"]["id"], uid.as_str());
    // Keystone scopes to the default project when the user has a role there...
    let (_, body) = api.login("demo", "secret", None).await;
    assert_eq!(body["token"]["project"]["name"], "demo");
    // ...unless asked for an unscoped token.
    let mut b = password_body("demo", "secret", None);
    b["auth"]["scope"] = json!("unscoped");
    let a = api.auth(b).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert!(a.body["token"].get("project").is_none());
    // Domain and system scopes are not offered.
    let mut b = password_body("admin", "secret", None);
    b["auth"]["scope"] = json!({"system": {"all": true}});
    assert_eq!(api.auth(b).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rescoping_keeps_methods_audit_chain_and_expiry() {
    let api = Api::new().await;
    let mut b = password_body("demo", "secret", None);
    b["auth"]["scope"] = json!("unscoped");
    let first = api.auth(b).await;
    let unscoped = subject_token(&first);
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}});
    let a = api.auth(rescope.clone()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    same_keys(
        &a.body["token"],
        "017-auth-tokens-token-method-rescope",
        "/token",
    );
    let (t0, t1) = (&first.body["token"], &a.body["token"]);
    assert_eq!(t1["methods"], json!(["password", "token"]));
    assert_eq!(t1["audit_ids"][1], t0["audit_ids"][0]);
    assert_eq!(t1["expires_at"], t0["expires_at"]);
    // Rescoping the rescoped token keeps the root of the chain.
    let again = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": subject_token(&a)}}, "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}});
    let a2 = api.auth(again).await;
    assert_eq!(a2.body["token"]["audit_ids"][1], t0["audit_ids"][0]);
    // Revoking the first token revokes what was rescoped from it.
    let child = subject_token(&a2);
    let d = api
        .with_subject(Method::DELETE, "/v3/auth/tokens", &unscoped, &unscoped)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let admin = api.t.admin_token.clone();
    assert_eq!(
        api.validate(&admin, &child).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.auth(rescope).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn validate_check_and_revoke() {
    let api = Api::new().await;
    let (demo, _) = api.login("demo", "secret", Some("demo")).await;
    let admin = api.t.admin_token.clone();
    let a = api.validate(&demo, &demo).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(subject_token(&a), demo);
    same_keys(&a.body["token"], "018-auth-tokens-validate", "/token");
    let a = api
        .with_subject(Method::GET, "/v3/auth/tokens?nocatalog", &admin, &demo)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(
        &a.body["token"],
        "019-auth-tokens-validate-nocatalog-as-admin",
        "/token",
    );
    let a = api
        .with_subject(Method::HEAD, "/v3/auth/tokens", &demo, &demo)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(subject_token(&a), demo);
    // Others' tokens are for admins only.
    let a = api.validate(&demo, &admin).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = api
        .with_subject(Method::DELETE, "/v3/auth/tokens", &demo, &admin)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Revoke, then validate again.
    let a = api
        .with_subject(Method::DELETE, "/v3/auth/tokens", &demo, &demo)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = api.validate(&admin, &demo).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body, sample("022-auth-tokens-validate-revoked"));
    let a = api.get("/v3/auth/projects", &demo).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = api.validate(&admin, "garbage").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn catalog_lists_the_top_services() {
    let api = Api::new().await;
    let (_, body) = api.login("demo", "secret", Some("demo")).await;
    let catalog = &body["token"]["catalog"];
    let url_of = |ty: &str| -> Vec<(String, String)> {
        catalog
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["type"] == ty)
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .map(|e| {
                (
                    e["interface"].as_str().unwrap_or_default().to_string(),
                    e["url"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    for (ty, url) in [
        ("identity", format!("{TOP}/identity/v3")),
        ("compute", format!("{TOP}/compute/v2.1")),
        ("image", format!("{TOP}/image")),
        ("network", format!("{TOP}/networking")),
        ("federation", format!("{TOP}/fed/v1")),
        ("block-storage", format!("{TOP}/volume/v3")),
        ("volumev3", format!("{TOP}/volume/v3")),
    ] {
        let eps = url_of(ty);
        assert_eq!(eps.len(), 3, "{ty}: public, internal, admin");
        assert!(eps.iter().all(|(_, u)| *u == url), "{ty}: {eps:?}");
    }
    let sample_service = &sample("023-auth-catalog")["catalog"][0];
    same_keys(&catalog[0], "023-auth-catalog", "/catalog/0");
    assert_eq!(
        keys(&catalog[0]["endpoints"][0]),
        keys(&sample_service["endpoints"][0])
    );
    assert_eq!(catalog[0]["endpoints"][0]["region_id"], "RegionOne");

    let demo = api.t.demo_token.clone();
    let a = api.get("/v3/auth/catalog", &demo).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(&a.body["catalog"], catalog);
    let mut b = password_body("demo", "secret", None);
    b["auth"]["scope"] = json!("unscoped");
    let unscoped = subject_token(&api.auth(b).await);
    let a = api.get("/v3/auth/catalog", &unscoped).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let admin = api.t.admin_token.clone();
    let a = api.get("/v3/services", &admin).await;
    let services = catalog.as_array().map(Vec::len);
    assert_eq!(a.body["services"].as_array().map(Vec::len), services);
    let a = api.get("/v3/services?type=federation", &admin).await;
    assert_eq!(a.body["services"][0]["name"], "fedstack");
    let a = api.get("/v3/endpoints?interface=public", &admin).await;
    assert_eq!(a.body["endpoints"].as_array().map(Vec::len), services);
    assert_eq!(
        api.get("/v3/endpoints", &demo).await.status,
        StatusCode::FORBIDDEN
    );
    let endpoint = a.body["endpoints"][0].clone();
    let eid = endpoint["id"].as_str().unwrap_or_default();
    let a = api.get(&format!("/v3/endpoints/{eid}"), &admin).await;
    assert_eq!(a.body["endpoint"], endpoint);
    let sid = endpoint["service_id"].as_str().unwrap_or_default();
    let a = api.get(&format!("/v3/services/{sid}"), &admin).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = api.get("/v3/services/nope", &admin).await;
    assert_eq!(a.body["error"]["message"], "Could not find service: nope.");
    let a = api.get("/v3/regions", &demo).await;
    assert_eq!(a.body["regions"][0]["id"], "RegionOne");
    assert_eq!(
        api.get("/v3/regions/RegionOne", &demo).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn projects_crud_conflicts_and_revocation() {
    let api = Api::new().await;
    let admin = api.t.admin_token.clone();
    let body = json!({"project": {"name": "capture-proj", "domain_id": "default", "description": "fedstack capture run", "enabled": true}});
    let a = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    same_keys(&a.body, "005-projects-create-as-admin", "");
    same_keys(
        &a.body["project"],
        "005-projects-create-as-admin",
        "/project",
    );
    let pid = a.body["project"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let a = api
        .call(Method::POST, "/v3/projects", Some(&admin), Some(body))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let want = sample("006-projects-create-duplicate-as-admin");
    let want_msg = want["error"]["message"].as_str().unwrap_or_default();
    let id_in_sample = want_msg.rsplit(' ').next().unwrap_or_default();
    assert_eq!(
        a.body["error"]["message"],
        want_msg.replace(id_in_sample, &format!("{pid}."))
    );
    assert_eq!(a.body["error"]["title"], want["error"]["title"]);

    let path = format!("/v3/projects/{pid}");
    let patch = json!({"project": {"description": "fedstack capture run (updated)"}});
    let a = api
        .call(Method::PATCH, &path, Some(&admin), Some(patch))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(
        &a.body["project"],
        "030-projects-update-as-admin",
        "/project",
    );
    let rename = json!({"project": {"name": "demo"}});
    let a = api
        .call(Method::PATCH, &path, Some(&admin), Some(rename))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);

    for (bad, msg) in [
        (json!({"project": {"name": 5}}), "Invalid input for field/attribute name. Value: 5. 5 is not of type 'string'"),
        (json!({"project": {}}), "'name' is a required property"),
        (json!({"projects": {"name": "x"}}), "'project' is a required property"),
        (json!({"project": {"name": "x", "enabled": []}}), "Invalid input for field/attribute enabled. Value: []. [] is not of type 'boolean', 'string', 'null'"),
    ] {
        let a = api
            .call(Method::POST, "/v3/projects", Some(&admin), Some(bad))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST);
        assert_eq!(a.body["error"]["message"], msg);
    }

    let count = |a: Answer| a.body["projects"].as_array().map(Vec::len);
    assert_eq!(
        count(api.get("/v3/projects?name=demo", &admin).await),
        Some(1)
    );
    assert_eq!(
        count(api.get("/v3/projects?enabled=0", &admin).await),
        Some(0)
    );
    assert_eq!(
        count(api.get("/v3/projects?is_domain=true", &admin).await),
        Some(0)
    );

    // A member shows their own project, not others'.
    let uid = api.id_of("users", "demo").await;
    api.grant(&pid, &uid, "member").await;
    let (member, _) = api.login("demo", "secret", Some("capture-proj")).await;
    let a = api.get(&path, &member).await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(&a.body["project"], "029-projects-show-own", "/project");
    let admin_pid = api.id_of("projects", "admin").await;
    let a = api.get(&format!("/v3/projects/{admin_pid}"), &member).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // Deleting the project revokes its tokens.
    let a = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.validate(&admin, &member).await.status,
        StatusCode::NOT_FOUND
    );
    let a = api.get(&path, &admin).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["error"]["message"],
        format!("Could not find project: {pid}.")
    );
    let a = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn users_crud_and_token_revocation() {
    let api = Api::new().await;
    let admin = api.t.admin_token.clone();
    let body = json!({"user": {"name": "capture-user", "domain_id": "default", "password": "pw", "description": "fedstack capture user", "enabled": true}});
    let a = api
        .call(Method::POST, "/v3/users", Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    same_keys(&a.body["user"], "007-users-create-as-admin", "/user");
    let uid = a.body["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let a = api
        .call(Method::POST, "/v3/users", Some(&admin), Some(body))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        a.body["error"]["message"],
        "Conflict occurred attempting to store user - Duplicate entry found with name capture-user at domain ID default."
    );
    let other_domain = json!({"user": {"name": "x", "domain_id": "elsewhere"}});
    let a = api
        .call(Method::POST, "/v3/users", Some(&admin), Some(other_domain))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    let (own, _) = api.login("capture-user", "pw", None).await;
    let path = format!("/v3/users/{uid}");
    let a = api.get(&path, &own).await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(&a.body["user"], "027-users-show-self", "/user");
    let demo = api.t.demo_token.clone();
    assert_eq!(api.get(&path, &demo).await.status, StatusCode::FORBIDDEN);

    // A new password revokes the user's tokens; the old password stops working.
    let patch = json!({"user": {"password": "new"}});
    let a = api
        .call(Method::PATCH, &path, Some(&admin), Some(patch))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        api.validate(&admin, &own).await.status,
        StatusCode::NOT_FOUND
    );
    let a = api.auth(password_body("capture-user", "pw", None)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let (own, _) = api.login("capture-user", "new", None).await;

    // Self-service password change.
    let change = json!({"user": {"original_password": "new", "password": "newer"}});
    let pw_path = format!("/v3/users/{uid}/password");
    let a = api
        .call(Method::POST, &pw_path, None, Some(change.clone()))
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.validate(&admin, &own).await.status,
        StatusCode::NOT_FOUND
    );
    let a = api.call(Method::POST, &pw_path, None, Some(change)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let (own, _) = api.login("capture-user", "newer", None).await;

    // Deleting the user revokes their tokens.
    let a = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.validate(&admin, &own).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get(&path, &admin).await.status, StatusCode::NOT_FOUND);
    let a = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(
        a.body["error"]["message"],
        format!("Could not find user: {uid}.")
    );
}

#[tokio::test]
async fn grants_and_role_assignments() {
    let api = Api::new().await;
    let admin = api.t.admin_token.clone();
    let pid = api.create_project("capture-proj").await;
    let uid = api.create_user("capture-user", None).await;
    let rid = api.id_of("roles", "member").await;
    let path = format!("/v3/projects/{pid}/users/{uid}/roles/{rid}");
    assert_eq!(
        api.call(Method::HEAD, &path, Some(&admin), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    api.grant(&pid, &uid, "member").await;
    let a = api.call(Method::HEAD, &path, Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let q = format!("/v3/role_assignments?user.id={uid}&scope.project.id={pid}&include_names=true");
    let a = api.get(&q, &admin).await;
    assert_eq!(a.status, StatusCode::OK);
    let want = sample("012-role-assignments-list-as-admin");
    let got = &a.body["role_assignments"][0];
    same_keys(
        got,
        "012-role-assignments-list-as-admin",
        "/role_assignments/0",
    );
    for p in ["/scope/project", "/user", "/role"] {
        assert_eq!(
            keys(got.pointer(p).unwrap_or(&Value::Null)),
            keys(
                want["role_assignments"][0]
                    .pointer(p)
                    .unwrap_or(&Value::Null)
            ),
            "{p}"
        );
    }
    assert_eq!(got["role"]["name"], "member");
    assert_eq!(got["links"]["assignment"], format!("{TOP}/identity{path}"));
    assert_eq!(a.body["links"]["self"], format!("{TOP}/identity{q}"));

    let (member, _) = api.login("capture-user", "pw", Some("capture-proj")).await;
    let own = format!("/v3/role_assignments?user.id={uid}");
    assert_eq!(api.get(&own, &member).await.status, StatusCode::OK);
    let all = api.get("/v3/role_assignments", &member).await;
    assert_eq!(all.status, StatusCode::FORBIDDEN);
    let a = api
        .get(&format!("/v3/projects/{pid}/users/{uid}/roles"), &admin)
        .await;
    assert_eq!(a.body["roles"][0]["id"], rid.as_str());

    // Removing the grant revokes the user's tokens, which carried the role.
    let a = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.validate(&admin, &member).await.status,
        StatusCode::NOT_FOUND
    );
    let a = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.body["error"]["message"],
        format!("Could not find role assignment with role: {rid}, user or group: {uid}, project, domain, or system: {pid}.")
    );
    let bad = format!("/v3/projects/{pid}/users/{uid}/roles/nope");
    let a = api.call(Method::PUT, &bad, Some(&admin), None).await;
    assert_eq!(a.body["error"]["message"], "Could not find role: nope.");
}

#[tokio::test]
async fn roles_crud() {
    let api = Api::new().await;
    let admin = api.t.admin_token.clone();
    let a = api.get("/v3/roles?name=member", &admin).await;
    same_keys(&a.body, "009-roles-list-filter-name-as-admin", "");
    same_keys(
        &a.body["roles"][0],
        "009-roles-list-filter-name-as-admin",
        "/roles/0",
    );
    assert_eq!(a.body["roles"].as_array().map(Vec::len), Some(1));
    let body = json!({"role": {"name": "auditor"}});
    let a = api
        .call(Method::POST, "/v3/roles", Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.body["role"]["options"], json!({}));
    let rid = a.body["role"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let a = api
        .call(Method::POST, "/v3/roles", Some(&admin), Some(body))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let path = format!("/v3/roles/{rid}");
    assert_eq!(api.get(&path, &admin).await.body["role"]["name"], "auditor");
    let demo = api.t.demo_token.clone();
    assert_eq!(api.get(&path, &demo).await.status, StatusCode::FORBIDDEN);
    let a = api.call(Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&path, &admin).await.status, StatusCode::NOT_FOUND);
    let member = api.id_of("roles", "member").await;
    let a = api
        .call(
            Method::DELETE,
            &format!("/v3/roles/{member}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn application_credentials_lifecycle() {
    let api = Api::new().await;
    let (demo, body) = api.login("demo", "secret", Some("demo")).await;
    let uid = body["token"]["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pid = body["token"]["project"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let creds = format!("/v3/users/{uid}/application_credentials");
    let a = api
        .call(
            Method::POST,
            &creds,
            Some(&demo),
            Some(json!({"application_credential": {"name": "ci", "description": "for CI"}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let ac = a.body["application_credential"].clone();
    let secret = ac["secret"].as_str().unwrap_or_default().to_string();
    let id = ac["id"].as_str().unwrap_or_default().to_string();
    assert!(secret.len() >= 64, "a generated secret");
    assert_eq!(ac["project_id"], pid.as_str());
    assert_eq!(ac["unrestricted"], false);
    let names: Vec<&str> = ac["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(names, ["member", "reader"], "the token's roles by default");

    // Authenticate with it: scoped to its project, with its roles.
    let by_id = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": secret}}}});
    let a = api.auth(by_id.clone()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let ac_token = subject_token(&a);
    let t = &a.body["token"];
    assert_eq!(t["methods"], json!(["application_credential"]));
    assert_eq!(t["project"]["id"], pid.as_str());
    assert_eq!(
        t["application_credential"],
        json!({"id": id, "name": "ci", "restricted": true})
    );
    let by_name = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "ci", "user": {"name": "demo", "domain": {"id": "default"}}, "secret": secret}}}});
    assert_eq!(api.auth(by_name).await.status, StatusCode::CREATED);
    let wrong = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": "nope"}}}});
    assert_eq!(api.auth(wrong).await.status, StatusCode::UNAUTHORIZED);
    let mut scoped = by_id.clone();
    scoped["auth"]["scope"] = json!({"project": {"id": pid}});
    assert_eq!(api.auth(scoped).await.status, StatusCode::UNAUTHORIZED);

    // A restricted credential's token may not manage credentials nor be rescoped.
    let a = api
        .call(
            Method::POST,
            &creds,
            Some(&ac_token),
            Some(json!({"application_credential": {"name": "more"}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.body["error"]["message"],
        "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials.."
    );
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": ac_token}}, "scope": {"project": {"id": pid}}}});
    assert_eq!(api.auth(rescope).await.status, StatusCode::FORBIDDEN);

    // Listing and showing are for the owner.
    let a = api.get(&creds, &demo).await;
    assert_eq!(a.body["application_credentials"][0]["id"], id.as_str());
    assert!(a.body["application_credentials"][0].get("secret").is_none());
    let one = format!("{creds}/{id}");
    assert_eq!(api.get(&one, &demo).await.status, StatusCode::OK);
    let admin = api.t.admin_token.clone();
    assert_eq!(api.get(&one, &admin).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.get(&creds, &admin).await.status, StatusCode::FORBIDDEN);
    let a = api.get(&format!("{creds}/missing"), &demo).await;
    assert_eq!(
        a.body["error"]["message"],
        "Could not find Application Credential: missing."
    );

    // Deleting it revokes its tokens and it no longer authenticates.
    let a = api.call(Method::DELETE, &one, Some(&demo), None).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.validate(&admin, &ac_token).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.auth(by_id).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.validate(&admin, &demo).await.status, StatusCode::OK);
}

#[tokio::test]
async fn application_credential_input_is_checked() {
    let api = Api::new().await;
    let demo = api.t.demo_token.clone();
    let uid = api.id_of("users", "demo").await;
    let creds = format!("/v3/users/{uid}/application_credentials");
    let post = |body: Value| api.call(Method::POST, &creds, Some(&demo), Some(body));
    let a =
        post(json!({"application_credential": {"name": "x", "roles": [{"name": "admin"}]}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body["error"]["message"],
        "Invalid application credential: Cannot create an application credential with unassigned role"
    );
    let a =
        post(json!({"application_credential": {"name": "x", "expires_at": "2001-01-01T00:00:00"}}))
            .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = post(json!({"application_credential": {"name": "x", "expires_at": "soon"}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = post(json!({"application_credential": {"name": 3}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = post(json!({"application_credential": {"name": "r", "roles": [{"name": "reader"}], "secret": "s3cret", "expires_at": "2999-01-01T00:00:00Z"}})).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    assert_eq!(a.body["application_credential"]["secret"], "s3cret");
    assert_eq!(
        a.body["application_credential"]["expires_at"],
        "2999-01-01T00:00:00.000000"
    );
    let a = post(json!({"application_credential": {"name": "r"}})).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    // Its token carries only the roles it was given.
    let id = api.get(&creds, &demo).await.body["application_credentials"][0]["id"].clone();
    let auth = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": "s3cret"}}}});
    let a = api.auth(auth).await;
    assert_eq!(role_names(&a.body), ["reader"]);
    // Others may not create credentials for a user.
    let admin = api.t.admin_token.clone();
    let a = api
        .call(
            Method::POST,
            &creds,
            Some(&admin),
            Some(json!({"application_credential": {"name": "y"}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn members_see_their_projects_and_the_domain() {
    let api = Api::new().await;
    let demo = api.t.demo_token.clone();
    let admin = api.t.admin_token.clone();
    let a = api.get("/v3/auth/projects", &demo).await;
    same_keys(&a.body, "024-auth-projects", "");
    same_keys(&a.body["projects"][0], "024-auth-projects", "/projects/0");
    assert_eq!(a.body["projects"].as_array().map(Vec::len), Some(1));
    let uid = api.id_of("users", "demo").await;
    let a = api.get(&format!("/v3/users/{uid}/projects"), &demo).await;
    same_keys(&a.body, "028-users-projects-self", "");
    assert_eq!(a.body["projects"][0]["name"], "demo");
    let admin_uid = api.id_of("users", "admin").await;
    let a = api
        .get(&format!("/v3/users/{admin_uid}/projects"), &demo)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = api.get("/v3/domains", &admin).await;
    assert_eq!(a.status, StatusCode::OK);
    same_keys(
        &a.body["domains"][0],
        "034-domains-list-as-admin",
        "/domains/0",
    );
    assert_eq!(
        api.get("/v3/domains", &demo).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.get("/v3/domains/default", &demo).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/v3/domains/other", &demo).await.status,
        StatusCode::NOT_FOUND
    );
    let a = api.get("/v3/auth/domains", &demo).await;
    assert_eq!(a.body["domains"][0]["id"], "default");
    let a = api.call(Method::GET, "/v3/projects", None, None).await;
    assert_eq!(a.body, sample("032-projects-list-no-token"));
}
