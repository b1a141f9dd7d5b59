//! Resolution of one function's settings, with Vercel's precedence: in-code config >
//! `vercel.json` `functions` (the first glob, in file order, that matches the source path) >
//! project settings > platform defaults ([`crate::limits`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{GlobBuilder, GlobMatcher};

use crate::code_config::{CodeConfig, CodeRuntime};
use crate::deployment::FunctionSpec;
use crate::error::{ConfigError, KeyPath};
use crate::limits;
use crate::vercel_json::{FunctionConfig, MaxDuration, VercelJson};

/// The project-wide part of resolution, prepared once per plan: `vercel.json`'s function
/// globs compiled in file order, and the runtime environment.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    file: PathBuf,
    globs: Vec<FunctionGlob>,
    fluid: bool,
    regions: Vec<String>,
    env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct FunctionGlob {
    glob: String,
    matcher: GlobMatcher,
    config: FunctionConfig,
}

/// What detection knows about a function before configuration applies.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionEntry {
    /// URL path without a leading slash, e.g. `api/users/[id]`.
    pub path: String,
    /// Runtime chosen from the file extension, e.g. `nodejs20.x`, `python3.11`.
    pub runtime: String,
    /// The function's filesystem root (its cwd).
    pub root: PathBuf,
    /// The entry file relative to `root` (or a transpiled output).
    pub handler: String,
    /// The user's source file.
    pub source: PathBuf,
    /// The source relative to the project root, `/`-separated: what `functions` globs match.
    pub source_rel: String,
}

impl ProjectConfig {
    /// Prepares resolution for a project. `file` names the `vercel.json` in messages (it
    /// need not exist); `system_env` is the platform's env for functions (`VERCEL=1`, ...),
    /// which wins over `vercel.json` `env` on the same name. `build.env` is build-time only
    /// and never reaches functions.
    pub fn new(
        vercel: &VercelJson,
        file: &Path,
        system_env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let functions = vercel.functions.clone().unwrap_or_default();
        let mut order: Vec<&String> = vercel
            .functions_order
            .iter()
            .filter(|key| functions.contains_key(*key))
            .collect();
        if order.len() != functions.len() {
            order = functions.keys().collect();
        }
        let mut globs = Vec::with_capacity(order.len());
        for glob in order {
            let matcher = GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|err| {
                    ConfigError::invalid(
                        file,
                        KeyPath::root("functions").key(glob).into_string(),
                        format!("is not a valid glob: {}", err.kind()),
                        "fix the pattern, e.g. `api/*.js`",
                    )
                })?
                .compile_matcher();
            let config = functions.get(glob).cloned().unwrap_or_default();
            globs.push(FunctionGlob {
                glob: glob.clone(),
                matcher,
                config,
            });
        }
        let mut env = vercel.env.clone().unwrap_or_default();
        env.extend(system_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let env_bytes: usize = env.iter().map(|(k, v)| k.len() + v.len()).sum();
        if env_bytes > limits::MAX_ENV_BYTES {
            return Err(ConfigError::invalid(
                file,
                "env",
                format!(
                    "and the system environment total {env_bytes} bytes, more than the {} allowed",
                    limits::MAX_ENV_BYTES
                ),
                "move large values into files or a store and read them at run time",
            ));
        }
        Ok(Self {
            file: file.to_path_buf(),
            globs,
            fluid: vercel.fluid.unwrap_or(true),
            regions: vercel.regions.clone().unwrap_or_default(),
            env,
        })
    }

    /// The `functions` entry for a source path (relative to the project, `/`-separated):
    /// the first glob in file order that matches, with its key.
    pub fn function_config(&self, source_rel: &str) -> Option<(&str, &FunctionConfig)> {
        self.globs
            .iter()
            .find(|g| g.glob == source_rel || g.matcher.is_match(source_rel))
            .map(|g| (g.glob.as_str(), &g.config))
    }

    /// Globs of `functions` that match none of `sources` (Vercel rejects those; eddy warns).
    pub fn unmatched_globs<'a>(&'a self, sources: &[&str]) -> Vec<&'a str> {
        self.globs
            .iter()
            .filter(|g| {
                !sources
                    .iter()
                    .any(|s| g.glob == *s || g.matcher.is_match(s))
            })
            .map(|g| g.glob.as_str())
            .collect()
    }

    /// The runtime environment of every function: `vercel.json` `env` + the system env.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }
}

/// Resolves a detected function into the [`FunctionSpec`] the server runs.
///
/// Precedence per setting: `code` > `functions[glob]` > project (`fluid`, `regions`) >
/// defaults (2048 MB, 300 s). `maxDuration: "max"` and values above 800 s resolve to
/// [`limits::MAX_DURATION`]. A Node function whose code says `runtime: 'edge'` gets runtime
/// `edge`; `functions[glob].runtime` (a runtime package such as `@vercel/python@4`, or a plain
/// runtime id such as `nodejs22.x`) overrides the detected runtime.
pub fn resolve_function(
    entry: FunctionEntry,
    code: &CodeConfig,
    project: &ProjectConfig,
) -> Result<FunctionSpec, ConfigError> {
    let matched = project.function_config(&entry.source_rel);
    let glob_config = matched.map(|(_, config)| config);
    let mut runtime = entry.runtime.clone();
    if let Some((glob, config)) = matched
        && let Some(spec) = &config.runtime
    {
        runtime = runtime_from_spec(spec, &runtime).ok_or_else(|| {
            ConfigError::invalid(
                &project.file,
                KeyPath::root("functions").key(glob).key("runtime").into_string(),
                format!("is {spec:?}, a runtime eddy does not have"),
                "use @vercel/node, @vercel/python, @vercel/go, @vercel/ruby or vercel-rust (with a version), a runtime id such as nodejs20.x, or remove the key",
            )
        })?;
    }
    let node = is_node(&runtime);
    if node && code.runtime == Some(CodeRuntime::Edge) {
        runtime = "edge".to_owned();
    }
    let node = node && runtime != "edge";
    let max_duration = match code
        .max_duration
        .or_else(|| glob_config.and_then(|c| c.max_duration))
    {
        None => limits::DEFAULT_MAX_DURATION,
        Some(MaxDuration::Max(_)) => limits::MAX_DURATION,
        Some(MaxDuration::Seconds(seconds)) => {
            Duration::from_secs(u64::from(seconds.max(1))).min(limits::MAX_DURATION)
        }
    };
    let regions = code
        .regions
        .clone()
        .or_else(|| glob_config.and_then(|c| c.regions.clone()))
        .unwrap_or_else(|| project.regions.clone());
    let env = project.env.clone();
    let should_add_helpers = node && env.get("NODEJS_HELPERS").map(String::as_str) != Some("0");
    let aws_lambda_handler = if node {
        aws_lambda_handler(&entry.source_rel, &env)
    } else {
        None
    };
    Ok(FunctionSpec {
        path: entry.path,
        runtime,
        root: entry.root,
        handler: entry.handler,
        source: entry.source,
        memory_mb: code
            .memory
            .or_else(|| glob_config.and_then(|c| c.memory))
            .unwrap_or(limits::DEFAULT_MEMORY_MB),
        max_duration,
        max_concurrency: code
            .max_concurrency
            .or_else(|| glob_config.and_then(|c| c.max_concurrency)),
        fluid: project.fluid,
        env,
        regions,
        should_add_helpers,
        use_web_api: node && code.use_web_api.unwrap_or(false),
        aws_lambda_handler,
    })
}

/// Node.js and Bun runtimes (what the Node launcher runs).
pub fn is_node(runtime: &str) -> bool {
    runtime.starts_with("nodejs") || runtime.starts_with("bun")
}

/// `functions[glob].runtime` to a runtime id. Vercel names runtime packages with a version
/// (`@vercel/python@4.3.0`, `vercel-rust@4.0.9`); eddy runs its own runtimes, so it maps the
/// official ones and takes a plain id (no `@`) as is. `None` = a runtime eddy does not have.
fn runtime_from_spec(spec: &str, detected: &str) -> Option<String> {
    let spec = spec.trim();
    let name = match spec.rfind('@') {
        Some(0) => spec,
        Some(at) => &spec[..at],
        None => return Some(spec.to_owned()),
    };
    let id = match name {
        "@vercel/node" if is_node(detected) => detected,
        "@vercel/node" => "nodejs20.x",
        "@vercel/python" => "python3.11",
        "@vercel/go" => "go1.x",
        "@vercel/ruby" => "ruby3.1",
        "@vercel/rust" | "vercel-rust" => "rust",
        _ => return None,
    };
    Some(id.to_owned())
}

/// `NODEJS_AWS_HANDLER_NAME=<export>` selects the AWS Lambda handler shape:
/// `<dir>/<name>.<export>` of the entry (vercel-compat §1.1).
fn aws_lambda_handler(source_rel: &str, env: &BTreeMap<String, String>) -> Option<String> {
    let export = env
        .get("NODEJS_AWS_HANDLER_NAME")
        .filter(|e| !e.is_empty())?;
    let (dir, file) = source_rel.rsplit_once('/').unwrap_or(("", source_rel));
    let name = file.split_once('.').map_or(file, |(name, _)| name);
    let dir = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    Some(format!("{dir}{name}.{export}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vercel_json::parse_vercel_json;

    fn project(vercel_json: &str, system_env: &[(&str, &str)]) -> ProjectConfig {
        let vercel = parse_vercel_json(vercel_json, Path::new("vercel.json")).expect("valid");
        let env = system_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProjectConfig::new(&vercel, Path::new("vercel.json"), &env).expect("project")
    }

    fn entry(source_rel: &str, runtime: &str) -> FunctionEntry {
        let path = source_rel
            .rsplit_once('.')
            .map_or(source_rel, |(p, _)| p)
            .to_owned();
        FunctionEntry {
            path,
            runtime: runtime.to_owned(),
            root: PathBuf::from("/proj"),
            handler: source_rel.to_owned(),
            source: PathBuf::from("/proj").join(source_rel),
            source_rel: source_rel.to_owned(),
        }
    }

    fn resolve(project: &ProjectConfig, source_rel: &str, code: &CodeConfig) -> FunctionSpec {
        resolve_function(entry(source_rel, "nodejs20.x"), code, project).expect("resolves")
    }

    #[test]
    fn defaults_apply_when_nothing_is_configured() {
        let spec = resolve(&project("{}", &[]), "api/a.js", &CodeConfig::default());
        assert_eq!(spec.memory_mb, 2048);
        assert_eq!(spec.max_duration, Duration::from_secs(300));
        assert!(spec.fluid);
        assert!(spec.should_add_helpers);
        assert!(!spec.use_web_api);
        assert_eq!(spec.max_concurrency, None);
        assert_eq!(spec.aws_lambda_handler, None);
    }

    #[test]
    fn first_glob_in_file_order_wins() {
        let project = project(
            r#"{"functions": {"api/special.js": {"memory": 512}, "api/*.js": {"memory": 1024}, "api/**/*.js": {"memory": 3008}}}"#,
            &[],
        );
        let code = CodeConfig::default();
        assert_eq!(resolve(&project, "api/special.js", &code).memory_mb, 512);
        assert_eq!(resolve(&project, "api/other.js", &code).memory_mb, 1024);
        // `*` does not cross `/`, so nested files fall to the `**` glob.
        assert_eq!(resolve(&project, "api/nested/x.js", &code).memory_mb, 3008);
        assert_eq!(resolve(&project, "api/x.ts", &code).memory_mb, 2048);
    }

    #[test]
    fn code_config_wins_over_vercel_json() {
        let project = project(
            r#"{"functions": {"api/*.js": {"memory": 1024, "maxDuration": 60, "maxConcurrency": 2, "regions": ["sfo1"]}}, "regions": ["iad1"]}"#,
            &[],
        );
        let from_json = resolve(&project, "api/a.js", &CodeConfig::default());
        assert_eq!(from_json.memory_mb, 1024);
        assert_eq!(from_json.max_duration, Duration::from_secs(60));
        assert_eq!(from_json.max_concurrency, Some(2));
        assert_eq!(from_json.regions, ["sfo1"]);
        let code = CodeConfig {
            memory: Some(256),
            max_duration: Some(MaxDuration::Seconds(10)),
            max_concurrency: Some(8),
            regions: Some(vec!["fra1".into()]),
            use_web_api: Some(true),
            ..CodeConfig::default()
        };
        let from_code = resolve(&project, "api/a.js", &code);
        assert_eq!(from_code.memory_mb, 256);
        assert_eq!(from_code.max_duration, Duration::from_secs(10));
        assert_eq!(from_code.max_concurrency, Some(8));
        assert_eq!(from_code.regions, ["fra1"]);
        assert!(from_code.use_web_api);
        let unmatched = resolve(&project, "api/a.ts", &CodeConfig::default());
        assert_eq!(unmatched.regions, ["iad1"]);
    }

    #[test]
    fn max_and_large_durations_are_capped_at_800_seconds() {
        let project = project(
            r#"{"functions": {"api/a.js": {"maxDuration": "max"}, "api/b.js": {"maxDuration": 1800}}}"#,
            &[],
        );
        let code = CodeConfig::default();
        assert_eq!(
            resolve(&project, "api/a.js", &code).max_duration,
            Duration::from_secs(800)
        );
        assert_eq!(
            resolve(&project, "api/b.js", &code).max_duration,
            Duration::from_secs(800)
        );
    }

    #[test]
    fn fluid_false_and_helpers_env_are_honoured() {
        let project = project(r#"{"fluid": false, "env": {"NODEJS_HELPERS": "0"}}"#, &[]);
        let spec = resolve(&project, "api/a.js", &CodeConfig::default());
        assert!(!spec.fluid);
        assert!(!spec.should_add_helpers);
    }

    #[test]
    fn runtime_env_merges_vercel_env_with_system_env_but_not_build_env() {
        let project = project(
            r#"{"env": {"A": "from-json", "VERCEL": "0"}, "build": {"env": {"B": "build-only"}}}"#,
            &[("VERCEL", "1"), ("VERCEL_ENV", "development")],
        );
        let spec = resolve(&project, "api/a.js", &CodeConfig::default());
        assert_eq!(spec.env.get("A").map(String::as_str), Some("from-json"));
        assert_eq!(spec.env.get("VERCEL").map(String::as_str), Some("1"));
        assert_eq!(
            spec.env.get("VERCEL_ENV").map(String::as_str),
            Some("development")
        );
        assert!(!spec.env.contains_key("B"));
    }

    #[test]
    fn oversized_env_is_rejected() {
        let vercel = VercelJson::default();
        let env = BTreeMap::from([("BIG".to_owned(), "x".repeat(70 * 1024))]);
        let err =
            ProjectConfig::new(&vercel, Path::new("vercel.json"), &env).expect_err("too large");
        assert!(err.to_string().contains("65536 allowed"), "{err}");
    }

    #[test]
    fn code_edge_runtime_turns_a_node_function_into_edge() {
        let code = CodeConfig {
            runtime: Some(CodeRuntime::Edge),
            use_web_api: Some(true),
            ..CodeConfig::default()
        };
        let spec = resolve(&project("{}", &[]), "api/a.js", &code);
        assert_eq!(spec.runtime, "edge");
        assert!(!spec.should_add_helpers);
        assert!(!spec.use_web_api);
    }

    #[test]
    fn functions_runtime_overrides_the_detected_runtime() {
        let project = project(
            r#"{"functions": {"api/*.py": {"runtime": "@vercel/python@4.3.0"}, "api/*.js": {"runtime": "nodejs22.x"}, "api/*.php": {"runtime": "vercel-php@0.7.0"}}}"#,
            &[],
        );
        let code = CodeConfig::default();
        let python =
            resolve_function(entry("api/a.py", "python3.11"), &code, &project).expect("resolves");
        assert_eq!(python.runtime, "python3.11");
        assert!(!python.should_add_helpers);
        assert_eq!(resolve(&project, "api/a.js", &code).runtime, "nodejs22.x");
        let php =
            resolve_function(entry("api/a.php", "php"), &code, &project).expect_err("unsupported");
        assert!(
            php.to_string().contains(r#"functions."api/*.php".runtime"#),
            "{php}"
        );
        assert!(php.to_string().contains("vercel-php@0.7.0"), "{php}");
    }

    #[test]
    fn aws_handler_name_env_selects_the_lambda_handler() {
        let project = project("{}", &[("NODEJS_AWS_HANDLER_NAME", "handler")]);
        let spec = resolve(&project, "api/users/list.js", &CodeConfig::default());
        assert_eq!(
            spec.aws_lambda_handler.as_deref(),
            Some("api/users/list.handler")
        );
    }

    #[test]
    fn unmatched_globs_are_listed() {
        let project = project(
            r#"{"functions": {"api/*.js": {"memory": 1024}, "api/missing.ts": {"memory": 512}}}"#,
            &[],
        );
        assert_eq!(project.unmatched_globs(&["api/a.js"]), ["api/missing.ts"]);
    }
}
