//! eddy-runtime-process: runs functions as language processes (Node.js today; Python, Go, Ruby,
//! Bun and Rust launchers plug in as further launcher variants) and speaks the host side of
//! Vercel's Fluid instance protocol with them (design section 4).
//!
//! It owns spawning a process with a clean environment and a private IPC socket, the
//! `server-started` handshake, proxying invocations over HTTP/1.1 to the instance's server,
//! acting on the instance's messages (`end`, `log`, `unrecoverable-error`), and supervision:
//! exit watching, drain (SIGTERM, grace, SIGKILL), kill and `/proc` statistics. The launchers'
//! own sources live in `launchers/` and are embedded in the binary.
//!
//! It does not decide when to start or stop instances (that is `eddy-scheduler`, through the
//! [`eddy_runtime::Runtime`] and [`eddy_runtime::Instance`] traits) nor render errors (the
//! gateway's `rescue`).

mod assets;
mod cgroup;
mod child;
mod health;
mod instance;
mod ipc;
mod launcher;
mod sandbox;
mod spawn;
mod stats;
mod supervise;

use std::sync::Arc;

use eddy_runtime::{BoxFuture, Instance, InstanceId, InstanceSpec, Runtime, SpawnError};
use tokio::sync::OnceCell;
use tracing::Instrument as _;

pub use health::HealthCheck;
pub use launcher::bun::BunConfig;
pub use launcher::go::GoConfig;
pub use launcher::node::NodeConfig;
pub use launcher::python::PythonConfig;
pub use launcher::ruby::RubyConfig;
pub use launcher::rust::RustConfig;
use launcher::{Launch, Prepared};
pub use sandbox::SandboxConfig;

/// A [`Runtime`] whose instances are processes speaking the instance protocol. Share one per
/// language: the toolchain is checked and the launcher's files are written on the first
/// spawn.
pub struct ProcessRuntime {
    inner: Arc<Inner>,
    health: HealthCheck,
    sandbox: Option<Arc<SandboxConfig>>,
}

struct Inner {
    launcher: Box<dyn Launch>,
    prepared: OnceCell<Prepared>,
}

impl ProcessRuntime {
    fn with_launcher(launcher: impl Launch) -> Self {
        Self {
            inner: Arc::new(Inner {
                launcher: Box::new(launcher),
                prepared: OnceCell::new(),
            }),
            health: HealthCheck::default(),
            sandbox: None,
        }
    }

    /// Runs every instance in a filesystem sandbox of its own (namespaces, a minimal read-only
    /// root with the function at `/var/task`, a private `/tmp`, no capabilities; see
    /// `docs/security.md`). Off by default. Where the machine cannot sandbox (not root, or the
    /// kernel refuses the namespaces) instances run unsandboxed and a warning says so once.
    pub fn with_sandbox(mut self, config: SandboxConfig) -> Self {
        self.sandbox = Some(Arc::new(config));
        self
    }

    /// Checks instances with `check` instead of the default (a ping every 10 s; killed after
    /// 30 s, or the function's `maxDuration` if longer, without an answer).
    pub fn with_health_check(mut self, check: HealthCheck) -> Self {
        self.health = check;
        self
    }
}

impl std::fmt::Debug for ProcessRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessRuntime")
            .field("launcher", &self.inner.launcher)
            .finish_non_exhaustive()
    }
}

impl Runtime for ProcessRuntime {
    fn name(&self) -> &'static str {
        self.inner.launcher.name()
    }

    fn spawn(
        &self,
        spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> BoxFuture<'static, Result<Arc<dyn Instance>, SpawnError>> {
        let inner = self.inner.clone();
        let health = self.health.clone();
        let sandbox = self.sandbox.clone();
        let span = tracing::info_span!("spawn", function = %spec.function, instance = %id);
        Box::pin(
            async move {
                let launcher = &inner.launcher;
                let prepared = inner
                    .prepared
                    .get_or_try_init(|| launcher.prepare(&spec))
                    .await?;
                let env = launcher.env(&spec);
                let command = launcher.command(prepared, &spec);
                let timeout = launcher.spawn_timeout();
                let sandbox = sandbox.as_deref().map(|config| spawn::Sandboxed {
                    config,
                    assets: prepared.assets_dir(),
                });
                spawn::spawn(command, env, timeout, health, sandbox, spec, id).await
            }
            .instrument(span),
        )
    }
}
