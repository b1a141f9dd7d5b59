//! The Rust build step (vercel-compat 6.3): `cargo build --release` of the crate whose
//! `Cargo.toml` is nearest above the function file, into one target dir per project
//! (`<cache>/rust/target`), so every function and every rebuild shares compiled dependencies.
//!
//! The binary of `api/hello.rs` is the `[[bin]]` whose `path` is that file, else the bin named
//! after the file stem with `[`/`]` turned into `_` (`[id].rs` → `_id_`). All bins of a crate
//! are built by one `cargo build --bins --keep-going`, so a function that does not compile
//! fails alone; plan() runs steps on parallel threads, and the first one of a crate builds for
//! all of them while the others wait for its result.
//!
//! Cheap when nothing changed: a fingerprint of the crate's files (path, size, mtime) is
//! recorded next to each function's build output, and cargo does not run at all while it
//! matches. Path dependencies outside the crate's directory are not fingerprinted; touch a
//! file of the crate (or delete the cache) after changing one.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use walkdir::WalkDir;

use super::{Step, output_dir};
use crate::plan::FunctionError;

const RUNTIME: &str = "rust";
/// Where a function's build is recorded, in its output dir.
const RECORD: &str = "build.json";
/// At most this much of cargo's output goes into an error.
const MAX_OUTPUT: usize = 16 << 10;

/// Builds the function's binary (or finds it unchanged) and returns its absolute path.
pub(crate) fn prepare(step: &Step<'_>) -> Result<String, FunctionError> {
    prepare_with(step, Path::new("cargo"))
}

/// [`prepare`] with the cargo program named (a bare name is looked up on `PATH`).
fn prepare_with(step: &Step<'_>, cargo: &Path) -> Result<String, FunctionError> {
    let entry = &step.detected.source;
    let compile_error = |output: String| FunctionError::Compile {
        runtime: RUNTIME,
        file: entry.clone(),
        output,
    };
    let manifest = find_manifest(entry, step.project).ok_or_else(|| {
        compile_error(format!(
            "no Cargo.toml in {} or above it within the project (add one that depends on vercel_runtime and declares [[bin]] name = \"{}\" path = \"{}\")",
            entry.parent().unwrap_or(step.project).display(),
            fallback_bin_name(entry),
            step.detected.source_rel,
        ))
    })?;
    let crate_dir = manifest.parent().unwrap_or(step.project);
    let target_dir = step.cache.join(RUNTIME).join("target");
    let fingerprint = fingerprint(crate_dir, &[step.cache, &target_dir]);
    let record = output_dir(step, RUNTIME).join(RECORD);
    if let Some(executable) = recorded(&record, fingerprint) {
        return Ok(executable);
    }

    let key = (manifest.clone(), target_dir.clone());
    // One build at a time in this process: the steps of one project share the target dir, and
    // the first step of a crate builds every bin of it for the others.
    let mut builds = BUILDS.lock().unwrap_or_else(PoisonError::into_inner);
    let outcome = match builds.get(&key) {
        Some(batch) if batch.fingerprint == fingerprint => batch.outcome(entry),
        _ => {
            let batch = build(cargo, &manifest, &target_dir, fingerprint)?;
            let outcome = batch.outcome(entry);
            builds.insert(key, batch);
            outcome
        }
    };
    drop(builds);
    let executable = outcome.map_err(compile_error)?;
    // Best effort: without the record the next plan asks cargo, which finds nothing to do.
    let _ = write_record(&record, fingerprint, &executable);
    Ok(executable)
}

/// The latest build of each crate (by manifest and target dir) in this process.
static BUILDS: Mutex<BTreeMap<(PathBuf, PathBuf), Batch>> = Mutex::new(BTreeMap::new());

/// The nearest `Cargo.toml` from the function's directory up to the project root.
fn find_manifest(entry: &Path, project: &Path) -> Option<PathBuf> {
    entry
        .ancestors()
        .skip(1)
        .take_while(|dir| dir.starts_with(project))
        .map(|dir| dir.join("Cargo.toml"))
        .find(|manifest| manifest.is_file())
}

/// The bin name Vercel derives from a file without a `[[bin]]` of its own.
fn fallback_bin_name(entry: &Path) -> String {
    entry
        .file_stem()
        .map(|stem| stem.to_string_lossy().replace(['[', ']'], "_"))
        .unwrap_or_default()
}

/// A hash of every file of the crate (path, size, mtime), skipping build outputs
/// (`target`, `skip`), `node_modules` and hidden entries other than `.cargo`.
fn fingerprint(crate_dir: &Path, skip: &[&Path]) -> u64 {
    let mut hasher = DefaultHasher::new();
    skip.hash(&mut hasher);
    let walk = WalkDir::new(crate_dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            if entry.depth() == 0 {
                return true;
            }
            let name = entry.file_name().to_string_lossy();
            let ignored = name == "target"
                || name == "node_modules"
                || (name.starts_with('.') && name != ".cargo");
            !ignored && !skip.contains(&entry.path())
        });
    for entry in walk.filter_map(Result::ok) {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        entry.path().hash(&mut hasher);
        meta.len().hash(&mut hasher);
        if let Ok(modified) = meta.modified() {
            modified.hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The executable a previous build recorded for this fingerprint, if it still exists.
fn recorded(record: &Path, fingerprint: u64) -> Option<String> {
    let text = std::fs::read_to_string(record).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    if value["fingerprint"].as_str()? != format!("{fingerprint:016x}") {
        return None;
    }
    let executable = value["executable"].as_str()?;
    Path::new(executable)
        .is_file()
        .then(|| executable.to_string())
}

fn write_record(record: &Path, fingerprint: u64, executable: &str) -> std::io::Result<()> {
    let dir = record.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let text = serde_json::json!({
        "fingerprint": format!("{fingerprint:016x}"),
        "executable": executable,
    })
    .to_string();
    // Written aside and renamed, so a concurrent `eddy dev` never reads half a record.
    let temp = dir.join(format!("{RECORD}.{}.tmp", std::process::id()));
    std::fs::write(&temp, text)?;
    std::fs::rename(&temp, record)
}

/// What one `cargo build --bins` of a crate produced.
#[derive(Debug, Default)]
struct Batch {
    fingerprint: u64,
    bins: Vec<Bin>,
    /// Rendered error diagnostics, with the source file of the target they belong to.
    errors: Vec<(PathBuf, String)>,
    success: bool,
    /// Cargo's own messages (manifest errors, network failures...).
    stderr: String,
}

#[derive(Debug)]
struct Bin {
    name: String,
    src_path: PathBuf,
    executable: String,
}

impl Batch {
    /// The executable of `entry`, or the error output that explains why there is none.
    fn outcome(&self, entry: &Path) -> Result<String, String> {
        let fallback = fallback_bin_name(entry);
        let bin = self
            .bins
            .iter()
            .find(|bin| bin.src_path == entry)
            .or_else(|| self.bins.iter().find(|bin| bin.name == fallback));
        if let Some(bin) = bin {
            return Ok(bin.executable.clone());
        }
        let own: Vec<&str> = self
            .errors
            .iter()
            .filter(|(src, _)| src == entry)
            .map(|(_, text)| text.as_str())
            .collect();
        if !own.is_empty() {
            return Err(cap(own.join("\n")));
        }
        if !self.errors.is_empty() {
            let all: Vec<&str> = self.errors.iter().map(|(_, t)| t.as_str()).collect();
            return Err(cap(all.join("\n")));
        }
        if !self.success {
            return Err(cap(cargo_messages(&self.stderr)));
        }
        Err(format!(
            "{} is not a binary target of its crate: declare it in Cargo.toml with [[bin]] name = \"{fallback}\" path = \"<its path from Cargo.toml's directory>\"",
            entry.display()
        ))
    }
}

/// Runs `cargo build --release --bins --keep-going` and collects its JSON messages.
fn build(
    cargo: &Path,
    manifest: &Path,
    target_dir: &Path,
    fingerprint: u64,
) -> Result<Batch, FunctionError> {
    let crate_dir = manifest.parent().unwrap_or(Path::new("."));
    let io_error = |error: std::io::Error| FunctionError::Compile {
        runtime: RUNTIME,
        file: manifest.to_path_buf(),
        output: format!("cannot run `{}`: {error}", cargo.display()),
    };
    let mut child = match Command::new(cargo)
        .args(["build", "--release", "--bins", "--keep-going"])
        .args(["--message-format", "json"])
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(crate_dir)
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_TERM_PROGRESS_WHEN", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(FunctionError::ToolchainMissing {
                runtime: RUNTIME,
                tool: "cargo",
                install: "install Rust with rustup and put `cargo` on PATH",
            });
        }
        Err(error) => return Err(io_error(error)),
    };
    // Drained on its own thread so a chatty build never blocks on a full pipe.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let mut batch = Batch {
        fingerprint,
        ..Batch::default()
    };
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(message) = serde_json::from_str::<Value>(&line) {
                batch.take(&message);
            }
        }
    }
    let status = child.wait().map_err(io_error)?;
    batch.stderr = stderr
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    batch.success &= status.success();
    Ok(batch)
}

impl Batch {
    /// Records one of cargo's JSON messages (`--message-format json`).
    fn take(&mut self, message: &Value) {
        let target = &message["target"];
        let src_path = || PathBuf::from(target["src_path"].as_str().unwrap_or_default());
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                let is_bin = target["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
                if let (true, Some(executable)) = (is_bin, message["executable"].as_str()) {
                    self.bins.push(Bin {
                        name: target["name"].as_str().unwrap_or_default().to_string(),
                        src_path: src_path(),
                        executable: executable.to_string(),
                    });
                }
            }
            Some("compiler-message") if message["message"]["level"] == "error" => {
                if let Some(rendered) = message["message"]["rendered"].as_str() {
                    self.errors
                        .push((src_path(), rendered.trim_end().to_string()));
                }
            }
            Some("build-finished") => {
                self.success = message["success"].as_bool().unwrap_or(false);
            }
            _ => {}
        }
    }
}

/// Cargo's stderr without its progress lines (`Compiling ...`, `Downloaded ...`).
fn cargo_messages(stderr: &str) -> String {
    const PROGRESS: &[&str] = &[
        "Compiling ",
        "Checking ",
        "Downloading ",
        "Downloaded ",
        "Updating ",
        "Locking ",
        "Adding ",
        "Blocking ",
        "Finished ",
        "Fresh ",
        "Building ",
    ];
    let kept: Vec<&str> = stderr
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !PROGRESS.iter().any(|p| line.starts_with(p))
        })
        .collect();
    match kept.join("\n").trim() {
        "" => "cargo failed without a message".to_string(),
        text => text.to_string(),
    }
}

/// Keeps the start of a long output, where the first error is.
fn cap(mut text: String) -> String {
    if text.len() > MAX_OUTPUT {
        let mut end = MAX_OUTPUT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("\n... (cut; run `cargo build --release` for the rest)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::{Detected, Language};
    use crate::plan::PlanOptions;

    /// A crate in a temp dir (its own workspace) with `files`.
    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (rel, text) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        dir
    }

    const MANIFEST: &str = r#"
[package]
name = "fixture"
version = "0.1.0"
edition = "2021"

[workspace]

[[bin]]
name = "hello"
path = "api/hello.rs"

[[bin]]
name = "user"
path = "api/users/[id].rs"

[[bin]]
name = "broken"
path = "api/broken.rs"
"#;

    /// Runs the step for `source_rel` of `dir` with `cargo`.
    fn run(dir: &Path, source_rel: &str, cargo: &str) -> Result<String, FunctionError> {
        let project = dir.canonicalize().expect("canonical");
        let detected = Detected {
            path: source_rel
                .strip_suffix(".rs")
                .expect("a .rs file")
                .to_string(),
            language: Language::Rust,
            source: project.join(source_rel),
            source_rel: source_rel.to_string(),
        };
        let options = PlanOptions::new(&project);
        let cache = project.join(".vercel/eddy");
        prepare_with(
            &Step {
                project: &project,
                detected: &detected,
                options: &options,
                cache: &cache,
            },
            Path::new(cargo),
        )
    }

    fn message(reason: &str, name: &str, src: &str, extra: Value) -> Value {
        let mut message = serde_json::json!({
            "reason": reason,
            "target": { "kind": ["bin"], "name": name, "src_path": src },
        });
        if let (Some(m), Value::Object(extra)) = (message.as_object_mut(), extra) {
            m.extend(extra);
        }
        message
    }

    #[test]
    fn finds_the_nearest_cargo_toml_within_the_project() {
        let dir = project(&[
            ("Cargo.toml", ""),
            ("api/Cargo.toml", ""),
            ("api/v1/hello.rs", ""),
        ]);
        let root = dir.path();
        assert_eq!(
            find_manifest(&root.join("api/v1/hello.rs"), root),
            Some(root.join("api/Cargo.toml"))
        );
        let inner = root.join("api");
        assert_eq!(
            find_manifest(&inner.join("v1/hello.rs"), &root.join("api/v1")),
            None
        );
    }

    #[test]
    fn a_file_without_its_own_bin_is_named_by_its_stem_with_brackets_as_underscores() {
        assert_eq!(fallback_bin_name(Path::new("/p/api/[id].rs")), "_id_");
        assert_eq!(fallback_bin_name(Path::new("/p/api/hello.rs")), "hello");
    }

    #[test]
    fn the_bin_whose_path_is_the_entry_wins_and_errors_stay_with_their_file() {
        let mut batch = Batch::default();
        for message in [
            message(
                "compiler-artifact",
                "user",
                "/p/api/users/[id].rs",
                serde_json::json!({ "executable": "/t/release/user" }),
            ),
            message(
                "compiler-artifact",
                "_id_",
                "/p/src/other.rs",
                serde_json::json!({ "executable": "/t/release/_id_" }),
            ),
            message(
                "compiler-message",
                "broken",
                "/p/api/broken.rs",
                serde_json::json!({ "message": { "level": "error", "rendered": "error[E0308]: mismatched types\n --> api/broken.rs:3:5\n" } }),
            ),
            message(
                "compiler-message",
                "broken",
                "/p/api/broken.rs",
                serde_json::json!({ "message": { "level": "warning", "rendered": "warning: unused" } }),
            ),
            serde_json::json!({ "reason": "build-finished", "success": false }),
        ] {
            batch.take(&message);
        }
        assert_eq!(
            batch.outcome(Path::new("/p/api/users/[id].rs")),
            Ok("/t/release/user".to_string())
        );
        let error = batch
            .outcome(Path::new("/p/api/broken.rs"))
            .expect_err("broken does not build");
        assert!(error.contains("api/broken.rs:3:5"), "{error}");
        assert!(!error.contains("unused"), "warnings are left out: {error}");
        // No bin of its own and none of its name: the other targets' errors explain why.
        let error = batch
            .outcome(Path::new("/p/api/missing.rs"))
            .expect_err("no such bin");
        assert!(error.contains("E0308"), "{error}");
    }

    #[test]
    fn a_successful_build_without_the_file_says_how_to_declare_it() {
        let batch = Batch {
            success: true,
            ..Batch::default()
        };
        let error = batch
            .outcome(Path::new("/p/api/[slug].rs"))
            .expect_err("not a bin");
        assert!(error.contains("[[bin]] name = \"_slug_\""), "{error}");
    }

    #[test]
    fn cargo_failures_keep_their_message_without_progress_lines() {
        let stderr = "    Updating index\n   Compiling a v1\nerror: failed to parse manifest at `/p/Cargo.toml`\n\nCaused by:\n  missing field `name`\n";
        let text = cargo_messages(stderr);
        assert!(
            text.starts_with("error: failed to parse manifest"),
            "{text}"
        );
        assert!(text.contains("missing field `name`"), "{text}");
        assert!(!text.contains("Compiling"), "{text}");
        assert_eq!(
            cargo_messages("   Compiling a\n"),
            "cargo failed without a message"
        );
    }

    #[test]
    fn long_output_is_cut_on_a_character_boundary() {
        let text = cap("é".repeat(MAX_OUTPUT));
        assert!(text.len() < MAX_OUTPUT + 100);
        assert!(text.ends_with("for the rest)"));
    }

    #[test]
    fn the_fingerprint_follows_sources_and_ignores_build_outputs() {
        let dir = project(&[
            ("Cargo.toml", "[package]"),
            ("api/hello.rs", "fn main() {}"),
        ]);
        let root = dir.path();
        let cache = root.join("cache");
        let before = fingerprint(root, &[&cache]);
        for output in [
            "target/release/hello",
            ".vercel/eddy/x",
            "cache/rust/y",
            "node_modules/z",
        ] {
            let path = root.join(output);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, "built").expect("write");
        }
        assert_eq!(fingerprint(root, &[&cache]), before);
        std::fs::write(root.join("api/hello.rs"), "fn main() { }").expect("write");
        assert_ne!(fingerprint(root, &[&cache]), before);
    }

    #[test]
    fn no_cargo_toml_is_a_build_error_that_says_what_to_add() {
        let dir = project(&[("api/hello.rs", "fn main() {}")]);
        let error = run(dir.path(), "api/hello.rs", "cargo").expect_err("no manifest");
        let text = error.to_string();
        assert!(matches!(error, FunctionError::Compile { .. }), "{text}");
        assert!(text.contains("no Cargo.toml"), "{text}");
        assert!(text.contains("path = \"api/hello.rs\""), "{text}");
    }

    #[test]
    fn a_missing_cargo_is_a_toolchain_error() {
        let dir = project(&[("Cargo.toml", MANIFEST), ("api/hello.rs", "fn main() {}")]);
        let error = run(dir.path(), "api/hello.rs", "/nonexistent/cargo").expect_err("no cargo");
        assert!(
            matches!(error, FunctionError::ToolchainMissing { tool: "cargo", .. }),
            "{error}"
        );
    }

    #[test]
    fn builds_with_cargo_then_skips_it_while_nothing_changed() {
        let dir = project(&[
            ("Cargo.toml", MANIFEST),
            ("api/hello.rs", "fn main() { println!(\"hello\"); }"),
            ("api/users/[id].rs", "fn main() {}"),
            ("api/broken.rs", "fn main() { let x: u32 = \"no\"; }"),
        ]);
        let hello = run(dir.path(), "api/hello.rs", "cargo").expect("hello builds");
        let output = Command::new(&hello).output().expect("the binary runs");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
        assert!(hello.contains(".vercel/eddy/rust/target"), "{hello}");
        let user = run(dir.path(), "api/users/[id].rs", "cargo").expect("user builds");
        assert!(user.ends_with("/user"), "{user}");

        // Unchanged: the record answers, cargo is not needed.
        assert_eq!(
            run(dir.path(), "api/hello.rs", "/nonexistent/cargo").ok(),
            Some(hello)
        );

        // Changed: cargo must run again.
        std::fs::write(dir.path().join("api/hello.rs"), "fn main() {}").expect("write");
        let error = run(dir.path(), "api/hello.rs", "/nonexistent/cargo").expect_err("rebuild");
        assert!(
            matches!(error, FunctionError::ToolchainMissing { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_function_that_does_not_compile_fails_alone_with_cargos_message() {
        let dir = project(&[
            ("Cargo.toml", MANIFEST),
            ("api/hello.rs", "fn main() {}"),
            ("api/users/[id].rs", "fn main() {}"),
            (
                "api/broken.rs",
                "fn main() {\n    let x: u32 = \"no\";\n}\n",
            ),
        ]);
        let error = run(dir.path(), "api/broken.rs", "cargo").expect_err("does not compile");
        let FunctionError::Compile { output, file, .. } = &error else {
            panic!("not a compile error: {error}");
        };
        assert!(file.ends_with("api/broken.rs"), "{file:?}");
        assert!(output.contains("error[E0308]"), "{output}");
        assert!(output.contains("api/broken.rs:2:"), "{output}");
        assert!(run(dir.path(), "api/hello.rs", "cargo").is_ok());
    }
}
