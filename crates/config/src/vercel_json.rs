//! The `vercel.json` model (the keys eddy honours; unknown keys are ignored as on Vercel),
//! and [`parse_vercel_json`], which reads and validates it.

pub(crate) mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, IgnoredAny, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{ConfigError, KeyPath};
use crate::route::{Condition, Route};

/// Parses and validates the text of a `vercel.json`; `file` is only used in messages.
///
/// Syntax and type errors carry the line and column; rule violations (vercel-compat §9.1:
/// `functions` globs and limits, `routes` mixed with `rewrites`/`redirects`/..., redirect
/// status codes, cron shapes) carry the key path, e.g. `functions."api/*.js".memory`.
/// Unknown top-level keys are ignored, as on Vercel; unknown keys inside a `functions`
/// entry are errors.
pub fn parse_vercel_json(text: &str, file: &Path) -> Result<VercelJson, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde would take a top-level array as the struct's fields in order: refuse it first.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde_json::Value>(text) {
            Err(err) => syntax_error(file, &err),
            Ok(_) => ConfigError::Type {
                file: file.to_path_buf(),
                key: "(top level)".to_owned(),
                line: 1,
                column: 1,
                reason: "is not an object".to_owned(),
            },
        });
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut vercel: VercelJson = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| serde_error(file, err))?;
    deserializer.end().map_err(|err| syntax_error(file, &err))?;
    // The first pass succeeded, so this one cannot fail; fall back to map order if it does.
    vercel.functions_order = serde_json::from_str::<FunctionsOrder>(text)
        .map(|order| order.functions.map(|keys| keys.0).unwrap_or_default())
        .unwrap_or_default();
    validate::validate(&vercel, file)?;
    Ok(vercel)
}

fn serde_error(file: &Path, err: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let mut key = KeyPath::default();
    for segment in err.path().iter() {
        key = match segment {
            serde_path_to_error::Segment::Seq { index } => key.index(*index),
            serde_path_to_error::Segment::Map { key: name } => key.key(name),
            serde_path_to_error::Segment::Enum { variant } => key.key(variant),
            serde_path_to_error::Segment::Unknown => key.key("?"),
        };
    }
    let inner = err.into_inner();
    if inner.classify() != serde_json::error::Category::Data {
        return syntax_error(file, &inner);
    }
    let key = key.into_string();
    ConfigError::Type {
        file: file.to_path_buf(),
        key: if key.is_empty() {
            "(top level)".to_owned()
        } else {
            key
        },
        line: inner.line(),
        column: inner.column(),
        reason: message_without_position(&inner),
    }
}

fn syntax_error(file: &Path, err: &serde_json::Error) -> ConfigError {
    ConfigError::Syntax {
        file: file.to_path_buf(),
        line: err.line(),
        column: err.column(),
        reason: message_without_position(err),
    }
}

/// serde_json appends " at line L column C"; the error variants carry those separately.
fn message_without_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    message.strip_suffix(&suffix).unwrap_or(&message).to_owned()
}

/// Reads only the keys of `functions`, in file order.
#[derive(Deserialize)]
struct FunctionsOrder {
    #[serde(default)]
    functions: Option<OrderedKeys>,
}

struct OrderedKeys(Vec<String>);

impl<'de> Deserialize<'de> for OrderedKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = OrderedKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(OrderedKeys(keys))
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

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
    /// The keys of `functions` in file order, because the first matching glob wins and the map
    /// above is sorted. Filled by [`parse_vercel_json`]; when empty (a value built in code), the
    /// map's order is used.
    #[serde(skip)]
    pub functions_order: Vec<String>,
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

/// `maxDuration`: seconds, or `"max"` (the plan's maximum, see
/// [`crate::limits::MAX_DURATION`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
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

/// Hand-written so a wrong value says what is expected instead of "did not match any variant".
impl<'de> Deserialize<'de> for MaxDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;
        impl Visitor<'_> for DurationVisitor {
            type Value = MaxDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of seconds or \"max\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MaxDuration, E> {
                u32::try_from(v)
                    .map(MaxDuration::Seconds)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MaxDuration, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MaxDuration, E> {
                let whole = v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v);
                if whole {
                    // Checked above: a whole number within u32, so the cast is exact.
                    Ok(MaxDuration::Seconds(v as u32))
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MaxDuration, E> {
                if v == "max" {
                    Ok(MaxDuration::Max(MaxKeyword::Max))
                } else {
                    Err(E::invalid_value(Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_any(DurationVisitor)
    }
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
