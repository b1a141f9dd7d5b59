//! One function of a Build Output tree: `<path>.func/.vc-config.json` (vercel-compat 8.1 for
//! Serverless functions, 8.2 for Edge) to a [`FunctionSpec`] whose root is the `.func` folder.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{JsonError, parse_json};
use crate::deployment::FunctionSpec;
use crate::limits;
use crate::vercel_json::MaxDuration;

/// Why one function of a Build Output tree cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum VcConfigError {
    #[error("{} is not a folder (a function is a `<path>.func` folder with a .vc-config.json)", dir.display())]
    NotAFolder { dir: PathBuf },
    #[error("{} is missing (every .func folder needs one; rebuild the output)", file.display())]
    Missing { file: PathBuf },
    #[error("cannot read {}: {source} (check the file's permissions)", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: invalid JSON at line {line}, column {column}: {reason} (rebuild the output or fix the syntax)",
        file.display()
    )]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{}: `{key}`: {reason} (see the .vc-config.json reference for this key)", file.display())]
    Type {
        file: PathBuf,
        key: String,
        reason: String,
    },
    #[error("{}: `{key}` is missing ({fix})", file.display())]
    MissingKey {
        file: PathBuf,
        key: &'static str,
        fix: &'static str,
    },
    #[error(
        "{}: `runtime` is {runtime:?}, which eddy cannot run (use nodejs*.x, bun1.x, python3.*, ruby3.*, go1.x, rust or edge)",
        file.display()
    )]
    UnknownRuntime { file: PathBuf, runtime: String },
    #[error(
        "{}: `{key}` is {handler:?}, which must be a relative path inside the .func folder (no `..`, not absolute)",
        file.display()
    )]
    HandlerOutside {
        file: PathBuf,
        key: &'static str,
        handler: String,
    },
    #[error(
        "{}: `{key}` names {handler:?}, but {} does not exist (rebuild the output, or fix `{key}`)",
        file.display(),
        missing.display()
    )]
    HandlerNotFound {
        file: PathBuf,
        key: &'static str,
        handler: String,
        missing: PathBuf,
    },
}

/// The fields eddy reads; Vercel's other keys (`architecture`, `framework`, ...) are accepted
/// and ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VcConfig {
    runtime: Option<String>,
    handler: Option<String>,
    /// Edge functions name their module here instead of `handler`.
    entrypoint: Option<String>,
    /// `rust` or `go` for `provided.al2*` / `executable` runtimes.
    runtime_language: Option<String>,
    memory: Option<u32>,
    max_duration: Option<MaxDuration>,
    max_concurrency: Option<u32>,
    environment: Option<BTreeMap<String, String>>,
    regions: Option<Regions>,
    should_add_helpers: Option<bool>,
    use_web_api: Option<bool>,
    aws_lambda_handler: Option<String>,
    file_path_map: Option<BTreeMap<String, String>>,
}

/// `regions`: an array, or for Edge functions also one string (`"all"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Regions {
    One(String),
    Many(Vec<String>),
}

/// Reads the function `function` (its URL path) from its `.func` folder `dir`. Returns the spec
/// and notes about what eddy ignores in it.
pub(super) fn read(
    function: &str,
    dir: &Path,
) -> Result<(FunctionSpec, Vec<String>), VcConfigError> {
    let file = dir.join(".vc-config.json");
    let text = std::fs::read_to_string(&file).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            VcConfigError::Missing { file: file.clone() }
        } else {
            VcConfigError::Read {
                file: file.clone(),
                source,
            }
        }
    })?;
    let config: VcConfig = parse_json(&text).map_err(|error| match error {
        JsonError::Syntax {
            line,
            column,
            reason,
        } => VcConfigError::Syntax {
            file: file.clone(),
            line,
            column,
            reason,
        },
        JsonError::Type { key, reason } => VcConfigError::Type {
            file: file.clone(),
            key,
            reason,
        },
    })?;
    let Some(declared) = config.runtime.as_deref() else {
        return Err(VcConfigError::MissingKey {
            file,
            key: "runtime",
            fix: "add e.g. `\"runtime\": \"nodejs20.x\"`",
        });
    };
    let runtime = runtime_id(declared, config.runtime_language.as_deref()).ok_or_else(|| {
        VcConfigError::UnknownRuntime {
            file: file.clone(),
            runtime: declared.to_owned(),
        }
    })?;
    let edge = runtime == "edge";
    let (key, handler) = if edge {
        ("entrypoint", config.entrypoint.clone())
    } else {
        ("handler", config.handler.clone())
    };
    let Some(handler) = handler else {
        return Err(VcConfigError::MissingKey {
            file,
            key,
            fix: if edge {
                "name the function's module, e.g. `\"entrypoint\": \"index.js\"`"
            } else {
                "name the entry file inside the .func folder, e.g. `\"handler\": \"index.js\"`"
            },
        });
    };
    check_handler(&file, dir, key, &handler)?;

    let mut notes = Vec::new();
    if config
        .file_path_map
        .as_ref()
        .is_some_and(|map| !map.is_empty())
    {
        notes.push(format!(
            "{}: `filePathMap` files are not materialised by eddy; the function sees only the files inside its folder",
            file.display()
        ));
    }
    let node = runtime.starts_with("nodejs") || runtime.starts_with("bun");
    let max_duration = match config.max_duration {
        None => limits::DEFAULT_MAX_DURATION,
        Some(MaxDuration::Max(_)) => limits::MAX_DURATION,
        Some(MaxDuration::Seconds(seconds)) => {
            Duration::from_secs(u64::from(seconds.max(1))).min(limits::MAX_DURATION)
        }
    };
    let spec = FunctionSpec {
        path: function.to_owned(),
        runtime,
        root: dir.to_path_buf(),
        source: dir.join(&handler),
        handler,
        memory_mb: config.memory.unwrap_or(limits::DEFAULT_MEMORY_MB),
        max_duration,
        max_concurrency: config.max_concurrency,
        fluid: true,
        env: config.environment.unwrap_or_default(),
        regions: match config.regions {
            None => Vec::new(),
            Some(Regions::One(region)) => vec![region],
            Some(Regions::Many(regions)) => regions,
        },
        should_add_helpers: node && config.should_add_helpers.unwrap_or(false),
        use_web_api: node && config.use_web_api.unwrap_or(false),
        aws_lambda_handler: config
            .aws_lambda_handler
            .filter(|handler| node && !handler.is_empty()),
    };
    Ok((spec, notes))
}

/// The runtime id eddy's runtimes go by, for a `.vc-config.json` `runtime` (and
/// `runtimeLanguage` for the `provided`/`executable` runtimes Vercel uses for Go and Rust).
fn runtime_id(runtime: &str, language: Option<&str>) -> Option<String> {
    const FAMILIES: &[&str] = &["nodejs", "bun", "python", "ruby", "go1", "rust", "edge"];
    if FAMILIES.iter().any(|family| runtime.starts_with(family)) {
        return Some(runtime.to_owned());
    }
    if runtime.starts_with("provided") || runtime == "executable" {
        return match language {
            Some("go") => Some("go1.x".to_owned()),
            Some("rust") => Some("rust".to_owned()),
            _ => None,
        };
    }
    None
}

/// The handler must be a file inside the function's folder.
fn check_handler(
    file: &Path,
    dir: &Path,
    key: &'static str,
    handler: &str,
) -> Result<(), VcConfigError> {
    let relative = Path::new(handler);
    let inside = !handler.is_empty()
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(VcConfigError::HandlerOutside {
            file: file.to_path_buf(),
            key,
            handler: handler.to_owned(),
        });
    }
    let entry = dir.join(relative);
    if !entry.is_file() {
        return Err(VcConfigError::HandlerNotFound {
            file: file.to_path_buf(),
            key,
            handler: handler.to_owned(),
            missing: entry,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(config: &str, files: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("api/x.func");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(".vc-config.json"), config).expect("write");
        for file in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "").expect("write");
        }
        (tmp, dir)
    }

    fn error(config: &str, files: &[&str]) -> VcConfigError {
        let (_tmp, dir) = function(config, files);
        read("api/x", &dir).expect_err("must fail")
    }

    #[test]
    fn defaults_apply_where_the_config_is_silent() {
        let (_tmp, dir) = function(
            r#"{"runtime":"nodejs22.x","handler":"index.js"}"#,
            &["index.js"],
        );
        let (spec, notes) = read("api/x", &dir).expect("reads");
        assert_eq!(spec.memory_mb, limits::DEFAULT_MEMORY_MB);
        assert_eq!(spec.max_duration, limits::DEFAULT_MAX_DURATION);
        assert!(spec.fluid);
        assert!(!spec.should_add_helpers);
        assert_eq!(spec.aws_lambda_handler, None);
        assert_eq!(spec.source, dir.join("index.js"));
        assert!(notes.is_empty());
    }

    #[test]
    fn max_duration_max_and_large_values_cap_at_the_limit() {
        for duration in [r#""max""#, "5000"] {
            let config =
                format!(r#"{{"runtime":"nodejs20.x","handler":"i.js","maxDuration":{duration}}}"#);
            let (_tmp, dir) = function(&config, &["i.js"]);
            let (spec, _) = read("api/x", &dir).expect("reads");
            assert_eq!(spec.max_duration, limits::MAX_DURATION, "{duration}");
        }
    }

    #[test]
    fn edge_functions_take_their_entrypoint_and_a_single_region() {
        let (_tmp, dir) = function(
            r#"{"runtime":"edge","entrypoint":"index.js","regions":"all","envVarsInUse":["A"]}"#,
            &["index.js"],
        );
        let (spec, _) = read("api/x", &dir).expect("reads");
        assert_eq!(spec.runtime, "edge");
        assert_eq!(spec.handler, "index.js");
        assert_eq!(spec.regions, ["all"]);
        let missing = error(r#"{"runtime":"edge","handler":"index.js"}"#, &["index.js"]);
        assert!(
            matches!(
                missing,
                VcConfigError::MissingKey {
                    key: "entrypoint",
                    ..
                }
            ),
            "{missing}"
        );
    }

    #[test]
    fn provided_runtimes_map_by_their_language() {
        let (_tmp, dir) = function(
            r#"{"runtime":"provided.al2023","runtimeLanguage":"rust","handler":"bootstrap"}"#,
            &["bootstrap"],
        );
        assert_eq!(read("api/x", &dir).expect("reads").0.runtime, "rust");
        let unknown = error(
            r#"{"runtime":"provided.al2","handler":"bootstrap"}"#,
            &["bootstrap"],
        );
        assert!(
            matches!(unknown, VcConfigError::UnknownRuntime { .. }),
            "{unknown}"
        );
    }

    #[test]
    fn unknown_runtimes_name_the_file_and_the_value() {
        let unknown = error(r#"{"runtime":"java11","handler":"x"}"#, &["x"]);
        let message = unknown.to_string();
        assert!(
            message.contains(".vc-config.json") && message.contains("\"java11\""),
            "{message}"
        );
    }

    #[test]
    fn missing_keys_files_and_handlers_are_function_errors() {
        let no_runtime = error(r#"{"handler":"i.js"}"#, &["i.js"]);
        assert!(
            matches!(no_runtime, VcConfigError::MissingKey { key: "runtime", .. }),
            "{no_runtime}"
        );
        let no_handler = error(r#"{"runtime":"nodejs20.x"}"#, &[]);
        assert!(
            matches!(no_handler, VcConfigError::MissingKey { key: "handler", .. }),
            "{no_handler}"
        );
        let absent = error(r#"{"runtime":"nodejs20.x","handler":"api/gone.js"}"#, &[]);
        assert!(
            matches!(absent, VcConfigError::HandlerNotFound { .. }),
            "{absent}"
        );
        assert!(absent.to_string().contains("api/gone.js"), "{absent}");
        let tmp = tempfile::tempdir().expect("temp dir");
        let missing = read("api/x", tmp.path()).expect_err("no .vc-config.json");
        assert!(
            matches!(missing, VcConfigError::Missing { .. }),
            "{missing}"
        );
    }

    #[test]
    fn handlers_outside_the_function_folder_are_refused() {
        for handler in ["../../etc/passwd", "/etc/passwd", ""] {
            let config = format!(r#"{{"runtime":"nodejs20.x","handler":{handler:?}}}"#);
            let outside = error(&config, &[]);
            assert!(
                matches!(outside, VcConfigError::HandlerOutside { .. }),
                "{handler}: {outside}"
            );
        }
    }

    #[test]
    fn malformed_and_mistyped_configs_say_where() {
        let syntax = error("{\"runtime\": ", &[]);
        assert!(
            matches!(syntax, VcConfigError::Syntax { line: 1, .. }),
            "{syntax}"
        );
        let typed = error(
            r#"{"runtime":"nodejs20.x","handler":"i.js","memory":"lots"}"#,
            &["i.js"],
        );
        let VcConfigError::Type { key, .. } = &typed else {
            panic!("expected a type error, got {typed}");
        };
        assert_eq!(key, "memory");
    }

    #[test]
    fn file_path_maps_are_noted_not_failed() {
        let (_tmp, dir) = function(
            r#"{"runtime":"nodejs20.x","handler":"i.js","filePathMap":{"a.js":"shared/a.js"}}"#,
            &["i.js"],
        );
        let (_, notes) = read("api/x", &dir).expect("reads");
        assert!(notes[0].contains("filePathMap"), "{notes:?}");
    }
}
