//! TypeScript functions: bundled by esbuild into one ES module per function in the cache dir,
//! with a source map, so Node runs them natively and stack traces point at the `.ts` lines.
//!
//! Node packages stay external (resolved from the project's `node_modules` at run time);
//! relative imports are bundled. Outputs are reused while no input is newer than the last
//! build (esbuild's metafile lists the inputs), so re-planning on every save stays cheap.

use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::edge;

/// How many esbuild processes run at once.
const PARALLEL: usize = 4;

/// How much older than the last build's start an input must be for the output to be reused.
const FRESHNESS_MARGIN: Duration = Duration::from_millis(50);

/// Why one TypeScript function could not be transpiled.
#[derive(Debug, thiserror::Error)]
pub enum TranspileError {
    #[error(
        "{}: TypeScript needs esbuild, which was not found (run `npm install --save-dev esbuild` in the project, or set EDDY_ESBUILD to its path)",
        file.display()
    )]
    EsbuildMissing { file: PathBuf },
    #[error(
        "{}: could not run esbuild at {}: {source} (check that it is executable, or reinstall it with `npm install --save-dev esbuild`)",
        file.display(),
        esbuild.display()
    )]
    Spawn {
        file: PathBuf,
        esbuild: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: esbuild failed for function {function} (fix the errors below):\n{stderr}", file.display())]
    Failed {
        function: String,
        file: PathBuf,
        stderr: String,
    },
    #[error(
        "{}: cannot write the build cache {}: {source} (check permissions, or pick another cache dir)",
        file.display(),
        dir.display()
    )]
    Cache {
        file: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// One function to transpile.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub function: String,
    /// The `.ts` file, relative to the project, `/`-separated.
    pub source_rel: String,
    pub source: PathBuf,
    /// An Edge function: bundled whole for the edge runtime (see `edge`).
    pub edge: bool,
}

/// Where esbuild wrote a function: the module to run.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub module: PathBuf,
}

/// Finds esbuild: the explicit path, else `$EDDY_ESBUILD`, else `node_modules/.bin/esbuild`
/// in the project or a parent directory, else `esbuild` on `PATH`.
pub(crate) fn locate_esbuild(explicit: Option<&Path>, project: &Path) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("EDDY_ESBUILD").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let local = project
        .ancestors()
        .map(|dir| dir.join("node_modules/.bin/esbuild"))
        .find(|candidate| candidate.is_file());
    local.or_else(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join("esbuild"))
            .find(|candidate| candidate.is_file())
    })
}

/// Transpiles every job, up to [`PARALLEL`] at a time; results are in job order.
pub(crate) fn transpile_all(
    jobs: &[Job],
    esbuild: Option<&Path>,
    project: &Path,
    cache_dir: &Path,
) -> Vec<Result<Output, TranspileError>> {
    let Some(esbuild) = esbuild else {
        return jobs
            .iter()
            .map(|job| {
                Err(TranspileError::EsbuildMissing {
                    file: job.source.clone(),
                })
            })
            .collect();
    };
    let mut results = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(PARALLEL) {
        let started: Vec<_> = chunk
            .iter()
            .map(|job| start(job, esbuild, project, cache_dir))
            .collect();
        results.extend(started.into_iter().map(finish));
    }
    results
}

/// An esbuild run under way, or a result known without running it.
enum Started {
    Done(Result<Output, TranspileError>),
    Running {
        child: Child,
        esbuild: PathBuf,
        job: Job,
        paths: Paths,
        stamp: String,
    },
}

/// The files of one function in the cache.
#[derive(Debug, Clone)]
struct Paths {
    module: PathBuf,
    metafile: PathBuf,
    /// Records the arguments and start time of the last build, for the freshness check.
    stamp: PathBuf,
}

fn start(job: &Job, esbuild: &Path, project: &Path, cache_dir: &Path) -> Started {
    let base = cache_dir.join(&job.function);
    let module_suffix = if job.edge {
        edge::BUNDLE_SUFFIX
    } else {
        ".mjs"
    };
    let paths = Paths {
        module: with_suffix(&base, module_suffix),
        metafile: with_suffix(&base, ".meta.json"),
        stamp: with_suffix(&base, ".stamp"),
    };
    let args = if job.edge {
        match edge::write_shims(cache_dir) {
            Ok(shims) => edge::arguments(&job.source_rel, &paths.module, &paths.metafile, &shims),
            Err(source) => {
                return Started::Done(Err(TranspileError::Cache {
                    file: job.source.clone(),
                    dir: cache_dir.to_path_buf(),
                    source,
                }));
            }
        }
    } else {
        arguments(job, project, &paths)
    };
    let args_line = args.join("\u{0}");
    if is_fresh(&paths, &args_line, project) {
        return Started::Done(Ok(Output {
            module: paths.module,
        }));
    }
    if let Some(dir) = paths.module.parent()
        && let Err(source) = std::fs::create_dir_all(dir)
    {
        return Started::Done(Err(TranspileError::Cache {
            file: job.source.clone(),
            dir: dir.to_path_buf(),
            source,
        }));
    }
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let spawned = Command::new(esbuild)
        .args(&args)
        .current_dir(project)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    match spawned {
        Ok(child) => Started::Running {
            child,
            esbuild: esbuild.to_path_buf(),
            job: job.clone(),
            paths,
            stamp: format!("{started_at}\n{args_line}"),
        },
        Err(source) => Started::Done(Err(TranspileError::Spawn {
            file: job.source.clone(),
            esbuild: esbuild.to_path_buf(),
            source,
        })),
    }
}

fn finish(started: Started) -> Result<Output, TranspileError> {
    let (child, esbuild, job, paths, stamp) = match started {
        Started::Done(result) => return result,
        Started::Running {
            child,
            esbuild,
            job,
            paths,
            stamp,
        } => (child, esbuild, job, paths, stamp),
    };
    let output = child
        .wait_with_output()
        .map_err(|source| TranspileError::Spawn {
            file: job.source.clone(),
            esbuild,
            source,
        })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&paths.stamp);
        let mut stderr = String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .to_owned();
        if job.edge {
            stderr = edge::explain(stderr);
        }
        return Err(TranspileError::Failed {
            function: job.function,
            file: job.source,
            stderr: if stderr.is_empty() {
                format!("esbuild exited with {}", output.status)
            } else {
                stderr
            },
        });
    }
    // A missing stamp only costs a rebuild next time.
    let _ = std::fs::write(&paths.stamp, stamp);
    Ok(Output {
        module: paths.module,
    })
}

fn arguments(job: &Job, project: &Path, paths: &Paths) -> Vec<String> {
    let module_dir = paths.module.parent().unwrap_or(Path::new(""));
    let from_module = relative_url(module_dir, &project.join(&job.source_rel));
    vec![
        job.source_rel.clone(),
        "--bundle".into(),
        "--platform=node".into(),
        "--format=esm".into(),
        "--packages=external".into(),
        "--target=node20".into(),
        "--sourcemap".into(),
        "--log-level=error".into(),
        format!("--outfile={}", paths.module.display()),
        format!("--metafile={}", paths.metafile.display()),
        format!("--banner:js={}", banner(&from_module)),
        // Only free references are replaced, so a user's own `const __dirname` still works.
        "--define:__dirname=__eddy_dirname".into(),
        "--define:__filename=__eddy_filename".into(),
        "--define:import.meta.url=__eddy_import_meta_url".into(),
    ]
}

/// Defines what CommonJS-style code expects in an ES module, pointing at the original source
/// (not the bundle in the cache), so `__dirname`-relative reads and relative `require`s find
/// the user's files as they would on Vercel.
fn banner(source_from_module: &str) -> String {
    let url = serde_json::Value::String(source_from_module.to_owned()).to_string();
    [
        "import { createRequire as __eddyCreateRequire } from \"node:module\";",
        "import { fileURLToPath as __eddyFileURLToPath } from \"node:url\";",
        "import { dirname as __eddyDirname } from \"node:path\";",
        &format!("const __eddy_import_meta_url = new URL({url}, import.meta.url).href;"),
        "const __eddy_filename = __eddyFileURLToPath(__eddy_import_meta_url);",
        "const __eddy_dirname = __eddyDirname(__eddy_filename);",
        "const require = __eddyCreateRequire(__eddy_filename);",
    ]
    .join(" ")
}

/// The relative URL from a directory to a file, with `%`, `#` and `?` escaped.
fn relative_url(from_dir: &Path, to: &Path) -> String {
    let from: Vec<Component<'_>> = from_dir.components().collect();
    let to_parts: Vec<Component<'_>> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(
        to_parts[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts
        .join("/")
        .replace('%', "%25")
        .replace('#', "%23")
        .replace('?', "%3F")
}

/// The output is fresh when it was built with the same arguments and no input (per the
/// metafile) changed since that build started.
fn is_fresh(paths: &Paths, args_line: &str, project: &Path) -> bool {
    let Ok(stamp) = std::fs::read_to_string(&paths.stamp) else {
        return false;
    };
    let Some((started_at, args)) = stamp.split_once('\n') else {
        return false;
    };
    let Ok(started_at) = started_at.parse::<u128>() else {
        return false;
    };
    if args != args_line || !paths.module.is_file() {
        return false;
    }
    let Ok(metafile) = std::fs::read_to_string(&paths.metafile) else {
        return false;
    };
    let Ok(metafile) = serde_json::from_str::<serde_json::Value>(&metafile) else {
        return false;
    };
    let Some(inputs) = metafile.get("inputs").and_then(|i| i.as_object()) else {
        return false;
    };
    inputs.keys().all(|input| {
        std::fs::metadata(project.join(input))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            // File times come from a coarser clock than `SystemTime::now`: an input written
            // just around the build's start counts as changed (one extra build at worst).
            .is_some_and(|modified| modified.as_nanos() + FRESHNESS_MARGIN.as_nanos() < started_at)
    })
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_climb_out_of_the_cache_and_escape_url_characters() {
        let url = relative_url(
            Path::new("/p/.vercel/eddy/api/users"),
            Path::new("/p/api/users/[id]#1.ts"),
        );
        assert_eq!(url, "../../../../api/users/[id]%231.ts");
    }

    #[test]
    fn the_banner_defines_require_and_quotes_the_source_url() {
        let banner = banner("../a \"b\".ts");
        assert!(banner.contains("const require = __eddyCreateRequire(__eddy_filename);"));
        assert!(banner.contains(r#"new URL("../a \"b\".ts", import.meta.url)"#));
        assert!(!banner.contains('\n'), "one line keeps source maps aligned");
    }

    #[test]
    fn missing_esbuild_says_how_to_install_it() {
        let job = Job {
            function: "api/a".into(),
            source_rel: "api/a.ts".into(),
            source: PathBuf::from("/p/api/a.ts"),
            edge: false,
        };
        let results = transpile_all(&[job], None, Path::new("/p"), Path::new("/p/.vercel/eddy"));
        let message = match &results[..] {
            [Err(err @ TranspileError::EsbuildMissing { .. })] => err.to_string(),
            other => panic!("expected a missing-esbuild error, got {other:?}"),
        };
        assert!(message.contains("/p/api/a.ts"), "{message}");
        assert!(
            message.contains("npm install --save-dev esbuild"),
            "{message}"
        );
    }

    #[test]
    fn explicit_esbuild_path_wins() {
        let explicit = Path::new("/opt/esbuild");
        assert_eq!(
            locate_esbuild(Some(explicit), Path::new("/nonexistent")),
            Some(explicit.to_path_buf())
        );
    }
}
