//! The admin API through its router: auth, uploads, errors as JSON with their statuses, and
//! the env, Edge Config, usage and logs routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use eddy_control::model::{Level, LogRecord, UsageSample};
use eddy_control::{ControlPlane, LogSink, admin};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::support::{output_tar, plane_at, t};

struct Api {
    router: Router,
    token: String,
    plane: Arc<ControlPlane>,
    sink: Arc<LogSink>,
    _data: tempfile::TempDir,
}

impl Api {
    fn new() -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let (plane, _) = plane_at(data.path(), t("2026-03-01T10:00:00Z"));
        let token = plane
            .init_admin_token()
            .expect("token")
            .expect("first start creates a token");
        assert!(
            plane.init_admin_token().expect("token").is_none(),
            "the token is created once"
        );
        let sink = Arc::new(LogSink::default());
        Self {
            router: admin::router(admin::AdminState {
                logs: Some(sink.clone()),
                ..admin::AdminState::new(plane.clone())
            }),
            sink,
            token,
            plane,
            _data: data,
        }
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Body,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if uri.contains("/env") || uri.contains("edge-config") || uri.contains("usage-cap") {
            request = request.header("content-type", "application/json");
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("router");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Method::GET, uri, Some(&self.token), Body::empty())
            .await
    }

    async fn send(&self, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, uri, Some(&self.token), Body::from(body.to_string()))
            .await
    }

    async fn upload(&self, uri: &str, tar: Vec<u8>) -> (StatusCode, Value) {
        self.call(Method::POST, uri, Some(&self.token), Body::from(tar))
            .await
    }
}

#[tokio::test]
async fn requests_without_the_right_token_are_refused_with_401() {
    let api = Api::new();
    let (status, body) = api
        .call(Method::GET, "/v1/deployments", None, Body::empty())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    let (status, _) = api
        .call(
            Method::GET,
            "/v1/deployments",
            Some("eddy_wrong"),
            Body::empty(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/deployments?project=app",
            Some("nope"),
            Body::from("x"),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "uploads are authenticated too"
    );
    assert!(
        api.plane
            .store()
            .deployments(None)
            .expect("list")
            .is_empty()
    );
    let (status, _) = api.get("/v1/deployments").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn deployments_are_uploaded_listed_promoted_and_rolled_back() {
    let api = Api::new();
    let (status, v1) = api
        .upload(
            "/v1/deployments?project=app&target=production",
            output_tar("v1", "[]"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    let v1_id = v1["id"].as_str().expect("id").to_owned();
    assert!(v1_id.starts_with("dpl_"));
    assert_eq!(v1["url"], format!("http://{v1_id}.localhost:4321"));
    let (_, v2) = api
        .upload(
            "/v1/deployments?project=app&target=production",
            output_tar("v2", "[]"),
        )
        .await;
    let v2_id = v2["id"].as_str().expect("id").to_owned();

    let (_, list) = api.get("/v1/deployments?project=app").await;
    assert_eq!(list.as_array().expect("array").len(), 2);
    let (status, got) = api.get(&format!("/v1/deployments/{v2_id}")).await;
    assert_eq!(
        (status, got["target"].clone()),
        (StatusCode::OK, json!("production"))
    );

    let (status, back) = api
        .send(Method::POST, "/v1/projects/app/rollback", json!(null))
        .await;
    assert_eq!(
        (status, back["id"].as_str()),
        (StatusCode::OK, Some(v1_id.as_str()))
    );
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/v1/deployments/{v2_id}/promote"),
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let production = api.plane.resolve_host("app.localhost").expect("alias");
    assert_eq!(production.id.as_str(), v2_id);

    let (status, body) = api
        .send(
            Method::DELETE,
            &format!("/v1/deployments/{v2_id}"),
            json!(null),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("DEPLOYMENT_IS_PRODUCTION"))
    );
}

#[tokio::test]
async fn bad_uploads_and_unknown_ids_answer_json_errors_and_store_nothing() {
    let api = Api::new();
    let (status, body) = api
        .upload("/v1/deployments?project=app", b"garbage".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "MALFORMED_UPLOAD");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("tar")
    );

    let bad_cron = output_tar("c", r#"[{"path":"/api/hello","schedule":"0 0 31 2 * *"}]"#);
    let (status, body) = api.upload("/v1/deployments?project=app", bad_cron).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_CRON_EXPRESSION"))
    );

    let (status, body) = api
        .upload("/v1/deployments?project=Not_Valid", output_tar("v", "[]"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("INVALID_PROJECT_NAME"))
    );
    assert!(
        api.plane
            .store()
            .deployments(None)
            .expect("list")
            .is_empty()
    );
    let leftovers = std::fs::read_dir(api.plane.settings().deployments_dir())
        .expect("list")
        .count();
    assert_eq!(leftovers, 0);

    for uri in [
        "/v1/deployments/dpl_000000000000000000000000",
        "/v1/deployments/whatever",
    ] {
        let (status, body) = api.get(uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["error"]["code"], "DEPLOYMENT_NOT_FOUND");
    }
    let (status, _) = api
        .get("/v1/logs?deployment=dpl_000000000000000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api.get("/v1/nothing-here").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("NOT_FOUND"))
    );
    let (status, body) = api.send(Method::PUT, "/v1/deployments", json!(null)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
    let (status, body) = api.get("/v1/logs?level=loud").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("BAD_REQUEST"))
    );
}

#[tokio::test]
async fn env_routes_hide_secrets_and_an_oversized_env_answers_413() {
    let api = Api::new();
    let secret = json!({"key": "DB_PASSWORD", "value": "hunter2", "type": "secret", "targets": ["production"]});
    let (status, added) = api.send(Method::POST, "/v1/projects/app/env", secret).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(added["value"], Value::Null);
    let plain = json!({"key": "MODE", "value": "fast"});
    api.send(Method::POST, "/v1/projects/app/env", plain).await;
    let (_, listed) = api.get("/v1/projects/app/env").await;
    assert!(!listed.to_string().contains("hunter2"), "{listed}");
    assert_eq!(listed.as_array().expect("array").len(), 2);
    let (_, pulled) = api
        .get("/v1/projects/app/env/pull?target=development")
        .await;
    assert_eq!(pulled, json!({"MODE": "fast"}));

    let reserved = json!({"key": "VERCEL_ENV", "value": "x"});
    let (status, _) = api
        .send(Method::POST, "/v1/projects/app/env", reserved)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let big = json!({"key": "BLOB", "value": "z".repeat(66_000), "targets": ["production"]});
    let (status, body) = api.send(Method::POST, "/v1/projects/app/env", big).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("ENV_TOO_LARGE"))
    );
    for key in ["A", "B"] {
        let var = json!({"key": key, "value": "z".repeat(40_000), "targets": ["production"]});
        assert_eq!(
            api.send(Method::POST, "/v1/projects/app/env", var).await.0,
            StatusCode::CREATED
        );
    }
    let (status, body) = api
        .upload(
            "/v1/deployments?project=app&target=production",
            output_tar("v", "[]"),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("A (40001 bytes)"),
        "{body}"
    );

    let (status, removed) = api
        .send(Method::DELETE, "/v1/projects/app/env/A", json!(null))
        .await;
    assert_eq!(
        (status, removed["removed"].clone()),
        (StatusCode::OK, json!(1))
    );
    let (status, _) = api
        .send(Method::DELETE, "/v1/projects/app/env/A", json!(null))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn edge_config_usage_and_logs_routes_answer_what_the_plane_holds() {
    let api = Api::new();
    let (status, created) = api
        .send(
            Method::POST,
            "/v1/edge-config",
            json!({"project": "app", "items": {"a": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(
        created["connectionString"]
            .as_str()
            .expect("connection string")
            .contains(&id)
    );
    let ops = json!({"items": [{"operation": "upsert", "key": "b", "value": [1, 2]}, {"operation": "delete", "key": "a"}]});
    let (status, patched) = api
        .send(Method::PATCH, &format!("/v1/edge-config/{id}/items"), ops)
        .await;
    assert_eq!(
        (status, patched["items"].clone()),
        (StatusCode::OK, json!({"b": [1, 2]}))
    );
    assert_eq!(patched["version"], 2);
    let missing = json!({"items": [{"operation": "update", "key": "zz", "value": 1}]});
    let (status, _) = api
        .send(
            Method::PATCH,
            &format!("/v1/edge-config/{id}/items"),
            missing,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.plane
            .edge_config_replica()
            .get(&id)
            .expect("replica")
            .version,
        2,
        "a failed patch changes nothing"
    );

    let (_, deployed) = api
        .upload("/v1/deployments?project=app", output_tar("v", "[]"))
        .await;
    let deployment = api
        .plane
        .deployment(deployed["id"].as_str().expect("id"))
        .expect("deployment");
    let sample = UsageSample {
        invocations: 3,
        active_cpu_ms: 30,
        gb_seconds: 1.5,
        edge_units: 0,
        wall_ms: 90,
    };
    api.plane
        .record_invocation(&deployment.id, "api/hello", &sample)
        .expect("usage");
    let (status, usage) = api.get("/v1/usage?project=app").await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["total"]["invocations"], 3);
    assert_eq!(usage["rows"][0]["function"], "api/hello");

    let line = LogRecord {
        deployment: deployment.id.clone(),
        function: Some("api/hello".into()),
        request_id: Some("r-42".into()),
        level: Level::Error,
        time: t("2026-03-01T10:00:00Z"),
        message: "boom".into(),
    };
    api.plane.append_logs(&[line]).expect("logs");
    let (status, logs) = api
        .get(&format!(
            "/v1/logs?deployment={}&request_id=r-42&level=warn",
            deployment.id
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(logs[0]["message"], "boom");
    let (_, none) = api.get("/v1/logs?request_id=other").await;
    assert_eq!(none, json!([]));
}

#[tokio::test]
async fn following_logs_streams_stored_lines_then_new_matching_ones() {
    let api = Api::new();
    let (_, deployed) = api
        .upload("/v1/deployments?project=app", output_tar("v", "[]"))
        .await;
    let deployment = api
        .plane
        .deployment(deployed["id"].as_str().expect("id"))
        .expect("deployment");
    let line = |request: &str, level: Level| LogRecord {
        deployment: deployment.id.clone(),
        function: Some("api/hello".into()),
        request_id: Some(request.into()),
        level,
        time: t("2026-03-01T10:00:00Z"),
        message: format!("line of {request}"),
    };
    api.sink.push(line("stored", Level::Error));
    assert_eq!(api.plane.flush_logs(&api.sink).expect("flush"), 1);

    let request = Request::get("/v1/logs?follow=true&level=warn")
        .header("authorization", format!("Bearer {}", api.token))
        .body(Body::empty())
        .expect("request");
    let response = api.router.clone().oneshot(request).await.expect("router");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut body = response.into_body();
    let mut next_line = async || {
        let frame = body.frame().await.expect("a frame").expect("not an error");
        let bytes = frame.into_data().expect("data");
        serde_json::from_slice::<Value>(&bytes).expect("one JSON line")
    };
    assert_eq!(next_line().await["request_id"], "stored");
    api.sink.push(line("quiet", Level::Info));
    api.sink.push(line("live", Level::Error));
    let live = tokio::time::timeout(std::time::Duration::from_secs(5), next_line())
        .await
        .expect("a live line");
    assert_eq!(live["request_id"], "live", "the info line is filtered out");
}
