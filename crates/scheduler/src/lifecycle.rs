//! The life of an instance in a pool: `spawn` → ready (health watched) → `drain` (uncaught error,
//! refused invocation) or idle → `retire`; or exited at any time. Also the reaper task and
//! `retire_all`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use eddy_runtime::{Health, Instance, InstanceId, SpawnError};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

use crate::Pool;
use crate::pool::{Backoff, Counters, Entry, SPAWN_BACKOFF, Starting, State};

/// The reaper wakes at least this often to keep the warm minimum after a spawn back-off.
const REAP_TICK: Duration = Duration::from_secs(1);

impl Pool {
    /// Starts one instance in the background; the queue learns about it when it is ready.
    pub(crate) fn start_spawn(self: &Arc<Self>, state: &mut State) {
        let id = self.ids.next();
        state.starting.push(Starting {
            id,
            since: Instant::now(),
        });
        tracing::debug!(name: "spawn", function = %self.function, instance = %id, "starting instance");
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            let started = Instant::now();
            let result = pool.runtime.spawn(Arc::clone(&pool.spec), id).await;
            match result {
                Ok(instance) => pool.spawned(id, instance, started.elapsed()).await,
                Err(error) => pool.spawn_failed(id, error),
            }
        });
    }

    async fn spawned(
        self: &Arc<Self>,
        id: InstanceId,
        instance: Arc<dyn Instance>,
        took: Duration,
    ) {
        Counters::bump(&self.counters.instances_started);
        {
            let mut state = self.lock();
            if !state.shutdown {
                state.starting.retain(|s| s.id != id);
                state.backoff = None;
                tracing::info!(
                    name: "spawn",
                    function = %self.function,
                    instance = %id,
                    cold_start_ms = took.as_millis() as u64,
                    "instance ready"
                );
                let watcher = self.watch(id, instance.health());
                state.instances.push(Entry {
                    id,
                    instance,
                    draining: false,
                    in_flight: 0,
                    served: 0,
                    idle_since: Instant::now(),
                    watcher,
                });
                self.dispatch(&mut state, Some(id));
                self.scale(&mut state);
                drop(state);
                self.spawns_settled.notify_waiters();
                return;
            }
        }
        // `retire_all` ran while this instance was starting: it must not outlive the pool.
        tracing::info!(name: "retire", function = %self.function, instance = %id, reason = "shutdown", "retiring instance");
        instance.drain(self.config.drain_grace).await;
        self.lock().starting.retain(|s| s.id != id);
        self.spawns_settled.notify_waiters();
    }

    fn spawn_failed(self: &Arc<Self>, id: InstanceId, error: SpawnError) {
        Counters::bump(&self.counters.spawn_failures);
        tracing::warn!(name: "spawn", function = %self.function, instance = %id, error = %error, "instance failed to start");
        {
            let mut state = self.lock();
            state.starting.retain(|s| s.id != id);
            state.backoff = Some(Backoff {
                until: Instant::now() + SPAWN_BACKOFF,
                error: Arc::new(error),
            });
            // Fails the requests that were waiting for this spawn.
            self.scale(&mut state);
        }
        self.spawns_settled.notify_waiters();
    }

    /// Follows the health of instance `id` until it exits or leaves the pool.
    fn watch(self: &Arc<Self>, id: InstanceId, mut health: watch::Receiver<Health>) -> AbortHandle {
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            loop {
                let current = health.borrow_and_update().clone();
                let Some(pool) = weak.upgrade() else {
                    return;
                };
                match current {
                    Health::Ready => {}
                    Health::Draining { reason } => pool.begin_drain(id, &reason),
                    Health::Exited { reason } => return pool.exited(id, &reason),
                }
                drop(pool);
                if health.changed().await.is_err() {
                    if let Some(pool) = weak.upgrade() {
                        pool.exited(id, "its health channel closed");
                    }
                    return;
                }
            }
        });
        task.abort_handle()
    }

    /// Stops admitting to instance `id`; retires it now if idle, else when its last invocation
    /// ends. Queued requests get a replacement instance.
    pub(crate) fn begin_drain(self: &Arc<Self>, id: InstanceId, reason: &str) {
        let mut state = self.lock();
        let Some(index) = state.instances.iter().position(|e| e.id == id) else {
            return;
        };
        let entry = &mut state.instances[index];
        if entry.draining {
            return;
        }
        entry.draining = true;
        tracing::info!(
            name: "drain",
            function = %self.function,
            instance = %id,
            in_flight = entry.in_flight,
            reason,
            "instance takes no new invocations"
        );
        if entry.in_flight == 0 {
            let entry = state.instances.remove(index);
            self.retire(entry, "drained");
        }
        self.scale(&mut state);
    }

    /// Forgets instance `id`, which is gone; its in-flight invocations fail by themselves.
    fn exited(self: &Arc<Self>, id: InstanceId, reason: &str) {
        let mut state = self.lock();
        let Some(index) = state.instances.iter().position(|e| e.id == id) else {
            return;
        };
        let entry = state.instances.remove(index);
        tracing::warn!(
            name: "retire",
            function = %self.function,
            instance = %id,
            in_flight = entry.in_flight,
            reason,
            "instance exited"
        );
        self.scale(&mut state);
    }

    /// Drains `entry`, already removed from the pool, in the background.
    pub(crate) fn retire(&self, entry: Entry, reason: &'static str) {
        entry.watcher.abort();
        tracing::info!(name: "retire", function = %self.function, instance = %entry.id, reason, "retiring instance");
        let grace = self.config.drain_grace;
        tokio::spawn(async move { entry.instance.drain(grace).await });
    }

    /// Retires ready instances idle for `idle_timeout` (longest idle first) down to
    /// `min_instances`, and restarts the warm minimum. Returns when to look again.
    fn reap_idle(self: &Arc<Self>) -> Option<Instant> {
        let mut state = self.lock();
        if state.shutdown {
            return None;
        }
        let now = Instant::now();
        let timeout = self.config.idle_timeout;
        let mut ready = state.instances.iter().filter(|e| !e.draining).count();
        let mut expired: Vec<(Instant, InstanceId)> = state
            .instances
            .iter()
            .filter(|e| !e.draining && e.in_flight == 0 && e.idle_since + timeout <= now)
            .map(|e| (e.idle_since, e.id))
            .collect();
        expired.sort();
        for (_, id) in expired {
            if ready <= self.config.min_instances as usize {
                break;
            }
            if let Some(index) = state.instances.iter().position(|e| e.id == id) {
                let entry = state.instances.remove(index);
                self.retire(entry, "idle");
                ready -= 1;
            }
        }
        self.scale(&mut state);
        let next = state
            .instances
            .iter()
            .filter(|e| !e.draining && e.in_flight == 0)
            .map(|e| e.idle_since + timeout)
            .filter(|deadline| *deadline > now)
            .min();
        Some(next.map_or(now + REAP_TICK, |d| d.min(now + REAP_TICK)))
    }

    /// Drains every instance in parallel and fails every queued request with `Shutdown`; later
    /// invocations fail with `Shutdown` too. Resolves once every instance, including those that
    /// were still starting, is gone. Used on code changes and on shutdown.
    pub async fn retire_all(&self) {
        let (entries, waiters) = {
            let mut state = self.lock();
            state.shutdown = true;
            (
                std::mem::take(&mut state.instances),
                std::mem::take(&mut state.waiters),
            )
        };
        for waiter in waiters {
            let _gone = waiter.tx.send(Err(crate::InvokeFailure::Shutdown {
                function: self.function.clone(),
            }));
        }
        let mut drains = JoinSet::new();
        for entry in entries {
            entry.watcher.abort();
            tracing::info!(name: "retire", function = %self.function, instance = %entry.id, reason = "shutdown", "retiring instance");
            drains.spawn(entry.instance.drain(self.config.drain_grace));
        }
        while drains.join_next().await.is_some() {}
        loop {
            let settled = self.spawns_settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.lock().starting.is_empty() {
                return;
            }
            settled.await;
        }
    }
}

/// The reaper task of one pool; ends when the pool is dropped or retired.
pub(crate) async fn reap(pool: Weak<Pool>) {
    loop {
        let next = match pool.upgrade() {
            Some(pool) => pool.reap_idle(),
            None => None,
        };
        let Some(next) = next else {
            return;
        };
        tokio::time::sleep_until(next).await;
    }
}
