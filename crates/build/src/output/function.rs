//! One function folder of the output: `functions/<path>.func/` with its files and
//! `.vc-config.json` (what goes in per runtime: see the parent module's docs).

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use eddy_config::{FunctionSpec, ProjectConfig};
use globset::{GlobBuilder, GlobMatcher};

use super::files::{Placer, Tally, list, read_error, relative, write};
use super::trace;
use super::{FunctionSummary, Target, WriteOutputError};
use crate::plan::Plan;

/// Where Python's vendored dependencies go in a function folder; eddy's Python launcher puts
/// `<root>/_vendor` on `sys.path`.
const PYTHON_VENDOR: &str = "_vendor";
/// Where a Ruby function's bundle goes in its folder.
const RUBY_BUNDLE: &str = "_bundle";
/// Where a built file from outside the project goes in a function folder.
const OUTSIDE: &str = "_eddy";

/// What a runtime's function folder is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Node, Bun and Edge: the project's files, `node_modules` included.
    Node,
    Edge,
    Python,
    Ruby,
    /// Go and Rust: the built binary only.
    Binary {
        language: &'static str,
    },
}

impl Kind {
    fn of(runtime: &str) -> Self {
        if runtime == "edge" {
            Self::Edge
        } else if runtime.starts_with("python") {
            Self::Python
        } else if runtime.starts_with("ruby") {
            Self::Ruby
        } else if runtime.starts_with("go") {
            Self::Binary { language: "go" }
        } else if runtime.starts_with("rust") {
            Self::Binary { language: "rust" }
        } else {
            Self::Node
        }
    }
}

/// What every function of one output shares: the project, its file lists (walked once, when
/// first needed) and the `functions` globs.
pub(super) struct Context<'a> {
    project: &'a Path,
    placer: &'a Placer,
    target: &'a Target,
    config: &'a ProjectConfig,
    vercel_path: &'a Path,
    /// `public/` when it is the static root: served from `static/`, not a function's file.
    public: Option<PathBuf>,
    with_node_modules: OnceCell<Vec<(String, PathBuf)>>,
    without_node_modules: OnceCell<Vec<(String, PathBuf)>>,
    /// For `includeFiles`: everything but `.git/`, `.vercel/` and the output.
    everything: OnceCell<Vec<(String, PathBuf)>>,
    /// Per Node function, the files it imports from outside the project (see `trace`).
    outside: Traced,
    /// Said once for the whole output, e.g. that packages outside the project were not traced.
    pub(super) warnings: Vec<String>,
}

impl<'a> Context<'a> {
    pub(super) fn new(
        project: &'a Path,
        placer: &'a Placer,
        plan: &Plan,
        target: &'a Target,
        config: &'a ProjectConfig,
        vercel_path: &'a Path,
    ) -> Result<Self, WriteOutputError> {
        let public = project.join("public");
        let (outside, warnings) = trace_outside(project, plan);
        Ok(Self {
            project,
            placer,
            target,
            config,
            vercel_path,
            public: (plan.deployment.static_root.as_deref() == Some(public.as_path()))
                .then_some(public),
            with_node_modules: OnceCell::new(),
            without_node_modules: OnceCell::new(),
            everything: OnceCell::new(),
            outside,
            warnings,
        })
    }

    /// Writes `spec`'s folder.
    pub(super) fn write(&self, spec: &FunctionSpec) -> Result<FunctionSummary, WriteOutputError> {
        let started = Instant::now();
        let dir = self
            .target
            .tmp
            .join("functions")
            .join(format!("{}.func", spec.path));
        let kind = Kind::of(&spec.runtime);
        let source_rel = relative(self.project, &spec.source);
        let (include, exclude) = self.globs(&source_rel)?;
        let excluded = |rel: &str| exclude.as_ref().is_some_and(|glob| matches(glob, rel));
        let mut tally = Tally::default();

        let handler = self.place_files(spec, kind, &dir, &excluded, &mut tally)?;
        if let Some(include) = &include {
            self.place_included(include, &excluded, &dir, &mut tally)?;
        }
        let config = vc_config(spec, kind, &handler);
        write(
            &dir.join(".vc-config.json"),
            &format!("{config:#}\n"),
            &mut tally,
        )?;
        Ok(FunctionSummary {
            path: spec.path.clone(),
            runtime: spec.runtime.clone(),
            files: tally.files,
            bytes: tally.bytes,
            elapsed: started.elapsed(),
        })
    }

    /// The files of `spec`'s folder but `.vc-config.json`; returns the handler inside it.
    fn place_files(
        &self,
        spec: &FunctionSpec,
        kind: Kind,
        dir: &Path,
        excluded: &dyn Fn(&str) -> bool,
        tally: &mut Tally,
    ) -> Result<String, WriteOutputError> {
        Ok(match kind {
            Kind::Binary { .. } => {
                let built = self.built(spec, &spec.handler)?;
                let name = built.file_name().map_or_else(
                    || "bootstrap".to_owned(),
                    |n| n.to_string_lossy().into_owned(),
                );
                self.placer.place(&built, &dir.join(&name), tally)?;
                name
            }
            Kind::Node | Kind::Edge => {
                self.place_project(dir, true, excluded, tally)?;
                for (rel, file) in self.outside.get(&spec.path).into_iter().flatten() {
                    let to = dir.join(rel);
                    if !to.exists() {
                        self.placer.place(file, &to, tally)?;
                    }
                }
                self.place_built(spec, &spec.handler, dir, tally)?
            }
            Kind::Python => {
                self.place_project(dir, false, excluded, tally)?;
                match python_vendor(&spec.handler) {
                    Some((vendor, entry)) => {
                        self.place_folder(
                            spec,
                            Path::new(vendor),
                            &dir.join(PYTHON_VENDOR),
                            tally,
                        )?;
                        entry.to_owned()
                    }
                    None => spec.handler.clone(),
                }
            }
            Kind::Ruby => {
                self.place_project(dir, false, excluded, tally)?;
                if spec.handler.ends_with(".json") {
                    self.place_ruby_bundle(spec, dir, tally)?;
                }
                spec.handler.clone()
            }
        })
    }

    /// `includeFiles`: every project file the glob matches, at the same relative path.
    fn place_included(
        &self,
        include: &GlobMatcher,
        excluded: &dyn Fn(&str) -> bool,
        dir: &Path,
        tally: &mut Tally,
    ) -> Result<(), WriteOutputError> {
        let everything =
            self.files(&self.everything, |rel, _| rel == ".git" || rel == ".vercel")?;
        for (rel, file) in everything {
            let to = dir.join(rel);
            if matches(include, rel) && !excluded(rel) && !to.exists() {
                self.placer.place(file, &to, tally)?;
            }
        }
        Ok(())
    }

    /// `includeFiles` and `excludeFiles` of the function's `functions` entry, compiled.
    fn globs(
        &self,
        source_rel: &str,
    ) -> Result<(Option<GlobMatcher>, Option<GlobMatcher>), WriteOutputError> {
        let Some((key, entry)) = self.config.function_config(source_rel) else {
            return Ok((None, None));
        };
        let compile = |name: &'static str, pattern: &Option<String>| {
            pattern
                .as_deref()
                .map(|pattern| {
                    GlobBuilder::new(pattern.trim_start_matches("./"))
                        .literal_separator(true)
                        .build()
                        .map(|glob| glob.compile_matcher())
                        .map_err(|error| WriteOutputError::Glob {
                            file: self.vercel_path.to_path_buf(),
                            glob: key.to_owned(),
                            key: name,
                            pattern: pattern.to_owned(),
                            reason: error.kind().to_string(),
                        })
                })
                .transpose()
        };
        Ok((
            compile("includeFiles", &entry.include_files)?,
            compile("excludeFiles", &entry.exclude_files)?,
        ))
    }

    /// The project's files a function folder starts from (see the module docs), minus `excluded`.
    fn place_project(
        &self,
        dir: &Path,
        node_modules: bool,
        excluded: &dyn Fn(&str) -> bool,
        tally: &mut Tally,
    ) -> Result<(), WriteOutputError> {
        let skip = |rel: &str, is_dir: bool| {
            let root_dot = !rel.contains('/') && rel.starts_with('.');
            let public = self.public.is_some() && rel == "public";
            let modules = !node_modules
                && is_dir
                && (rel == "node_modules" || rel.ends_with("/node_modules"));
            root_dot || public || modules || self.target.owns(&self.project.join(rel))
        };
        let cell = if node_modules {
            &self.with_node_modules
        } else {
            &self.without_node_modules
        };
        for (rel, file) in self.files(cell, skip)? {
            if !excluded(rel) {
                self.placer.place(file, &dir.join(rel), tally)?;
            }
        }
        Ok(())
    }

    /// The project's files kept by `skip` (and never the output), walked on first use and kept
    /// in `cell`; each cell is always asked with the same `skip`.
    fn files<'c>(
        &self,
        cell: &'c OnceCell<Vec<(String, PathBuf)>>,
        skip: impl Fn(&str, bool) -> bool,
    ) -> Result<&'c [(String, PathBuf)], WriteOutputError> {
        if cell.get().is_none() {
            let files = list(self.project, &|rel, is_dir| {
                skip(rel, is_dir) || self.target.owns(&self.project.join(rel))
            })?;
            // Just checked: empty, and nothing else fills it in between.
            let _ = cell.set(files);
        }
        Ok(cell.get().map_or(&[], Vec::as_slice))
    }

    /// A file the plan built (`handler` relative to the function's root, or absolute).
    fn built(&self, spec: &FunctionSpec, handler: &str) -> Result<PathBuf, WriteOutputError> {
        let built = spec.root.join(handler);
        if built.is_file() {
            Ok(built)
        } else {
            Err(WriteOutputError::BuiltFileMissing {
                function: spec.path.clone(),
                file: built,
            })
        }
    }

    /// Places a built entry file at its path relative to the project (so relative imports and
    /// the bundle's `__dirname` still point at the copied sources), or under `_eddy/` when it
    /// lies outside the project. Returns the handler inside the function folder.
    fn place_built(
        &self,
        spec: &FunctionSpec,
        handler: &str,
        dir: &Path,
        tally: &mut Tally,
    ) -> Result<String, WriteOutputError> {
        let built = self.built(spec, handler)?;
        let inside = match built.strip_prefix(self.project) {
            Ok(_) => relative(self.project, &built),
            Err(_) => format!(
                "{OUTSIDE}/{}",
                built
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            ),
        };
        let to = dir.join(&inside);
        if !to.exists() {
            self.placer.place(&built, &to, tally)?;
            let map = PathBuf::from(format!("{}.map", built.display()));
            if map.is_file() {
                self.placer
                    .place(&map, &PathBuf::from(format!("{}.map", to.display())), tally)?;
            }
        }
        Ok(inside)
    }

    /// Every file of the folder `from` under `to`.
    fn place_folder(
        &self,
        spec: &FunctionSpec,
        from: &Path,
        to: &Path,
        tally: &mut Tally,
    ) -> Result<(), WriteOutputError> {
        if !from.is_dir() {
            return Err(WriteOutputError::BuiltFileMissing {
                function: spec.path.clone(),
                file: from.to_path_buf(),
            });
        }
        for (rel, file) in list(from, &|_, _| false)? {
            self.placer.place(&file, &to.join(rel), tally)?;
        }
        Ok(())
    }

    /// A bundled Ruby function: its bundle as `_bundle/`, and the launcher's manifest rewritten
    /// with paths inside the folder (Bundler takes `BUNDLE_PATH` relative to the Gemfile's folder).
    fn place_ruby_bundle(
        &self,
        spec: &FunctionSpec,
        dir: &Path,
        tally: &mut Tally,
    ) -> Result<(), WriteOutputError> {
        let manifest_path = self.built(spec, &spec.handler)?;
        let text = std::fs::read_to_string(&manifest_path).map_err(read_error(&manifest_path))?;
        let manifest: serde_json::Value =
            serde_json::from_str(&text).map_err(|error| WriteOutputError::Read {
                file: manifest_path.clone(),
                source: std::io::Error::other(error),
            })?;
        let field = |key: &str| manifest[key].as_str().map(PathBuf::from);
        let (Some(entry), Some(gemfile), Some(bundle)) =
            (field("entry"), field("gemfile"), field("bundlePath"))
        else {
            return Err(WriteOutputError::BuiltFileMissing {
                function: spec.path.clone(),
                file: manifest_path,
            });
        };
        self.place_folder(spec, &bundle, &dir.join(RUBY_BUNDLE), tally)?;
        let gemfile_rel = relative(self.project, &gemfile);
        let depth = gemfile_rel.matches('/').count();
        let manifest = serde_json::json!({
            "entry": entry,
            "gemfile": gemfile_rel,
            "bundlePath": format!("{}{RUBY_BUNDLE}", "../".repeat(depth)),
        });
        write(&dir.join(&spec.handler), &manifest.to_string(), tally)
    }
}

/// Per function path, `(path inside the function folder, file)` of what it needs from outside.
type Traced = BTreeMap<String, Vec<(String, PathBuf)>>;

/// Traces every Node and Edge function of `plan` with `@vercel/nft` for the files they import
/// from outside `project`. Without the tracer, or when it fails, functions get the project's
/// files only, and a warning says so when a parent folder has packages they may need.
fn trace_outside(project: &Path, plan: &Plan) -> (Traced, Vec<String>) {
    let node: Vec<&FunctionSpec> = plan
        .deployment
        .functions
        .values()
        .filter(|spec| matches!(Kind::of(&spec.runtime), Kind::Node | Kind::Edge))
        .collect();
    if node.is_empty() {
        return (BTreeMap::new(), Vec::new());
    }
    let Some(nft) = trace::locate_nft(project) else {
        let parent_packages = project
            .ancestors()
            .skip(1)
            .map(|dir| dir.join("node_modules"))
            .find(|dir| dir.is_dir());
        let warnings = parent_packages
            .map(|dir| {
                format!(
                    "packages in {} are not copied into Node functions: @vercel/nft, which finds the ones they import, is not installed (`npm install --save-dev @vercel/nft`)",
                    dir.display()
                )
            })
            .into_iter()
            .collect();
        return (BTreeMap::new(), warnings);
    };
    let entries: Vec<PathBuf> = node
        .iter()
        .map(|spec| spec.root.join(&spec.handler))
        .collect();
    match trace::outside_files(&nft, project, &entries) {
        Ok(lists) => (
            node.iter()
                .map(|spec| spec.path.clone())
                .zip(lists)
                .collect(),
            Vec::new(),
        ),
        Err(error) => (
            BTreeMap::new(),
            vec![format!(
                "Node functions get only the project's files: {error}"
            )],
        ),
    }
}

/// `(vendor dir, entry)` of a Python handler with vendored dependencies
/// (`<absolute vendor>::<entry>`, as eddy's Python build step writes it).
fn python_vendor(handler: &str) -> Option<(&str, &str)> {
    if handler.starts_with('/') {
        handler.split_once("::")
    } else {
        None
    }
}

/// Whether `rel` or one of its parent folders matches `glob` (`data` includes `data/a.json`).
fn matches(glob: &GlobMatcher, rel: &str) -> bool {
    glob.is_match(rel)
        || rel
            .match_indices('/')
            .any(|(at, _)| glob.is_match(&rel[..at]))
}

/// The function's `.vc-config.json` (vercel-compat 8.1, 8.2).
fn vc_config(spec: &FunctionSpec, kind: Kind, handler: &str) -> serde_json::Value {
    if kind == Kind::Edge {
        let mut config = serde_json::json!({
            "runtime": "edge",
            "entrypoint": handler,
            "environment": spec.env,
        });
        if !spec.regions.is_empty() {
            config["regions"] = serde_json::json!(spec.regions);
        }
        return config;
    }
    let mut config = serde_json::json!({
        "runtime": spec.runtime,
        "handler": handler,
        "memory": spec.memory_mb,
        "maxDuration": spec.max_duration.as_secs(),
        "environment": spec.env,
        "supportsResponseStreaming": true,
    });
    if !spec.regions.is_empty() {
        config["regions"] = serde_json::json!(spec.regions);
    }
    // Classic (non-Fluid) functions take one invocation per instance.
    match (spec.max_concurrency, spec.fluid) {
        (Some(n), _) => config["maxConcurrency"] = n.into(),
        (None, false) => config["maxConcurrency"] = 1.into(),
        (None, true) => {}
    }
    match kind {
        Kind::Node => {
            config["launcherType"] = "Nodejs".into();
            config["shouldAddHelpers"] = spec.should_add_helpers.into();
            config["shouldAddSourcemapSupport"] = false.into();
            config["useWebApi"] = spec.use_web_api.into();
            config["awsLambdaHandler"] = spec.aws_lambda_handler.clone().unwrap_or_default().into();
        }
        Kind::Binary { language } => config["runtimeLanguage"] = language.into(),
        Kind::Edge | Kind::Python | Kind::Ruby => {}
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> GlobMatcher {
        GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .expect("valid")
            .compile_matcher()
    }

    #[test]
    fn a_folder_glob_includes_everything_below_it() {
        assert!(matches(&glob("data"), "data/a/b.json"));
        assert!(matches(&glob("data/**"), "data/a/b.json"));
        assert!(matches(&glob("*.txt"), "notes.txt"));
        assert!(!matches(&glob("*.txt"), "docs/notes.txt"));
        assert!(!matches(&glob("data"), "database.json"));
    }

    #[test]
    fn only_absolute_vendor_prefixes_split_python_handlers() {
        assert_eq!(
            python_vendor("/p/.vercel/eddy/python/vendor-1::api/index.py"),
            Some(("/p/.vercel/eddy/python/vendor-1", "api/index.py"))
        );
        assert_eq!(python_vendor("api/index.py"), None);
    }

    #[test]
    fn runtimes_map_to_what_their_folder_holds() {
        assert_eq!(Kind::of("nodejs20.x"), Kind::Node);
        assert_eq!(Kind::of("bun1.x"), Kind::Node);
        assert_eq!(Kind::of("edge"), Kind::Edge);
        assert_eq!(Kind::of("python3.11"), Kind::Python);
        assert_eq!(Kind::of("ruby3.1"), Kind::Ruby);
        assert_eq!(Kind::of("go1.x"), Kind::Binary { language: "go" });
        assert_eq!(Kind::of("rust"), Kind::Binary { language: "rust" });
    }
}
