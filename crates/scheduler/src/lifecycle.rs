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
        self.tasks.spawn(async move {
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
        let task = self.tasks.spawn(async move {
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
        self.tasks
            .spawn(async move { entry.instance.drain(grace).await });
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use eddy_runtime::{Health, Instance};
    use tokio::time::{Instant, sleep};

    use crate::fake::{DRAIN_TIME, FakeRuntime, call, config, invocation, pool, settle};
    use crate::{InstanceState, InvokeFailure};

    fn draining() -> Health {
        Health::Draining {
            reason: "uncaught exception".into(),
        }
    }

    fn exited() -> Health {
        Health::Exited {
            reason: "exit code 1".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn draining_instance_finishes_in_flight_work_gets_none_new_then_is_drained() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(10, 5));
        let in_flight = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let first = runtime.instance(0);
        first.set_health(draining());
        settle().await;
        assert_eq!(pool.snapshot().instances[0].state, InstanceState::Draining);
        let next = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        assert_ne!(next.instance, first.id());
        assert!(next.cold);
        assert_eq!(first.received(), 1);
        assert_eq!(
            first.drains(),
            0,
            "drained while an invocation was in flight"
        );
        drop(in_flight);
        settle().await;
        assert_eq!(first.drains(), 1);
        let snapshot = pool.snapshot();
        assert_eq!(snapshot.instances.len(), 1);
        assert_eq!(snapshot.instances[0].id, next.instance);
    }

    #[tokio::test(start_paused = true)]
    async fn exited_instance_is_removed_and_replaced_on_next_request() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(10, 5));
        let first = call(&pool, "/sleep/0").await.expect("served");
        runtime.instance(0).set_health(exited());
        settle().await;
        assert!(pool.snapshot().instances.is_empty());
        assert_eq!(runtime.spawn_calls(), 1, "replaced before anyone needed it");
        let second = call(&pool, "/sleep/0")
            .await
            .expect("served by a replacement");
        assert_ne!(second.instance, first.instance);
        assert!(second.cold);
        assert_eq!(runtime.instance(0).drains(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn queued_requests_get_a_replacement_when_the_capped_instance_exits() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(1, 1));
        let _stuck = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { call(&pool, "/sleep/0").await }
        });
        sleep(Duration::from_secs(1)).await;
        assert_eq!(runtime.spawn_calls(), 1);
        runtime.instance(0).set_health(exited());
        let done = waiting
            .await
            .expect("task")
            .expect("served by the replacement");
        assert_eq!(done.instance, runtime.instance(1).id());
        assert!(done.cold);
    }

    #[tokio::test(start_paused = true)]
    async fn spawn_failure_fails_every_waiter_then_backs_off_for_a_second() {
        let runtime = FakeRuntime::new(Duration::from_millis(100));
        runtime.fail_next_spawns(1);
        let pool = pool(&runtime, config(10, 5));
        let mut waiters = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let pool = pool.clone();
            waiters.spawn(async move { call(&pool, "/sleep/0").await });
        }
        while let Some(result) = waiters.join_next().await {
            match result.expect("task") {
                Err(InvokeFailure::Spawn(error)) => {
                    assert!(error.to_string().contains("SyntaxError: boom"));
                }
                other => panic!("expected Spawn, got {other:?}"),
            }
        }
        assert_eq!(runtime.spawn_calls(), 1);
        // Inside the back-off window: fails at once with the last error, no new attempt.
        let started = Instant::now();
        let fast = call(&pool, "/sleep/0").await.expect_err("backing off");
        assert!(matches!(fast, InvokeFailure::Spawn(_)));
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(runtime.spawn_calls(), 1);
        sleep(Duration::from_secs(1)).await;
        let fixed = call(&pool, "/sleep/0")
            .await
            .expect("the next attempt works");
        assert!(fixed.cold);
        assert_eq!(runtime.spawn_calls(), 2);
        let snapshot = pool.snapshot();
        assert_eq!(snapshot.spawn_failures_total, 1);
        assert_eq!(snapshot.instances_started_total, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failure_one_probe_spawn_per_second_runs_until_one_succeeds() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        runtime.fail_next_spawns(3);
        let mut cfg = config(10, 5);
        cfg.min_instances = 2;
        let pool = pool(&runtime, cfg);
        sleep(Duration::from_millis(500)).await;
        assert_eq!(
            runtime.spawn_calls(),
            2,
            "both warm spawns tried at once, then back-off"
        );
        sleep(Duration::from_secs(2)).await;
        assert_eq!(
            runtime.spawn_calls(),
            3,
            "a single probe after the back-off"
        );
        sleep(Duration::from_secs(2)).await;
        // The second probe succeeded; only then does the rest of the warm minimum start.
        assert_eq!(runtime.spawn_calls(), 5);
        assert_eq!(pool.snapshot().instances.len(), 2);
        assert_eq!(pool.snapshot().spawn_failures_total, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_instance_retires_after_idle_timeout() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(10, 5);
        cfg.idle_timeout = Duration::from_secs(60);
        let pool = pool(&runtime, cfg);
        call(&pool, "/sleep/0").await.expect("served");
        sleep(Duration::from_secs(59)).await;
        assert_eq!(pool.snapshot().instances.len(), 1);
        assert_eq!(pool.snapshot().instances[0].idle_ms, 59_000);
        sleep(Duration::from_secs(2)).await;
        settle().await;
        assert!(pool.snapshot().instances.is_empty());
        assert_eq!(runtime.instance(0).drains(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_instance_is_not_retired_for_idleness() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(10, 5);
        cfg.idle_timeout = Duration::from_secs(60);
        let pool = pool(&runtime, cfg);
        let held = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        sleep(Duration::from_secs(300)).await;
        assert_eq!(pool.snapshot().instances.len(), 1);
        assert_eq!(runtime.instance(0).drains(), 0);
        drop(held);
        sleep(Duration::from_secs(61)).await;
        assert!(pool.snapshot().instances.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn warm_minimum_is_started_eagerly_kept_when_idle_and_replaced_after_exit() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(10, 5);
        cfg.min_instances = 2;
        cfg.idle_timeout = Duration::from_secs(10);
        let pool = pool(&runtime, cfg);
        sleep(Duration::from_millis(20)).await;
        let ready = |pool: &crate::Pool| {
            pool.snapshot()
                .instances
                .iter()
                .filter(|i| i.state == InstanceState::Ready)
                .count()
        };
        assert_eq!(ready(&pool), 2);
        sleep(Duration::from_secs(60)).await;
        assert_eq!(ready(&pool), 2);
        assert_eq!(
            runtime.instance(0).drains() + runtime.instance(1).drains(),
            0
        );
        runtime.instance(0).set_health(exited());
        sleep(Duration::from_millis(20)).await;
        assert_eq!(ready(&pool), 2);
        assert_eq!(runtime.spawn_calls(), 3);
        let served = call(&pool, "/sleep/0").await.expect("served");
        assert!(!served.cold);
        assert_eq!(served.queued, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_instances_above_the_warm_minimum_retire() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(1, 5);
        cfg.min_instances = 1;
        cfg.idle_timeout = Duration::from_secs(10);
        let pool = pool(&runtime, cfg);
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let pool = pool.clone();
            calls.spawn(async move { call(&pool, "/sleep/100").await });
        }
        while let Some(done) = calls.join_next().await {
            done.expect("task").expect("served");
        }
        assert_eq!(pool.snapshot().instances.len(), 3);
        sleep(Duration::from_secs(11)).await;
        assert_eq!(pool.snapshot().instances.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retire_all_drains_every_instance_and_fails_waiters_with_shutdown() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(1, 2));
        let _a = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let _b = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { call(&pool, "/sleep/0").await }
        });
        sleep(Duration::from_millis(5)).await;
        assert_eq!(pool.snapshot().queued, 1);
        let started = Instant::now();
        pool.retire_all().await;
        // Both drains ran to completion, side by side.
        assert_eq!(started.elapsed(), DRAIN_TIME);
        assert_eq!(runtime.instance(0).drained(), 1);
        assert_eq!(runtime.instance(1).drained(), 1);
        assert!(matches!(
            waiting.await.expect("task"),
            Err(InvokeFailure::Shutdown { .. })
        ));
        assert!(pool.snapshot().instances.is_empty());
        let later = call(&pool, "/sleep/0").await.expect_err("retired");
        assert!(matches!(later, InvokeFailure::Shutdown { .. }));
        assert_eq!(runtime.spawn_calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retire_all_waits_for_and_drains_instances_still_starting() {
        let runtime = FakeRuntime::new(Duration::from_secs(3));
        let pool = pool(&runtime, config(10, 2));
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { call(&pool, "/sleep/0").await }
        });
        sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        pool.retire_all().await;
        assert_eq!(started.elapsed(), Duration::from_secs(2) + DRAIN_TIME);
        assert_eq!(runtime.instance(0).drained(), 1);
        assert!(matches!(
            waiting.await.expect("task"),
            Err(InvokeFailure::Shutdown { .. })
        ));
        assert!(pool.snapshot().instances.is_empty());
    }
}
