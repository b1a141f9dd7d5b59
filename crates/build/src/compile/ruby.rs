//! The Ruby build step. A function without a `Gemfile` runs from its source file. With one (the
//! nearest in the function's directory or a parent, up to the project root, as Vercel looks it
//! up), `bundle install` puts the gems into the function's output dir, and the handler becomes
//! a small JSON manifest there that tells the launcher the entry file, the Gemfile and the
//! bundle path (it sets `BUNDLE_GEMFILE`/`BUNDLE_PATH` and requires `bundler/setup` before
//! loading the function).
//!
//! The install runs again only when the Gemfile, its lock file or the manifest would change.
//! Bundler writes `Gemfile.lock` next to the Gemfile when there is none, as `vercel build` does.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use super::{Step, output_dir};
use crate::plan::FunctionError;

const RUNTIME: &str = "ruby";
/// The manifest the launcher reads, in the output dir.
const MANIFEST: &str = "function.json";
/// The key of the inputs of the last successful install, in the output dir.
const STAMP: &str = "inputs.key";
/// Bundler's output kept in an error: its last lines say what failed.
const MAX_OUTPUT_LINES: usize = 60;

/// One install at a time: functions sharing a Gemfile would otherwise write its lock file
/// concurrently.
static INSTALL: Mutex<()> = Mutex::new(());

pub(crate) fn prepare(step: &Step<'_>) -> Result<String, FunctionError> {
    let Some(gemfile) = find_gemfile(step.project, &step.detected.source) else {
        return Ok(step.detected.source_rel.clone());
    };
    let out = output_dir(step, RUNTIME);
    let bundle = out.join("bundle");
    let manifest = serde_json::json!({
        "entry": step.detected.source_rel,
        "gemfile": gemfile,
        "bundlePath": bundle,
    })
    .to_string();
    let handler = relative_to(step.project, &out.join(MANIFEST));
    let read_error = |file: &Path| {
        let file = file.to_path_buf();
        move |source| FunctionError::Read { file, source }
    };
    let _one_at_a_time = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let key = inputs_key(&gemfile, &manifest).map_err(read_error(&gemfile))?;
    let unchanged = std::fs::read_to_string(out.join(STAMP)).is_ok_and(|stamp| stamp == key)
        && out.join(MANIFEST).is_file()
        && bundle.is_dir();
    if unchanged {
        return Ok(handler);
    }
    std::fs::create_dir_all(&bundle).map_err(read_error(&bundle))?;
    install(&gemfile, &bundle, &step.detected.source)?;
    let write_error = |file: PathBuf| {
        move |error: std::io::Error| FunctionError::Compile {
            runtime: RUNTIME,
            file: file.clone(),
            output: format!("cannot write {}: {error}", file.display()),
        }
    };
    std::fs::write(out.join(MANIFEST), &manifest).map_err(write_error(out.join(MANIFEST)))?;
    // Bundler may have just written the lock file: the key covers what is there now.
    let key = inputs_key(&gemfile, &manifest).map_err(read_error(&gemfile))?;
    std::fs::write(out.join(STAMP), key).map_err(write_error(out.join(STAMP)))?;
    Ok(handler)
}

/// The nearest `Gemfile` from the function's directory up to the project root.
fn find_gemfile(project: &Path, source: &Path) -> Option<PathBuf> {
    source
        .ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(project))
        .map(|dir| dir.join("Gemfile"))
        .find(|gemfile| gemfile.is_file())
}

/// What the install depends on: the Gemfile, its lock file (if any) and the manifest.
fn inputs_key(gemfile: &Path, manifest: &str) -> std::io::Result<String> {
    let mut hasher = DefaultHasher::new();
    std::fs::read(gemfile)?.hash(&mut hasher);
    match std::fs::read(gemfile.with_file_name("Gemfile.lock")) {
        Ok(lock) => Some(lock).hash(&mut hasher),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            None::<Vec<u8>>.hash(&mut hasher)
        }
        Err(error) => return Err(error),
    }
    manifest.hash(&mut hasher);
    Ok(format!("{:016x}", hasher.finish()))
}

/// Runs `bundle install` for `gemfile` into `bundle`.
fn install(gemfile: &Path, bundle: &Path, source: &Path) -> Result<(), FunctionError> {
    let dir = gemfile.parent().unwrap_or(Path::new("."));
    let output = Command::new("bundle")
        .arg("install")
        .current_dir(dir)
        .env("BUNDLE_GEMFILE", gemfile)
        .env("BUNDLE_PATH", bundle)
        .env("BUNDLE_SILENCE_ROOT_WARNING", "1")
        .env("BUNDLE_DISABLE_VERSION_CHECK", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => FunctionError::ToolchainMissing {
                runtime: RUNTIME,
                tool: "bundle",
                install: "install Bundler for the function's Gemfile: `apt-get install ruby-bundler` or `gem install bundler` (./x setup does it)",
            },
            _ => FunctionError::Compile {
                runtime: RUNTIME,
                file: gemfile.to_path_buf(),
                output: format!("cannot run `bundle install`: {error}"),
            },
        })?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(MAX_OUTPUT_LINES)..].join("\n");
    Err(FunctionError::Compile {
        runtime: RUNTIME,
        file: source.to_path_buf(),
        output: format!(
            "`bundle install` for {} failed ({}):\n{tail}",
            gemfile.display(),
            output.status
        ),
    })
}

/// `/`-separated and relative when `path` is inside `project`, else absolute.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{Detected, Language};
    use crate::plan::PlanOptions;

    fn bundler_available() -> bool {
        let found = Command::new("bundle")
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            eprintln!("note: `bundle` is not installed (./x setup); skipping");
        }
        found
    }

    struct Fixture {
        dir: tempfile::TempDir,
        detected: Detected,
        options: PlanOptions,
    }

    impl Fixture {
        fn new(gemfile: Option<&str>) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().canonicalize().unwrap();
            let source = root.join("api/hello.rb");
            std::fs::create_dir_all(source.parent().unwrap()).unwrap();
            std::fs::write(&source, "Handler = proc { |req, res| res.body = 'x' }\n").unwrap();
            let gem = root.join("gems/greeting");
            std::fs::create_dir_all(gem.join("lib")).unwrap();
            std::fs::write(
                gem.join("greeting.gemspec"),
                "Gem::Specification.new { |s| s.name = 'greeting'; s.version = '1.0.0'; s.summary = 'x'; s.authors = ['eddy']; s.files = ['lib/greeting.rb'] }\n",
            )
            .unwrap();
            std::fs::write(gem.join("lib/greeting.rb"), "module Greeting; end\n").unwrap();
            if let Some(text) = gemfile {
                std::fs::write(root.join("Gemfile"), text).unwrap();
            }
            Self {
                detected: Detected {
                    path: "api/hello".into(),
                    language: Language::Ruby,
                    source,
                    source_rel: "api/hello.rb".into(),
                },
                options: PlanOptions::new(&root),
                dir,
            }
        }

        fn root(&self) -> PathBuf {
            self.dir.path().canonicalize().unwrap()
        }

        fn prepare(&self) -> Result<String, FunctionError> {
            let root = self.root();
            let cache = root.join(".vercel/eddy");
            prepare(&Step {
                project: &root,
                detected: &self.detected,
                options: &self.options,
                cache: &cache,
            })
        }
    }

    #[test]
    fn a_function_without_a_gemfile_runs_from_its_source() {
        let fixture = Fixture::new(None);
        assert_eq!(fixture.prepare().unwrap(), "api/hello.rb");
    }

    #[test]
    fn the_nearest_gemfile_up_to_the_project_wins() {
        let fixture = Fixture::new(Some("gem 'greeting', path: 'gems/greeting'\n"));
        let root = fixture.root();
        let source = root.join("api/users/[id].rb");
        assert_eq!(find_gemfile(&root, &source), Some(root.join("Gemfile")));
        std::fs::create_dir_all(root.join("api/users")).unwrap();
        std::fs::write(root.join("api/Gemfile"), "").unwrap();
        assert_eq!(find_gemfile(&root, &source), Some(root.join("api/Gemfile")));
        assert_eq!(find_gemfile(&root.join("api"), &root.join("x.rb")), None);
    }

    #[test]
    fn gems_are_installed_once_and_the_manifest_names_entry_and_bundle() {
        if !bundler_available() {
            return;
        }
        let fixture = Fixture::new(Some("gem 'greeting', path: 'gems/greeting'\n"));
        let root = fixture.root();
        let handler = fixture.prepare().unwrap();
        assert_eq!(handler, ".vercel/eddy/ruby/api/hello/function.json");
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(&handler)).unwrap()).unwrap();
        assert_eq!(manifest["entry"], "api/hello.rb");
        assert_eq!(manifest["gemfile"], root.join("Gemfile").to_str().unwrap());
        assert!(
            root.join("Gemfile.lock").is_file(),
            "bundler locks the Gemfile"
        );
        let stamp = root.join(".vercel/eddy/ruby/api/hello").join(STAMP);
        let installed = std::fs::metadata(&stamp).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(fixture.prepare().unwrap(), handler);
        assert_eq!(
            std::fs::metadata(&stamp).unwrap().modified().unwrap(),
            installed,
            "nothing changed, so nothing was installed again"
        );
        std::fs::write(
            root.join("Gemfile"),
            "gem 'greeting', path: 'gems/greeting'\n# changed\n",
        )
        .unwrap();
        fixture.prepare().unwrap();
        assert_ne!(
            std::fs::metadata(&stamp).unwrap().modified().unwrap(),
            installed,
            "a changed Gemfile installs again"
        );
    }

    #[test]
    fn a_failing_install_reports_bundlers_message() {
        if !bundler_available() {
            return;
        }
        let fixture = Fixture::new(Some("gem 'eddy-no-such-gem-anywhere', path: 'missing'\n"));
        match fixture.prepare() {
            Err(FunctionError::Compile {
                runtime, output, ..
            }) => {
                assert_eq!(runtime, "ruby");
                assert!(output.contains("bundle install"), "{output}");
                assert!(output.contains("missing"), "{output}");
            }
            other => panic!("expected a compile error, got {other:?}"),
        }
    }
}
