//! The pool of one function: its shared state and the placement policy every stage uses.
//!
//! All state sits behind one `std::sync::Mutex` that is never held across an `.await`. Each
//! change (a request arrives, a slot frees, an instance starts, drains or exits) ends with
//! [`Pool::dispatch`] (hand free slots to queued requests, FIFO, busiest instance first) and
//! [`Pool::scale`] (start the instances the queue and the warm minimum need, or fail the requests
//! that need one while spawning is backing off).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use eddy_runtime::{Instance, InstanceId, InstanceSpec, Runtime, SpawnError};
use tokio::runtime::Handle;
use tokio::sync::{Notify, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::admit::Slot;
use crate::{InstanceIds, InvokeFailure, PoolConfig};

/// After a failed spawn, no other spawn is attempted for this long; requests that need a new
/// instance meanwhile fail at once with the same error.
pub(crate) const SPAWN_BACKOFF: Duration = Duration::from_secs(1);

/// The Fluid pool of one function: admits invocations onto instances, queues them when every
/// instance is full, scales out and in, pre-warms, and retires instances that drain or exit.
///
/// Created once per function (per deployment) with [`Pool::new`]; shared by all requests to it.
pub struct Pool {
    pub(crate) function: String,
    pub(crate) spec: Arc<InstanceSpec>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) config: PoolConfig,
    pub(crate) ids: Arc<InstanceIds>,
    pub(crate) state: Mutex<State>,
    pub(crate) counters: Counters,
    /// Notified whenever a spawn settles, so `retire_all` can wait for spawns in progress.
    pub(crate) spawns_settled: Notify,
    /// The runtime the pool was created in. Background work (spawns, drains, health watches)
    /// goes there, also when a slot is given back from a thread outside it.
    pub(crate) tasks: Handle,
}

/// Everything that changes, under the pool's lock.
#[derive(Default)]
pub(crate) struct State {
    /// Running instances, ready or draining, in the order they started.
    pub(crate) instances: Vec<Entry>,
    /// Spawns in progress.
    pub(crate) starting: Vec<Starting>,
    /// Requests waiting for a slot, oldest first.
    pub(crate) waiters: VecDeque<Waiter>,
    pub(crate) next_ticket: u64,
    /// The last spawn failure, while spawning backs off.
    pub(crate) backoff: Option<Backoff>,
    /// Set by `retire_all`: no admissions, no spawns.
    pub(crate) shutdown: bool,
}

/// One running instance as the pool sees it.
pub(crate) struct Entry {
    pub(crate) id: InstanceId,
    pub(crate) instance: Arc<dyn Instance>,
    /// Takes no new invocations; retires once `in_flight` reaches 0.
    pub(crate) draining: bool,
    pub(crate) in_flight: u32,
    /// Invocations finished on this instance.
    pub(crate) served: u64,
    /// When `in_flight` last dropped to 0 (or the instance became ready).
    pub(crate) idle_since: Instant,
    /// The task watching the instance's health.
    pub(crate) watcher: AbortHandle,
}

pub(crate) struct Starting {
    pub(crate) id: InstanceId,
    pub(crate) since: Instant,
}

pub(crate) struct Backoff {
    pub(crate) until: Instant,
    pub(crate) error: Arc<SpawnError>,
}

/// A queued request; it receives its slot (or why it gets none) through `tx`.
pub(crate) struct Waiter {
    pub(crate) ticket: u64,
    pub(crate) tx: oneshot::Sender<Result<Slot, InvokeFailure>>,
}

/// Monotonic totals for the snapshot.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) invocations: AtomicU64,
    pub(crate) cold_starts: AtomicU64,
    pub(crate) instances_started: AtomicU64,
    pub(crate) spawn_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// Creates the pool of `function`, starts its `min_instances` and its reaper task (which
    /// retires idle instances and keeps the warm minimum). Must be called inside a tokio runtime
    /// (it panics otherwise); the pool's background tasks run there.
    /// `ids` is shared by all pools of the process so instance ids stay unique.
    pub fn new(
        function: String,
        spec: Arc<InstanceSpec>,
        runtime: Arc<dyn Runtime>,
        config: PoolConfig,
        ids: Arc<InstanceIds>,
    ) -> Arc<Pool> {
        let pool = Arc::new(Pool {
            function,
            spec,
            runtime,
            config: config.normalized(),
            ids,
            state: Mutex::new(State::default()),
            counters: Counters::default(),
            spawns_settled: Notify::new(),
            tasks: Handle::current(),
        });
        pool.scale(&mut pool.lock());
        pool.tasks
            .spawn(crate::lifecycle::reap(Arc::downgrade(&pool)));
        pool
    }

    /// The function this pool runs.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The name of the runtime that starts this pool's instances (`node`, `edge`, ...).
    pub fn runtime(&self) -> &'static str {
        self.runtime.name()
    }

    /// The pool's configuration, after normalization.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counts that are still consistent enough to
        // keep serving; refusing all traffic afterwards would be worse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ready instance that should take the next invocation: the busiest one below its
    /// limit (the oldest among equals), so that the least busy ones go idle and retire.
    pub(crate) fn pick(&self, state: &State) -> Option<usize> {
        state
            .instances
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.draining && e.in_flight < self.config.max_concurrency)
            .max_by(|(ia, a), (ib, b)| a.in_flight.cmp(&b.in_flight).then(ib.cmp(ia)))
            .map(|(index, _)| index)
    }

    /// Takes one slot of the instance at `index`.
    pub(crate) fn occupy(self: &Arc<Self>, state: &mut State, index: usize, cold: bool) -> Slot {
        let entry = &mut state.instances[index];
        entry.in_flight += 1;
        Slot::new(
            Arc::clone(self),
            Arc::clone(&entry.instance),
            entry.id,
            cold,
        )
    }

    /// Hands free slots to queued requests, oldest request first. Slots of `fresh`, the instance
    /// that has just started for the queue, are cold.
    pub(crate) fn dispatch(self: &Arc<Self>, state: &mut State, fresh: Option<InstanceId>) {
        while !state.waiters.is_empty() {
            let Some(index) = self.pick(state) else {
                return;
            };
            let cold = fresh == Some(state.instances[index].id);
            let slot = self.occupy(state, index, cold);
            let Some(waiter) = state.waiters.pop_front() else {
                return;
            };
            if let Err(Ok(slot)) = waiter.tx.send(Ok(slot)) {
                // The request went away between its last check and now: take the slot back.
                slot.disarm();
                state.instances[index].in_flight -= 1;
            }
        }
    }

    /// Starts the instances that the queue (one spawn brings `max_concurrency` slots) and the
    /// warm minimum need, within `max_instances`. While spawning backs off after a failure, the
    /// queued requests that no spawn in progress covers fail with that failure instead; after
    /// the back-off a single spawn probes until one succeeds.
    pub(crate) fn scale(self: &Arc<Self>, state: &mut State) {
        if state.shutdown {
            return;
        }
        let per_instance = self.config.max_concurrency as usize;
        let ready = state.instances.iter().filter(|e| !e.draining).count();
        let live = ready + state.starting.len();
        let room = (self.config.max_instances as usize).saturating_sub(live);
        let covered = state.starting.len() * per_instance;
        let uncovered = state.waiters.len().saturating_sub(covered);
        let for_queue = uncovered.div_ceil(per_instance);
        let for_minimum = (self.config.min_instances as usize).saturating_sub(live);
        let wanted = for_queue.max(for_minimum).min(room);
        if wanted == 0 {
            return;
        }
        let now = Instant::now();
        let wanted = match &state.backoff {
            Some(backoff) if backoff.until > now => {
                if uncovered > 0 {
                    let error = Arc::clone(&backoff.error);
                    for waiter in state.waiters.split_off(covered) {
                        let _gone = waiter
                            .tx
                            .send(Err(InvokeFailure::Spawn(Arc::clone(&error))));
                    }
                }
                return;
            }
            // The last spawn failed: probe with one spawn until one succeeds; the queue waits
            // for the probe.
            Some(_) if state.starting.is_empty() => 1,
            Some(_) => return,
            None => wanted,
        };
        for _ in 0..wanted {
            self.start_spawn(state);
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("function", &self.function)
            .field("runtime", &self.runtime.name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for entry in &state.instances {
            entry.watcher.abort();
        }
    }
}
