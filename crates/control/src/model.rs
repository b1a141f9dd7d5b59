//! The control plane's nouns: projects, deployments, env vars, crons, Edge Configs, usage and
//! log records. Plain data shared by the [`Store`](crate::Store) and the operations on top of it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A deployment id: `dpl_` followed by 24 lowercase hex digits of a SHA-256 over the project,
/// the target, the uploaded tree's manifest and the env snapshot (so the same tree deployed
/// twice to the same project and target with the same env vars is the same deployment).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeploymentId(String);

impl DeploymentId {
    /// The prefix every deployment id starts with.
    pub const PREFIX: &'static str = "dpl_";

    /// Parses an id as written by [`DeploymentId::as_str`]; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(Self::PREFIX)?;
        let valid = hex.len() == 24
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_owned()))
    }

    /// The id of a digest (the first 12 bytes, as hex).
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        let take = digest.len().min(12);
        Self(format!("{}{}", Self::PREFIX, hex::encode(&digest[..take])))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeploymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A project name: 1–52 characters of `a-z`, `0-9` and `-`, not starting or ending with `-`,
/// because it becomes a host label (`<project>.localhost`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectName(String);

impl ProjectName {
    pub const MAX_LEN: usize = 52;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a project name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "project name {0:?} is not valid (use 1-52 characters of a-z, 0-9 and `-`, not starting or ending with `-`)"
)]
pub struct InvalidProjectName(pub String);

impl FromStr for ProjectName {
    type Err = InvalidProjectName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = !text.is_empty()
            && text.len() <= Self::MAX_LEN
            && !text.starts_with('-')
            && !text.ends_with('-')
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidProjectName(text.to_owned()))
        }
    }
}

impl TryFrom<String> for ProjectName {
    type Error = InvalidProjectName;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<ProjectName> for String {
    fn from(name: ProjectName) -> Self {
        name.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a lowercase string enum with `as_str` and `FromStr`, stored as text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "{other:?} is not a {} (use one of: {})",
                        stringify!($name),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where a deployment goes: `VERCEL_ENV` of its functions.
    Target { Production => "production", Preview => "preview" }
);
text_enum!(
    /// The environments an env var applies to.
    EnvTarget { Production => "production", Preview => "preview", Development => "development" }
);
text_enum!(
    /// A deployment's life: served when ready, stopped when archived (unarchived on demand),
    /// gone when removed. `uploading` is for stores where an upload spans several requests;
    /// the embedded deploy never writes it (uploads are staged in a temporary directory and
    /// the row is inserted ready).
    DeploymentState { Uploading => "uploading", Ready => "ready", Archived => "archived", Removed => "removed" }
);
text_enum!(
    /// A plain env var is shown by `env ls`; a secret's value never leaves the control plane
    /// except into the functions' environment.
    EnvType { Plain => "plain", Secret => "secret" }
);
text_enum!(
    /// Severity of a log line.
    Level { Debug => "debug", Info => "info", Warn => "warn", Error => "error" }
);
text_enum!(
    /// How a cron run was started.
    CronTrigger { Schedule => "schedule", Manual => "manual" }
);

impl From<Target> for EnvTarget {
    fn from(target: Target) -> Self {
        match target {
            Target::Production => EnvTarget::Production,
            Target::Preview => EnvTarget::Preview,
        }
    }
}

/// A project: the owner of deployments, env vars and Edge Configs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub name: ProjectName,
    pub created_at: DateTime<Utc>,
    /// Spend limit; `None` = unlimited.
    pub usage_cap: Option<UsageCap>,
    /// Set when the cap was reached; the gateway answers 503 `DEPLOYMENT_PAUSED` while set.
    pub paused: bool,
}

/// A cron job as declared in `config.json` (`crons: [{path, schedule}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronSpec {
    pub path: String,
    pub schedule: String,
}

/// One deployment row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub id: DeploymentId,
    pub project: ProjectName,
    pub target: Target,
    pub state: DeploymentState,
    pub created_at: DateTime<Utc>,
    /// The `.vercel/output` tree of this deployment (immutable once ready).
    pub output_dir: PathBuf,
    pub crons: Vec<CronSpec>,
}

/// The project's env vars as they were when the deployment was created (Vercel applies env
/// changes to new deployments only). Kept out of [`DeploymentRecord`] so that listing
/// deployments never carries secret values.
pub type EnvSnapshot = BTreeMap<String, String>;

/// An env var of a project. `value` is `None` when it comes from a listing and the var is a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    pub key: String,
    pub value: Option<String>,
    pub targets: Vec<EnvTarget>,
    #[serde(rename = "type")]
    pub kind: EnvType,
}

/// One recorded cron run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CronRun {
    pub id: i64,
    pub project: ProjectName,
    pub deployment: DeploymentId,
    pub path: String,
    pub schedule: String,
    /// The schedule tick this run belongs to (for manual runs: when it was asked for).
    pub tick: DateTime<Utc>,
    pub trigger: CronTrigger,
    pub started_at: DateTime<Utc>,
    /// HTTP status of the function's answer; `None` while running or when it could not be
    /// invoked (then `error` says why).
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: Option<u64>,
}

/// An Edge Config store: a JSON object of items with a digest that changes on every write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeConfigRecord {
    /// `ecfg_` followed by 24 lowercase hex digits.
    pub id: String,
    pub project: ProjectName,
    /// The read token the `EDGE_CONFIG` connection string carries.
    pub token: String,
    pub items: serde_json::Map<String, serde_json::Value>,
    pub digest: String,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// A spend limit of a project, over the current calendar month (UTC). Any limit reached
/// pauses the project.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageCap {
    pub invocations: Option<u64>,
    pub active_cpu_ms: Option<u64>,
    pub gb_seconds: Option<f64>,
}

/// What one or many invocations used. Added up per hour bucket.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct UsageSample {
    pub invocations: u64,
    /// CPU time the instance spent on the work, measured from the OS.
    pub active_cpu_ms: u64,
    /// Provisioned memory × instance lifetime.
    pub gb_seconds: f64,
    /// Edge execution units (50 ms of CPU each).
    pub edge_units: u64,
    pub wall_ms: u64,
}

impl UsageSample {
    pub fn add(&mut self, other: &UsageSample) {
        self.invocations += other.invocations;
        self.active_cpu_ms += other.active_cpu_ms;
        self.gb_seconds += other.gb_seconds;
        self.edge_units += other.edge_units;
        self.wall_ms += other.wall_ms;
    }
}

/// Usage of one function of one deployment in one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageRow {
    pub deployment: DeploymentId,
    pub function: String,
    /// Start of the hour.
    pub bucket: DateTime<Utc>,
    #[serde(flatten)]
    pub usage: UsageSample,
}

/// One runtime log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    pub deployment: DeploymentId,
    pub function: Option<String>,
    pub request_id: Option<String>,
    pub level: Level,
    pub time: DateTime<Utc>,
    pub message: String,
}

/// A filter over stored logs; `None` fields match everything. Results are oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogQuery {
    pub deployment: Option<DeploymentId>,
    pub function: Option<String>,
    pub request_id: Option<String>,
    /// Lines at this level or more severe.
    pub level: Option<Level>,
    pub since: Option<DateTime<Utc>>,
    /// At most this many lines (the newest ones); `None` = 1000.
    pub limit: Option<u32>,
}

impl Level {
    /// Orders levels by severity (debug < info < warn < error).
    pub fn severity(self) -> u8 {
        match self {
            Level::Debug => 0,
            Level::Info => 1,
            Level::Warn => 2,
            Level::Error => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_must_be_host_labels() {
        assert!("my-app-2".parse::<ProjectName>().is_ok());
        for bad in ["", "-a", "a-", "My", "a_b", "a.b", &"x".repeat(53)] {
            assert!(bad.parse::<ProjectName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn deployment_ids_round_trip_and_reject_other_text() {
        let id = DeploymentId::from_digest(&[0xab; 32]);
        assert_eq!(id.as_str(), "dpl_abababababababababababab");
        assert_eq!(DeploymentId::parse(id.as_str()), Some(id));
        assert_eq!(DeploymentId::parse("dpl_xyz"), None);
        assert_eq!(DeploymentId::parse("abababababababababababab"), None);
    }

    #[test]
    fn text_enums_parse_their_names_and_explain_others() {
        assert_eq!("preview".parse::<Target>(), Ok(Target::Preview));
        let error = "staging".parse::<EnvTarget>().unwrap_err();
        assert!(
            error.contains("production, preview, development"),
            "{error}"
        );
    }
}
