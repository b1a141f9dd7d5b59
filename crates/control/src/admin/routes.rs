//! The admin API's handlers: each parses its input, calls one [`ControlPlane`] operation and
//! answers JSON; errors go through [`ApiError`].

use std::collections::BTreeMap;

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use futures_util::{StreamExt, stream};
use tokio::sync::broadcast::error::RecvError;

use super::types::{
    CronList, DeployQuery, DeploymentView, EdgeConfigPatch, EdgeConfigView, LogsQuery,
    NewEdgeConfig, NewEnv, Paused, ProjectFilter, Removed, RunCron, TargetFilter, UsageQuery,
    UsageReport,
};
use super::{AdminState, ApiError};
use crate::edge_config;
use crate::model::{
    CronRun, DeploymentRecord, EdgeConfigRecord, EnvTarget, EnvType, EnvVar, LogQuery, LogRecord,
    Project, ProjectName, UsageCap,
};
use crate::plane::{ControlPlane, Upload};
use crate::store::UsageScope;
use crate::usage;

type Answer<T> = Result<Json<T>, ApiError>;
type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

fn query<T>(parsed: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    parsed
        .map(|Query(value)| value)
        .map_err(|e| ApiError::bad_request(format!("query string: {}", e.body_text())))
}

fn body<T>(parsed: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    parsed
        .map(|Json(value)| value)
        .map_err(|e| ApiError::bad_request(format!("request body: {}", e.body_text())))
}

fn project_name(text: &str) -> Result<ProjectName, ApiError> {
    Ok(text.parse::<ProjectName>()?)
}

fn view(plane: &ControlPlane, record: DeploymentRecord) -> DeploymentView {
    let url = format!(
        "http://{}.localhost:{}",
        record.id,
        plane.settings().gateway_port
    );
    DeploymentView { record, url }
}

/// `POST /v1/deployments?project=P&target=preview|production`, body: a tar (or .tar.gz) of
/// the `.vercel/output` tree. 201 with the deployment.
pub async fn create_deployment(
    State(state): State<AdminState>,
    params: Result<Query<DeployQuery>, QueryRejection>,
    upload: Bytes,
) -> Created<DeploymentView> {
    let params = query(params)?;
    let project = project_name(&params.project)?;
    let plane = state.plane.clone();
    let record = tokio::task::spawn_blocking(move || {
        plane.deploy(&project, params.target, Upload::Tar(&upload))
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            format!("deploy task failed: {e}"),
        )
    })??;
    Ok((StatusCode::CREATED, Json(view(&state.plane, record))))
}

/// `GET /v1/deployments[?project=P]`, newest first.
pub async fn list_deployments(
    State(state): State<AdminState>,
    params: Result<Query<ProjectFilter>, QueryRejection>,
) -> Answer<Vec<DeploymentView>> {
    let project = query(params)?
        .project
        .as_deref()
        .map(project_name)
        .transpose()?;
    let records = state.plane.store().deployments(project.as_ref())?;
    Ok(Json(
        records.into_iter().map(|r| view(&state.plane, r)).collect(),
    ))
}

/// `GET /v1/deployments/{id}`.
pub async fn get_deployment(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Answer<DeploymentView> {
    Ok(Json(view(&state.plane, state.plane.deployment(&id)?)))
}

/// `DELETE /v1/deployments/{id}`.
pub async fn remove_deployment(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Answer<DeploymentView> {
    Ok(Json(view(&state.plane, state.plane.remove(&id)?)))
}

/// `POST /v1/deployments/{id}/promote`.
pub async fn promote(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Answer<DeploymentView> {
    Ok(Json(view(&state.plane, state.plane.promote(&id)?)))
}

/// `POST /v1/projects/{project}/rollback`.
pub async fn rollback(
    State(state): State<AdminState>,
    Path(project): Path<String>,
) -> Answer<DeploymentView> {
    let project = project_name(&project)?;
    Ok(Json(view(&state.plane, state.plane.rollback(&project)?)))
}

/// `GET /v1/projects`.
pub async fn list_projects(State(state): State<AdminState>) -> Answer<Vec<Project>> {
    Ok(Json(state.plane.store().projects()?))
}

/// `PUT /v1/projects/{project}/usage-cap`, body: a cap or `null` (none).
pub async fn set_usage_cap(
    State(state): State<AdminState>,
    Path(project): Path<String>,
    cap: Result<Json<Option<UsageCap>>, JsonRejection>,
) -> Answer<Paused> {
    let project = project_name(&project)?;
    let paused = state.plane.set_usage_cap(&project, body(cap)?)?;
    Ok(Json(Paused { paused }))
}

/// `GET /v1/projects/{project}/env`: secret values are never included.
pub async fn list_env(
    State(state): State<AdminState>,
    Path(project): Path<String>,
) -> Answer<Vec<EnvVar>> {
    Ok(Json(
        state.plane.store().list_env(&project_name(&project)?)?,
    ))
}

/// `POST /v1/projects/{project}/env`, body `{key, value, targets?, type?}`. 201 with the
/// var as listings show it.
pub async fn add_env(
    State(state): State<AdminState>,
    Path(project): Path<String>,
    new: Result<Json<NewEnv>, JsonRejection>,
) -> Created<EnvVar> {
    let project = project_name(&project)?;
    let new = body(new)?;
    state
        .plane
        .add_env(&project, &new.key, &new.value, &new.targets, new.kind)?;
    let shown = (new.kind == EnvType::Plain).then_some(new.value);
    Ok((
        StatusCode::CREATED,
        Json(EnvVar {
            key: new.key,
            value: shown,
            targets: new.targets,
            kind: new.kind,
        }),
    ))
}

/// `DELETE /v1/projects/{project}/env/{key}[?target=T]` (all targets without one).
pub async fn remove_env(
    State(state): State<AdminState>,
    Path((project, key)): Path<(String, String)>,
    params: Result<Query<TargetFilter>, QueryRejection>,
) -> Answer<Removed> {
    let project = project_name(&project)?;
    let targets: Vec<EnvTarget> = query(params)?.target.into_iter().collect();
    let removed = state.plane.store().remove_env(&project, &key, &targets)?;
    if removed == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ENV_NOT_FOUND",
            format!("env var {key} not found in {project}"),
        ));
    }
    Ok(Json(Removed { removed }))
}

/// `GET /v1/projects/{project}/env/pull[?target=development]`: a name → value map; secret
/// values are empty.
pub async fn pull_env(
    State(state): State<AdminState>,
    Path(project): Path<String>,
    params: Result<Query<TargetFilter>, QueryRejection>,
) -> Answer<BTreeMap<String, String>> {
    let project = project_name(&project)?;
    let target = query(params)?.target.unwrap_or(EnvTarget::Development);
    Ok(Json(state.plane.pull_env(&project, target)?))
}

/// `GET /v1/projects/{project}/crons`: the production deployment's crons and the latest runs.
pub async fn list_crons(
    State(state): State<AdminState>,
    Path(project): Path<String>,
) -> Answer<CronList> {
    let project = project_name(&project)?;
    let store = state.plane.store();
    let production = store.production(&project)?.map(|(id, _)| id);
    let crons = match &production {
        Some(id) => store.deployment(id)?.map(|d| d.crons).unwrap_or_default(),
        None => Vec::new(),
    };
    let runs = store.cron_runs(&project, 50)?;
    Ok(Json(CronList {
        deployment: production,
        crons,
        runs,
    }))
}

/// `POST /v1/projects/{project}/crons/run`, body `{path}`: runs it now, answers the run.
pub async fn run_cron(
    State(state): State<AdminState>,
    Path(project): Path<String>,
    run: Result<Json<RunCron>, JsonRejection>,
) -> Answer<CronRun> {
    let project = project_name(&project)?;
    let run = body(run)?;
    let Some(engine) = &state.crons else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "CRONS_DISABLED",
            "this server does not run crons",
        ));
    };
    Ok(Json(engine.run_now(&project, &run.path).await?))
}

fn edge_view(plane: &ControlPlane, record: EdgeConfigRecord) -> EdgeConfigView {
    let connection_string = plane
        .settings()
        .edge_config_base
        .as_deref()
        .map(|base| edge_config::connection_string(base, &record.id, &record.token));
    EdgeConfigView {
        record,
        connection_string,
    }
}

/// `GET /v1/edge-config[?project=P]`.
pub async fn list_edge_configs(
    State(state): State<AdminState>,
    params: Result<Query<ProjectFilter>, QueryRejection>,
) -> Answer<Vec<EdgeConfigView>> {
    let project = query(params)?
        .project
        .as_deref()
        .map(project_name)
        .transpose()?;
    let records = state.plane.store().edge_configs(project.as_ref())?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| edge_view(&state.plane, r))
            .collect(),
    ))
}

/// `POST /v1/edge-config`, body `{project, items?}`. 201.
pub async fn create_edge_config(
    State(state): State<AdminState>,
    new: Result<Json<NewEdgeConfig>, JsonRejection>,
) -> Created<EdgeConfigView> {
    let new = body(new)?;
    let record = state
        .plane
        .create_edge_config(&project_name(&new.project)?, new.items)?;
    Ok((StatusCode::CREATED, Json(edge_view(&state.plane, record))))
}

/// `GET /v1/edge-config/{id}`.
pub async fn get_edge_config(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Answer<EdgeConfigView> {
    let record = state.plane.store().edge_config(&id)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "EDGE_CONFIG_NOT_FOUND",
            format!("edge config {id} not found"),
        )
    })?;
    Ok(Json(edge_view(&state.plane, record)))
}

/// `PATCH /v1/edge-config/{id}/items`, body `{items: [{operation, key, value?}]}` (Vercel's
/// shape); all or nothing.
pub async fn patch_edge_config(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    patch: Result<Json<EdgeConfigPatch>, JsonRejection>,
) -> Answer<EdgeConfigView> {
    let patch = body(patch)?;
    let record = state.plane.patch_edge_config(&id, &patch.items)?;
    Ok(Json(edge_view(&state.plane, record)))
}

/// `GET /v1/usage?project=P|deployment=D[&from=RFC3339&to=RFC3339]`: hour rows and their
/// total; the period defaults to the current month.
pub async fn usage(
    State(state): State<AdminState>,
    params: Result<Query<UsageQuery>, QueryRejection>,
) -> Answer<UsageReport> {
    let params = query(params)?;
    let scope = match (params.project, params.deployment) {
        (Some(project), None) => UsageScope::Project(project_name(&project)?),
        (None, Some(id)) => UsageScope::Deployment(state.plane.deployment(&id)?.id),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `project` and `deployment`",
            ));
        }
    };
    let now = state.plane.clock().now();
    let from = params.from.unwrap_or_else(|| usage::month_start(now));
    let to = params.to.unwrap_or(now + TimeDelta::hours(1));
    let rows = state.plane.usage(&scope, from, to)?;
    Ok(Json(UsageReport {
        from,
        to,
        total: usage::total(&rows),
        rows,
    }))
}

/// `GET /v1/logs[?deployment&function&request_id&level&since&limit&follow]`, oldest first.
/// With `follow=true` the answer is NDJSON (one line per log line) that first holds the
/// stored lines and then stays open with new ones as they come; a follower that falls
/// behind gets `{"skipped": N}`.
pub async fn logs(
    State(state): State<AdminState>,
    params: Result<Query<LogsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(params)?;
    let deployment = match params.deployment {
        Some(id) => Some(state.plane.deployment(&id)?.id),
        None => None,
    };
    let filter = LogQuery {
        deployment,
        function: params.function,
        request_id: params.request_id,
        level: params.level,
        since: params.since,
        limit: params.limit,
    };
    if !params.follow {
        return Ok(Json(state.plane.logs(&filter)?).into_response());
    }
    let Some(sink) = &state.logs else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "LOGS_FOLLOW_UNAVAILABLE",
            "this server does not stream logs; query without follow",
        ));
    };
    // Subscribe before reading the store so no line falls between the two.
    let receiver = sink.subscribe();
    let stored = state.plane.logs(&filter)?;
    let head = stream::iter(
        stored
            .into_iter()
            .map(|record| Ok::<_, Infallible>(ndjson(&record))),
    );
    let live = stream::unfold((receiver, filter), |(mut receiver, filter)| async move {
        loop {
            match receiver.recv().await {
                Ok(record) if filter.matches(&record) => {
                    return Some((Ok(ndjson(&record)), (receiver, filter)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(skipped)) => {
                    let line = Bytes::from(format!("{{\"skipped\":{skipped}}}\n"));
                    return Some((Ok(line), (receiver, filter)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let body = Body::from_stream(head.chain(live));
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

fn ndjson(record: &LogRecord) -> Bytes {
    let mut line = serde_json::to_vec(record).expect("log records serialise");
    line.push(b'\n');
    line.into()
}
