//! eddy-runtime-edge: the Edge runtime. Each instance is an isolate — its own QuickJS runtime
//! and context, owned by a dedicated OS thread — serving many concurrent invocations that
//! interleave through promises, with the Web-standard APIs of Vercel's Edge runtime.
//!
//! It owns the isolate thread and its event loop (`isolate`), the bytecode cache (`bytecode`),
//! the native half of the Web APIs (`host`, `webapi`, `fetch`) and the JavaScript half (the
//! `prelude`, compiled to bytecode once per process), and the Edge limits: 128 MB per isolate,
//! no `eval`, a first byte within 25 s, interrupted busy loops, `fetch` limits, CPU time in
//! 50 ms execution units. It does not bundle user code (`eddy-build` runs esbuild) nor decide
//! how many isolates run (`eddy-scheduler`).
//!
//! Input contract: `InstanceSpec.root.join(handler)` is a script bundled by esbuild with
//! `--format=iife --global-name=__eddy_edge`.

mod body;
mod bytecode;
mod fetch;
mod host;
mod instance;
mod isolate;
mod prelude;
mod stack;
mod webapi;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use eddy_runtime::{BoxFuture, Instance, InstanceId, InstanceSpec, Runtime, SpawnError};

pub use bytecode::CompileError;
pub use instance::EdgeInstance;

/// Limits and switches of the Edge runtime; [`EdgeOptions::default`] is production's.
#[derive(Debug, Clone)]
pub struct EdgeOptions {
    /// Heap limit of one isolate (QuickJS `malloc` bytes). Exceeding it fails the running
    /// invocations and replaces the isolate.
    pub memory_limit: usize,
    /// The response head must come within this (capped by the function's `maxDuration`).
    pub first_byte_timeout: Duration,
    /// Rewrite `fetch` ports other than 80/443 to the scheme's default, as Vercel's Edge
    /// network does. On in production; `eddy dev` and tests turn it off so functions can reach
    /// local servers on any port.
    pub restrict_fetch_ports: bool,
    /// Fetches allowed per invocation.
    pub max_fetches: u32,
    /// Connections one invocation may have open at once; further fetches wait in a queue.
    pub max_connections: usize,
    /// Keep compiled bytecode next to each bundle as `<bundle>.qjsbc`.
    pub bytecode_on_disk: bool,
}

impl Default for EdgeOptions {
    fn default() -> Self {
        Self {
            memory_limit: 128 << 20,
            first_byte_timeout: Duration::from_secs(25),
            restrict_fetch_ports: true,
            max_fetches: 950,
            max_connections: 6,
            bytecode_on_disk: true,
        }
    }
}

/// Starts Edge isolates. One per eddy process; shares the bytecode cache among all isolates.
#[derive(Debug)]
pub struct EdgeRuntime {
    options: Arc<EdgeOptions>,
    cache: Arc<bytecode::BytecodeCache>,
    units: Arc<AtomicU64>,
}

impl EdgeRuntime {
    pub fn new(options: EdgeOptions) -> Self {
        let cache = Arc::new(bytecode::BytecodeCache::new(options.bytecode_on_disk));
        Self {
            options: Arc::new(options),
            cache,
            units: Arc::default(),
        }
    }

    /// Execution units used by all isolates of this runtime so far: per invocation, its CPU
    /// time in 50 ms units, rounded up (at least one). Vercel bills Edge CPU in these units.
    pub fn execution_units(&self) -> u64 {
        self.units.load(Ordering::Relaxed)
    }
}

impl Default for EdgeRuntime {
    fn default() -> Self {
        Self::new(EdgeOptions::default())
    }
}

impl Runtime for EdgeRuntime {
    fn name(&self) -> &'static str {
        "edge"
    }

    fn spawn(
        &self,
        spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> BoxFuture<'static, Result<Arc<dyn Instance>, SpawnError>> {
        Box::pin(instance::spawn(
            spec,
            id,
            self.options.clone(),
            self.cache.clone(),
            self.units.clone(),
        ))
    }
}
