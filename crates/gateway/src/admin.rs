//! eddy's own endpoints under `/_eddy/`: Prometheus metrics and a JSON view of the pools.

use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode, header};

use eddy_runtime::{Body, full_body};

use crate::pipeline::Gateway;

pub(crate) fn handle(gateway: &Arc<Gateway>, path: &str) -> Response<Body> {
    match path {
        "/_eddy/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            gateway.metrics.render(),
        ),
        "/_eddy/api/instances" => {
            let app = gateway.app();
            let pools: Vec<_> = app.pools().map(|p| p.snapshot()).collect();
            let body = serde_json::json!({ "deployment": app.deployment_id, "functions": pools });
            respond(
                StatusCode::OK,
                "application/json; charset=utf-8",
                body.to_string(),
            )
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "unknown eddy endpoint (try /_eddy/metrics or /_eddy/api/instances)\n".to_string(),
        ),
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
