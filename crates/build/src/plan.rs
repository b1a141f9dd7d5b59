//! [`plan`]: a project directory to the [`Deployment`] that `eddy dev` serves. Called on
//! every file save, so it does only what changed needs: detection and config reading are
//! cheap, and transpiled TypeScript is reused while its inputs are unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use eddy_config::{
    CodeConfig, ConfigError, Deployment, FunctionEntry, ProjectConfig, VercelJson,
    parse_vercel_json, read_code_config, resolve_function,
};
use eddy_router::RouteError;

use crate::compile;
use crate::detect::{self, Detected, Language};
use crate::edge;
use crate::transpile::{self, Job, TranspileError};

/// How to plan a project.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The platform's environment for every function, e.g. `VERCEL=1`,
    /// `VERCEL_ENV=development`, `VERCEL_REGION=dev1`. Wins over `vercel.json` `env`.
    pub env: BTreeMap<String, String>,
    /// The esbuild binary for TypeScript; `None` looks in `$EDDY_ESBUILD`, then
    /// `node_modules/.bin/esbuild` in the project or a parent, then `PATH`.
    pub esbuild: Option<PathBuf>,
    /// Where transpiled functions are written; a relative path is taken from the project.
    /// Keep it inside the project so bundles resolve the project's `node_modules`.
    pub cache_dir: PathBuf,
    /// The deployment id; `None` derives a stable `dpl_dev_…` id from the project path.
    pub deployment_id: Option<String>,
}

impl PlanOptions {
    /// Defaults for a project: no extra env, esbuild looked up, cache in `.vercel/eddy`.
    pub fn new(project: &Path) -> Self {
        Self {
            env: BTreeMap::new(),
            esbuild: None,
            cache_dir: project.join(".vercel").join("eddy"),
            deployment_id: None,
        }
    }
}

/// The result of planning: what can be served, and what cannot.
#[derive(Debug)]
pub struct Plan {
    /// Every function that planned cleanly, the routes and the static files.
    pub deployment: Deployment,
    /// Functions that failed to plan (bad config, TypeScript errors, conflicting files). Their
    /// paths still have routes, so the server can answer 500 with the error for them.
    pub errors: Vec<FunctionBuildError>,
    /// Things worth telling the user that do not stop any function, e.g. a `functions` glob
    /// that matches no file.
    pub warnings: Vec<String>,
}

/// A project that cannot be planned at all.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "{} is not a project eddy can serve: it looks for a directory with an api/ folder of functions, public/, vercel.json, package.json or index.html",
        dir.display()
    )]
    NotAProject { dir: PathBuf },
    #[error("cannot read {}: {source} (check the file's permissions)", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Routes(#[from] RouteError),
}

/// One function that could not be planned.
#[derive(Debug, thiserror::Error)]
#[error("function {function}: {error}")]
pub struct FunctionBuildError {
    /// The function's path, e.g. `api/users/[id]`.
    pub function: String,
    /// The file at fault.
    pub file: PathBuf,
    pub error: FunctionError,
}

/// Why one function could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read {}: {source} (check the file's permissions)", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "conflicting_file_path: {} and {} both serve /{path} (rename or remove one of them)",
        first.display(),
        second.display()
    )]
    ConflictingFilePath {
        path: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(
        "conflicting_path_segment: {} uses the dynamic segment [{segment}] twice (give each segment of the path its own name)",
        file.display()
    )]
    ConflictingPathSegment { file: PathBuf, segment: String },
    #[error(transparent)]
    Transpile(#[from] TranspileError),
    /// A language build step failed (compiler error, dependency install failure); `output` is
    /// the tool's own message.
    #[error("{runtime} build of {} failed: {output}", file.display())]
    Compile {
        runtime: &'static str,
        file: PathBuf,
        output: String,
    },
    /// The tool a build step needs is not installed.
    #[error("{runtime} functions need `{tool}`, which was not found ({install})")]
    ToolchainMissing {
        runtime: &'static str,
        tool: &'static str,
        install: &'static str,
    },
}

impl FunctionError {
    /// Vercel's build error code, where it has one.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::ConflictingFilePath { .. } => Some("conflicting_file_path"),
            Self::ConflictingPathSegment { .. } => Some("conflicting_path_segment"),
            _ => None,
        }
    }
}

/// Plans a project directory: detects its functions, reads `vercel.json` and in-code config,
/// transpiles TypeScript, and resolves every function.
///
/// A broken `vercel.json` (or a directory that is no project) fails the whole plan; a broken
/// function only lands in [`Plan::errors`], and the rest is planned.
pub fn plan(project: &Path, options: &PlanOptions) -> Result<Plan, BuildError> {
    let not_a_project = || BuildError::NotAProject {
        dir: project.to_path_buf(),
    };
    // Canonical, so esbuild (run from the project) and we agree on every path.
    let project = &std::fs::canonicalize(project).map_err(|_| not_a_project())?;
    if !project.is_dir() {
        return Err(not_a_project());
    }
    let vercel_path = project.join("vercel.json");
    let vercel_text = read_optional(&vercel_path)?;
    let vercel = match &vercel_text {
        Some(text) => parse_vercel_json(text, &vercel_path)?,
        None => VercelJson::default(),
    };
    let detection = detect::detect(project);
    let has_marker = vercel_text.is_some()
        || project.join("public").is_dir()
        || project.join("package.json").is_file()
        || project.join("index.html").is_file();
    if detection.functions.is_empty() && detection.errors.is_empty() && !has_marker {
        return Err(not_a_project());
    }
    let config = ProjectConfig::new(&vercel, &vercel_path, &options.env)?;
    let mut errors = detection.errors;
    let mut warnings = detection.warnings;
    let mut route_paths: BTreeSet<String> = detection.conflicting_paths.into_iter().collect();
    let sources: Vec<&str> = detection
        .functions
        .iter()
        .map(|d| d.source_rel.as_str())
        .collect();
    warnings.extend(config.unmatched_globs(&sources).into_iter().map(|glob| {
        format!(
            "{}: `functions.{glob:?}` matches no function file (fix the glob or remove it)",
            vercel_path.display()
        )
    }));

    let mut ready = Vec::new();
    for detected in detection.functions {
        route_paths.insert(detected.path.clone());
        match code_config(&detected) {
            Ok(mut code) => {
                if edge::configured_edge(&config, &detected.source_rel) {
                    code.runtime = Some(eddy_config::CodeRuntime::Edge);
                }
                ready.push((detected, code));
            }
            Err(error) => errors.push(FunctionBuildError {
                function: detected.path,
                file: detected.source,
                error,
            }),
        }
    }
    // Routing Middleware: an edge function (whatever its config says) without a route of its
    // own; the route that runs it goes first (vercel-compat 7.4).
    let mut middleware_matcher = None;
    if let Some(detected) = edge::detect_middleware(project) {
        match code_config(&detected) {
            Ok(mut code) => {
                code.runtime = Some(eddy_config::CodeRuntime::Edge);
                middleware_matcher = Some(code.matcher.clone());
                ready.push((detected, code));
            }
            Err(error) => errors.push(FunctionBuildError {
                function: detected.path,
                file: detected.source,
                error,
            }),
        }
    }
    let handlers = handlers(project, options, &ready, &mut errors);

    let runtime_of = |language| runtime_id(language, vercel.bun_version.is_some());
    let mut functions = BTreeMap::new();
    for ((detected, code), handler) in ready.into_iter().zip(handlers) {
        let Some(handler) = handler else { continue };
        let entry = FunctionEntry {
            path: detected.path.clone(),
            runtime: runtime_of(detected.language).to_owned(),
            root: project.clone(),
            handler,
            source: detected.source.clone(),
            source_rel: detected.source_rel,
        };
        match resolve_function(entry, &code, &config) {
            Ok(spec) => {
                functions.insert(spec.path.clone(), spec);
            }
            Err(error) => errors.push(FunctionBuildError {
                function: detected.path,
                file: detected.source,
                error: error.into(),
            }),
        }
    }

    let route_paths: Vec<&str> = route_paths.iter().map(String::as_str).collect();
    let mut routes = eddy_router::project_routes(&vercel, &route_paths)?;
    if let Some(matcher) = middleware_matcher
        && functions.contains_key(edge::MIDDLEWARE)
    {
        routes.insert(0, edge::middleware_route(matcher.as_deref()));
    }
    let (static_root, static_exclude) = static_files(project, &cache_dir(project, options));
    Ok(Plan {
        deployment: Deployment {
            id: options
                .deployment_id
                .clone()
                .unwrap_or_else(|| dev_deployment_id(project)),
            routes,
            static_root: Some(static_root),
            static_exclude,
            functions,
        },
        errors,
        warnings,
    })
}

fn read_optional(file: &Path) -> Result<Option<String>, BuildError> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BuildError::Read {
            file: file.to_path_buf(),
            source,
        }),
    }
}

/// The in-code config of a JS/TS function; other languages have none.
fn code_config(detected: &Detected) -> Result<CodeConfig, FunctionError> {
    if !matches!(
        detected.language,
        Language::JavaScript | Language::TypeScript
    ) {
        return Ok(CodeConfig::default());
    }
    let source =
        std::fs::read_to_string(&detected.source).map_err(|source| FunctionError::Read {
            file: detected.source.clone(),
            source,
        })?;
    Ok(read_code_config(&source, &detected.source)?)
}

/// Each function's handler, relative to the project: the file itself, or for TypeScript the
/// transpiled module. `None` where transpiling failed (the error is pushed).
fn handlers(
    project: &Path,
    options: &PlanOptions,
    ready: &[(Detected, CodeConfig)],
    errors: &mut Vec<FunctionBuildError>,
) -> Vec<Option<String>> {
    let jobs: Vec<Job> = ready
        .iter()
        .filter(|(d, code)| d.language == Language::TypeScript || is_edge(code))
        .map(|(d, code)| Job {
            function: d.path.clone(),
            source_rel: d.source_rel.clone(),
            source: d.source.clone(),
            edge: is_edge(code),
        })
        .collect();
    let mut outputs = if jobs.is_empty() {
        Vec::new()
    } else {
        let esbuild = transpile::locate_esbuild(options.esbuild.as_deref(), project);
        transpile::transpile_all(
            &jobs,
            esbuild.as_deref(),
            project,
            &cache_dir(project, options),
        )
    }
    .into_iter();
    let mut compiled = compile_all(project, options, ready).into_iter();
    ready
        .iter()
        .map(|(detected, code)| {
            if compile::has_step(detected.language) {
                return match compiled.next().flatten()? {
                    Ok(handler) => Some(handler),
                    Err(error) => {
                        errors.push(FunctionBuildError {
                            function: detected.path.clone(),
                            file: detected.source.clone(),
                            error,
                        });
                        None
                    }
                };
            }
            if detected.language != Language::TypeScript && !is_edge(code) {
                return Some(detected.source_rel.clone());
            }
            match outputs.next()? {
                Ok(output) => Some(relative_to(project, &output.module)),
                Err(error) => {
                    errors.push(FunctionBuildError {
                        function: detected.path.clone(),
                        file: detected.source.clone(),
                        error: error.into(),
                    });
                    None
                }
            }
        })
        .collect()
}

/// Edge functions are bundled whole for the edge runtime (`edge`).
fn is_edge(code: &CodeConfig) -> bool {
    code.runtime == Some(eddy_config::CodeRuntime::Edge)
}

/// Runs the language build steps (Go, Rust, Python, Ruby) of every function that has one, in
/// parallel; one entry per function with a step, in order.
fn compile_all(
    project: &Path,
    options: &PlanOptions,
    ready: &[(Detected, CodeConfig)],
) -> Vec<Option<Result<String, FunctionError>>> {
    let cache = cache_dir(project, options);
    std::thread::scope(|scope| {
        let running: Vec<_> = ready
            .iter()
            .filter(|(d, _)| compile::has_step(d.language))
            .map(|(detected, _)| {
                let cache = &cache;
                let handle = scope.spawn(move || {
                    compile::prepare(&compile::Step {
                        project,
                        detected,
                        options,
                        cache,
                    })
                });
                (detected, handle)
            })
            .collect();
        report_progress(&running);
        running
            .into_iter()
            .map(|(detected, handle)| {
                Some(handle.join().unwrap_or_else(|_| {
                    Err(FunctionError::Compile {
                        runtime: "eddy",
                        file: detected.source.clone(),
                        output: "the build step panicked (a bug in eddy; please report it)".into(),
                    })
                }))
            })
            .collect()
    })
}

/// While build steps run, says which are still building: first after 2 s, then every 10 s, so
/// a long first build (a cold `cargo build`, a `pip install`) is never silent. Quick steps (the
/// usual unchanged-input case on every save) print nothing. Returns when all steps are done.
fn report_progress<T>(running: &[(&Detected, std::thread::ScopedJoinHandle<'_, T>)]) {
    let started = std::time::Instant::now();
    let mut next_report = std::time::Duration::from_secs(2);
    loop {
        let pending: Vec<&str> = running
            .iter()
            .filter(|(_, handle)| !handle.is_finished())
            .map(|(detected, _)| detected.source_rel.as_str())
            .collect();
        if pending.is_empty() {
            if started.elapsed() >= std::time::Duration::from_secs(2) {
                tracing::info!(target: "eddy::build", "built in {:.1} s", started.elapsed().as_secs_f64());
            }
            return;
        }
        if started.elapsed() >= next_report {
            tracing::info!(
                target: "eddy::build",
                "building {} ({:.0} s so far)",
                pending.join(", "),
                started.elapsed().as_secs_f64()
            );
            next_report += std::time::Duration::from_secs(10);
        }
        // Short, so a plan whose steps are all cache hits is not held up.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn cache_dir(project: &Path, options: &PlanOptions) -> PathBuf {
    project.join(&options.cache_dir)
}

/// `/`-separated and relative when `path` is inside `project`, else absolute (joining an
/// absolute path onto the function root yields it unchanged).
fn relative_to(project: &Path, path: &Path) -> String {
    match path.strip_prefix(project) {
        Ok(relative) => relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        Err(_) => path.display().to_string(),
    }
}

/// The runtime id of a detected language (vercel-compat §1.1, §9.2).
fn runtime_id(language: Language, bun: bool) -> &'static str {
    match language {
        Language::JavaScript | Language::TypeScript if bun => "bun1.x",
        Language::JavaScript | Language::TypeScript => "nodejs20.x",
        Language::Go => "go1.x",
        Language::Python => "python3.11",
        Language::Ruby => "ruby3.1",
        Language::Rust => "rust",
        // The Build Output runtime of a wasi:http component (served by the `wasm` family).
        Language::Wasm => "wasi-http",
    }
}

/// Files at the project root that are source or tooling, never content.
const ROOT_EXCLUDE: &[&str] = &[
    "api/",
    "node_modules/",
    ".vercel/",
    ".*",
    "vercel.json",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lock",
    "bun.lockb",
    "tsconfig.json",
    "requirements.txt",
    "Pipfile",
    "Pipfile.lock",
    "pyproject.toml",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
    "Cargo.toml",
    "Cargo.lock",
];

/// `public/` when the project has one (served as is); else the project root minus sources.
fn static_files(project: &Path, cache_dir: &Path) -> (PathBuf, Vec<String>) {
    let public = project.join("public");
    if public.is_dir() {
        return (public, Vec::new());
    }
    let mut exclude: Vec<String> = ROOT_EXCLUDE.iter().map(|e| (*e).to_owned()).collect();
    if let Ok(inside) = cache_dir.strip_prefix(project) {
        let inside = relative_to(Path::new(""), inside);
        if !inside.is_empty() && !exclude.iter().any(|e| inside.starts_with(e.as_str())) {
            exclude.push(format!("{inside}/"));
        }
    }
    (project.to_path_buf(), exclude)
}

/// A stable id per project directory, so `eddy dev` restarts keep their URLs.
fn dev_deployment_id(project: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    project.hash(&mut hasher);
    format!("dpl_dev_{:016x}", hasher.finish())
}
