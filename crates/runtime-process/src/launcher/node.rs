//! The Node.js launcher: `launchers/node/*.mjs` run by `node`, with Vercel's handler shapes,
//! helpers and request context.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use super::{
    Launch, Prepared, find_program, parse_major_minor, probe_output, toolchain_missing,
    write_assets,
};
use crate::ProcessRuntime;

/// The Node launcher's modules, written side by side into one directory; `launcher.mjs` is the
/// entry point. Bun runs the same files (see `launcher/bun.rs`).
pub(super) const NODE_ASSETS: &[(&str, &str)] = &[
    (
        "launcher.mjs",
        include_str!("../../launchers/node/launcher.mjs"),
    ),
    ("ipc.mjs", include_str!("../../launchers/node/ipc.mjs")),
    (
        "context.mjs",
        include_str!("../../launchers/node/context.mjs"),
    ),
    ("load.mjs", include_str!("../../launchers/node/load.mjs")),
    (
        "helpers.mjs",
        include_str!("../../launchers/node/helpers.mjs"),
    ),
    ("web.mjs", include_str!("../../launchers/node/web.mjs")),
];

/// The oldest Node.js major version the launcher supports (Vercel's oldest is `nodejs20.x`).
const MIN_NODE_MAJOR: u32 = 20;

/// How eddy runs Node.js functions.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The `node` binary: a path, or a name looked up on eddy's `PATH`.
    pub node: PathBuf,
    /// How long an instance may take from spawn to `server-started`, importing the user's
    /// module included.
    pub spawn_timeout: Duration,
    /// How long a stopping instance waits for `waitUntil` work once its last response is out
    /// (Vercel's dev server uses 30 s).
    pub wait_until_timeout: Duration,
    /// Extra arguments for `node`, placed before the launcher script (e.g.
    /// `--enable-source-maps`).
    pub node_args: Vec<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            node: PathBuf::from("node"),
            spawn_timeout: Duration::from_secs(15),
            wait_until_timeout: Duration::from_secs(30),
            node_args: Vec::new(),
        }
    }
}

impl ProcessRuntime {
    /// Node.js functions (`nodejs20.x`, `nodejs22.x`, ...), run by eddy's Node launcher with
    /// Vercel's handler shapes, helpers and request context.
    pub fn node(config: NodeConfig) -> Self {
        Self::with_launcher(config)
    }
}

impl Launch for NodeConfig {
    fn name(&self) -> &'static str {
        "node"
    }

    fn spawn_timeout(&self) -> Duration {
        self.spawn_timeout
    }

    fn prepare<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Prepared, SpawnError>> {
        Box::pin(prepare_node(self, spec))
    }

    fn env(&self, spec: &InstanceSpec) -> Vec<(String, String)> {
        let mut env = launcher_env(spec, self.wait_until_timeout);
        env.extend(heap_limit(spec));
        env
    }
}

/// Caps V8's heap at three quarters of the function's `memory`, so a leak ends in Node's own
/// "heap out of memory" error rather than only in the kernel's OOM killer (and so the limit
/// holds somewhat where cgroups are unavailable). A `--max-old-space-size` the function's own
/// `NODE_OPTIONS` sets wins.
fn heap_limit(spec: &InstanceSpec) -> Option<(String, String)> {
    let own = spec
        .env
        .get("NODE_OPTIONS")
        .map(String::as_str)
        .unwrap_or("");
    if own.contains("--max-old-space-size") {
        return None;
    }
    let heap_mb = (u64::from(spec.memory_mb) * 3 / 4).max(64);
    let options = format!("{own} --max-old-space-size={heap_mb}");
    Some(("NODE_OPTIONS".into(), options.trim_start().to_string()))
}

/// The variables `launcher.mjs` reads, for Node and Bun alike.
pub(super) fn launcher_env(
    spec: &InstanceSpec,
    wait_until_timeout: Duration,
) -> Vec<(String, String)> {
    vec![
        ("EDDY_HANDLER".into(), spec.handler.clone()),
        ("EDDY_OPTIONS".into(), spec.options.to_string()),
        (
            "EDDY_WAIT_UNTIL_TIMEOUT_MS".into(),
            wait_until_timeout.as_millis().to_string(),
        ),
    ]
}

async fn prepare_node(config: &NodeConfig, spec: &InstanceSpec) -> Result<Prepared, SpawnError> {
    let missing = |detail: String| toolchain_missing(spec, detail);
    let install = format!(
        "install Node.js {MIN_NODE_MAJOR} or newer and put `node` on PATH, or configure the node binary eddy uses"
    );
    let program = find_program(spec, &config.node, &install)?;
    let version = program_version(&program).await.map_err(|error| {
        missing(format!(
            "`{}` did not run: {error} ({install})",
            program.display()
        ))
    })?;
    let Some((major, minor)) = parse_node_version(&version) else {
        return Err(missing(format!(
            "`{}` reported an unexpected version {version:?} ({install})",
            program.display()
        )));
    };
    if major < MIN_NODE_MAJOR {
        return Err(missing(format!("node {version} is too old ({install})")));
    }
    let dir = write_assets(spec, "node", NODE_ASSETS).await?;
    let mut args: Vec<OsString> = config.node_args.iter().map(OsString::from).collect();
    // Node 20.10-22 can load an ESM `.js` next to a package.json without "type": "module" only
    // with this flag (later 20.x and 22.x enable it by default; the flag stays accepted). Vercel
    // compiles such files to CommonJS: same observable result.
    if (major, minor) >= (20, 10) && major <= 22 {
        args.push("--experimental-detect-module".into());
    }
    args.push(dir.path().join("launcher.mjs").into_os_string());
    Ok(Prepared {
        program,
        args,
        lean_args: None,
        _assets: Some(dir),
    })
}

/// What `program --version` prints, trimmed (at most 10 s, with an empty environment).
pub(super) async fn program_version(program: &Path) -> std::io::Result<String> {
    let output = probe_output(
        tokio::process::Command::new(program)
            .arg("--version")
            .env_clear(),
        Duration::from_secs(10),
        "`--version` hung for 10 s",
    )
    .await?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "`--version` failed ({})",
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `v20.20.2` → `(20, 20)`.
fn parse_node_version(version: &str) -> Option<(u32, u32)> {
    parse_major_minor(version.strip_prefix('v')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_is_capped_below_the_memory_size_unless_the_function_sets_it() {
        let mut spec = InstanceSpec {
            function: "api/x".into(),
            runtime: "nodejs20.x".into(),
            root: PathBuf::from("."),
            handler: "api/x.js".into(),
            source: PathBuf::from("api/x.js"),
            env: Default::default(),
            memory_mb: 1024,
            max_duration: Duration::from_secs(10),
            options: serde_json::Value::Null,
        };
        assert_eq!(
            heap_limit(&spec),
            Some(("NODE_OPTIONS".into(), "--max-old-space-size=768".into()))
        );
        spec.env
            .insert("NODE_OPTIONS".into(), "--enable-source-maps".into());
        assert_eq!(
            heap_limit(&spec).map(|(_, v)| v),
            Some("--enable-source-maps --max-old-space-size=768".into())
        );
        spec.env
            .insert("NODE_OPTIONS".into(), "--max-old-space-size=100".into());
        assert_eq!(heap_limit(&spec), None);
    }

    #[test]
    fn parses_node_version_strings() {
        assert_eq!(parse_node_version("v20.20.2"), Some((20, 20)));
        assert_eq!(parse_node_version("v22.1.0"), Some((22, 1)));
        assert_eq!(parse_node_version("20.1.0"), None);
        assert_eq!(parse_node_version("vX"), None);
    }

    #[test]
    fn every_relative_import_of_the_launcher_is_embedded() {
        let mut imports = 0;
        for (name, source) in NODE_ASSETS {
            for (at, pattern) in source.match_indices("from './") {
                let rest = &source[at + pattern.len()..];
                let imported = &rest[..rest.find('\'').unwrap_or(rest.len())];
                // Messages and comments show imports of the user's files (`./x.wasm?module`).
                if !imported.ends_with(".mjs") {
                    continue;
                }
                assert!(
                    NODE_ASSETS.iter().any(|(n, _)| *n == imported),
                    "{name} imports ./{imported}, which is not embedded"
                );
                imports += 1;
            }
        }
        assert!(
            imports >= NODE_ASSETS.len() - 1,
            "only {imports} relative imports found"
        );
    }
}
