//! Launchers: what differs between languages when eddy starts an instance. A launcher names the
//! program and its arguments, writes its embedded assets once, and adds its own environment
//! variables; everything after the process starts (IPC, proxying, supervision) is the same host
//! code for every language. Each language lives in its own module under `launcher/` and is
//! exposed as a `ProcessRuntime` constructor there.

pub(crate) mod bun;
pub(crate) mod go;
pub(crate) mod node;
pub(crate) mod python;
pub(crate) mod ruby;
pub(crate) mod rust;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use crate::assets::AssetDir;

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
    pub(crate) _assets: Option<AssetDir>,
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
    fn resolves_a_bare_name_on_path_and_rejects_missing_files() {
        assert!(resolve_program(Path::new("sh")).is_some_and(|p| p.is_absolute()));
        assert_eq!(resolve_program(Path::new("eddy-no-such-binary-xyz")), None);
        assert_eq!(
            resolve_program(Path::new("./eddy-no-such-binary-xyz")),
            None
        );
    }
}
