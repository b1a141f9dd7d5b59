//! The [`Store`] trait: every control-plane read and write goes through it, so that a cluster
//! store can replace the embedded SQLite one ([`SqliteStore`]) later.
//!
//! Contract for implementations: every method is one transaction (a failed write leaves the
//! previous state intact); methods block briefly and may be called from any thread (async
//! callers with heavy traffic should use `spawn_blocking`).

mod edge_configs;
mod schema;
mod sqlite;
mod telemetry;

use chrono::{DateTime, Utc};

use crate::model::{
    CronRun, CronTrigger, DeploymentId, DeploymentRecord, DeploymentState, EdgeConfigRecord,
    EnvSnapshot, EnvTarget, EnvVar, LogQuery, LogRecord, Project, ProjectName, UsageCap, UsageRow,
    UsageSample,
};

pub use sqlite::SqliteStore;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "control store {path}: {source} (check the data dir is writable and the disk is not full)"
    )]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "control store {path}: schema version {found} is newer than this eddy understands ({known}); upgrade eddy"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("control store: {what} {name} not found")]
    NotFound { what: &'static str, name: String },
    #[error("control store: {what} {name} already exists")]
    Conflict { what: &'static str, name: String },
    #[error("control store: row of {what} is corrupt: {reason}")]
    Corrupt { what: &'static str, reason: String },
}

/// Which usage rows to sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageScope {
    Project(ProjectName),
    Deployment(DeploymentId),
}

/// Usage of one function at one time, to add to its hour.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEntry {
    pub deployment: DeploymentId,
    pub function: String,
    pub at: DateTime<Utc>,
    pub sample: UsageSample,
}

/// One claimed cron tick: the run to record and finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronClaim {
    pub project: ProjectName,
    pub deployment: DeploymentId,
    pub path: String,
    pub schedule: String,
    pub tick: DateTime<Utc>,
    pub trigger: CronTrigger,
    pub started_at: DateTime<Utc>,
}

/// An edit of an Edge Config's items, as Vercel's `PATCH /v1/edge-config/<id>/items` takes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "operation", rename_all = "lowercase")]
pub enum EdgeConfigOp {
    /// Adds a key; fails when it exists.
    Create {
        key: String,
        value: serde_json::Value,
    },
    /// Replaces a key; fails when it does not exist.
    Update {
        key: String,
        value: serde_json::Value,
    },
    /// Adds or replaces a key.
    Upsert {
        key: String,
        value: serde_json::Value,
    },
    /// Removes a key; fails when it does not exist.
    Delete { key: String },
}

/// The control plane's state. See the module docs for the contract.
pub trait Store: Send + Sync {
    // --- meta ---
    /// The value stored under `key`, if any.
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores `value` under `key` unless a value is there; returns whether it was stored.
    fn set_meta_if_absent(&self, key: &str, value: &str) -> Result<bool, StoreError>;

    // --- projects ---
    /// Creates the project if it does not exist, returns it either way.
    fn ensure_project(&self, name: &ProjectName, now: DateTime<Utc>)
    -> Result<Project, StoreError>;
    fn project(&self, name: &ProjectName) -> Result<Option<Project>, StoreError>;
    fn projects(&self) -> Result<Vec<Project>, StoreError>;
    fn set_usage_cap(&self, name: &ProjectName, cap: Option<UsageCap>) -> Result<(), StoreError>;
    fn set_paused(&self, name: &ProjectName, paused: bool) -> Result<(), StoreError>;

    // --- deployments and aliases ---
    /// Inserts a deployment with its crons and env snapshot; `Conflict` when the id exists.
    fn insert_deployment(
        &self,
        record: &DeploymentRecord,
        env: &EnvSnapshot,
    ) -> Result<(), StoreError>;
    fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>, StoreError>;
    /// Deployments, newest first, of one project or of all.
    fn deployments(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<DeploymentRecord>, StoreError>;
    fn deployment_env(&self, id: &DeploymentId) -> Result<EnvSnapshot, StoreError>;
    fn set_deployment_state(
        &self,
        id: &DeploymentId,
        state: DeploymentState,
    ) -> Result<(), StoreError>;
    /// Points the project's production alias at `id`, remembering the previous one.
    fn promote(
        &self,
        project: &ProjectName,
        id: &DeploymentId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Points the production alias back at the deployment it served before the last promote
    /// (skipping removed ones); returns it, or `None` when there is nothing to go back to.
    fn rollback(
        &self,
        project: &ProjectName,
        now: DateTime<Utc>,
    ) -> Result<Option<DeploymentId>, StoreError>;
    /// The production deployment of a project and since when it is production.
    fn production(
        &self,
        project: &ProjectName,
    ) -> Result<Option<(DeploymentId, DateTime<Utc>)>, StoreError>;

    // --- env vars ---
    /// Adds or replaces `key` for the targets in `var.targets` (`var.value` must be `Some`).
    fn put_env(&self, project: &ProjectName, var: &EnvVar) -> Result<(), StoreError>;
    /// Removes `key` from the given targets (all when empty); returns how many were removed.
    fn remove_env(
        &self,
        project: &ProjectName,
        key: &str,
        targets: &[EnvTarget],
    ) -> Result<usize, StoreError>;
    /// The project's vars, one entry per key; secret values are `None`.
    fn list_env(&self, project: &ProjectName) -> Result<Vec<EnvVar>, StoreError>;
    /// Every var of one target with its value, secrets included: for deployments only.
    fn resolve_env(
        &self,
        project: &ProjectName,
        target: EnvTarget,
    ) -> Result<EnvSnapshot, StoreError>;

    // --- crons ---
    /// Records the start of a cron run unless a run of the same project, path, schedule and
    /// tick exists; `None` means another engine (or an earlier life) already ran that tick.
    fn claim_cron_run(&self, claim: &CronClaim) -> Result<Option<i64>, StoreError>;
    fn finish_cron_run(
        &self,
        run: i64,
        status: Option<u16>,
        error: Option<&str>,
        duration_ms: u64,
    ) -> Result<(), StoreError>;
    /// Runs of a project, newest first.
    fn cron_runs(&self, project: &ProjectName, limit: u32) -> Result<Vec<CronRun>, StoreError>;

    // --- Edge Config ---
    fn create_edge_config(&self, record: &EdgeConfigRecord) -> Result<(), StoreError>;
    fn edge_config(&self, id: &str) -> Result<Option<EdgeConfigRecord>, StoreError>;
    fn edge_configs(
        &self,
        project: Option<&ProjectName>,
    ) -> Result<Vec<EdgeConfigRecord>, StoreError>;
    /// Applies all ops or none; bumps the version and digest.
    fn patch_edge_config(
        &self,
        id: &str,
        ops: &[EdgeConfigOp],
        now: DateTime<Utc>,
    ) -> Result<EdgeConfigRecord, crate::edge_config::PatchError>;

    // --- usage ---
    /// Adds each entry's sample to the hour bucket of its time; all in one transaction.
    fn record_usage(&self, entries: &[UsageEntry]) -> Result<(), StoreError>;
    /// Start of the latest hour with usage of a deployment, if any.
    fn last_usage(&self, deployment: &DeploymentId) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Hour rows within `[from, to)`, oldest first.
    fn usage(
        &self,
        scope: &UsageScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageRow>, StoreError>;

    // --- logs ---
    fn append_logs(&self, records: &[LogRecord]) -> Result<(), StoreError>;
    fn logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError>;
    /// Deletes lines older than `before`; returns how many.
    fn prune_logs(&self, before: DateTime<Utc>) -> Result<usize, StoreError>;
}
