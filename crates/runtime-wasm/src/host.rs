//! The host side of one invocation: the state inside its wasmtime `Store` (WASI context with the
//! function's env and files, `wasi:http` context, resource table) and the limits applied to it.

use std::time::Instant;

use eddy_runtime::InstanceSpec;
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::logs::{LogStream, Stream, Tags};

/// Where the function's files appear inside the guest: the filesystem root, read-only. A guest's
/// relative paths resolve from `/` too, so `api/data.json` and `/api/data.json` both name
/// `<function root>/api/data.json`.
pub const GUEST_ROOT: &str = "/";

/// Store data of one invocation.
pub(crate) struct Host {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    memory: MemoryLimit,
    /// When the guest must have finished; checked on every epoch tick.
    deadline: Instant,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// Why a guest was stopped by the host (the message of the trap it gets).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Stopped {
    #[error("the function ran past its deadline of {0:?} and was stopped")]
    Deadline(std::time::Duration),
    #[error(
        "the function tried to use more than its memory limit of {limit_mb} MB (raise `memory` \
         for it in vercel.json, or use less)"
    )]
    Memory { limit_mb: u32 },
}

/// Builds the store of one invocation: env vars from the spec, stdout/stderr as request-tagged
/// logs, the function root preopened read-only at [`GUEST_ROOT`], the memory limit and the
/// deadline (the guest yields to the executor on every epoch tick and traps once past it).
pub(crate) fn store(
    engine: &wasmtime::Engine,
    spec: &InstanceSpec,
    tags: Tags,
    budget: std::time::Duration,
) -> wasmtime::Result<Store<Host>> {
    let mut wasi = WasiCtx::builder();
    for (key, value) in &spec.env {
        wasi.env(key, value);
    }
    wasi.stdout(LogStream::new(tags.clone(), Stream::Stdout))
        .stderr(LogStream::new(tags, Stream::Stderr))
        .preopened_dir(&spec.root, GUEST_ROOT, FsPerms::ReadOnly)?;
    let host = Host {
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        memory: MemoryLimit {
            limit_mb: spec.memory_mb,
        },
        deadline: Instant::now() + budget,
    };
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.memory);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |ctx| {
        if Instant::now() >= ctx.data().deadline {
            return Err(Stopped::Deadline(budget).into());
        }
        Ok(UpdateDeadline::Yield(1))
    });
    Ok(store)
}

/// The function's `memory` (MB) as a cap on the linear memories of one invocation.
struct MemoryLimit {
    limit_mb: u32,
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = (self.limit_mb as usize).saturating_mul(1 << 20);
        if desired > limit {
            // Trapping (rather than failing the grow) names the cause: a guest whose allocation
            // fails would otherwise abort with a bare `unreachable`.
            return Err(Stopped::Memory {
                limit_mb: self.limit_mb,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}
