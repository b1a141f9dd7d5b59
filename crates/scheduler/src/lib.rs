//! eddy-scheduler: Fluid compute pools, one [`Pool`] per function.
//!
//! A pool admits each invocation onto a ready instance with spare capacity, preferring the
//! busiest one below its `max_concurrency` so the others go idle and retire. When every instance
//! is full it queues the request (FIFO) and starts as many instances as the queue needs, up to
//! `max_instances`; `max_concurrency = 1` is classic one-request-per-instance mode. A slot is
//! held until the response body ends. `maxDuration` ends only the invocation that exceeds it.
//! Instances that report `Draining` finish their work and retire; `Exited` ones are dropped and
//! replaced on demand; idle ones retire after `idle_timeout`, down to a pre-warmed minimum.
//!
//! It does not parse HTTP or build error responses (the gateway maps [`InvokeFailure`] to Vercel
//! error codes) and contains no runtime: it drives [`eddy_runtime::Runtime`] and
//! [`eddy_runtime::Instance`].
//!
//! Stages, as tracing event names with `function` and `instance` fields: `admit` → `spawn` →
//! `invoke` → `drain` → `retire`. Time comes from `tokio::time` only.

mod admit;
mod body;
mod config;
mod invoke;
mod lifecycle;
mod pool;
mod snapshot;

#[cfg(test)]
mod fake;

use std::sync::atomic::{AtomicU64, Ordering};

use eddy_runtime::InstanceId;

pub use body::MaxDurationExceeded;
pub use config::PoolConfig;
pub use invoke::{InvokeFailure, Invoked};
pub use pool::Pool;
pub use snapshot::{InstanceSnapshot, InstanceState, PoolSnapshot};

/// Hands out [`InstanceId`]s unique within the process; share one across all pools.
#[derive(Debug, Default)]
pub struct InstanceIds {
    last: AtomicU64,
}

impl InstanceIds {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id; the first is `i1`.
    pub fn next(&self) -> InstanceId {
        InstanceId(self.last.fetch_add(1, Ordering::Relaxed) + 1)
    }
}
