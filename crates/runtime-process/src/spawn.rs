//! Starting one instance: a private socket directory, the process with a clean environment,
//! then the handshake: the instance connects to `VERCEL_IPC_PATH` and sends `server-started`
//! (or `unrecoverable-error`, or exits) within the spawn timeout.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_runtime::{Instance, InstanceId, InstanceSpec, SpawnError};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cgroup::{Cgroups, InstanceCgroup, Limits};
use crate::child::{self, ChildSetup};
use crate::health::{self, HealthCheck};
use crate::instance::ProcessInstance;
use crate::ipc::{self, FrameReader, MAX_FRAME, Message};
use crate::sandbox::{self, Layout, Plan, SandboxConfig};
use crate::supervise::{self, FUNCTION_TARGET, Shared, Stream};

/// The only variables of eddy's own environment an instance inherits; everything else comes
/// from the function's environment, so instances do not see eddy's secrets.
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG"];

/// After the process exited, how long to wait for a message it sent just before.
const LAST_WORDS: Duration = Duration::from_millis(500);

/// How the instance answered before being ready.
enum Hello {
    Started {
        port: u16,
        init_ms: f64,
    },
    Unrecoverable {
        message: String,
    },
    /// The socket closed without a message.
    Closed,
}

/// What ended the wait for the handshake.
enum Waited {
    Hello(io::Result<(FrameReader<UnixStream>, Hello)>),
    Exited(io::Result<ExitStatus>),
    TimedOut,
}

/// How to sandbox an instance (see [`crate::sandbox`]).
pub(crate) struct Sandboxed<'a> {
    pub config: &'a SandboxConfig,
    /// The launcher's assets directory, shown read-only inside.
    pub assets: Option<&'a Path>,
}

/// Starts the process for `spec` and waits until it is ready.
pub(crate) async fn spawn(
    (program, args): (PathBuf, Vec<OsString>),
    launcher_env: Vec<(String, String)>,
    timeout: Duration,
    health: HealthCheck,
    sandbox: Option<Sandboxed<'_>>,
    spec: Arc<InstanceSpec>,
    id: InstanceId,
) -> Result<Arc<dyn Instance>, SpawnError> {
    let started = Instant::now();
    let io_error = |source| SpawnError::Io {
        function: spec.function.clone(),
        source,
    };
    let socket_dir = tempfile::Builder::new()
        .prefix("eddy-ipc-")
        .tempdir()
        .map_err(io_error)?;
    let socket_path = socket_dir.path().join("ipc.sock");
    let listener = UnixListener::bind(&socket_path).map_err(io_error)?;
    let sandbox = sandbox.filter(|_| sandbox::available());
    let launch = match sandbox {
        Some(sandbox) => sandboxed_launch(
            &sandbox,
            &spec,
            socket_dir.path(),
            program,
            args,
            launcher_env,
        )
        .map_err(io_error)?,
        None => Launch {
            program,
            args,
            env: launcher_env,
            ipc_path: socket_path,
            home: None,
            plan: None,
        },
    };

    let mut command = Command::new(&launch.program);
    command
        .args(&launch.args)
        .current_dir(&spec.root)
        .env_clear();
    for key in INHERITED_ENV {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    if let Some(home) = launch.home {
        command.env("HOME", home);
    }
    command
        .envs(&spec.env)
        .env("TZ", "UTC")
        .env("VERCEL_IPC_PATH", &launch.ipc_path)
        .envs(launch.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C in eddy's terminal is eddy's to handle (it drains
        // instances), not a signal every instance receives at once.
        .process_group(0);
    // Declared before the child: on an early return the child is reaped first, then its cgroup
    // removed.
    let (cgroup, procs) = limit_resources(&spec, id).unzip();
    let mut setup = ChildSetup::new(procs.unwrap_or_default());
    setup.sandbox = launch.plan;
    child::install(&mut command, setup);
    let cgroup = cgroup.map(Arc::new);
    let mut child = command
        .spawn()
        .map_err(|source| io_error(explain_spawn_error(&spec.root, source)))?;

    let shared = Shared::new(id, &spec.function);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(supervise::log_output(
            stdout,
            Stream::Stdout,
            shared.clone(),
        ));
    }
    let stderr_task = child.stderr.take().map(|stderr| {
        tokio::spawn(supervise::log_output(
            stderr,
            Stream::Stderr,
            shared.clone(),
        ))
    });

    let hello = handshake(listener, shared.clone());
    tokio::pin!(hello);
    let waited = tokio::select! {
        result = &mut hello => Waited::Hello(result),
        status = child.wait() => Waited::Exited(status),
        () = tokio::time::sleep(timeout) => Waited::TimedOut,
    };
    let failure = Failure {
        spec: &spec,
        shared: &shared,
        stderr_task,
    };
    let (frames, port, init_ms) = match waited {
        Waited::Hello(Ok((frames, Hello::Started { port, init_ms }))) if port != 0 => {
            (frames, port, init_ms)
        }
        Waited::Hello(Ok((_, Hello::Started { .. }))) => {
            let message = "the instance reported HTTP port 0".to_string();
            return Err(failure.init(child, Some(message), None).await);
        }
        Waited::Hello(Ok((_, Hello::Unrecoverable { message }))) => {
            return Err(failure.init(child, Some(message), None).await);
        }
        Waited::Hello(Ok((_, Hello::Closed)) | Err(_)) => {
            return Err(failure.init(child, None, None).await);
        }
        Waited::Exited(status) => {
            let message = match tokio::time::timeout(LAST_WORDS, &mut hello).await {
                Ok(Ok((_, Hello::Unrecoverable { message }))) => Some(message),
                _ => None,
            };
            return Err(failure.init(child, message, Some(status)).await);
        }
        Waited::TimedOut => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(SpawnError::Timeout {
                function: spec.function.clone(),
                waited: timeout,
            });
        }
    };
    // Connected: nobody else may connect, and nothing is left behind if eddy dies.
    drop(socket_dir);

    let cold_start = started.elapsed();
    let pid = child.id();
    let (signals, signals_rx) = mpsc::unbounded_channel();
    tokio::spawn(supervise::read_ipc(frames, shared.clone()));
    tokio::spawn(health::watch(
        health,
        spec.max_duration,
        port,
        shared.clone(),
        signals.downgrade(),
    ));
    tokio::spawn(supervise::watch_exit(
        child,
        cgroup.clone(),
        signals_rx,
        shared.clone(),
    ));
    tracing::info!(
        name: "spawn",
        function = %spec.function,
        instance = %id,
        pid,
        port,
        cold_start_ms = cold_start.as_secs_f64() * 1000.0,
        init_ms,
        "instance ready"
    );
    Ok(Arc::new(ProcessInstance::new(
        shared, port, pid, cgroup, cold_start, signals,
    )))
}

/// What the process is started with: the launcher's command and variables, with host paths
/// turned into sandbox paths when sandboxed.
struct Launch {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    ipc_path: PathBuf,
    /// `HOME` inside the sandbox (eddy's own does not exist there).
    home: Option<&'static str>,
    plan: Option<Plan>,
}

/// The launch of a sandboxed instance: paths rewritten for the sandbox's layout, and the plan
/// of its root, mounted on an empty directory beside the socket (removed with it).
fn sandboxed_launch(
    sandbox: &Sandboxed<'_>,
    spec: &InstanceSpec,
    socket_dir: &Path,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
) -> io::Result<Launch> {
    let mut layout = Layout::new(
        sandbox.config,
        &spec.root,
        &program,
        sandbox.assets,
        socket_dir,
    );
    let program = PathBuf::from(layout.rewrite(program.as_os_str()));
    let args = args.iter().map(|arg| layout.rewrite(arg)).collect();
    let env = env
        .into_iter()
        .map(|(key, value)| {
            let value = layout
                .rewrite(OsStr::new(&value))
                .to_string_lossy()
                .into_owned();
            (key, value)
        })
        .collect();
    let new_root = socket_dir.join("root");
    std::fs::create_dir(&new_root)?;
    let plan = layout.plan(&new_root).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a path of the sandbox holds a NUL byte: {error}"),
        )
    })?;
    Ok(Launch {
        program,
        args,
        env,
        ipc_path: Path::new(sandbox::IPC_DIR).join("ipc.sock"),
        home: Some("/tmp"),
        plan: Some(plan),
    })
}

/// Cgroups of its own for the instance, limited to the function's memory and its size's
/// vCPUs (see [`crate::cgroup`]), with the `cgroup.procs` files the child writes itself into.
/// Where the machine has none the instance still starts, without limits.
fn limit_resources(
    spec: &InstanceSpec,
    id: InstanceId,
) -> Option<(InstanceCgroup, Vec<std::fs::File>)> {
    let cgroups = Cgroups::get()?;
    let limits = Limits::for_memory(spec.memory_mb);
    let created = cgroups
        .create(&format!("i{}", id.0), limits)
        .and_then(|cgroup| Ok((cgroup.procs_files()?, cgroup)));
    match created {
        Ok((procs, cgroup)) => Some((cgroup, procs)),
        Err(error) => {
            tracing::warn!(name: "cgroups", function = %spec.function, instance = %id, "the limits of this instance ({limits:?}) are not enforced: {error}");
            None
        }
    }
}

/// Accepts the instance's connection and reads until `server-started` or
/// `unrecoverable-error`; logs sent before are handled as usual.
async fn handshake(
    listener: UnixListener,
    shared: Arc<Shared>,
) -> io::Result<(FrameReader<UnixStream>, Hello)> {
    let (stream, _) = listener.accept().await?;
    let mut frames = FrameReader::new(stream, 0, MAX_FRAME);
    loop {
        let Some(frame) = frames.next().await? else {
            return Ok((frames, Hello::Closed));
        };
        match ipc::parse(&frame.bytes) {
            Ok(Message::ServerStarted {
                http_port,
                init_duration_ms,
            }) => {
                let hello = Hello::Started {
                    port: http_port,
                    init_ms: init_duration_ms,
                };
                return Ok((frames, hello));
            }
            Ok(Message::UnrecoverableError { message, .. }) => {
                return Ok((frames, Hello::Unrecoverable { message }));
            }
            Ok(other) => shared.handle(other),
            Err(error) => {
                tracing::debug!(target: FUNCTION_TARGET, function = %shared.function, instance = %shared.id, "ignored an IPC frame before server-started: {error}");
            }
        }
    }
}

/// Builds the error of a start that failed, once the process is gone and its stderr read.
struct Failure<'a> {
    spec: &'a InstanceSpec,
    shared: &'a Shared,
    stderr_task: Option<JoinHandle<()>>,
}

impl Failure<'_> {
    async fn init(
        self,
        mut child: Child,
        launcher_message: Option<String>,
        status: Option<io::Result<ExitStatus>>,
    ) -> SpawnError {
        let status = match status {
            Some(status) => status,
            None => match tokio::time::timeout(Duration::from_secs(2), child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            },
        };
        if let Some(task) = self.stderr_task {
            // Node prints a fatal error (with the file and line of a syntax error) on its way
            // out: read it all before explaining the failure.
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        let exit = supervise::exit_reason(&status);
        let message = init_message(
            launcher_message.as_deref(),
            &exit,
            &self.shared.stderr_tail(),
        );
        tracing::debug!(name: "spawn", function = %self.spec.function, instance = %self.shared.id, "instance failed to start: {exit}");
        SpawnError::Init {
            function: self.spec.function.clone(),
            message,
        }
    }
}

/// The launcher's message and/or the last stderr lines, whichever explains more.
fn init_message(launcher: Option<&str>, exit: &str, stderr_tail: &[String]) -> String {
    let mut lines: Vec<&str> = stderr_tail.iter().map(String::as_str).collect();
    // Node ends a fatal error with a blank line and its version: noise here.
    while lines
        .last()
        .is_some_and(|l| l.trim().is_empty() || l.starts_with("Node.js v"))
    {
        lines.pop();
    }
    let skip = lines.iter().take_while(|l| l.trim().is_empty()).count();
    let tail = lines[skip..].join("\n");
    let launcher = launcher.map(str::trim).filter(|m| !m.is_empty());
    match launcher {
        Some(message) if tail.is_empty() || message.contains(tail.trim()) => message.to_string(),
        // Node's own report repeats the error with more (the source line of a syntax error).
        Some(message) if tail.contains(message.lines().next().unwrap_or(message)) => tail,
        Some(message) => format!("{message}\n{tail}"),
        None if tail.is_empty() => format!("the process {exit} before it was ready"),
        None => format!("the process {exit} before it was ready:\n{tail}"),
    }
}

/// A missing working directory also reads as "not found": say which one it was.
fn explain_spawn_error(root: &Path, error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::NotFound && !root.is_dir() {
        return io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "the function directory {} does not exist (rebuild the project)",
                root.display()
            ),
        );
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn prefers_nodes_decorated_report_when_it_repeats_the_launcher_message() {
        let stderr = tail(&[
            "file:///app/api/bad.mjs:2",
            "  res.end('x'",
            "          ^^^",
            "",
            "SyntaxError: missing ) after argument list",
            "    at compileSourceTextModule (node:internal/modules/esm/utils:346:16)",
            "",
            "Node.js v20.20.2",
        ]);
        let message = init_message(
            Some("SyntaxError: missing ) after argument list\n    at compileSourceTextModule"),
            "exited with code 1",
            &stderr,
        );
        assert!(
            message.starts_with("file:///app/api/bad.mjs:2"),
            "{message}"
        );
        assert!(!message.contains("Node.js v20"), "{message}");
    }

    #[test]
    fn keeps_the_launcher_message_alone_when_stderr_is_empty() {
        let message = init_message(
            Some("function api/x.js: handler export not found"),
            "exited with code 1",
            &[],
        );
        assert_eq!(message, "function api/x.js: handler export not found");
    }

    #[test]
    fn explains_a_silent_exit_with_its_status_and_stderr() {
        assert_eq!(
            init_message(None, "exited with code 3", &[]),
            "the process exited with code 3 before it was ready"
        );
        let message = init_message(None, "exited with code 1", &tail(&["Error: no", "  at x"]));
        assert_eq!(
            message,
            "the process exited with code 1 before it was ready:\nError: no\n  at x"
        );
    }

    #[test]
    fn names_a_missing_function_directory() {
        let error = explain_spawn_error(
            Path::new("/nonexistent/eddy/fn"),
            io::Error::from(io::ErrorKind::NotFound),
        );
        assert!(
            error
                .to_string()
                .contains("/nonexistent/eddy/fn does not exist")
        );
    }
}
