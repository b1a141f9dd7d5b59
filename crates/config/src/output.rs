//! Reading a Build Output API v3 tree (`.vercel/output`, vercel-compat 8) into the
//! [`Deployment`] the server runs: `config.json` (routes, crons), `static/` and every
//! `functions/**/<path>.func/.vc-config.json`.
//!
//! A broken `config.json` fails the whole tree; a broken function (malformed `.vc-config.json`,
//! a missing handler file, a runtime eddy does not know) lands in [`Output::errors`] and the
//! rest serves, as [`Deployment`]s planned from a project do. The only I/O is reading the tree.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::deployment::Deployment;
use crate::error::KeyPath;
use crate::route::Route;
use crate::vercel_json::Cron;

mod vc_config;

pub use vc_config::VcConfigError;

/// The Build Output API version eddy reads and writes.
pub const VERSION: u32 = 3;

/// A Build Output tree, read.
#[derive(Debug)]
pub struct Output {
    /// Every function that read cleanly, the routes and `static/`.
    pub deployment: Deployment,
    /// `config.json` `crons`, kept for the control plane (which runs them on production only).
    pub crons: Vec<Cron>,
    /// Functions that cannot serve; their paths should answer 500 with the message.
    pub errors: Vec<FunctionOutputError>,
    /// Things skipped on purpose (prerender configs, `filePathMap`), worth a debug line.
    pub notes: Vec<String>,
}

/// A tree that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "{} is not a Build Output API v3 tree: it has no config.json (pass the .vercel/output folder written by `eddy build` or `vercel build`)",
        dir.display()
    )]
    NotAnOutput { dir: PathBuf },
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
    #[error("{}: `{key}`: {reason} (see the Build Output API v3 reference for this key)", file.display())]
    Type {
        file: PathBuf,
        key: String,
        reason: String,
    },
    #[error(
        "{}: `version` is {found}, but eddy reads Build Output API version 3 only (rebuild with a current `eddy build` or `vercel build`)",
        file.display()
    )]
    Version { file: PathBuf, found: u64 },
}

/// One function of the tree that cannot serve.
#[derive(Debug, thiserror::Error)]
#[error("function {function}: {error}")]
pub struct FunctionOutputError {
    /// The function's path, e.g. `api/users/[id]`.
    pub function: String,
    pub error: VcConfigError,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigJson {
    version: Option<u64>,
    #[serde(default)]
    routes: Option<Vec<Route>>,
    #[serde(default)]
    crons: Option<Vec<Cron>>,
    #[serde(default)]
    deployment_id: Option<String>,
    /// Static file renames (`cleanUrls` output): not applied yet, noted.
    #[serde(default)]
    overrides: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Reads the Build Output tree at `dir` (the folder holding `config.json`).
///
/// Symlinked `.func` folders (Vercel's shared functions) are read through the link, with the
/// link itself as the function's root. `.prerender-config.json` files are skipped with a note.
pub fn read_output(dir: &Path) -> Result<Output, OutputError> {
    let config_path = dir.join("config.json");
    let text = match std::fs::read_to_string(&config_path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(OutputError::NotAnOutput {
                dir: dir.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(OutputError::Read {
                file: config_path,
                source,
            });
        }
    };
    let config: ConfigJson = parse_json(&text).map_err(|error| match error {
        JsonError::Syntax {
            line,
            column,
            reason,
        } => OutputError::Syntax {
            file: config_path.clone(),
            line,
            column,
            reason,
        },
        JsonError::Type { key, reason } => OutputError::Type {
            file: config_path.clone(),
            key,
            reason,
        },
    })?;
    match config.version {
        Some(3) => {}
        Some(found) => {
            return Err(OutputError::Version {
                file: config_path,
                found,
            });
        }
        None => {
            return Err(OutputError::Type {
                file: config_path,
                key: "version".into(),
                reason: "is missing; Build Output trees say `\"version\": 3`".into(),
            });
        }
    }

    let mut output = Output {
        deployment: Deployment {
            id: config
                .deployment_id
                .unwrap_or_else(|| output_deployment_id(dir)),
            routes: config.routes.unwrap_or_default(),
            static_root: Some(dir.join("static")).filter(|s| s.is_dir()),
            static_exclude: Vec::new(),
            functions: BTreeMap::new(),
        },
        crons: config.crons.unwrap_or_default(),
        errors: Vec::new(),
        notes: Vec::new(),
    };
    let overrides = config.overrides.map_or(0, |map| map.len());
    if overrides > 0 {
        output.notes.push(format!(
            "{}: {overrides} static `overrides` (renamed paths, content types) are not applied yet; those files serve at their own names",
            config_path.display()
        ));
    }
    let functions = dir.join("functions");
    if functions.is_dir() {
        walk_functions(&functions, &functions, &mut output)?;
    }
    Ok(output)
}

/// Visits `current` (under `functions`): every `*.func` entry is a function, other folders are
/// walked (symlinked folders only when they are `.func`, so a link loop cannot hang the read).
fn walk_functions(
    functions: &Path,
    current: &Path,
    output: &mut Output,
) -> Result<(), OutputError> {
    let read_error = |source| OutputError::Read {
        file: current.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(current)
        .map_err(read_error)?
        .collect::<Result<_, _>>()
        .map_err(read_error)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = relative_path(functions, &path);
        if let Some(function) = relative.strip_suffix(".func") {
            // `is_dir` follows a symlinked `.func` to the folder it shares.
            if path.is_dir() {
                read_function(function, &path, output);
            } else {
                output.errors.push(FunctionOutputError {
                    function: function.to_owned(),
                    error: VcConfigError::NotAFolder { dir: path },
                });
            }
            continue;
        }
        let is_real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_real_dir {
            walk_functions(functions, &path, output)?;
        } else if name.ends_with(".prerender-config.json") || name.contains(".prerender-fallback.")
        {
            output.notes.push(format!(
                "{}: prerendering (ISR) is not supported yet; the function serves every request",
                path.display()
            ));
        }
    }
    Ok(())
}

fn read_function(function: &str, dir: &Path, output: &mut Output) {
    match vc_config::read(function, dir) {
        Ok((spec, notes)) => {
            output.notes.extend(notes);
            output
                .deployment
                .functions
                .insert(function.to_owned(), spec);
        }
        Err(error) => output.errors.push(FunctionOutputError {
            function: function.to_owned(),
            error,
        }),
    }
}

/// `path` relative to `base`, `/`-separated.
fn relative_path(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A stable id per output folder when `config.json` has no `deploymentId`.
fn output_deployment_id(dir: &Path) -> String {
    let mut hasher = DefaultHasher::new();
    dir.hash(&mut hasher);
    format!("dpl_out_{:016x}", hasher.finish())
}

/// Why a JSON file of the tree did not parse into its model.
#[derive(Debug)]
enum JsonError {
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
    Type {
        key: String,
        reason: String,
    },
}

/// Parses strict JSON, naming the key at fault (`routes[2].src`) on a type error.
fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let syntax = |error: &serde_json::Error| JsonError::Syntax {
        line: error.line(),
        column: error.column(),
        reason: error.to_string(),
    };
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let mut key = KeyPath::default();
        for segment in error.path().iter() {
            key = match segment {
                serde_path_to_error::Segment::Seq { index } => key.index(*index),
                serde_path_to_error::Segment::Map { key: name } => key.key(name),
                serde_path_to_error::Segment::Enum { variant } => key.key(variant),
                serde_path_to_error::Segment::Unknown => key.key("?"),
            };
        }
        let inner = error.into_inner();
        if inner.classify() != serde_json::error::Category::Data {
            return syntax(&inner);
        }
        let key = key.into_string();
        let reason = inner.to_string();
        // serde_json appends " at line L column C"; the key says where already.
        let reason = match reason.find(" at line ") {
            Some(at) => reason[..at].to_owned(),
            None => reason,
        };
        JsonError::Type {
            key: if key.is_empty() {
                "(top level)".to_owned()
            } else {
                key
            },
            reason,
        }
    })?;
    deserializer.end().map_err(|error| syntax(&error))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        }
        dir
    }

    const CONFIG: &str = r#"{"version":3,"routes":[{"handle":"filesystem"},{"src":"/old","dest":"/api/hello","status":308}],"crons":[{"path":"/api/cron","schedule":"0 5 * * *"}]}"#;

    #[test]
    fn reads_routes_crons_static_and_functions() {
        let dir = tree(&[
            ("config.json", CONFIG),
            ("static/index.html", "<h1>hi</h1>"),
            (
                "functions/api/hello.func/.vc-config.json",
                r#"{"runtime":"nodejs20.x","handler":"api/hello.js","launcherType":"Nodejs","shouldAddHelpers":true,"memory":512,"maxDuration":10,"environment":{"A":"1"},"regions":["iad1"]}"#,
            ),
            (
                "functions/api/hello.func/api/hello.js",
                "module.exports = () => {}",
            ),
        ]);
        let output = read_output(dir.path()).expect("reads");
        let deployment = &output.deployment;
        assert_eq!(deployment.routes.len(), 2);
        assert_eq!(output.crons[0].schedule, "0 5 * * *");
        assert_eq!(deployment.static_root, Some(dir.path().join("static")));
        assert!(output.errors.is_empty(), "{:?}", output.errors);
        let spec = &deployment.functions["api/hello"];
        assert_eq!(spec.runtime, "nodejs20.x");
        assert_eq!(spec.root, dir.path().join("functions/api/hello.func"));
        assert_eq!(spec.handler, "api/hello.js");
        assert_eq!(spec.memory_mb, 512);
        assert_eq!(spec.max_duration.as_secs(), 10);
        assert_eq!(spec.env["A"], "1");
        assert_eq!(spec.regions, ["iad1"]);
        assert!(spec.should_add_helpers);
        assert!(deployment.id.starts_with("dpl_out_"));
    }

    #[test]
    fn a_tree_without_config_json_is_not_an_output() {
        let dir = tree(&[("static/a.txt", "a")]);
        let error = read_output(dir.path()).expect_err("no config.json");
        assert!(matches!(error, OutputError::NotAnOutput { .. }), "{error}");
        assert!(error.to_string().contains("vercel build"), "{error}");
    }

    #[test]
    fn malformed_config_json_names_the_line() {
        let dir = tree(&[("config.json", "{\"version\": 3,,}")]);
        let error = read_output(dir.path()).expect_err("bad JSON");
        assert!(
            matches!(error, OutputError::Syntax { line: 1, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("config.json"), "{error}");
    }

    #[test]
    fn other_versions_and_a_missing_version_are_refused() {
        let dir = tree(&[("config.json", r#"{"version":2}"#)]);
        let error = read_output(dir.path()).expect_err("v2");
        assert!(
            matches!(error, OutputError::Version { found: 2, .. }),
            "{error}"
        );
        let dir = tree(&[("config.json", r#"{"routes":[]}"#)]);
        let error = read_output(dir.path()).expect_err("no version");
        assert!(
            error.to_string().contains("`version`: is missing"),
            "{error}"
        );
    }

    #[test]
    fn a_wrongly_typed_route_names_its_key() {
        let dir = tree(&[(
            "config.json",
            r#"{"version":3,"routes":[{"src":"/a","status":"x"}]}"#,
        )]);
        let error = read_output(dir.path()).expect_err("bad route");
        let OutputError::Type { key, .. } = &error else {
            panic!("expected a type error, got {error}");
        };
        assert!(key.starts_with("routes[0]"), "{key}");
    }

    #[test]
    fn a_missing_static_folder_serves_no_static_files() {
        let dir = tree(&[("config.json", r#"{"version":3}"#)]);
        let output = read_output(dir.path()).expect("reads");
        assert_eq!(output.deployment.static_root, None);
        assert!(output.deployment.functions.is_empty());
    }

    #[test]
    fn static_overrides_are_noted() {
        let dir = tree(&[(
            "config.json",
            r#"{"version":3,"overrides":{"about.html":{"path":"about"}}}"#,
        )]);
        let output = read_output(dir.path()).expect("reads");
        assert!(
            output.notes[0].contains("1 static `overrides`"),
            "{:?}",
            output.notes
        );
    }

    #[test]
    fn deployment_id_comes_from_config_json_when_given() {
        let dir = tree(&[("config.json", r#"{"version":3,"deploymentId":"dpl_abc"}"#)]);
        assert_eq!(
            read_output(dir.path()).expect("reads").deployment.id,
            "dpl_abc"
        );
    }

    #[test]
    fn a_broken_function_does_not_hide_the_others() {
        let dir = tree(&[
            ("config.json", r#"{"version":3}"#),
            (
                "functions/good.func/.vc-config.json",
                r#"{"runtime":"nodejs20.x","handler":"i.js"}"#,
            ),
            ("functions/good.func/i.js", ""),
            ("functions/bad.func/.vc-config.json", "{ nope"),
            ("functions/file.func", "not a folder"),
        ]);
        let output = read_output(dir.path()).expect("reads");
        assert!(output.deployment.functions.contains_key("good"));
        let broken: Vec<&str> = output.errors.iter().map(|e| e.function.as_str()).collect();
        assert_eq!(broken, ["bad", "file"]);
        assert!(
            output.errors[0].to_string().starts_with("function bad: "),
            "{}",
            output.errors[0]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_functions_share_their_target_and_prerender_configs_are_noted() {
        let dir = tree(&[
            ("config.json", r#"{"version":3}"#),
            (
                "functions/api/a.func/.vc-config.json",
                r#"{"runtime":"nodejs20.x","handler":"i.js"}"#,
            ),
            ("functions/api/a.func/i.js", ""),
            (
                "functions/api/b.prerender-config.json",
                r#"{"expiration":60}"#,
            ),
        ]);
        std::os::unix::fs::symlink("a.func", dir.path().join("functions/api/b.func"))
            .expect("symlink");
        // A loop of plain folders must not hang the walk.
        std::os::unix::fs::symlink("..", dir.path().join("functions/api/loop")).expect("symlink");
        let output = read_output(dir.path()).expect("reads");
        assert!(output.errors.is_empty(), "{:?}", output.errors);
        let b = &output.deployment.functions["api/b"];
        assert_eq!(b.root, dir.path().join("functions/api/b.func"));
        assert!(b.root.join(&b.handler).is_file());
        assert!(
            output.notes.iter().any(|n| n.contains("prerender")),
            "{:?}",
            output.notes
        );
    }
}
