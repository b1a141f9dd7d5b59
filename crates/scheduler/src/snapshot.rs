//! A point-in-time view of a pool for the admin API, metrics and logs.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use eddy_runtime::{Instance, InstanceId};
use serde::Serialize;
use tokio::time::Instant;

use crate::Pool;

/// A pool at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct PoolSnapshot {
    pub function: String,
    pub max_concurrency: u32,
    /// Starting instances first, then running ones in the order they started.
    pub instances: Vec<InstanceSnapshot>,
    /// Requests waiting for a slot.
    pub queued: usize,
    pub invocations_total: u64,
    /// Invocations that waited for an instance started for them.
    pub cold_starts_total: u64,
    pub instances_started_total: u64,
    pub spawn_failures_total: u64,
}

/// One instance at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceSnapshot {
    pub id: InstanceId,
    pub pid: Option<u32>,
    pub state: InstanceState,
    pub in_flight: u32,
    /// Invocations finished on it.
    pub served: u64,
    /// Time from spawn to ready; for a starting instance, the time it has been starting so far.
    pub cold_start_ms: u64,
    /// Time since its last invocation ended; 0 while it serves one.
    pub idle_ms: u64,
    /// Active CPU time, where the runtime measures it.
    pub cpu_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceState {
    Starting,
    Ready,
    Draining,
}

impl Pool {
    /// The pool as it is now. Cheap: one short lock plus each instance's `stats()`.
    pub fn snapshot(&self) -> PoolSnapshot {
        let now = Instant::now();
        let (starting, running, queued) = {
            let state = self.lock();
            let starting: Vec<InstanceSnapshot> = state
                .starting
                .iter()
                .map(|s| InstanceSnapshot {
                    id: s.id,
                    pid: None,
                    state: InstanceState::Starting,
                    in_flight: 0,
                    served: 0,
                    cold_start_ms: millis(now - s.since),
                    idle_ms: 0,
                    cpu_ms: None,
                })
                .collect();
            let running: Vec<(Arc<dyn Instance>, InstanceSnapshot)> = state
                .instances
                .iter()
                .map(|e| {
                    let view = InstanceSnapshot {
                        id: e.id,
                        pid: None,
                        state: if e.draining {
                            InstanceState::Draining
                        } else {
                            InstanceState::Ready
                        },
                        in_flight: e.in_flight,
                        served: e.served,
                        cold_start_ms: 0,
                        idle_ms: if e.in_flight == 0 {
                            millis(now - e.idle_since)
                        } else {
                            0
                        },
                        cpu_ms: None,
                    };
                    (Arc::clone(&e.instance), view)
                })
                .collect();
            (starting, running, state.waiters.len())
        };
        // `stats()` belongs to the runtime: called outside the pool's lock.
        let instances = starting
            .into_iter()
            .chain(running.into_iter().map(|(instance, mut view)| {
                let stats = instance.stats();
                view.pid = stats.pid;
                view.cold_start_ms = millis(stats.cold_start);
                view.cpu_ms = stats.cpu_time.map(millis);
                view
            }))
            .collect();
        let counters = &self.counters;
        PoolSnapshot {
            function: self.function.clone(),
            max_concurrency: self.config.max_concurrency,
            instances,
            queued,
            invocations_total: counters.invocations.load(Ordering::Relaxed),
            cold_starts_total: counters.cold_starts.load(Ordering::Relaxed),
            instances_started_total: counters.instances_started.load(Ordering::Relaxed),
            spawn_failures_total: counters.spawn_failures.load(Ordering::Relaxed),
        }
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use eddy_runtime::Health;
    use tokio::time::sleep;

    use crate::fake::{FakeRuntime, config, invocation, pool, settle};

    #[tokio::test(start_paused = true)]
    async fn snapshot_shows_each_instance_state_with_runtime_stats_as_json() {
        let runtime = FakeRuntime::new(Duration::from_millis(100));
        let pool = pool(&runtime, config(4, 3));
        let held = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let second = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        runtime.instance(0).set_health(Health::Draining {
            reason: "uncaught exception".into(),
        });
        settle().await;
        let starting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.invoke(invocation("/sleep/0", "")).await.map(|_| ()) }
        });
        sleep(Duration::from_millis(30)).await;
        let json = serde_json::to_value(pool.snapshot()).expect("serializable");
        assert_eq!(json["function"], "api/fake");
        assert_eq!(json["max_concurrency"], 4);
        assert_eq!(json["queued"], 1);
        assert_eq!(json["invocations_total"], 3);
        assert_eq!(json["cold_starts_total"], 1);
        assert_eq!(json["instances_started_total"], 1);
        let instances = json["instances"].as_array().expect("array");
        assert_eq!(instances.len(), 2);
        assert_eq!(instances[0]["state"], "starting");
        assert_eq!(instances[0]["id"], 2);
        assert_eq!(instances[0]["cold_start_ms"], 30);
        assert_eq!(instances[1]["state"], "draining");
        assert_eq!(instances[1]["id"], 1);
        assert_eq!(instances[1]["pid"], 1001);
        assert_eq!(instances[1]["in_flight"], 2);
        assert_eq!(instances[1]["cold_start_ms"], 42);
        assert_eq!(instances[1]["cpu_ms"], 7);
        drop((held, second));
        starting
            .await
            .expect("task")
            .expect("served by the replacement");
        let after = pool.snapshot();
        assert_eq!(after.instances.len(), 1);
        assert_eq!(after.instances[0].served, 1);
    }
}
