//! The resolved model the server runs: one [`Deployment`] with its routes, static files and
//! functions. Built by `eddy-build` from a project (dev) or read from a Build Output v3 tree.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::route::Route;

/// A deployment, fully resolved: everything needed to serve it, nothing left to detect.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// e.g. `dpl_…`; in dev a fixed id per project.
    pub id: String,
    /// The complete Build Output v3 route list, phases included.
    pub routes: Vec<Route>,
    /// Directory whose files are served verbatim at `/` (Build Output `static/`, or in dev the
    /// project's `public/` or root). `None` serves no static files.
    pub static_root: Option<PathBuf>,
    /// Files under `static_root` never to serve (relative paths, `/`-separated), e.g. `vercel.json`.
    /// An entry ending in `/` excludes a directory and everything in it; the entry `.*`
    /// excludes every path with a segment starting with `.` except `.well-known`. Ask
    /// [`Deployment::is_static_excluded`] rather than reading these by hand.
    pub static_exclude: Vec<String>,
    /// Functions by URL path without a leading slash, e.g. `api/users/[id]`.
    pub functions: BTreeMap<String, FunctionSpec>,
}

impl Deployment {
    /// Whether a path under `static_root` (relative, `/`-separated, no leading `/`) must not be
    /// served, per [`Deployment::static_exclude`].
    pub fn is_static_excluded(&self, relative: &str) -> bool {
        static_path_excluded(&self.static_exclude, relative)
    }
}

/// Whether `relative` (a `/`-separated path under the static root) matches an entry of an
/// exclusion list: `dir/` excludes a folder, `.*` every dot-segment but `.well-known`, anything
/// else one exact path.
pub fn static_path_excluded(exclude: &[String], relative: &str) -> bool {
    let relative = relative.trim_start_matches('/');
    exclude.iter().any(|entry| {
        if entry == ".*" {
            relative
                .split('/')
                .any(|segment| segment.starts_with('.') && segment != ".well-known")
        } else if let Some(dir) = entry.strip_suffix('/') {
            relative == dir || relative.starts_with(entry.as_str())
        } else {
            relative == entry
        }
    })
}

/// One function, fully resolved (precedence applied: code > vercel.json > defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// URL path without a leading slash, e.g. `api/users/[id]`.
    pub path: String,
    /// Runtime identifier as in `.vc-config.json`, e.g. `nodejs20.x`.
    pub runtime: String,
    /// The function's filesystem root (its cwd).
    pub root: PathBuf,
    /// The entry file relative to `root`, e.g. `api/users/[id].js`.
    pub handler: String,
    /// The user's source file (for messages); differs from `root/handler` when transpiled.
    pub source: PathBuf,
    pub memory_mb: u32,
    pub max_duration: Duration,
    /// Concurrent invocations per instance; `None` = the scheduler's default.
    pub max_concurrency: Option<u32>,
    /// Fluid compute; `false` = one invocation per instance.
    pub fluid: bool,
    /// Environment variables of the function (project env + vc-config `environment`).
    pub env: BTreeMap<String, String>,
    pub regions: Vec<String>,
    /// Node launcher options.
    pub should_add_helpers: bool,
    pub use_web_api: bool,
    pub aws_lambda_handler: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_exclusion_covers_directories_dotfiles_and_exact_files() {
        let deployment = Deployment {
            static_exclude: vec!["api/".into(), ".*".into(), "vercel.json".into()],
            ..Deployment::default()
        };
        for excluded in [
            "api",
            "api/a.js",
            ".env",
            "x/.git/config",
            "vercel.json",
            "/vercel.json",
        ] {
            assert!(deployment.is_static_excluded(excluded), "{excluded}");
        }
        for served in [
            "apis.html",
            "index.html",
            ".well-known/security.txt",
            "a/vercel.json",
        ] {
            assert!(!deployment.is_static_excluded(served), "{served}");
        }
    }
}
