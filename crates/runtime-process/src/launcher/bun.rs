//! The Bun launcher (`"bunVersion": "1.x"` in vercel.json, runtime `bun1.x`): the Node
//! launcher's files (`launchers/node/*.mjs`) run by `bun`, so functions keep Vercel's Node
//! handler shapes, helpers and request context (vercel-compat 1.6).
//!
//! Which `bun`: [`BunConfig::bun`] when set; else `node_modules/.bin/bun` in the function's
//! root or the nearest parent that has one (the version the project pins, as eddy finds
//! esbuild); else `bun` on eddy's `PATH`. The lookup runs once per runtime, from the first
//! function spawned.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use super::node::{NODE_ASSETS, launcher_env, program_version};
use super::{
    Launch, Prepared, find_program, parse_major_minor, resolve_program, toolchain_missing,
    write_assets,
};
use crate::ProcessRuntime;

/// The oldest Bun major version the launcher supports (Vercel offers `1.x`).
const MIN_BUN_MAJOR: u32 = 1;

const INSTALL: &str = "install Bun 1.x: `npm install --save-dev bun` in the project (or `./x setup` in eddy's repository), or put `bun` on PATH";

/// How eddy runs Bun functions.
#[derive(Debug, Clone)]
pub struct BunConfig {
    /// The `bun` binary (a path, or a name looked up on eddy's `PATH`); `None` looks in the
    /// function's `node_modules/.bin` and its parents first, then on `PATH`.
    pub bun: Option<PathBuf>,
    /// How long an instance may take from spawn to `server-started`, importing the user's
    /// module included.
    pub spawn_timeout: Duration,
    /// How long a stopping instance waits for `waitUntil` work once its last response is out.
    pub wait_until_timeout: Duration,
    /// Extra arguments for `bun`, placed before the launcher script (e.g. `--smol`).
    pub bun_args: Vec<String>,
}

impl Default for BunConfig {
    fn default() -> Self {
        Self {
            bun: None,
            spawn_timeout: Duration::from_secs(15),
            wait_until_timeout: Duration::from_secs(30),
            bun_args: Vec::new(),
        }
    }
}

impl ProcessRuntime {
    /// Bun functions (`bun1.x`), run by eddy's Node launcher on Bun with Vercel's handler
    /// shapes, helpers and request context.
    pub fn bun(config: BunConfig) -> Self {
        Self::with_launcher(config)
    }
}

impl Launch for BunConfig {
    fn name(&self) -> &'static str {
        "bun"
    }

    fn spawn_timeout(&self) -> Duration {
        self.spawn_timeout
    }

    fn prepare<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Prepared, SpawnError>> {
        Box::pin(prepare_bun(self, spec))
    }

    fn env(&self, spec: &InstanceSpec) -> Vec<(String, String)> {
        launcher_env(spec, self.wait_until_timeout)
    }
}

async fn prepare_bun(config: &BunConfig, spec: &InstanceSpec) -> Result<Prepared, SpawnError> {
    let missing = |detail: String| toolchain_missing(spec, detail);
    let program = match &config.bun {
        Some(bun) => find_program(spec, bun, INSTALL)?,
        None => locate_bun(&spec.root).ok_or_else(|| {
            missing(format!(
                "`bun` was found neither in node_modules/.bin of {} or its parents nor on PATH ({INSTALL})",
                spec.root.display()
            ))
        })?,
    };
    let version = program_version(&program).await.map_err(|error| {
        missing(format!(
            "`{}` did not run: {error} ({INSTALL})",
            program.display()
        ))
    })?;
    let Some(major) = parse_bun_major(&version) else {
        return Err(missing(format!(
            "`{}` reported an unexpected version {version:?} ({INSTALL})",
            program.display()
        )));
    };
    if major < MIN_BUN_MAJOR {
        return Err(missing(format!("bun {version} is too old ({INSTALL})")));
    }
    // The same content-addressed directory as the Node launcher's: the files are identical.
    let dir = write_assets(spec, "node", NODE_ASSETS).await?;
    let mut args: Vec<OsString> = config.bun_args.iter().map(OsString::from).collect();
    args.push(dir.path().join("launcher.mjs").into_os_string());
    Ok(Prepared {
        program,
        args,
        lean_args: None,
        _assets: Some(dir),
    })
}

/// `node_modules/.bin/bun` in `root` or its nearest parent that has one, else `bun` on `PATH`.
fn locate_bun(root: &Path) -> Option<PathBuf> {
    root.ancestors()
        .map(|dir| dir.join("node_modules").join(".bin").join("bun"))
        .find(|candidate| candidate.is_file())
        .or_else(|| resolve_program(Path::new("bun")))
}

/// `1.4.5` (or `v1.4.5`) → `1`.
fn parse_bun_major(version: &str) -> Option<u32> {
    let (major, _minor) = parse_major_minor(version.strip_prefix('v').unwrap_or(version))?;
    Some(major)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bun_version_strings() {
        assert_eq!(parse_bun_major("1.4.5"), Some(1));
        assert_eq!(parse_bun_major("v1.2.0"), Some(1));
        assert_eq!(parse_bun_major("0.8.1"), Some(0));
        assert_eq!(parse_bun_major("bun"), None);
        assert_eq!(parse_bun_major("1"), None);
    }

    #[test]
    fn finds_bun_in_the_nearest_node_modules_above_the_function() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("node_modules/.bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::fs::write(bin.join("bun"), "").expect("write");
        let root = dir.path().join("apps/site");
        std::fs::create_dir_all(&root).expect("mkdir");
        assert_eq!(locate_bun(&root), Some(bin.join("bun")));
    }

    #[test]
    fn a_missing_bun_names_the_function_and_how_to_install_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = BunConfig {
            bun: Some(dir.path().join("no-bun-here")),
            ..BunConfig::default()
        };
        let spec = InstanceSpec {
            function: "api/hello".into(),
            runtime: "bun1.x".into(),
            root: dir.path().to_path_buf(),
            handler: "api/hello.js".into(),
            source: dir.path().join("api/hello.js"),
            env: Default::default(),
            memory_mb: 1024,
            max_duration: Duration::from_secs(10),
            options: serde_json::Value::Null,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let error = runtime
            .block_on(prepare_bun(&config, &spec))
            .expect_err("no bun there");
        let text = error.to_string();
        assert!(
            matches!(error, SpawnError::ToolchainMissing { .. }),
            "{text}"
        );
        assert!(
            text.contains("api/hello") && text.contains("bun1.x"),
            "{text}"
        );
        assert!(text.contains("npm install --save-dev bun"), "{text}");
    }
}
