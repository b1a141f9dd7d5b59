//! Zero-config function detection (vercel-compat §9.2): every file under `api/` whose
//! extension names a runtime is a function, served at its path without the extension.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::plan::{FunctionBuildError, FunctionError};

/// The language of a detected function, from its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    /// `.js .mjs .cjs`
    JavaScript,
    /// `.ts .tsx .mts .cts`: transpiled before it runs.
    TypeScript,
    Go,
    Python,
    Ruby,
    Rust,
    /// `.wasm` holding a `wasi:http` component; core modules are assets, not functions.
    Wasm,
}

/// One function file found under `api/`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Detected {
    /// URL path without a leading slash, e.g. `api/users/[id]`.
    pub path: String,
    pub language: Language,
    /// The file, under the project directory.
    pub source: PathBuf,
    /// `source` relative to the project, `/`-separated, e.g. `api/users/[id].ts`.
    pub source_rel: String,
}

/// What [`detect`] found: the functions, and the files it could not turn into one.
#[derive(Debug, Default)]
pub(crate) struct Detection {
    pub functions: Vec<Detected>,
    pub errors: Vec<FunctionBuildError>,
    /// Function paths whose files conflict; they still get routes, so requests to them get
    /// the error instead of a 404.
    pub conflicting_paths: Vec<String>,
    pub warnings: Vec<String>,
}

/// Walks `<project>/api` (absent = no functions). Files and folders whose name starts with
/// `_` or `.`, `node_modules`, and type declarations (`*.d.ts`) are ignored.
pub(crate) fn detect(project: &Path) -> Detection {
    let mut detection = Detection::default();
    let api = project.join("api");
    if !api.is_dir() {
        return detection;
    }
    let walk = WalkDir::new(&api)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !is_ignored(&entry.file_name().to_string_lossy())
        });
    let mut candidates = Vec::new();
    for entry in walk {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                detection
                    .warnings
                    .push(format!("skipped part of {}: {err}", api.display()));
                continue;
            }
        };
        // `is_file` follows symlinks, so a linked function file counts.
        if entry.path().is_file()
            && let Some(found) = classify(project, entry.path(), &mut detection)
        {
            candidates.push(found);
        }
    }
    let mut files_by_path: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for found in &candidates {
        files_by_path
            .entry(found.path.clone())
            .or_default()
            .push(found.source.clone());
    }
    for (path, files) in &files_by_path {
        if let [first, second, ..] = files.as_slice() {
            detection.conflicting_paths.push(path.clone());
            detection.errors.push(FunctionBuildError {
                function: path.clone(),
                file: second.clone(),
                error: FunctionError::ConflictingFilePath {
                    path: path.clone(),
                    first: first.clone(),
                    second: second.clone(),
                },
            });
        }
    }
    for found in candidates {
        if files_by_path
            .get(&found.path)
            .is_some_and(|files| files.len() > 1)
        {
            continue;
        }
        if let Some(segment) = repeated_segment(&found.path) {
            detection.errors.push(FunctionBuildError {
                function: found.path.clone(),
                file: found.source.clone(),
                error: FunctionError::ConflictingPathSegment {
                    file: found.source,
                    segment,
                },
            });
            continue;
        }
        detection.functions.push(found);
    }
    detection
}

fn is_ignored(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.') || name == "node_modules"
}

/// The function a file defines, if any. Python files count only when they define an entry
/// point; a file that cannot be read becomes an error.
fn classify(project: &Path, file: &Path, detection: &mut Detection) -> Option<Detected> {
    let relative = file.strip_prefix(project).ok()?;
    let source_rel = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let name = file.file_name()?.to_string_lossy();
    let extension = file.extension()?.to_string_lossy();
    let language = match extension.as_ref() {
        "js" | "mjs" | "cjs" => Language::JavaScript,
        "ts" | "tsx" | "mts" | "cts" => Language::TypeScript,
        "go" => Language::Go,
        "py" => Language::Python,
        // Rack apps (`config.ru`) too: Vercel needs a `builds` entry for them, eddy serves them as is.
        "rb" | "ru" => Language::Ruby,
        "rs" => Language::Rust,
        "wasm" => Language::Wasm,
        _ => return None,
    };
    if language == Language::TypeScript
        && [".d.ts", ".d.mts", ".d.cts"]
            .iter()
            .any(|d| name.ends_with(d))
    {
        return None;
    }
    if language == Language::Go && name.ends_with("_test.go") {
        return None;
    }
    if language == Language::Wasm && !is_component(file, &source_rel, detection) {
        return None;
    }
    let path = source_rel
        .strip_suffix(extension.as_ref())
        .and_then(|p| p.strip_suffix('.'))
        .unwrap_or(&source_rel)
        .to_owned();
    if language == Language::Python {
        match std::fs::read_to_string(file) {
            Ok(text) if defines_python_entrypoint(&text) => {}
            Ok(_) => return None,
            Err(err) => {
                detection.errors.push(FunctionBuildError {
                    function: path,
                    file: file.to_path_buf(),
                    error: FunctionError::Read {
                        file: file.to_path_buf(),
                        source: err,
                    },
                });
                return None;
            }
        }
    }
    Some(Detected {
        path,
        language,
        source: file.to_path_buf(),
        source_rel,
    })
}

/// Whether a `.wasm` file is a WebAssembly component (by its 8-byte header). A core module is
/// what JavaScript functions import with `?module`, so it stays a plain file, with a warning in
/// case it was meant to be a function.
fn is_component(file: &Path, source_rel: &str, detection: &mut Detection) -> bool {
    use std::io::Read as _;
    let mut header = [0u8; 8];
    let read = std::fs::File::open(file).and_then(|mut f| f.read_exact(&mut header));
    match (read, header) {
        (Ok(()), [0, b'a', b's', b'm', _, _, 1, 0]) => true,
        (Ok(()), [0, b'a', b's', b'm', 1, 0, 0, 0]) => {
            detection.warnings.push(format!(
                "{source_rel} is a core WebAssembly module, not a wasi:http component, so it is \
                 not a function (import it from a JavaScript function with `?module`, or build \
                 a component for wasm32-wasip2 to serve it)"
            ));
            false
        }
        _ => {
            detection.warnings.push(format!(
                "{source_rel} is not a WebAssembly component, so it is not a function (build it \
                 for wasm32-wasip2 as a wasi:http component)"
            ));
            false
        }
    }
}

/// A dynamic segment name (`[id]`) used twice in one path.
fn repeated_segment(path: &str) -> Option<String> {
    let mut seen = BTreeSet::new();
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('[')?.strip_suffix(']'))
        .find(|name| !seen.insert(*name))
        .map(str::to_owned)
}

const PYTHON_ENTRYPOINTS: [&str; 3] = ["handler", "app", "application"];

/// Whether a Python module defines `handler`, `app` or `application` at top level: by `def`,
/// `class`, assignment, or import. Line-based, so it is fooled only by exotic code (e.g. a
/// definition inside a multi-line string).
pub(crate) fn defines_python_entrypoint(source: &str) -> bool {
    source.lines().any(|line| {
        if line.starts_with(char::is_whitespace) {
            return false;
        }
        let line = line.strip_prefix("async ").unwrap_or(line);
        if let Some(rest) = line.strip_prefix("def ") {
            return is_entrypoint(leading_identifier(rest));
        }
        // Vercel takes a class named `handler` in any case (`class Handler(...)`).
        if let Some(rest) = line.strip_prefix("class ") {
            let name = leading_identifier(rest);
            return is_entrypoint(name) || name.eq_ignore_ascii_case("handler");
        }
        if line.starts_with("from ") || line.starts_with("import ") {
            return imports_entrypoint(line);
        }
        let name = leading_identifier(line);
        let rest = line[name.len()..].trim_start();
        is_entrypoint(name)
            && ((rest.starts_with('=') && !rest.starts_with("==")) || rest.starts_with(':'))
    })
}

fn is_entrypoint(name: &str) -> bool {
    PYTHON_ENTRYPOINTS.contains(&name)
}

fn leading_identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// `from x import app`, `from x import (a, app as b)`, `import x as app`: the bound names.
fn imports_entrypoint(line: &str) -> bool {
    let names = match line.split_once(" import ") {
        Some((_, names)) => names,
        None => line.strip_prefix("import ").unwrap_or(""),
    };
    let names = names.split('#').next().unwrap_or("");
    names
        .trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace())
        .split(',')
        .map(|item| {
            let item = item.trim().trim_matches(|c| c == '(' || c == ')');
            let bound = item.rsplit_once(" as ").map_or(item, |(_, alias)| alias);
            bound.trim()
        })
        .any(is_entrypoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_entrypoints_are_found_only_at_top_level() {
        for defines in [
            "def handler(request):\n    pass",
            "class handler(BaseHTTPRequestHandler):\n    pass",
            "class Handler(BaseHTTPRequestHandler):\n    pass",
            "app = Flask(__name__)",
            "app: FastAPI = FastAPI()",
            "async def app(scope, receive, send): ...",
            "from main import app",
            "from server.wsgi import application  # noqa",
            "from x import (thing, app as application)",
            "import server as handler",
        ] {
            assert!(defines_python_entrypoint(defines), "{defines}");
        }
        for lacks in [
            "def helper():\n    app = 1",
            "    handler = 2",
            "apps = []",
            "Handler = 1",
            "app == 3",
            "from x import apple",
            "# app = Flask()",
        ] {
            assert!(!defines_python_entrypoint(lacks), "{lacks}");
        }
    }

    #[test]
    fn wasm_components_are_functions_and_core_modules_are_files_with_a_warning() {
        let project = tempfile::tempdir().expect("temp dir");
        let api = project.path().join("api");
        std::fs::create_dir_all(&api).expect("api dir");
        std::fs::write(api.join("hello.wasm"), b"\0asm\x0d\0\x01\0rest").expect("component");
        std::fs::write(api.join("add.wasm"), b"\0asm\x01\0\0\0rest").expect("core module");
        std::fs::write(api.join("junk.wasm"), b"nope").expect("junk");
        let detection = detect(project.path());
        let functions: Vec<_> = detection
            .functions
            .iter()
            .map(|f| (f.path.as_str(), f.language))
            .collect();
        assert_eq!(functions, [("api/hello", Language::Wasm)]);
        assert!(detection.errors.is_empty());
        assert_eq!(detection.warnings.len(), 2, "{:?}", detection.warnings);
        assert!(
            detection.warnings[0].starts_with("api/add.wasm is a core WebAssembly module"),
            "{:?}",
            detection.warnings
        );
    }

    #[test]
    fn repeated_dynamic_segment_names_are_found() {
        assert_eq!(repeated_segment("api/[id]/x/[id]").as_deref(), Some("id"));
        assert_eq!(repeated_segment("api/[team]/[id]"), None);
    }
}
