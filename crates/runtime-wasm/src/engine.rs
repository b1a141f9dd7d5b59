//! The wasmtime [`Engine`] shared by every Wasm function, and the epoch ticker that lets a running
//! guest be interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Largest linear memory a guest may have: the whole 32-bit address space. The per-function
/// `memory` limit is enforced per request by the store's limiter, below this.
const MAX_MEMORY_BYTES: usize = 4 << 30;

/// Builds the engine: Cranelift, async calls, epoch interruption, and the pooling allocator with
/// `slots` component instances (each in-flight request holds one) and copy-on-write memory
/// images.
pub(crate) fn build(slots: u32) -> wasmtime::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    // A Rust or C component is one core module with its memory plus a few small shim modules
    // (tables, no memory); other toolchains add a handful more.
    pooling
        .total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(8))
        .total_memories(slots.saturating_mul(2))
        .total_tables(slots.saturating_mul(8))
        .total_stacks(slots)
        .max_memory_size(MAX_MEMORY_BYTES);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config)
}

/// Increments the engine's epoch every `tick` on its own thread until dropped. Guests check the
/// epoch at loop headers and function entries, so a spinning guest notices a deadline or a
/// cancellation within one tick.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Arc<Self>> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("eddy-wasm-epoch".to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })?;
        Ok(Arc::new(Self { stop }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
