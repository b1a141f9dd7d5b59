//! The Python build step (vercel-compat 3, "Deps"): the nearest `requirements.txt`, or
//! `pyproject.toml` with `[project] dependencies`, from the function's directory up to the
//! project root is installed with `python3 -m pip install --target` into a vendor directory
//! named by the manifest's content hash, so an unchanged manifest costs one file read and a
//! changed one a fresh install. Functions sharing a manifest share the directory.
//!
//! The handler is the source file itself, prefixed with the vendor directory when there is one:
//! `<absolute vendor dir>::<source>` (eddy-runtime-process's Python launcher splits it and puts
//! the directory on `sys.path`).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use super::Step;
use crate::plan::FunctionError;

const RUNTIME: &str = "python";
const PYTHON: &str = "python3";
const INSTALL_PYTHON: &str =
    "install Python 3 and put `python3` on PATH, e.g. `apt-get install python3 python3-pip`";
const INSTALL_PIP: &str = "install pip for python3, e.g. `apt-get install python3-pip`";
/// Part of the vendor directory's key: bump it when the install command changes.
const LAYOUT: &str = "pip-target-1";

/// Installs run one at a time per eddy process: functions sharing a manifest are planned in
/// parallel and must not install into the same directory twice.
static INSTALLING: Mutex<()> = Mutex::new(());

/// Where a function's dependencies are declared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Manifest {
    Requirements(PathBuf),
    Pyproject(PathBuf),
}

impl Manifest {
    fn path(&self) -> &Path {
        match self {
            Self::Requirements(path) | Self::Pyproject(path) => path,
        }
    }
}

pub(crate) fn prepare(step: &Step<'_>) -> Result<String, FunctionError> {
    let source = step.detected.source_rel.clone();
    let Some(manifest) = find_manifest(step.project, &step.detected.source) else {
        return Ok(source);
    };
    let content = std::fs::read(manifest.path()).map_err(|error| FunctionError::Read {
        file: manifest.path().to_path_buf(),
        source: error,
    })?;
    let vendor = step
        .cache
        .join(RUNTIME)
        .join(format!("vendor-{:016x}", key(&manifest, &content)));
    if !vendor.is_dir() {
        let _one_at_a_time = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
        if !vendor.is_dir() {
            install(&manifest, &vendor)?;
        }
    }
    Ok(format!("{}::{source}", vendor.display()))
}

/// The first manifest from the source's directory up to the project root.
fn find_manifest(project: &Path, source: &Path) -> Option<Manifest> {
    let mut dir = source.parent();
    while let Some(current) = dir {
        let requirements = current.join("requirements.txt");
        if requirements.is_file() {
            return Some(Manifest::Requirements(requirements));
        }
        let pyproject = current.join("pyproject.toml");
        if std::fs::read_to_string(&pyproject).is_ok_and(|text| declares_dependencies(&text)) {
            return Some(Manifest::Pyproject(pyproject));
        }
        if current == project {
            break;
        }
        dir = current
            .parent()
            .filter(|parent| parent.starts_with(project));
    }
    None
}

/// Whether a `pyproject.toml` has a `dependencies` key in its `[project]` table. Line-based;
/// the install reads the file with Python's own TOML parser.
fn declares_dependencies(text: &str) -> bool {
    let mut in_project = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_project = line.split('#').next().map(str::trim) == Some("[project]");
            continue;
        }
        if in_project
            && line
                .strip_prefix("dependencies")
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return true;
        }
    }
    false
}

fn key(manifest: &Manifest, content: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    LAYOUT.hash(&mut hasher);
    matches!(manifest, Manifest::Pyproject(_)).hash(&mut hasher);
    content.hash(&mut hasher);
    hasher.finish()
}

/// Reads `[project] dependencies` with tomllib (Python 3.11+) and prints one per line.
const PYPROJECT_DEPENDENCIES: &str = "import sys, tomllib\n\
with open(sys.argv[1], 'rb') as f:\n    deps = tomllib.load(f).get('project', {}).get('dependencies', [])\n\
print('\\n'.join(deps))";

/// Installs into a staging directory beside `vendor`, renamed into place once complete, so a
/// half-installed directory is never taken for a finished one (another eddy may race us).
fn install(manifest: &Manifest, vendor: &Path) -> Result<(), FunctionError> {
    let parent = vendor.parent().unwrap_or(vendor);
    let staging = parent.join(format!(
        ".{}.partial-{}",
        vendor
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let io_failure = |what: &str, error: std::io::Error| FunctionError::Compile {
        runtime: RUNTIME,
        file: manifest.path().to_path_buf(),
        output: format!("{what}: {error}"),
    };
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|error| io_failure(&format!("cannot create {}", staging.display()), error))?;
    let result = run_pip(manifest, &staging);
    if let Err(error) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    match std::fs::rename(&staging, vendor) {
        Ok(()) => Ok(()),
        // Another process finished the same install first.
        Err(_) if vendor.is_dir() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(io_failure(
                &format!("cannot move the installed packages to {}", vendor.display()),
                error,
            ))
        }
    }
}

fn run_pip(manifest: &Manifest, target: &Path) -> Result<(), FunctionError> {
    let dir = manifest.path().parent().unwrap_or(Path::new("."));
    let mut pip = Command::new(PYTHON);
    pip.current_dir(dir).args([
        "-m",
        "pip",
        "install",
        "--target",
        &target.to_string_lossy(),
        "--quiet",
        "--disable-pip-version-check",
        "--no-input",
    ]);
    match manifest {
        Manifest::Requirements(path) => {
            pip.arg("-r").arg(path);
        }
        Manifest::Pyproject(path) => {
            let dependencies = pyproject_dependencies(path)?;
            if dependencies.is_empty() {
                return Ok(());
            }
            pip.args(dependencies);
        }
    }
    let output = run(&mut pip)?;
    if output.status.success() {
        return Ok(());
    }
    let text = output_text(&output);
    if text.contains("No module named pip") {
        return Err(FunctionError::ToolchainMissing {
            runtime: RUNTIME,
            tool: "pip",
            install: INSTALL_PIP,
        });
    }
    Err(FunctionError::Compile {
        runtime: RUNTIME,
        file: manifest.path().to_path_buf(),
        output: format!("pip install failed ({}):\n{text}", output.status),
    })
}

fn pyproject_dependencies(path: &Path) -> Result<Vec<String>, FunctionError> {
    let output = run(Command::new(PYTHON)
        .args(["-c", PYPROJECT_DEPENDENCIES])
        .arg(path))?;
    if !output.status.success() {
        return Err(FunctionError::Compile {
            runtime: RUNTIME,
            file: path.to_path_buf(),
            output: format!(
                "cannot read [project] dependencies (Python 3.11 or newer reads pyproject.toml):\n{}",
                output_text(&output)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

fn run(command: &mut Command) -> Result<std::process::Output, FunctionError> {
    command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => FunctionError::ToolchainMissing {
                runtime: RUNTIME,
                tool: PYTHON,
                install: INSTALL_PYTHON,
            },
            _ => FunctionError::Compile {
                runtime: RUNTIME,
                file: PathBuf::from(PYTHON),
                output: format!("cannot run {PYTHON}: {error}"),
            },
        })
}

fn output_text(output: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stdout.trim());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn finds_the_nearest_manifest_up_to_the_project_root() {
        let dir = project();
        let root = dir.path();
        let source = write(root, "api/users/list.py", "app = None");
        assert_eq!(find_manifest(root, &source), None);
        let at_root = write(root, "requirements.txt", "flask\n");
        assert_eq!(
            find_manifest(root, &source),
            Some(Manifest::Requirements(at_root))
        );
        let nearer = write(
            root,
            "api/pyproject.toml",
            "[project]\nname = \"x\"\ndependencies = [\"requests\"]\n",
        );
        assert_eq!(
            find_manifest(root, &source),
            Some(Manifest::Pyproject(nearer))
        );
    }

    #[test]
    fn a_pyproject_without_project_dependencies_is_no_manifest() {
        assert!(declares_dependencies(
            "[project]\nname = \"x\"\ndependencies = [\n  \"flask>=3\",\n]\n"
        ));
        assert!(!declares_dependencies(
            "[tool.poetry]\ndependencies = []\n[project]\nname = \"x\"\n"
        ));
        assert!(!declares_dependencies(
            "[project]\noptional-dependencies = {}\n"
        ));
        let dir = project();
        let source = write(dir.path(), "api/index.py", "app = None");
        write(
            dir.path(),
            "pyproject.toml",
            "[tool.black]\nline-length = 100\n",
        );
        assert_eq!(find_manifest(dir.path(), &source), None);
    }

    #[test]
    fn the_vendor_key_follows_the_manifest_content() {
        let manifest = Manifest::Requirements(PathBuf::from("requirements.txt"));
        assert_eq!(key(&manifest, b"flask\n"), key(&manifest, b"flask\n"));
        assert_ne!(key(&manifest, b"flask\n"), key(&manifest, b"flask==3.0\n"));
    }

    #[test]
    fn a_failing_install_reports_pips_message_and_leaves_no_directory() {
        if Command::new(PYTHON).arg("--version").output().is_err() {
            eprintln!("note: python3 is not installed; skipping");
            return;
        }
        let dir = project();
        let manifest = Manifest::Requirements(write(
            dir.path(),
            "requirements.txt",
            "this is not a requirement ===\n",
        ));
        let vendor = dir.path().join("cache/python/vendor-x");
        let error = install(&manifest, &vendor).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("python build of"), "{text}");
        assert!(text.contains("requirements.txt"), "{text}");
        assert!(
            text.to_lowercase().contains("invalid requirement"),
            "{text}"
        );
        assert!(!vendor.exists());
        let leftovers = std::fs::read_dir(dir.path().join("cache/python"))
            .map(|entries| entries.count())
            .unwrap_or(0);
        assert_eq!(leftovers, 0, "the staging directory is removed");
    }

    #[test]
    fn an_empty_requirements_file_gives_an_empty_vendor_dir_without_network() {
        if Command::new(PYTHON).arg("--version").output().is_err() {
            eprintln!("note: python3 is not installed; skipping");
            return;
        }
        let dir = project();
        let manifest = Manifest::Requirements(write(dir.path(), "requirements.txt", "# none\n"));
        let vendor = dir.path().join("cache/python/vendor-y");
        install(&manifest, &vendor).unwrap();
        assert!(vendor.is_dir());
    }
}
