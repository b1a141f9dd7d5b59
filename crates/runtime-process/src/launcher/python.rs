//! The Python launcher: `launchers/python/*.py` (standard library only) run by the real
//! interpreter, with Vercel's three entry shapes: a `BaseHTTPRequestHandler` subclass named
//! `handler`, a WSGI app, an ASGI app (vercel-compat 3).

use std::path::{Path, PathBuf};
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use super::{Launch, Prepared, find_program, probe_output, toolchain_missing, write_assets};
use crate::ProcessRuntime;

/// The launcher's modules, written side by side into one directory; `eddy_launcher.py` is the
/// entry point and imports the others.
const PYTHON_ASSETS: &[(&str, &str)] = &[
    (
        "eddy_launcher.py",
        include_str!("../../launchers/python/eddy_launcher.py"),
    ),
    (
        "eddy_ipc.py",
        include_str!("../../launchers/python/eddy_ipc.py"),
    ),
    (
        "eddy_invocation.py",
        include_str!("../../launchers/python/eddy_invocation.py"),
    ),
    (
        "eddy_threads.py",
        include_str!("../../launchers/python/eddy_threads.py"),
    ),
    (
        "eddy_asgi.py",
        include_str!("../../launchers/python/eddy_asgi.py"),
    ),
];

/// The oldest Python the launcher supports.
const MIN_PYTHON: (u32, u32) = (3, 9);

/// Separates the vendored dependencies directory from the entry file in a handler string
/// written by eddy-build's Python step: `<absolute vendor dir>::<entry file>`.
const VENDOR_SEPARATOR: &str = "::";

/// How eddy runs Python functions.
#[derive(Debug, Clone)]
pub struct PythonConfig {
    /// The interpreter: a path, or a name looked up on eddy's `PATH`. It is asked once for its
    /// `sys.executable`, which is what instances run (so a pyenv shim's ~50 ms per start is
    /// paid once, not per instance).
    pub python: PathBuf,
    /// How long an instance may take from spawn to `server-started`, importing the user's
    /// module (and an ASGI app's lifespan startup) included.
    pub spawn_timeout: Duration,
}

impl Default for PythonConfig {
    fn default() -> Self {
        Self {
            python: PathBuf::from("python3"),
            spawn_timeout: Duration::from_secs(30),
        }
    }
}

impl ProcessRuntime {
    /// Python functions (`python3.x`), run by eddy's own launcher with Vercel's handler, WSGI
    /// and ASGI shapes.
    pub fn python(config: PythonConfig) -> Self {
        Self::with_launcher(config)
    }
}

impl Launch for PythonConfig {
    fn name(&self) -> &'static str {
        "python"
    }

    fn spawn_timeout(&self) -> Duration {
        self.spawn_timeout
    }

    fn prepare<'a>(
        &'a self,
        spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Prepared, SpawnError>> {
        Box::pin(prepare_python(self, spec))
    }

    fn env(&self, spec: &InstanceSpec) -> Vec<(String, String)> {
        let (vendor, entry) = split_handler(&spec.handler);
        let mut env = vec![
            ("EDDY_HANDLER".to_string(), entry.to_string()),
            // Output written straight to the process's stdout (by child processes, C code)
            // reaches eddy's log as it is written.
            ("PYTHONUNBUFFERED".to_string(), "1".to_string()),
        ];
        if let Some(vendor) = vendor {
            env.push(("EDDY_PYTHON_VENDOR".to_string(), vendor.to_string()));
        }
        env
    }
}

/// `(vendor dir, entry file)` of a handler string: `/abs/vendor::api/index.py` or
/// `api/index.py`. The vendor part is always absolute, so a relative entry file that happens
/// to contain `::` is never split.
pub(crate) fn split_handler(handler: &str) -> (Option<&str>, &str) {
    if handler.starts_with('/')
        && let Some((vendor, entry)) = handler.split_once(VENDOR_SEPARATOR)
        && !entry.is_empty()
    {
        return (Some(vendor), entry);
    }
    (None, handler)
}

async fn prepare_python(
    config: &PythonConfig,
    spec: &InstanceSpec,
) -> Result<Prepared, SpawnError> {
    let missing = |detail: String| toolchain_missing(spec, detail);
    let install = format!(
        "install Python {}.{} or newer and put `python3` on PATH (e.g. apt-get install python3), or configure the interpreter eddy uses",
        MIN_PYTHON.0, MIN_PYTHON.1
    );
    let program = find_program(spec, &config.python, &install)?;
    let (executable, version) = interpreter(&program).await.map_err(|error| {
        missing(format!(
            "`{}` did not run: {error} ({install})",
            program.display()
        ))
    })?;
    if version < MIN_PYTHON {
        return Err(missing(format!(
            "python {}.{} is too old ({install})",
            version.0, version.1
        )));
    }
    let dir = write_assets(spec, "python", PYTHON_ASSETS).await?;
    let args = vec![dir.path().join("eddy_launcher.py").into_os_string()];
    Ok(Prepared {
        program: executable,
        args,
        lean_args: None,
        _assets: Some(dir),
    })
}

/// Asks `program` for its real executable and version (through a pyenv shim, too).
async fn interpreter(program: &Path) -> std::io::Result<(PathBuf, (u32, u32))> {
    let mut command = tokio::process::Command::new(program);
    command
        .args([
            "-c",
            "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])",
        ])
        .env_clear();
    // A pyenv shim needs PATH and HOME to find its interpreter.
    for key in ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    let output = probe_output(
        &mut command,
        Duration::from_secs(10),
        "asking it for its version hung for 10 s",
    )
    .await?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(std::io::Error::other(format!(
            "it failed ({}): {}",
            output.status,
            stderr.trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_interpreter(&stdout)
        .ok_or_else(|| std::io::Error::other(format!("it printed an unexpected answer {stdout:?}")))
}

/// `"/usr/bin/python3.11\n3.11\n"` → the executable and `(3, 11)`.
fn parse_interpreter(text: &str) -> Option<(PathBuf, (u32, u32))> {
    let mut lines = text.lines();
    let executable = PathBuf::from(lines.next()?.trim());
    let (major, minor) = lines.next()?.trim().split_once('.')?;
    if !executable.is_absolute() {
        return None;
    }
    Some((executable, (major.parse().ok()?, minor.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launcher::resolve_program;

    #[test]
    fn splits_a_vendored_handler_and_leaves_plain_ones_alone() {
        assert_eq!(
            split_handler("/p/.vercel/eddy/python/vendor-1a::api/index.py"),
            (Some("/p/.vercel/eddy/python/vendor-1a"), "api/index.py")
        );
        assert_eq!(split_handler("api/index.py"), (None, "api/index.py"));
        assert_eq!(split_handler("api/a::b.py"), (None, "api/a::b.py"));
        assert_eq!(
            split_handler("/abs/api/index.py"),
            (None, "/abs/api/index.py")
        );
    }

    #[test]
    fn parses_the_interpreters_answer() {
        assert_eq!(
            parse_interpreter("/usr/bin/python3.11\n3.11\n"),
            Some((PathBuf::from("/usr/bin/python3.11"), (3, 11)))
        );
        assert_eq!(parse_interpreter("python3\n3.11\n"), None);
        assert_eq!(parse_interpreter("/usr/bin/python3\n"), None);
        assert_eq!(parse_interpreter(""), None);
    }

    #[test]
    fn every_launcher_import_is_embedded() {
        let mut imports = 0;
        for (name, source) in PYTHON_ASSETS {
            for line in source.lines() {
                let module = line
                    .strip_prefix("import eddy_")
                    .or_else(|| line.strip_prefix("from eddy_"))
                    .map(|rest| rest.split([' ', '\t']).next().unwrap_or(""));
                if let Some(module) = module {
                    let file = format!("eddy_{module}.py");
                    assert!(
                        PYTHON_ASSETS.iter().any(|(n, _)| *n == file),
                        "{name} imports {file}, which is not embedded"
                    );
                    imports += 1;
                }
            }
        }
        assert!(imports >= PYTHON_ASSETS.len() - 1, "only {imports} imports");
    }

    #[tokio::test]
    async fn prepare_writes_the_launcher_and_resolves_the_real_interpreter() {
        let config = PythonConfig::default();
        if resolve_program(&config.python).is_none() {
            eprintln!("note: python3 is not installed; skipping");
            return;
        }
        let spec = InstanceSpec {
            function: "api/x".into(),
            runtime: "python3.11".into(),
            root: PathBuf::from("/"),
            handler: "api/x.py".into(),
            source: PathBuf::from("/api/x.py"),
            env: Default::default(),
            memory_mb: 128,
            max_duration: Duration::from_secs(1),
            options: serde_json::Value::Null,
        };
        let prepared = prepare_python(&config, &spec).await.unwrap();
        assert!(prepared.program.is_absolute());
        assert!(
            !prepared.program.to_string_lossy().contains("shims"),
            "{}",
            prepared.program.display()
        );
        let script = PathBuf::from(prepared.args.last().unwrap());
        assert!(script.is_file());
        for (name, _) in PYTHON_ASSETS {
            assert!(script.with_file_name(name).is_file(), "{name} missing");
        }
    }

    #[tokio::test]
    async fn a_missing_interpreter_names_the_function_and_how_to_install() {
        let config = PythonConfig {
            python: PathBuf::from("eddy-no-such-python"),
            ..PythonConfig::default()
        };
        let spec = InstanceSpec {
            function: "api/hello".into(),
            runtime: "python3.11".into(),
            root: PathBuf::from("/"),
            handler: "api/hello.py".into(),
            source: PathBuf::from("/api/hello.py"),
            env: Default::default(),
            memory_mb: 128,
            max_duration: Duration::from_secs(1),
            options: serde_json::Value::Null,
        };
        let error = prepare_python(&config, &spec)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("api/hello"), "{error}");
        assert!(error.contains("python3.11"), "{error}");
        assert!(error.contains("install Python"), "{error}");
    }
}
