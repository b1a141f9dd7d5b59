//! The admin API's request and response bodies, shared by the handlers and the [`Client`]
//! (`super::Client`). Field names are the JSON names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    CronRun, CronSpec, DeploymentId, DeploymentRecord, EdgeConfigRecord, EnvTarget, EnvType, Level,
    Target, UsageRow, UsageSample,
};
use crate::store::EdgeConfigOp;

/// A deployment as the API shows it: the record and its URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    #[serde(flatten)]
    pub record: DeploymentRecord,
    pub url: String,
}

/// Query of `POST /v1/deployments`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeployQuery {
    pub project: String,
    #[serde(default = "preview")]
    pub target: Target,
}

fn preview() -> Target {
    Target::Preview
}

/// `?project=` of list routes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProjectFilter {
    pub project: Option<String>,
}

/// Answer of `PUT /v1/projects/{project}/usage-cap`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paused {
    pub paused: bool,
}

/// Body of `POST /v1/projects/{project}/env`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewEnv {
    pub key: String,
    pub value: String,
    #[serde(default = "all_targets")]
    pub targets: Vec<EnvTarget>,
    #[serde(rename = "type", default = "plain")]
    pub kind: EnvType,
}

fn all_targets() -> Vec<EnvTarget> {
    EnvTarget::ALL.to_vec()
}

fn plain() -> EnvType {
    EnvType::Plain
}

/// `?target=` of env routes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TargetFilter {
    pub target: Option<EnvTarget>,
}

/// Answer of `DELETE /v1/projects/{project}/env/{key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removed {
    pub removed: usize,
}

/// Answer of `GET /v1/projects/{project}/crons`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CronList {
    pub deployment: Option<DeploymentId>,
    pub crons: Vec<CronSpec>,
    pub runs: Vec<CronRun>,
}

/// Body of `POST /v1/projects/{project}/crons/run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunCron {
    pub path: String,
}

/// An Edge Config as the API shows it, with the `EDGE_CONFIG` connection string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeConfigView {
    #[serde(flatten)]
    pub record: EdgeConfigRecord,
    #[serde(
        rename = "connectionString",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub connection_string: Option<String>,
}

/// Body of `POST /v1/edge-config`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewEdgeConfig {
    pub project: String,
    #[serde(default)]
    pub items: serde_json::Map<String, serde_json::Value>,
}

/// Body of `PATCH /v1/edge-config/{id}/items`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeConfigPatch {
    pub items: Vec<EdgeConfigOp>,
}

/// Query of `GET /v1/usage`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UsageQuery {
    pub project: Option<String>,
    pub deployment: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Answer of `GET /v1/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total: UsageSample,
    pub rows: Vec<UsageRow>,
}

/// Query of `GET /v1/logs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogsQuery {
    pub deployment: Option<String>,
    pub function: Option<String>,
    pub request_id: Option<String>,
    pub level: Option<Level>,
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    #[serde(default)]
    pub follow: bool,
}
