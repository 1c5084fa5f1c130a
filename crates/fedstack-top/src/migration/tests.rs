//! `/fed/v1/migrations` refuses bad requests with the right errors before any job exists.

use crate::testing::TestTop;
use axum::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn bad_requests_are_client_errors_and_make_no_job() {
    let t = TestTop::new().await;
    let admin = Some(t.admin_token.as_str());
    let post = |body| t.call(Method::POST, "/fed/v1/migrations", admin, Some(body));
    let a = post(json!({"migration": {"destination": "x"}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body["badRequest"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("server_id"));
    let a = post(json!({"migration": {"server_id": "s", "destination": "x", "bogus": 1}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a =
        post(json!({"migration": {"server_id": "s", "destination": "x", "type": "live"}})).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let a = post(json!({"migration": {"server_id": "nope", "destination": "x"}})).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert_eq!(
        a.body["itemNotFound"]["message"],
        "Instance nope could not be found."
    );
    let a = t
        .call(Method::GET, "/fed/v1/migrations/nope", admin, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    let a = t
        .call(Method::POST, "/fed/v1/migrations/nope/cancel", admin, None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    for q in ["state=bogus", "limit=0", "limit=x"] {
        let a = t
            .call(Method::GET, &format!("/fed/v1/migrations?{q}"), admin, None)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}: {}", a.body);
    }
    let a = t
        .call(
            Method::GET,
            "/fed/v1/migrations",
            Some(t.demo_token.as_str()),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["migrations"], json!([]));
    assert!(t
        .top
        .jobs
        .store()
        .list(&Default::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let t = TestTop::new().await;
    let a = t.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&a.raw).contains("# TYPE fedstack_jobs gauge"));
}
