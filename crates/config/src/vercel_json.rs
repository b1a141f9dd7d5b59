//! The `vercel.json` model (the keys eddy honours; unknown keys are ignored as on Vercel).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::route::{Condition, Route};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VercelJson {
    /// Glob (relative to the project root) → per-function settings; first matching key wins.
    #[serde(default)]
    pub functions: Option<BTreeMap<String, FunctionConfig>>,
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    /// Fluid compute; default on. `false` gives one invocation per instance.
    #[serde(default)]
    pub fluid: Option<bool>,
    #[serde(default)]
    pub bun_version: Option<String>,
    /// Runtime environment (deprecated on Vercel, still honoured).
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub build: Option<BuildConfig>,
    #[serde(default)]
    pub rewrites: Option<Vec<Rewrite>>,
    #[serde(default)]
    pub redirects: Option<Vec<Redirect>>,
    #[serde(default)]
    pub headers: Option<Vec<HeaderRule>>,
    #[serde(default)]
    pub clean_urls: Option<bool>,
    #[serde(default)]
    pub trailing_slash: Option<bool>,
    /// Legacy routes; cannot be mixed with rewrites/redirects/headers/cleanUrls/trailingSlash.
    #[serde(default)]
    pub routes: Option<Vec<Route>>,
    #[serde(default)]
    pub crons: Option<Vec<Cron>>,
    #[serde(default)]
    pub public: Option<bool>,
    #[serde(default)]
    pub output_directory: Option<String>,
}

/// `functions[glob]` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionConfig {
    #[serde(default)]
    pub runtime: Option<String>,
    #[serde(default)]
    pub memory: Option<u32>,
    #[serde(default)]
    pub max_duration: Option<MaxDuration>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    #[serde(default)]
    pub architecture: Option<String>,
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    #[serde(default)]
    pub function_failover_regions: Option<Vec<String>>,
    #[serde(default)]
    pub include_files: Option<String>,
    #[serde(default)]
    pub exclude_files: Option<String>,
    #[serde(default)]
    pub supports_cancellation: Option<bool>,
    #[serde(default)]
    pub experimental_triggers: Option<serde_json::Value>,
}

/// `maxDuration`: seconds, or `"max"` (the plan's maximum).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MaxDuration {
    Seconds(u32),
    Max(MaxKeyword),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaxKeyword {
    #[serde(rename = "max")]
    Max,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rewrite {
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub has: Option<Vec<Condition>>,
    #[serde(default)]
    pub missing: Option<Vec<Condition>>,
    #[serde(default, rename = "statusCode")]
    pub status_code: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redirect {
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub permanent: Option<bool>,
    #[serde(default, rename = "statusCode")]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub has: Option<Vec<Condition>>,
    #[serde(default)]
    pub missing: Option<Vec<Condition>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderRule {
    pub source: String,
    pub headers: Vec<HeaderKv>,
    #[serde(default)]
    pub has: Option<Vec<Condition>>,
    #[serde(default)]
    pub missing: Option<Vec<Condition>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeaderKv {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cron {
    pub path: String,
    pub schedule: String,
}
