//! [`Client`]: the admin API from the other side, for the `eddy` verbs (`deploy`, `ls`,
//! `promote`, `rollback`, `rm`, `env`, `crons`, `edge-config`, `usage`, `logs`). It speaks
//! only HTTP, so it works against a server on another machine.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

use super::types::{
    CronList, DeploymentView, EdgeConfigPatch, EdgeConfigView, LogsQuery, NewEdgeConfig, NewEnv,
    Paused, Removed, RunCron, UsageQuery, UsageReport,
};
use crate::model::{
    CronRun, EnvTarget, EnvType, EnvVar, LogRecord, Project, ProjectName, Target, UsageCap,
};
use crate::store::EdgeConfigOp;

/// Why an admin API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("admin api at {base} cannot be reached: {reason} (is `eddy serve` running there?)")]
    Unreachable { base: String, reason: String },
    /// The server refused the call; `message` says why and what to do.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("admin api answered something unexpected: {0}")]
    Decode(String),
}

/// What `eddy logs --follow` receives.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowEvent {
    Line(LogRecord),
    /// The server dropped this many lines because the follower was too slow.
    Skipped(u64),
}

/// An admin API client: a base URL (`http://127.0.0.1:4001`) and the admin token.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    base: String,
    token: String,
}

impl Client {
    pub fn new(base: impl Into<String>, token: impl Into<String>) -> Self {
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        let base = base.into().trim_end_matches('/').to_owned();
        Self {
            http,
            base,
            token: token.into(),
        }
    }

    /// Sends a call and returns the response of a 2xx, or the API's error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<Incoming, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            base: self.base.clone(),
            reason,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header(header::CONTENT_TYPE, content_type);
                bytes
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(body))
            .map_err(|e| unreachable(e.to_string()))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Err(api_error(status, &bytes))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, ClientError> {
        let body = body.map(|value| ("application/json", Bytes::from(value.to_string())));
        let incoming = self.send(method, path, body).await?;
        let bytes = incoming
            .collect()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(format!("{path}: {e}")))
    }

    /// Uploads a packed `.vercel/output` tree ([`crate::deploy::pack_dir`]).
    pub async fn deploy(
        &self,
        project: &ProjectName,
        target: Target,
        tar: Vec<u8>,
    ) -> Result<DeploymentView, ClientError> {
        let path = format!(
            "/v1/deployments?{}",
            query(&[
                ("project", Some(project.as_str())),
                ("target", Some(target.as_str()))
            ])
        );
        let incoming = self
            .send(
                Method::POST,
                &path,
                Some(("application/x-tar", Bytes::from(tar))),
            )
            .await?;
        let bytes = incoming
            .collect()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    pub async fn deployments(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<DeploymentView>, ClientError> {
        let filter = query(&[("project", project.map(ProjectName::as_str))]);
        self.json(Method::GET, &format!("/v1/deployments?{filter}"), None)
            .await
    }

    pub async fn deployment(&self, id: &str) -> Result<DeploymentView, ClientError> {
        self.json(
            Method::GET,
            &format!("/v1/deployments/{}", segment(id)),
            None,
        )
        .await
    }

    pub async fn promote(&self, id: &str) -> Result<DeploymentView, ClientError> {
        self.json(
            Method::POST,
            &format!("/v1/deployments/{}/promote", segment(id)),
            None,
        )
        .await
    }

    pub async fn rollback(&self, project: &ProjectName) -> Result<DeploymentView, ClientError> {
        self.json(
            Method::POST,
            &format!("/v1/projects/{project}/rollback"),
            None,
        )
        .await
    }

    pub async fn remove(&self, id: &str) -> Result<DeploymentView, ClientError> {
        self.json(
            Method::DELETE,
            &format!("/v1/deployments/{}", segment(id)),
            None,
        )
        .await
    }

    pub async fn projects(&self) -> Result<Vec<Project>, ClientError> {
        self.json(Method::GET, "/v1/projects", None).await
    }

    /// Sets or clears the usage cap; answers whether the project is paused now.
    pub async fn set_usage_cap(
        &self,
        project: &ProjectName,
        cap: Option<UsageCap>,
    ) -> Result<bool, ClientError> {
        let body = serde_json::to_value(cap).map_err(|e| ClientError::Decode(e.to_string()))?;
        let paused: Paused = self
            .json(
                Method::PUT,
                &format!("/v1/projects/{project}/usage-cap"),
                Some(body),
            )
            .await?;
        Ok(paused.paused)
    }

    pub async fn env_add(
        &self,
        project: &ProjectName,
        key: &str,
        value: &str,
        targets: &[EnvTarget],
        kind: EnvType,
    ) -> Result<EnvVar, ClientError> {
        let new = NewEnv {
            key: key.to_owned(),
            value: value.to_owned(),
            targets: targets.to_vec(),
            kind,
        };
        let body = serde_json::to_value(new).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.json(
            Method::POST,
            &format!("/v1/projects/{project}/env"),
            Some(body),
        )
        .await
    }

    pub async fn env_ls(&self, project: &ProjectName) -> Result<Vec<EnvVar>, ClientError> {
        self.json(Method::GET, &format!("/v1/projects/{project}/env"), None)
            .await
    }

    /// Removes a var from one target, or from all with `None`; answers how many went.
    pub async fn env_rm(
        &self,
        project: &ProjectName,
        key: &str,
        target: Option<EnvTarget>,
    ) -> Result<usize, ClientError> {
        let filter = query(&[("target", target.map(EnvTarget::as_str))]);
        let path = format!("/v1/projects/{project}/env/{}?{filter}", segment(key));
        let removed: Removed = self.json(Method::DELETE, &path, None).await?;
        Ok(removed.removed)
    }

    pub async fn env_pull(
        &self,
        project: &ProjectName,
        target: EnvTarget,
    ) -> Result<BTreeMap<String, String>, ClientError> {
        let path = format!(
            "/v1/projects/{project}/env/pull?{}",
            query(&[("target", Some(target.as_str()))])
        );
        self.json(Method::GET, &path, None).await
    }

    pub async fn crons(&self, project: &ProjectName) -> Result<CronList, ClientError> {
        self.json(Method::GET, &format!("/v1/projects/{project}/crons"), None)
            .await
    }

    pub async fn run_cron(
        &self,
        project: &ProjectName,
        path: &str,
    ) -> Result<CronRun, ClientError> {
        let body = serde_json::to_value(RunCron {
            path: path.to_owned(),
        })
        .map_err(|e| ClientError::Decode(e.to_string()))?;
        self.json(
            Method::POST,
            &format!("/v1/projects/{project}/crons/run"),
            Some(body),
        )
        .await
    }

    pub async fn edge_config_create(
        &self,
        project: &ProjectName,
        items: serde_json::Map<String, serde_json::Value>,
    ) -> Result<EdgeConfigView, ClientError> {
        let new = NewEdgeConfig {
            project: project.to_string(),
            items,
        };
        let body = serde_json::to_value(new).map_err(|e| ClientError::Decode(e.to_string()))?;
        self.json(Method::POST, "/v1/edge-config", Some(body)).await
    }

    pub async fn edge_configs(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<EdgeConfigView>, ClientError> {
        let filter = query(&[("project", project.map(ProjectName::as_str))]);
        self.json(Method::GET, &format!("/v1/edge-config?{filter}"), None)
            .await
    }

    pub async fn edge_config(&self, id: &str) -> Result<EdgeConfigView, ClientError> {
        self.json(
            Method::GET,
            &format!("/v1/edge-config/{}", segment(id)),
            None,
        )
        .await
    }

    pub async fn edge_config_patch(
        &self,
        id: &str,
        ops: Vec<EdgeConfigOp>,
    ) -> Result<EdgeConfigView, ClientError> {
        let body = serde_json::to_value(EdgeConfigPatch { items: ops })
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        self.json(
            Method::PATCH,
            &format!("/v1/edge-config/{}/items", segment(id)),
            Some(body),
        )
        .await
    }

    pub async fn usage(&self, filter: &UsageQuery) -> Result<UsageReport, ClientError> {
        let from = filter.from.map(|t| t.to_rfc3339());
        let to = filter.to.map(|t| t.to_rfc3339());
        let pairs = [
            ("project", filter.project.as_deref()),
            ("deployment", filter.deployment.as_deref()),
            ("from", from.as_deref()),
            ("to", to.as_deref()),
        ];
        self.json(Method::GET, &format!("/v1/usage?{}", query(&pairs)), None)
            .await
    }

    /// Stored log lines matching `filter` (its `follow` is ignored; see [`Client::follow_logs`]).
    pub async fn logs(&self, filter: &LogsQuery) -> Result<Vec<LogRecord>, ClientError> {
        self.json(
            Method::GET,
            &format!("/v1/logs?{}", logs_query(filter, false)),
            None,
        )
        .await
    }

    /// The stored lines matching `filter`, then new ones as they come, until the server goes.
    pub async fn follow_logs(
        &self,
        filter: &LogsQuery,
    ) -> Result<impl Stream<Item = Result<FollowEvent, ClientError>> + use<>, ClientError> {
        let incoming = self
            .send(
                Method::GET,
                &format!("/v1/logs?{}", logs_query(filter, true)),
                None,
            )
            .await?;
        let lines = stream::unfold(
            (incoming, Vec::<u8>::new()),
            |(mut body, mut buffer)| async move {
                loop {
                    if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buffer.drain(..=end).collect();
                        return Some((parse_follow_line(&line[..end]), (body, buffer)));
                    }
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                buffer.extend_from_slice(&data);
                            }
                        }
                        Some(Err(error)) => {
                            return Some((
                                Err(ClientError::Decode(error.to_string())),
                                (body, buffer),
                            ));
                        }
                        None => return None,
                    }
                }
            },
        );
        Ok(lines.boxed())
    }
}

fn parse_follow_line(line: &[u8]) -> Result<FollowEvent, ClientError> {
    #[derive(serde::Deserialize)]
    struct Skipped {
        skipped: u64,
    }
    if let Ok(skipped) = serde_json::from_slice::<Skipped>(line) {
        return Ok(FollowEvent::Skipped(skipped.skipped));
    }
    serde_json::from_slice(line)
        .map(FollowEvent::Line)
        .map_err(|e| ClientError::Decode(e.to_string()))
}

fn logs_query(filter: &LogsQuery, follow: bool) -> String {
    let level = filter.level.map(|l| l.as_str());
    let since = filter.since.map(|t| t.to_rfc3339());
    let limit = filter.limit.map(|l| l.to_string());
    query(&[
        ("deployment", filter.deployment.as_deref()),
        ("function", filter.function.as_deref()),
        ("request_id", filter.request_id.as_deref()),
        ("level", level),
        ("since", since.as_deref()),
        ("limit", limit.as_deref()),
        ("follow", follow.then_some("true")),
    ])
}

/// A query string of the pairs that have a value.
fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if let Some(value) = value {
            serializer.append_pair(name, value);
        }
    }
    serializer.finish()
}

/// One path segment, percent-encoded.
fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: String,
        message: String,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(envelope) => ClientError::Api {
            status: status.as_u16(),
            code: envelope.error.code,
            message: envelope.error.message,
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: "UNKNOWN".to_owned(),
            message: format!("HTTP {status}: {}", String::from_utf8_lossy(body)),
        },
    }
}

impl ClientError {
    /// The API's error code (`DEPLOYMENT_NOT_FOUND`, ...), when the server answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}
