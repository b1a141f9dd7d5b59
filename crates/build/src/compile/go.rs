//! The Go build step (vercel-compat §4): the entry file's handler — the first exported
//! `func X(w http.ResponseWriter, r *http.Request)` — is served by a generated `main` package
//! (`go/main.go.tmpl`, eddy's bridge to the instance protocol) built with `go build` into
//! `<cache>/go/<function>/bootstrap`, the function's handler.
//!
//! With a `go.mod` (the nearest one from the entry's directory up to the project), the build
//! runs in the user's module, untouched on disk: `go build -overlay` adds the generated main
//! and replaces what must change — files whose names Go refuses (`[id].go`), a package in a
//! directory that is no valid import path (`api/[team]/`), and handler functions of sibling
//! entry files that share a name (each function of a package directory is built on its own,
//! with the clashing handlers renamed apart). Without a `go.mod` the entry file alone becomes a
//! package of a small generated module (its `package main` renamed), as Vercel does; when it
//! imports modules, `go mod tidy` resolves them. Copied files start with a `//line` directive,
//! so compiler errors and panic stacks name the user's file and line.
//!
//! A build is skipped when the hash of its inputs (sources, go.mod/go.sum, vendor/, the
//! generated files, the Go version) matches the last build's, whose result — the binary or
//! the compiler's message — is reused.

mod scan;

use std::ffi::OsStr;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use walkdir::WalkDir;

use super::{Step, output_dir};
use crate::plan::FunctionError;
use scan::Scanned;

const RUNTIME: &str = "go";
const TEMPLATE: &str = include_str!("go/main.go.tmpl");
/// Bumped when the layout of a build changes in a way the inputs' hash does not show.
const LAYOUT_VERSION: u32 = 1;
const INSTALL: &str = "install Go 1.21 or newer and put `go` on PATH (Debian: apt-get install golang-1.23-go from bookworm-backports)";

/// The `go` binary and what `go version` says.
#[derive(Debug, Clone)]
struct Toolchain {
    go: PathBuf,
    version: String,
}

pub(crate) fn prepare(step: &Step<'_>) -> Result<String, FunctionError> {
    let toolchain = toolchain()?;
    let out = output_dir(step, "go");
    let build = plan_build(step, &out, &toolchain)?;
    let fingerprint = build.fingerprint(&toolchain);
    let handler = handler_path(step.project, &out.join("bootstrap"));
    let record = out.join("last-build");
    if let Some(result) = reuse(&record, &out, &fingerprint) {
        return result
            .map(|()| handler)
            .map_err(|output| compile(step, output));
    }
    let result = build.run(&toolchain, &out);
    let line = match &result {
        Ok(()) => format!("{fingerprint}\nok\n"),
        Err(output) => format!("{fingerprint}\nfailed\n{output}"),
    };
    // Without the record the next plan simply builds again.
    let _ = std::fs::write(&record, line);
    result
        .map(|()| handler)
        .map_err(|output| compile(step, output))
}

fn compile(step: &Step<'_>, output: String) -> FunctionError {
    FunctionError::Compile {
        runtime: RUNTIME,
        file: step.detected.source.clone(),
        output,
    }
}

/// The last build's result when its fingerprint matches: `Ok` only while its binary exists.
fn reuse(record: &Path, out: &Path, fingerprint: &str) -> Option<Result<(), String>> {
    let text = std::fs::read_to_string(record).ok()?;
    let mut lines = text.splitn(3, '\n');
    if lines.next()? != fingerprint {
        return None;
    }
    match lines.next()? {
        "ok" if out.join("bootstrap").is_file() => Some(Ok(())),
        "failed" => Some(Err(lines.next().unwrap_or("").to_owned())),
        _ => None,
    }
}

/// `go` on PATH (or in /usr/local/go/bin), and its version. Found again on every plan until
/// found once, so installing Go while `eddy dev` runs works on the next save.
fn toolchain() -> Result<Toolchain, FunctionError> {
    static FOUND: Mutex<Option<Toolchain>> = Mutex::new(None);
    let mut found = FOUND
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(toolchain) = found.as_ref() {
        return Ok(toolchain.clone());
    }
    let missing = FunctionError::ToolchainMissing {
        runtime: RUNTIME,
        tool: "go",
        install: INSTALL,
    };
    let path = std::env::var_os("PATH").unwrap_or_default();
    let go = std::env::split_paths(&path)
        .map(|dir| dir.join("go"))
        .chain([PathBuf::from("/usr/local/go/bin/go")])
        .find(|candidate| candidate.is_file())
        .ok_or(missing)?;
    let output = Command::new(&go).arg("version").output();
    let version = match output {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => {
            return Err(FunctionError::ToolchainMissing {
                runtime: RUNTIME,
                tool: "go",
                install: INSTALL,
            });
        }
    };
    let toolchain = Toolchain { go, version };
    *found = Some(toolchain.clone());
    Ok(toolchain)
}

/// `go1.26.8` in `go version go1.26.8 linux/amd64` → `1.26`.
fn language_version(version: &str) -> Option<String> {
    let release = version.split_whitespace().nth(2)?.strip_prefix("go")?;
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?;
    let minor = parts.next()?;
    Some(format!("{major}.{minor}"))
}

/// Everything one build does, decided before anything is written.
#[derive(Debug)]
struct Build {
    /// Where `go build` runs: the module root, or the generated module.
    cwd: PathBuf,
    /// The main package to build, relative to `cwd` (`./eddy_main_…`).
    target: String,
    /// Files to write under the output dir (relative path, content).
    generated: Vec<(String, String)>,
    /// `-overlay` entries: path as Go sees it → backing file (`None` = hidden).
    overlay: Vec<(PathBuf, Option<PathBuf>)>,
    /// Source files whose content the result depends on.
    inputs: Vec<PathBuf>,
    /// Run `go mod tidy` first (a go.mod-less entry importing modules).
    tidy: bool,
    /// The project, whose absolute path is cut from Go's messages.
    project: PathBuf,
}

/// `content` starting with a `//line` directive naming `file`: compiler errors and panic
/// stacks then point at the user's file, not at the copy eddy builds.
fn with_line_directive(file: &Path, content: &str) -> String {
    format!("//line {}:1:1\n{content}", file.display())
}

fn read(file: &Path) -> Result<String, FunctionError> {
    std::fs::read_to_string(file).map_err(|source| FunctionError::Read {
        file: file.to_path_buf(),
        source,
    })
}

fn plan_build(step: &Step<'_>, out: &Path, toolchain: &Toolchain) -> Result<Build, FunctionError> {
    let entry = &step.detected.source;
    let source = read(entry)?;
    let scanned = scan::scan(&source);
    let fail = |output: String| compile(step, output);
    let Some(handler) = scanned.handler.clone() else {
        return Err(fail(format!(
            "{} has no handler: export a top-level `func Handler(w http.ResponseWriter, r *http.Request)` (any exported name; methods do not count)",
            step.detected.source_rel
        )));
    };
    let Some(package) = scanned.package.clone() else {
        return Err(fail(format!(
            "{} does not start with a `package` clause",
            step.detected.source_rel
        )));
    };
    let entry_dir = entry.parent().unwrap_or(step.project);
    match find_go_mod(entry_dir, step.project) {
        Some(root) => {
            if package.name == "main" {
                return Err(fail(format!(
                    "{} is `package main`, but a function's package is imported by eddy's server: change `package main` to `package handler` (a go.mod is present at {})",
                    step.detected.source_rel,
                    root.join("go.mod").display()
                )));
            }
            module_build(step, out, &root, handler.name)
        }
        None => Ok(standalone_build(
            step,
            out,
            toolchain,
            &source,
            &scanned,
            handler.name,
        )),
    }
}

/// The nearest directory holding a `go.mod`, from `dir` up to `project`.
fn find_go_mod(dir: &Path, project: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .take_while(|d| d.starts_with(project))
        .find(|d| d.join("go.mod").is_file())
        .map(Path::to_path_buf)
}

/// A go.mod-less function: `<out>/src` holds a generated module with the entry file as
/// package `fn` and the bridge as its main.
fn standalone_build(
    step: &Step<'_>,
    out: &Path,
    toolchain: &Toolchain,
    source: &str,
    scanned: &Scanned,
    handler: String,
) -> Build {
    let version = language_version(&toolchain.version).unwrap_or_else(|| "1.21".into());
    let file = safe_file_name(&step.detected.source_rel);
    let content = match &scanned.package {
        Some(package) if package.name == "main" => scan::rename_package(source, package, "handler"),
        _ => source.to_owned(),
    };
    let content = with_line_directive(&step.detected.source, &content);
    let tidy = scanned.imports.iter().any(|path| {
        path.split('/')
            .next()
            .is_some_and(|first| first.contains('.'))
    });
    let main = TEMPLATE
        .replace("{{IMPORT}}", "eddy.local/function/fn")
        .replace("{{HANDLER}}", &handler);
    Build {
        cwd: out.join("src"),
        target: ".".into(),
        generated: vec![
            (
                "src/go.mod".into(),
                format!("module eddy.local/function\n\ngo {version}\n"),
            ),
            (format!("src/fn/{file}"), content),
            ("src/main.go".into(), main),
        ],
        overlay: Vec::new(),
        inputs: vec![step.detected.source.clone()],
        tidy,
        project: step.project.to_path_buf(),
    }
}

/// A function in a module rooted at `root`: built there with an overlay.
fn module_build(
    step: &Step<'_>,
    out: &Path,
    root: &Path,
    handler: String,
) -> Result<Build, FunctionError> {
    let entry = &step.detected.source;
    let entry_dir = entry.parent().unwrap_or(root);
    let module = module_path(&read(&root.join("go.mod"))?).ok_or_else(|| {
        compile(
            step,
            format!("{} has no `module` line", root.join("go.mod").display()),
        )
    })?;
    let rel_dir = relative(root, entry_dir);
    let tag = format!("{:016x}", hash_of(&step.detected.path));
    // A directory such as `api/[team]` is no valid import path: the package moves, virtually,
    // to a directory of its own.
    let package_dir = if rel_dir.split('/').all(valid_path_element) || rel_dir.is_empty() {
        entry_dir.to_path_buf()
    } else {
        root.join(format!("eddy_pkg_{tag}"))
    };
    let mut build = Build {
        cwd: root.to_path_buf(),
        target: format!("./eddy_main_{tag}"),
        generated: Vec::new(),
        overlay: Vec::new(),
        inputs: module_inputs(root),
        tidy: false,
        project: step.project.to_path_buf(),
    };
    let entry_handler = overlay_package(&mut build, out, entry, &package_dir, handler)?;
    let import = match relative(root, &package_dir) {
        rel if rel.is_empty() => module,
        rel => format!("{module}/{rel}"),
    };
    let main_rel = format!("eddy_main_{tag}/main.go");
    let main = TEMPLATE
        .replace("{{IMPORT}}", &import)
        .replace("{{HANDLER}}", &entry_handler);
    build.generated.push(("overlay/main.go".into(), main));
    build
        .overlay
        .push((root.join(&main_rel), Some(out.join("overlay/main.go"))));
    Ok(build)
}

/// Adds to `build` the overlay entries of the entry's package, as Go must see it in
/// `package_dir`: files with names Go refuses get safe ones, and handlers that several files
/// of the package share are renamed apart. Returns the entry's handler name as built.
fn overlay_package(
    build: &mut Build,
    out: &Path,
    entry: &Path,
    package_dir: &Path,
    handler: String,
) -> Result<String, FunctionError> {
    let entry_dir = entry.parent().unwrap_or(package_dir);
    let scanned: Vec<(PathBuf, String, Option<String>)> = package_files(entry_dir)?
        .into_iter()
        .map(|file| {
            let text = read(&file)?;
            let handler = scan::scan(&text).handler.map(|h| h.name);
            Ok((file, text, handler))
        })
        .collect::<Result<_, FunctionError>>()?;
    let clashing = |name: &str| {
        scanned
            .iter()
            .filter(|(_, _, h)| h.as_deref() == Some(name))
            .count()
            > 1
    };
    let mut entry_handler = handler;
    for (index, (file, text, file_handler)) in scanned.iter().enumerate() {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let safe = if valid_file_name(&name) {
            name.clone()
        } else {
            safe_file_name(&name)
        };
        let seen = package_dir.join(&safe);
        let renamed = file_handler
            .as_deref()
            .filter(|h| clashing(h))
            .map(|h| (h.to_owned(), format!("{h}_eddy{index}")));
        if file == entry
            && let Some((_, to)) = &renamed
        {
            entry_handler = to.clone();
        }
        if &seen == file && renamed.is_none() {
            continue;
        }
        let content = match renamed {
            Some((from, to)) => scan::rename(text, &from, &to),
            None => text.clone(),
        };
        let generated = format!("overlay/{index}-{safe}");
        build
            .generated
            .push((generated.clone(), with_line_directive(file, &content)));
        if &seen != file && package_dir == entry_dir {
            build.overlay.push((file.clone(), None));
        }
        build.overlay.push((seen, Some(out.join(generated))));
    }
    Ok(entry_handler)
}

/// The `module` path of a go.mod.
fn module_path(go_mod: &str) -> Option<String> {
    go_mod.lines().find_map(|line| {
        let line = line.split("//").next()?.trim();
        let path = line.strip_prefix("module")?.trim();
        (!path.is_empty()).then(|| path.trim_matches('"').to_owned())
    })
}

/// The `.go` files Go compiles in `dir`: not tests, not `_`/`.`-prefixed; sorted.
fn package_files(dir: &Path) -> Result<Vec<PathBuf>, FunctionError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FunctionError::Read {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(OsStr::to_string_lossy)
                .unwrap_or_default();
            name.ends_with(".go")
                && !name.ends_with("_test.go")
                && !name.starts_with(['_', '.'])
                && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Every file of the module a build may read: Go sources, module files and `vendor/`.
/// Directories Go ignores (`.x`, `_x`, `testdata`) and `node_modules` are skipped.
fn module_inputs(root: &Path) -> Vec<PathBuf> {
    let walk = WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            e.depth() == 0
                || !e.file_type().is_dir()
                || !(name.starts_with(['.', '_']) || name == "testdata" || name == "node_modules")
        });
    walk.filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let name = e.file_name().to_string_lossy();
            [".go", ".s", ".c", ".h"].iter().any(|x| name.ends_with(x))
                || ["go.mod", "go.sum", "go.work", "go.work.sum"].contains(&name.as_ref())
                || e.path()
                    .strip_prefix(root)
                    .is_ok_and(|p| p.starts_with("vendor"))
        })
        .map(|e| e.into_path())
        .collect()
}

impl Build {
    /// A hash of everything the build's result depends on.
    fn fingerprint(&self, toolchain: &Toolchain) -> String {
        let mut hasher = DefaultHasher::new();
        LAYOUT_VERSION.hash(&mut hasher);
        toolchain.version.hash(&mut hasher);
        toolchain.go.hash(&mut hasher);
        for var in [
            "GOFLAGS",
            "GOOS",
            "GOARCH",
            "GOTOOLCHAIN",
            "GOPROXY",
            "GOWORK",
        ] {
            std::env::var_os(var).hash(&mut hasher);
        }
        self.cwd.hash(&mut hasher);
        self.target.hash(&mut hasher);
        self.generated.hash(&mut hasher);
        self.overlay.hash(&mut hasher);
        for input in &self.inputs {
            input.hash(&mut hasher);
            std::fs::read(input).ok().hash(&mut hasher);
        }
        format!("{:016x}", hasher.finish())
    }

    /// Writes the generated files and runs the Go tool; `Err` carries its message.
    fn run(&self, toolchain: &Toolchain, out: &Path) -> Result<(), String> {
        let io = |what: &str, error: std::io::Error| format!("eddy could not {what}: {error}");
        for (rel, content) in &self.generated {
            let path = out.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| io(&format!("create {}", parent.display()), e))?;
            }
            std::fs::write(&path, content)
                .map_err(|e| io(&format!("write {}", path.display()), e))?;
        }
        let go = |args: &[&OsStr]| {
            let mut command = Command::new(&toolchain.go);
            command
                .args(args)
                .current_dir(&self.cwd)
                .env("CGO_ENABLED", "0");
            command
        };
        if self.tidy {
            let output = go(&[OsStr::new("mod"), OsStr::new("tidy")])
                .output()
                .map_err(|e| io("run `go mod tidy`", e))?;
            if !output.status.success() {
                return Err(self.explain(&output));
            }
        }
        let mut args: Vec<&OsStr> = vec![
            OsStr::new("build"),
            OsStr::new("-buildvcs=false"),
            OsStr::new("-ldflags=-s -w"),
        ];
        let overlay_file = out.join("overlay.json");
        if !self.overlay.is_empty() {
            std::fs::write(&overlay_file, self.overlay_json())
                .map_err(|e| io("write the build overlay", e))?;
            args.push(OsStr::new("-overlay"));
            args.push(overlay_file.as_os_str());
        }
        let staged = out.join("bootstrap.new");
        args.extend([
            OsStr::new("-o"),
            staged.as_os_str(),
            OsStr::new(&self.target),
        ]);
        let output = go(&args).output().map_err(|e| io("run `go build`", e))?;
        if !output.status.success() {
            return Err(self.explain(&output));
        }
        // Renamed into place: instances still running the previous binary keep it.
        std::fs::rename(&staged, out.join("bootstrap"))
            .map_err(|e| io("move the built binary into place", e))
    }

    fn overlay_json(&self) -> String {
        let replace: serde_json::Map<String, serde_json::Value> = self
            .overlay
            .iter()
            .map(|(seen, backing)| {
                let value = backing
                    .as_ref()
                    .map_or(String::new(), |b| b.display().to_string());
                (seen.display().to_string(), value.into())
            })
            .collect();
        serde_json::json!({ "Replace": replace }).to_string()
    }

    /// Go's message with the build's own file names turned back into the user's.
    fn explain(&self, output: &std::process::Output) -> String {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        text = text.replace(&format!("{}/", self.project.display()), "");
        // Go shows paths outside its working directory relative to it: `../../api/x.go`.
        if let Ok(inside) = self.cwd.strip_prefix(&self.project) {
            let up = "../".repeat(inside.components().count());
            if !up.is_empty() {
                text = text.replace(&up, "");
            }
        }
        text.trim().to_owned()
    }
}

/// Go refuses file names outside this set (`invalid input file name "[id].go"`).
fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '~'))
}

/// An import path element Go accepts.
fn valid_path_element(element: &str) -> bool {
    valid_file_name(element) && !element.starts_with('.')
}

/// `api/[id].go` → `eddy__id_.go`: a name Go accepts, from the last path segment.
fn safe_file_name(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    let stem = name.strip_suffix(".go").unwrap_or(name);
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("eddy_{cleaned}.go")
}

fn hash_of(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// `path` relative to `base`, `/`-separated (empty when equal).
fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_else(|_| path.display().to_string())
}

/// The handler as the plan stores it: relative to the project when inside it, else absolute.
fn handler_path(project: &Path, binary: &Path) -> String {
    match binary.strip_prefix(project) {
        Ok(_) => relative(project, binary),
        Err(_) => binary.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_language_version_of_go_version_output() {
        assert_eq!(
            language_version("go version go1.26.8 linux/amd64").as_deref(),
            Some("1.26")
        );
        assert_eq!(
            language_version("go version go1.23rc1 linux/amd64").as_deref(),
            Some("1.23")
        );
        assert_eq!(language_version("nonsense"), None);
    }

    #[test]
    fn bracketed_names_get_names_go_accepts() {
        assert_eq!(safe_file_name("api/[id].go"), "eddy__id_.go");
        assert!(valid_file_name("eddy__id_.go"));
        assert!(!valid_file_name("[id].go"));
        assert!(valid_path_element("api"));
        assert!(!valid_path_element("[team]"));
        assert!(!valid_path_element(".hidden"));
    }

    #[test]
    fn reads_the_module_path_of_a_go_mod() {
        assert_eq!(
            module_path("// c\nmodule example.com/app // x\n\ngo 1.22\n").as_deref(),
            Some("example.com/app")
        );
        assert_eq!(module_path("go 1.22\n"), None);
    }
}
