//! Build Output API v3 routes (`config.json` `routes`), the one routing contract. vercel.json's
//! `rewrites`/`redirects`/`headers`/... are converted into these by `eddy-router`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of `routes`: either a phase marker (`{"handle": "filesystem"}`) or a source route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "routes are built once per deployment and read-only after; boxing would burden every match in the router"
)]
pub enum Route {
    Handle(HandleRoute),
    Source(SourceRoute),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandleRoute {
    pub handle: Phase,
}

/// The routing phases of Build Output v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Filesystem,
    Hit,
    Miss,
    Rewrite,
    Error,
    Resource,
}

/// A source route. Aliases `source`/`destination`/`statusCode` are accepted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRoute {
    /// PCRE-style regex matched against the pathname; `$1`/`$name` captures.
    #[serde(alias = "source")]
    pub src: String,
    /// Rewrite destination: a path (may reference captures) or an absolute URL (external proxy).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "destination"
    )]
    pub dest: Option<String>,
    /// Response headers to add (values may reference captures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "continue")]
    pub continue_: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "statusCode")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middleware_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middleware_raw_src: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#override: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub important: Option<bool>,
}

/// A `has`/`missing` condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Condition {
    Host {
        value: Matcher,
    },
    Header {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Matcher>,
    },
    Cookie {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Matcher>,
    },
    Query {
        key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Matcher>,
    },
}

/// A condition value: a regex string, or a matcher object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[expect(
    clippy::large_enum_variant,
    reason = "a handful per route, built once per deployment; boxing would burden every match in the router"
)]
pub enum Matcher {
    Regex(String),
    Object(MatcherObject),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MatcherObject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inc: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ninc: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suf: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
}
