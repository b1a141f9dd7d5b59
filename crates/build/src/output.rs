//! [`write_output`]: a planned project to a Build Output API v3 tree (vercel-compat 8), the one
//! artifact `eddy serve --output` (and the control plane) runs:
//!
//! ```text
//! <out>/config.json                      {version: 3, routes, crons}
//! <out>/static/**                        the project's static files, exclusions applied
//! <out>/functions/<path>.func/           the function's files; its cwd when it runs
//! <out>/functions/<path>.func/.vc-config.json
//! ```
//!
//! The tree is self-contained: it serves after the project is moved away. What a function
//! folder holds, per runtime (see `function`): Go and Rust the built binary; Node, Bun, Edge,
//! Python and Ruby the project's files (without `.vercel/`, `.git/` and other dot entries at
//! the root, `public/`, and the output itself; Python and Ruby also without `node_modules/`)
//! plus the build products the plan made (the TypeScript bundle at its cache path, Python's
//! vendored dependencies as `_vendor/`, Ruby's bundle as `_bundle/`). Every function gets the
//! whole project (sources copied, packages and build products hard-linked where possible: see
//! `files`); Node functions also get the packages they import from a parent folder's
//! `node_modules`, traced by `@vercel/nft` when it is installed (`trace`). `includeFiles` adds
//! files (also from excluded places), `excludeFiles` removes them.
//!
//! The tree is written into `<out>.tmp-<random>` beside `out` and renamed over it at the end,
//! so a failed build leaves the previous output untouched. The build cache is the plan's: an
//! unchanged TypeScript input, Go/Rust crate or dependency manifest is not rebuilt.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eddy_config::{ConfigError, ProjectConfig, VercelJson, parse_vercel_json};

use crate::plan::Plan;

mod files;
mod function;
mod trace;

use files::{Placer, Tally, list, read_error, write, write_error};

/// What [`write_output`] wrote.
#[derive(Debug, Clone)]
pub struct OutputSummary {
    /// The output folder.
    pub out: PathBuf,
    pub static_files: u64,
    pub static_bytes: u64,
    /// One entry per function, in path order.
    pub functions: Vec<FunctionSummary>,
    pub elapsed: Duration,
    /// Worth telling the user, not failing the build for (e.g. packages not traced).
    pub warnings: Vec<String>,
}

/// One function folder written.
#[derive(Debug, Clone)]
pub struct FunctionSummary {
    /// URL path, e.g. `api/users/[id]`.
    pub path: String,
    pub runtime: String,
    pub files: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Progress reports of [`write_output`], in order: `Static`, then per function `Function` before
/// and `FunctionWritten` after it is written.
#[derive(Debug)]
pub enum Progress<'a> {
    Static,
    Function {
        path: &'a str,
        index: usize,
        total: usize,
    },
    FunctionWritten(&'a FunctionSummary),
}

/// Why the output could not be written; nothing at `out` changed.
#[derive(Debug, thiserror::Error)]
pub enum WriteOutputError {
    #[error(
        "{count} function(s) failed to build; fix them first (eddy writes an output only when every function builds)"
    )]
    Unbuilt { count: usize },
    #[error("cannot read {}: {source} (check the file's permissions)", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source} (check free space and permissions)", file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{}: `functions.{glob:?}.{key}` is {pattern:?}, not a valid glob: {reason} (fix the pattern, e.g. `data/**`)",
        file.display()
    )]
    Glob {
        file: PathBuf,
        glob: String,
        key: &'static str,
        pattern: String,
        reason: String,
    },
    #[error(
        "function {function}: its built file {} is gone (run the build again)",
        file.display()
    )]
    BuiltFileMissing { function: String, file: PathBuf },
    #[error(
        "{} is not a usable output folder: {reason} (pass --output with a folder path)",
        out.display()
    )]
    BadOut { out: PathBuf, reason: &'static str },
    #[error("cannot move the finished output to {}: {source}", out.display())]
    Replace {
        out: PathBuf,
        source: std::io::Error,
    },
}

/// Writes the Build Output tree of `plan` (made by [`crate::plan`] for `project`) to `out`,
/// replacing what is there. `progress` hears about each step as it starts and ends.
///
/// Refuses a plan with broken functions ([`Plan::errors`]). The platform env the plan was given
/// (`PlanOptions::env`) lands in each function's `environment`: plan with an empty one for an
/// output that a server gives its own `VERCEL_ENV`, `VERCEL_URL`...
pub fn write_output(
    project: &Path,
    plan: &Plan,
    out: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<OutputSummary, WriteOutputError> {
    if !plan.errors.is_empty() {
        return Err(WriteOutputError::Unbuilt {
            count: plan.errors.len(),
        });
    }
    let started = Instant::now();
    let project = std::fs::canonicalize(project).map_err(read_error(project))?;
    let target = Target::new(out, &project)?;
    std::fs::create_dir_all(&target.tmp).map_err(write_error(&target.tmp))?;
    let result = write_tree(&project, plan, &target, progress);
    let mut summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&target.tmp);
            return Err(error);
        }
    };
    target.commit()?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Where the output goes, and the temporary folder beside it.
struct Target {
    out: PathBuf,
    tmp: PathBuf,
    old: PathBuf,
    /// `out`'s file name, to recognise our own temporaries when walking the project.
    name: String,
}

impl Target {
    /// Refuses an `out` whose replacement would lose something: the project (or a folder
    /// holding it), or an existing folder that is not a Build Output tree.
    fn new(out: &Path, project: &Path) -> Result<Self, WriteOutputError> {
        let bad = |reason| WriteOutputError::BadOut {
            out: out.to_path_buf(),
            reason,
        };
        let name = out
            .file_name()
            .ok_or_else(|| bad("it has no folder name"))?
            .to_string_lossy()
            .into_owned();
        let parent = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(write_error(&parent))?;
        let parent = std::fs::canonicalize(&parent).map_err(read_error(&parent))?;
        let resolved = parent.join(&name);
        if resolved.is_file() {
            return Err(bad("it is a file"));
        }
        if project.starts_with(&resolved) {
            return Err(bad("it is the project folder or holds it"));
        }
        let foreign = resolved.is_dir()
            && !resolved.join("config.json").is_file()
            && std::fs::read_dir(&resolved).is_ok_and(|mut entries| entries.next().is_some());
        if foreign {
            return Err(bad(
                "it is a folder with files but no config.json, not a Build Output tree, and eddy replaces the whole folder; pass a new or empty one",
            ));
        }
        let suffix = unique_suffix();
        Ok(Self {
            out: resolved,
            tmp: parent.join(format!("{name}.tmp-{suffix}")),
            old: parent.join(format!("{name}.old-{suffix}")),
            name,
        })
    }

    /// Whether `path` is the output or one of its temporaries (never copied into itself).
    fn owns(&self, path: &Path) -> bool {
        path == self.out
            || (path.parent() == self.out.parent()
                && path.file_name().is_some_and(|file| {
                    let file = file.to_string_lossy();
                    file.strip_prefix(self.name.as_str())
                        .is_some_and(|rest| rest.starts_with(".tmp-") || rest.starts_with(".old-"))
                }))
    }

    /// Moves the finished tree to `out`: the old output aside, the new one in, the old one away.
    fn commit(&self) -> Result<(), WriteOutputError> {
        let replace_error = |source| WriteOutputError::Replace {
            out: self.out.clone(),
            source,
        };
        let had_old = self.out.exists();
        if had_old {
            std::fs::rename(&self.out, &self.old).map_err(replace_error)?;
        }
        if let Err(error) = std::fs::rename(&self.tmp, &self.out) {
            if had_old {
                let _ = std::fs::rename(&self.old, &self.out);
            }
            let _ = std::fs::remove_dir_all(&self.tmp);
            return Err(replace_error(error));
        }
        if had_old {
            // A leftover old tree is harmless; a failure to delete it is not the build's.
            let _ = std::fs::remove_dir_all(&self.old);
        }
        Ok(())
    }
}

/// Process id and clock: unique enough for a temporary folder name beside the output.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:x}{nanos:08x}", std::process::id())
}

fn write_tree(
    project: &Path,
    plan: &Plan,
    target: &Target,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<OutputSummary, WriteOutputError> {
    let vercel_path = project.join("vercel.json");
    let vercel = match std::fs::read_to_string(&vercel_path) {
        Ok(text) => parse_vercel_json(&text, &vercel_path)?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => VercelJson::default(),
        Err(source) => {
            return Err(WriteOutputError::Read {
                file: vercel_path,
                source,
            });
        }
    };
    let config = serde_json::json!({
        "version": eddy_config::output::VERSION,
        "routes": plan.deployment.routes,
        "crons": vercel.crons.clone().unwrap_or_default(),
    });
    let mut tally = Tally::default();
    write(
        &target.tmp.join("config.json"),
        &format!("{config:#}\n"),
        &mut tally,
    )?;

    progress(Progress::Static);
    let placer = Placer::default();
    let statics = write_static(plan, target, &placer)?;

    let project_config = ProjectConfig::new(&vercel, &vercel_path, &Default::default())?;
    let context = function::Context::new(
        project,
        &placer,
        plan,
        target,
        &project_config,
        &vercel_path,
    )?;
    let total = plan.deployment.functions.len();
    let mut functions = Vec::with_capacity(total);
    for (index, spec) in plan.deployment.functions.values().enumerate() {
        progress(Progress::Function {
            path: &spec.path,
            index,
            total,
        });
        let summary = context.write(spec)?;
        progress(Progress::FunctionWritten(&summary));
        functions.push(summary);
    }
    Ok(OutputSummary {
        out: target.out.clone(),
        static_files: statics.files,
        static_bytes: statics.bytes,
        functions,
        elapsed: Duration::ZERO,
        warnings: context.warnings,
    })
}

/// `static/`: every file of the deployment's static root that it would serve.
fn write_static(plan: &Plan, target: &Target, placer: &Placer) -> Result<Tally, WriteOutputError> {
    let dir = target.tmp.join("static");
    std::fs::create_dir_all(&dir).map_err(write_error(&dir))?;
    let mut tally = Tally::default();
    let Some(root) = &plan.deployment.static_root else {
        return Ok(tally);
    };
    let deployment = &plan.deployment;
    // `dir/` entries match the folder's own path too, so whole folders are pruned.
    let skip = |relative: &str, _is_dir: bool| {
        deployment.is_static_excluded(relative) || target.owns(&root.join(relative))
    };
    for (relative, file) in list(root, &skip)? {
        placer.place(&file, &dir.join(&relative), &mut tally)?;
    }
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::{PlanOptions, plan};

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, text).expect("write");
        }
        dir
    }

    fn build(project: &Path, out: &Path) -> Result<OutputSummary, WriteOutputError> {
        let mut options = PlanOptions::new(project);
        options.esbuild = esbuild();
        let plan = plan(project, &options).expect("plans");
        write_output(project, &plan, out, &mut |_| {})
    }

    /// esbuild from the repository's `node_modules`, `$EDDY_ESBUILD` or `PATH`.
    fn esbuild() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("EDDY_ESBUILD") {
            return Some(PathBuf::from(path));
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/esbuild");
        if repo.is_file() {
            return Some(repo);
        }
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join("esbuild"))
            .find(|candidate| candidate.is_file())
    }

    fn read(file: &Path) -> String {
        std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
    }

    const NODE_PROJECT: &[(&str, &str)] = &[
        (
            "api/hello.js",
            "module.exports = (req, res) => res.end('hi');",
        ),
        ("lib/greet.js", "module.exports = 'greet';"),
        ("data/words.txt", "words"),
        ("data/secret.key", "secret"),
        ("node_modules/dep/index.js", "module.exports = 1;"),
        ("public/index.html", "<h1>home</h1>"),
        (".env", "TOKEN=x"),
        (
            "vercel.json",
            r#"{"crons":[{"path":"/api/hello","schedule":"0 5 * * *"}],
                "env":{"GREETING":"hello"},
                "functions":{"api/*.js":{"memory":512,"includeFiles":"data/**","excludeFiles":"**/*.key"}}}"#,
        ),
    ];

    #[test]
    fn a_node_project_becomes_a_tree_that_serves_without_the_project() {
        let src = project(NODE_PROJECT);
        let dest = tempfile::tempdir().expect("temp dir");
        let out = dest.path().join("output");
        let summary = build(src.path(), &out).expect("writes");
        assert_eq!(summary.functions.len(), 1);
        assert_eq!(summary.static_files, 1);
        drop(src);

        let output = eddy_config::read_output(&out).expect("reads back");
        assert!(output.errors.is_empty(), "{:?}", output.errors);
        assert_eq!(output.crons[0].path, "/api/hello");
        assert_eq!(read(&out.join("static/index.html")), "<h1>home</h1>");
        let spec = &output.deployment.functions["api/hello"];
        assert_eq!(spec.runtime, "nodejs20.x");
        assert_eq!(spec.handler, "api/hello.js");
        assert_eq!(spec.memory_mb, 512);
        assert_eq!(spec.env["GREETING"], "hello");
        assert!(spec.should_add_helpers);
        let func = &spec.root;
        for present in [
            "api/hello.js",
            "lib/greet.js",
            "node_modules/dep/index.js",
            "data/words.txt",
        ] {
            assert!(func.join(present).is_file(), "{present} is missing");
        }
        for absent in ["data/secret.key", ".env", "public/index.html", ".vercel"] {
            assert!(
                !func.join(absent).exists(),
                "{absent} must not be in the function"
            );
        }
        let config = read(&func.join(".vc-config.json"));
        assert!(config.contains("\"launcherType\": \"Nodejs\""), "{config}");
    }

    #[test]
    fn an_output_inside_the_project_is_never_copied_into_itself() {
        // No public/: the project root is the static root, so a dist/ output sits inside it.
        let src = project(&[
            ("api/a.js", "module.exports = () => {};"),
            ("index.html", "home"),
        ]);
        for out in [src.path().join(".vercel/output"), src.path().join("dist")] {
            build(src.path(), &out).expect("first build");
            build(src.path(), &out).expect("second build");
            assert!(!out.join("static/dist").exists());
            assert!(!out.join("functions/api/a.func/dist").exists());
            assert!(!out.join("functions/api/a.func/.vercel").exists());
            assert_eq!(read(&out.join("static/index.html")), "home");
        }
        let leftovers: Vec<_> = std::fs::read_dir(src.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".tmp-") || name.contains(".old-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_new_build_replaces_the_old_tree_and_a_failed_one_leaves_it() {
        let src = project(&[
            ("api/a.js", "module.exports = () => {};"),
            ("public/x.txt", "x"),
        ]);
        let dest = tempfile::tempdir().expect("temp dir");
        let out = dest.path().join("output");
        build(src.path(), &out).expect("first build");
        std::fs::write(out.join("stale.txt"), "old").expect("write");
        build(src.path(), &out).expect("second build");
        assert!(!out.join("stale.txt").exists(), "the old tree was replaced");

        std::fs::write(
            src.path().join("api/b.js"),
            "export const config = { maxDuration: 'soon' };",
        )
        .expect("write");
        let plan = plan(src.path(), &PlanOptions::new(src.path())).expect("plans");
        assert_eq!(plan.errors.len(), 1);
        let error = write_output(src.path(), &plan, &out, &mut |_| {}).expect_err("refused");
        assert!(
            matches!(error, WriteOutputError::Unbuilt { count: 1 }),
            "{error}"
        );
        assert!(out.join("functions/api/a.func/.vc-config.json").is_file());
        assert!(!out.join("functions/api/b.func").exists());
    }

    #[test]
    fn outputs_that_would_replace_the_project_or_foreign_files_are_refused() {
        let src = project(&[("api/a.js", "module.exports = () => {};")]);
        let notes = src.path().join("notes");
        std::fs::create_dir_all(&notes).expect("mkdir");
        std::fs::write(notes.join("todo.txt"), "keep me").expect("write");
        for out in [
            src.path().to_path_buf(),
            src.path().join("api/.."),
            notes.clone(),
        ] {
            let error = build(src.path(), &out).expect_err("refused");
            assert!(matches!(error, WriteOutputError::BadOut { .. }), "{error}");
        }
        assert_eq!(read(&notes.join("todo.txt")), "keep me");
        assert!(src.path().join("api/a.js").is_file());
    }

    #[test]
    fn progress_reports_static_then_each_function_before_and_after() {
        let src = project(&[("api/a.js", ""), ("api/b.js", ""), ("public/x", "")]);
        let dest = tempfile::tempdir().expect("temp dir");
        let plan = plan(src.path(), &PlanOptions::new(src.path())).expect("plans");
        let mut seen = Vec::new();
        write_output(src.path(), &plan, &dest.path().join("o"), &mut |p| {
            seen.push(match p {
                Progress::Static => "static".to_owned(),
                Progress::Function { path, index, total } => format!("{path} {index}/{total}"),
                Progress::FunctionWritten(f) => format!("{} done", f.path),
            });
        })
        .expect("writes");
        assert_eq!(
            seen,
            [
                "static",
                "api/a 0/2",
                "api/a done",
                "api/b 1/2",
                "api/b done"
            ]
        );
    }

    #[test]
    fn a_bad_include_glob_names_the_key() {
        let src = project(&[
            ("api/a.js", ""),
            (
                "vercel.json",
                r#"{"functions":{"api/a.js":{"includeFiles":"data/[z-a]"}}}"#,
            ),
        ]);
        let dest = tempfile::tempdir().expect("temp dir");
        let error = build(src.path(), &dest.path().join("o")).expect_err("bad glob");
        let message = error.to_string();
        assert!(
            message.contains("includeFiles") && message.contains("api/a.js"),
            "{message}"
        );
        assert!(!dest.path().join("o").exists());
    }

    #[test]
    fn typescript_functions_carry_their_bundle() {
        if esbuild().is_none() {
            println!("skipped: esbuild not found (run `npm install` at the repository root)");
            return;
        }
        let src = project(&[
            (
                "api/hello.ts",
                "import { greet } from './_lib/greet';\n\
                 export default function handler(req: unknown, res: { end(s: string): void }) { res.end(greet()); }\n",
            ),
            (
                "api/_lib/greet.ts",
                "export const greet = (): string => 'ts';\n",
            ),
        ]);
        let dest = tempfile::tempdir().expect("temp dir");
        let out = dest.path().join("output");
        build(src.path(), &out).expect("writes");
        drop(src);
        let output = eddy_config::read_output(&out).expect("reads back");
        assert!(output.errors.is_empty(), "{:?}", output.errors);
        let spec = &output.deployment.functions["api/hello"];
        assert!(spec.handler.ends_with(".mjs"), "{}", spec.handler);
        assert!(
            read(&spec.root.join(&spec.handler)).contains("'ts'")
                || read(&spec.root.join(&spec.handler)).contains("\"ts\"")
        );
        // Only the bundle comes from the cache, not the rest of .vercel.
        let cached: Vec<_> = walkdir::WalkDir::new(spec.root.join(".vercel"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            cached.iter().all(|name| name.starts_with("hello.mjs")),
            "{cached:?}"
        );
    }

    #[test]
    fn python_functions_get_the_sources_but_not_node_modules() {
        let src = project(&[
            (
                "api/index.py",
                "from http.server import BaseHTTPRequestHandler\nclass handler(BaseHTTPRequestHandler):\n    pass\n",
            ),
            ("api/helper.py", "X = 1\n"),
            ("node_modules/x/index.js", ""),
        ]);
        let dest = tempfile::tempdir().expect("temp dir");
        let out = dest.path().join("output");
        build(src.path(), &out).expect("writes");
        let output = eddy_config::read_output(&out).expect("reads back");
        let spec = &output.deployment.functions["api/index"];
        assert_eq!(spec.handler, "api/index.py");
        assert!(spec.runtime.starts_with("python"), "{}", spec.runtime);
        assert!(spec.root.join("api/helper.py").is_file());
        assert!(!spec.root.join("node_modules").exists());
        assert!(!read(&spec.root.join(".vc-config.json")).contains("launcherType"));
    }

    #[test]
    fn go_functions_carry_only_their_binary() {
        if std::process::Command::new("go")
            .arg("version")
            .output()
            .is_err()
        {
            println!("skipped: `go` is not installed");
            return;
        }
        let src = project(&[
            (
                "api/hello.go",
                "package handler\n\nimport \"net/http\"\n\nfunc Handler(w http.ResponseWriter, r *http.Request) { w.Write([]byte(\"go\")) }\n",
            ),
            ("api/other.txt", "not needed"),
        ]);
        let dest = tempfile::tempdir().expect("temp dir");
        let out = dest.path().join("output");
        build(src.path(), &out).expect("writes");
        let output = eddy_config::read_output(&out).expect("reads back");
        assert!(output.errors.is_empty(), "{:?}", output.errors);
        let spec = &output.deployment.functions["api/hello"];
        assert_eq!(
            (spec.runtime.as_str(), spec.handler.as_str()),
            ("go1.x", "bootstrap")
        );
        let names: BTreeMap<String, ()> = std::fs::read_dir(&spec.root)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| (e.file_name().to_string_lossy().into_owned(), ()))
            .collect();
        assert_eq!(
            names.keys().collect::<Vec<_>>(),
            [".vc-config.json", "bootstrap"]
        );
        assert!(read(&spec.root.join(".vc-config.json")).contains("\"runtimeLanguage\": \"go\""));
    }

    #[test]
    fn rust_functions_carry_only_their_binary() {
        if std::process::Command::new("cargo")
            .arg("--version")
            .output()
            .is_err()
        {
            println!("skipped: `cargo` is not installed");
            return;
        }
        // No dependencies, so the build takes a second: the writer only needs a binary.
        let src = project(&[
            (
                "Cargo.toml",
                "[package]\nname = \"fns\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"hello\"\npath = \"api/hello.rs\"\n",
            ),
            ("api/hello.rs", "fn main() {}\n"),
        ]);
        let dest = tempfile::tempdir().expect("temp dir");
        let out = dest.path().join("output");
        build(src.path(), &out).expect("writes");
        let output = eddy_config::read_output(&out).expect("reads back");
        assert!(output.errors.is_empty(), "{:?}", output.errors);
        let spec = &output.deployment.functions["api/hello"];
        assert_eq!(
            (spec.runtime.as_str(), spec.handler.as_str()),
            ("rust", "hello")
        );
        assert!(spec.root.join("hello").is_file());
        assert!(!spec.root.join("Cargo.toml").exists());
        assert!(read(&spec.root.join(".vc-config.json")).contains("\"runtimeLanguage\": \"rust\""));
    }
}
