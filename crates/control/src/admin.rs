//! The admin API: JSON over HTTP (axum), every route behind the bearer token created at first
//! start ([`ControlPlane::init_admin_token`]). The CLI and a future dashboard use only this.
//! Described for clients in `docs/admin-api.yaml`.
//!
//! Errors are `{"error": {"code": "...", "message": "..."}}` with the status each operation
//! error declares ([`ApiError`]): 401 bad token, 400 bad input, 404 unknown ids, 409
//! conflicts, 413 too large, 500 storage.

mod client;
mod errors;
mod routes;
pub mod types;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};

pub use client::{Client, ClientError, FollowEvent};
pub use errors::ApiError;

use crate::cron::CronEngine;
use crate::logs::LogSink;
use crate::plane::ControlPlane;

/// Largest deployment upload the API accepts: 512 MB.
pub const MAX_UPLOAD_BYTES: usize = 512 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub plane: Arc<ControlPlane>,
    /// `None` when crons are not run by this server (`POST .../crons/run` answers 503).
    pub crons: Option<Arc<CronEngine>>,
    /// Where the server's runtime logs go first; `None` refuses `GET /v1/logs?follow=true`
    /// with 503.
    pub logs: Option<Arc<LogSink>>,
}

impl AdminState {
    /// State with neither crons nor log following.
    pub fn new(plane: Arc<ControlPlane>) -> Self {
        Self {
            plane,
            crons: None,
            logs: None,
        }
    }
}

/// The admin API under `/v1`.
pub fn router(state: AdminState) -> Router {
    let uploads = Router::new()
        .route("/v1/deployments", post(routes::create_deployment))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES));
    Router::new()
        .route("/v1/deployments", get(routes::list_deployments))
        .route(
            "/v1/deployments/{id}",
            get(routes::get_deployment).delete(routes::remove_deployment),
        )
        .route("/v1/deployments/{id}/promote", post(routes::promote))
        .route("/v1/projects", get(routes::list_projects))
        .route("/v1/projects/{project}/rollback", post(routes::rollback))
        .route(
            "/v1/projects/{project}/usage-cap",
            put(routes::set_usage_cap),
        )
        .route(
            "/v1/projects/{project}/env",
            get(routes::list_env).post(routes::add_env),
        )
        .route("/v1/projects/{project}/env/pull", get(routes::pull_env))
        .route(
            "/v1/projects/{project}/env/{key}",
            delete(routes::remove_env),
        )
        .route("/v1/projects/{project}/crons", get(routes::list_crons))
        .route("/v1/projects/{project}/crons/run", post(routes::run_cron))
        .route(
            "/v1/edge-config",
            get(routes::list_edge_configs).post(routes::create_edge_config),
        )
        .route("/v1/edge-config/{id}", get(routes::get_edge_config))
        .route(
            "/v1/edge-config/{id}/items",
            patch(routes::patch_edge_config),
        )
        .route("/v1/usage", get(routes::usage))
        .route("/v1/logs", get(routes::logs))
        .merge(uploads)
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(unknown_route)
        .layer(middleware::map_response(errors_as_json))
        .with_state(state)
}

async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "{} is not an admin API route (see docs/admin-api.yaml)",
            uri.path()
        ),
    )
}

/// Turns the plain-text errors axum answers by itself (a body over the limit, a wrong
/// method) into the API's JSON error shape.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let (code, message) = match status {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => (
            "UPLOAD_TOO_LARGE",
            format!("the request body is larger than {MAX_UPLOAD_BYTES} bytes"),
        ),
        axum::http::StatusCode::METHOD_NOT_ALLOWED => (
            "METHOD_NOT_ALLOWED",
            "this route does not take that method".to_owned(),
        ),
        _ => ("BAD_REQUEST", String::from_utf8_lossy(&text).into_owned()),
    };
    ApiError::new(status, code, message).into_response()
}

/// Refuses requests without the admin token (401 `UNAUTHORIZED`).
async fn authenticate(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let verdict = match presented {
        None => Err(ApiError::unauthorized(
            "missing `authorization: Bearer <admin token>` header",
        )),
        Some(token) => match state.plane.check_admin_token(token) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ApiError::unauthorized(
                "the admin token is wrong (it was printed at the first start)",
            )),
            Err(error) => Err(ApiError::from(error)),
        },
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// Every route of [`super::router`] has its entry in the OpenAPI file.
    #[test]
    fn every_route_is_documented_in_the_openapi_file() {
        let source = include_str!("admin.rs");
        let code = source.split("#[cfg(test)]").next().unwrap_or(source);
        let doc = include_str!("../../../docs/admin-api.yaml");
        let mut routes: Vec<String> = code
            .split("\"/v1/")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|rest| format!("/v1/{rest}"))
            .collect();
        routes.dedup();
        assert!(routes.len() >= 16, "found only {routes:?}");
        for route in routes {
            assert!(
                doc.contains(&format!("\n  {route}:\n")),
                "{route} is missing from docs/admin-api.yaml"
            );
        }
    }
}
