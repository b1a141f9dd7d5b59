//! eddy-runtime-wasm: WebAssembly components that implement the `wasi:http/proxy` world (WASI
//! 0.2), served as functions on wasmtime — the model of `wasmtime serve` and Spin.
//!
//! It owns the wasmtime engine, the compile cache, and [`WasmRuntime`]/[`WasmInstance`], the
//! `eddy-runtime` implementations for runtime id `wasm`. It does not own `?module` imports of
//! core modules from JavaScript functions (the node launcher and the Edge runtime do those), nor
//! scaling (the scheduler).
//!
//! How a Fluid pool maps onto wasmtime: one [`WasmInstance`] is one component, compiled once
//! (cached on disk, see `cache`) and pre-instantiated against the host's imports (`ProxyPre`).
//! Every invocation takes a fresh `Store` and component instance from the pooling allocator, with
//! linear memories initialised copy-on-write from the compiled image, so it starts in
//! microseconds and shares nothing with other invocations: a trap, a leak or a memory hog ends
//! only its own request and the instance stays ready. The scheduler's `maxConcurrency` bounds the
//! invocations of one instance; the pool's slots ([`WasmConfig::slots`]) bound them across all
//! Wasm functions.
//!
//! Per invocation the guest gets the function's env vars, its files read-only at `/`
//! ([`GUEST_ROOT`]), stdout/stderr as request-tagged log lines (target `eddy::function`),
//! outgoing HTTP through `wasi:http/outgoing-handler`, its `memory` as a cap on linear memory,
//! and `maxDuration` (plus a short grace) as an epoch deadline. It yields to tokio on every
//! epoch tick, so dropping the invocation (the scheduler's timeout, a client gone) stops even a
//! guest spinning in a loop within one tick.
//!
//! Neighbours: `eddy-scheduler` calls [`Runtime::spawn`] and [`Instance::invoke`]; `eddy-build`
//! detects `api/**/*.wasm` as functions with runtime `wasm`.

mod cache;
mod engine;
mod host;
mod instance;
mod logs;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eddy_runtime::{BoxFuture, Instance, InstanceId, InstanceSpec, Runtime, SpawnError};
use tracing::Instrument as _;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

pub use cache::{LoadError, Loaded, WasmKind, wasm_kind};
pub use host::GUEST_ROOT;
pub use instance::WasmInstance;

use crate::cache::ComponentCache;
use crate::engine::Ticker;
use crate::host::Host;

/// Settings of a [`WasmRuntime`].
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Where compiled components are kept between runs.
    pub cache_dir: PathBuf,
    /// Component instances the pooling allocator reserves: the most invocations in flight at
    /// once across every Wasm function of this runtime. Each slot reserves address space (about
    /// 4 GiB of virtual memory per linear memory), not RAM.
    pub slots: u32,
    /// Epoch tick: how often a running guest checks its deadline and yields.
    pub tick: Duration,
}

impl WasmConfig {
    pub const DEFAULT_SLOTS: u32 = 1000;
    pub const DEFAULT_TICK: Duration = Duration::from_millis(10);

    /// Defaults, with compiled components kept in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            slots: Self::DEFAULT_SLOTS,
            tick: Self::DEFAULT_TICK,
        }
    }

    /// `$XDG_CACHE_HOME/eddy/wasm`, else `$HOME/.cache/eddy/wasm`, else a directory under the
    /// system's temporary directory.
    pub fn default_cache_dir() -> PathBuf {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|home| PathBuf::from(home).join(".cache"))
            });
        match base {
            Some(base) => base.join("eddy").join("wasm"),
            None => std::env::temp_dir().join("eddy-wasm-cache"),
        }
    }
}

impl Default for WasmConfig {
    fn default() -> Self {
        Self::new(Self::default_cache_dir())
    }
}

/// Why the Wasm runtime could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("wasm runtime: cannot configure wasmtime: {0}")]
    Config(String),
    #[error("wasm runtime: cannot start the epoch ticker thread: {0}")]
    Ticker(#[source] std::io::Error),
}

/// The Wasm runtime: one engine, linker and compile cache shared by every Wasm function.
/// Cheap to clone.
#[derive(Clone)]
pub struct WasmRuntime {
    shared: Arc<Shared>,
}

struct Shared {
    engine: Engine,
    linker: Linker<Host>,
    cache: ComponentCache,
    ticker: Arc<Ticker>,
}

impl WasmRuntime {
    /// Builds the engine (reserving the pool's address space) and starts the epoch ticker.
    pub fn new(config: WasmConfig) -> Result<Self, EngineError> {
        let config_error = |e: wasmtime::Error| EngineError::Config(format!("{e:?}"));
        let engine = engine::build(config.slots).map_err(config_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(config_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(config_error)?;
        let ticker = Ticker::start(engine.clone(), config.tick).map_err(EngineError::Ticker)?;
        let cache = ComponentCache::new(&engine, config.cache_dir);
        Ok(Self {
            shared: Arc::new(Shared {
                engine,
                linker,
                cache,
                ticker,
            }),
        })
    }

    /// Where compiled components are kept.
    pub fn cache_dir(&self) -> &Path {
        self.shared.cache.dir()
    }

    /// The cache file a component with these bytes compiles to.
    pub fn cache_file(&self, component: &[u8]) -> PathBuf {
        self.shared.cache.file_for(component)
    }

    /// Starts one instance of the component `spec.root/spec.handler`: loads (or compiles) it and
    /// pre-instantiates it. Errors name the file and say what to do.
    pub async fn spawn_instance(
        &self,
        spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> Result<(Arc<WasmInstance>, Loaded), SpawnError> {
        let started = Instant::now();
        let shared = self.shared.clone();
        let load_spec = spec.clone();
        let prepared = tokio::task::spawn_blocking(move || prepare(&shared, &load_spec))
            .await
            .map_err(|join| SpawnError::Init {
                function: spec.function.clone(),
                message: format!("loading the component stopped abnormally: {join}"),
            })?;
        let (pre, loaded) = prepared.map_err(|message| SpawnError::Init {
            function: spec.function.clone(),
            message,
        })?;
        let cold_start = started.elapsed();
        tracing::info!(name: "spawn", function = %spec.function, instance = %id, cold_start_ms = cold_start.as_secs_f64() * 1000.0, loaded = ?loaded, "wasm instance ready");
        let instance = WasmInstance::new(id, spec, pre, cold_start, self.shared.ticker.clone());
        Ok((Arc::new(instance), loaded))
    }
}

/// Loads and pre-instantiates the component of `spec`. Blocking.
fn prepare(shared: &Shared, spec: &InstanceSpec) -> Result<(ProxyPre<Host>, Loaded), String> {
    let path = spec.root.join(&spec.handler);
    let name = Path::new(&spec.handler);
    let (component, loaded) = shared
        .cache
        .load(&shared.engine, &path, name)
        .map_err(|error| error.to_string())?;
    let pre = shared.linker.instantiate_pre(&component).map_err(|error| {
        format!(
            "{} imports something eddy does not provide ({error}); a function component may \
             import only the interfaces of the wasi:http/proxy and wasi:cli worlds",
            spec.handler
        )
    })?;
    let pre = ProxyPre::new(pre).map_err(|error| {
        format!(
            "{} does not export wasi:http/incoming-handler ({error}); build it as a wasi:http \
             proxy component (e.g. with the wstd crate's #[wstd::http_server])",
            spec.handler
        )
    })?;
    Ok((pre, loaded))
}

impl Runtime for WasmRuntime {
    fn name(&self) -> &'static str {
        "wasm"
    }

    fn spawn(
        &self,
        spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> BoxFuture<'static, Result<Arc<dyn Instance>, SpawnError>> {
        let runtime = self.clone();
        let span = tracing::info_span!("spawn", function = %spec.function, instance = %id);
        Box::pin(
            async move {
                let (instance, _) = runtime.spawn_instance(spec, id).await?;
                Ok(instance as Arc<dyn Instance>)
            }
            .instrument(span),
        )
    }
}
