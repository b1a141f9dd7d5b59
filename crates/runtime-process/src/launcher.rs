//! Launchers: what differs between languages when eddy starts an instance. A launcher names the
//! program and its arguments, writes its embedded assets once, and adds its own environment
//! variables; everything after the process starts (IPC, proxying, supervision) is the same host
//! code for every language. Each language lives in its own module under `launcher/` and is
//! exposed as a `ProcessRuntime` constructor there; the steps several of them take (finding
//! the toolchain, asking it for its version, writing the assets) are shared here.

pub(crate) mod bun;
pub(crate) mod go;
pub(crate) mod node;
pub(crate) mod python;
pub(crate) mod ruby;
pub(crate) mod rust;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use crate::assets::{self, AssetDir};

/// One language's way to start instances.
pub(crate) trait Launch: std::fmt::Debug + Send + Sync + 'static {
    /// Short name for logs and `Runtime::name`, e.g. `node`.
    fn name(&self) -> &'static str;

    /// How long an instance may take from spawn to `server-started`.
    fn spawn_timeout(&self) -> Duration;

    /// Finds the toolchain and writes the launcher's assets. Called once per runtime (the
    /// result is cached); `spec` only names the function in errors.
    fn prepare<'a>(&'a self, spec: &'a InstanceSpec)
    -> BoxFuture<'a, Result<Prepared, SpawnError>>;

    /// The launcher's own variables, added after the function's environment.
    fn env(&self, spec: &InstanceSpec) -> Vec<(String, String)>;

    /// The program and arguments of one function's instance. Default: the prepared program and
    /// arguments (an interpreter running the launcher). Compiled languages return the
    /// function's own binary (e.g. `spec.root.join(&spec.handler)`).
    fn command(&self, prepared: &Prepared, _spec: &InstanceSpec) -> (PathBuf, Vec<OsString>) {
        (prepared.program.clone(), prepared.args.clone())
    }
}

/// What a launcher found and wrote once per runtime: the resolved program, its arguments, and
/// the directory holding its assets.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Arguments for functions that need nothing beyond the language's standard library and
    /// the launcher's own server libraries, when the launcher can start those faster (Ruby
    /// without RubyGems). `None`: every function uses `args`.
    pub lean_args: Option<Vec<OsString>>,
    pub(crate) _assets: Option<AssetDir>,
}

impl Prepared {
    /// The directory of the launcher's assets, if it wrote any.
    pub(crate) fn assets_dir(&self) -> Option<&Path> {
        self._assets.as_ref().map(AssetDir::path)
    }

    /// Nothing found or written: for launchers that run the function's own binary (see
    /// [`own_binary`]), whose toolchain was needed only to build it.
    pub(crate) fn nothing() -> Self {
        Self {
            program: PathBuf::new(),
            args: Vec::new(),
            lean_args: None,
            _assets: None,
        }
    }
}

/// The function's own binary, written by its build step: `spec.handler` relative to the
/// function root, or absolute (joining keeps it as is), run without arguments.
pub(crate) fn own_binary(spec: &InstanceSpec) -> (PathBuf, Vec<OsString>) {
    (spec.root.join(&spec.handler), Vec::new())
}

/// The error for a toolchain that cannot run `spec`'s function; `detail` says what is wrong
/// and how to fix it.
pub(crate) fn toolchain_missing(spec: &InstanceSpec, detail: String) -> SpawnError {
    SpawnError::ToolchainMissing {
        function: spec.function.clone(),
        runtime: spec.runtime.clone(),
        detail,
    }
}

/// [`resolve_program`] of the configured `program`, or an error naming it and `install` (how
/// to install the toolchain).
pub(crate) fn find_program(
    spec: &InstanceSpec,
    program: &Path,
    install: &str,
) -> Result<PathBuf, SpawnError> {
    resolve_program(program).ok_or_else(|| {
        toolchain_missing(
            spec,
            format!("`{}` was not found ({install})", program.display()),
        )
    })
}

/// Runs a toolchain probe (`node --version` and the like) to its end: no stdin, killed when
/// dropped, for at most `limit`; a probe that takes longer fails with `hung` as its message.
pub(crate) async fn probe_output(
    command: &mut tokio::process::Command,
    limit: Duration,
    hung: &str,
) -> std::io::Result<Output> {
    tokio::time::timeout(
        limit,
        command.stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, hung.to_string()))?
}

/// `20.1.3` → `(20, 1)`: the first two dot-separated numbers of a version.
pub(crate) fn parse_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Writes a launcher's embedded `files` into its directory `name` (see [`assets::write`]), off
/// the async threads; a failure names `spec`'s function.
pub(crate) async fn write_assets(
    spec: &InstanceSpec,
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
) -> Result<AssetDir, SpawnError> {
    let io = |source| SpawnError::Io {
        function: spec.function.clone(),
        source,
    };
    tokio::task::spawn_blocking(move || assets::write(name, files))
        .await
        .map_err(|join| io(std::io::Error::other(join)))?
        .map_err(io)
}

/// `program` itself when it names a path, else the first executable file of that name on
/// eddy's `PATH`.
pub(crate) fn resolve_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_first_two_numbers_of_a_version() {
        assert_eq!(parse_major_minor("3.1.7"), Some((3, 1)));
        assert_eq!(parse_major_minor("20.10"), Some((20, 10)));
        assert_eq!(parse_major_minor("1"), None);
        assert_eq!(parse_major_minor("1."), None);
        assert_eq!(parse_major_minor("v1.2"), None);
    }

    #[test]
    fn resolves_a_bare_name_on_path_and_rejects_missing_files() {
        assert!(resolve_program(Path::new("sh")).is_some_and(|p| p.is_absolute()));
        assert_eq!(resolve_program(Path::new("eddy-no-such-binary-xyz")), None);
        assert_eq!(
            resolve_program(Path::new("./eddy-no-such-binary-xyz")),
            None
        );
    }
}
