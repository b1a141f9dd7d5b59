//! Admission: a request takes a slot on a ready instance at once, or queues (FIFO) until a slot
//! frees or an instance started for it becomes ready. A [`Slot`] is given back when dropped.

use std::sync::Arc;

use eddy_runtime::{Instance, InstanceId};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::pool::{Counters, Waiter};
use crate::{InvokeFailure, Pool};

/// One invocation's claim on one instance. Dropping it frees the slot for the next request.
pub(crate) struct Slot {
    pool: Arc<Pool>,
    pub(crate) instance: Arc<dyn Instance>,
    pub(crate) id: InstanceId,
    /// The instance was started for this request (it waited for the spawn).
    pub(crate) cold: bool,
    armed: bool,
}

impl Slot {
    pub(crate) fn new(
        pool: Arc<Pool>,
        instance: Arc<dyn Instance>,
        id: InstanceId,
        cold: bool,
    ) -> Self {
        Self {
            pool,
            instance,
            id,
            cold,
            armed: true,
        }
    }

    /// Drops the slot without giving it back; the caller, holding the lock, undoes the count.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.armed {
            self.pool.release(self.id);
        }
    }
}

/// A place in the queue; leaving it (timeout, cancelled request) removes the waiter.
struct QueueTicket<'a> {
    pool: &'a Pool,
    ticket: u64,
}

impl Drop for QueueTicket<'_> {
    fn drop(&mut self) {
        self.pool.lock().waiters.retain(|w| w.ticket != self.ticket);
    }
}

impl Pool {
    /// Waits for a slot: at once on the busiest ready instance below its limit, else in the
    /// queue for at most `queue_timeout`.
    pub(crate) async fn admit(self: &Arc<Self>) -> Result<Slot, InvokeFailure> {
        let arrived = Instant::now();
        let (ticket, mut rx) = {
            let mut state = self.lock();
            if state.shutdown {
                return Err(InvokeFailure::Shutdown {
                    function: self.function.clone(),
                });
            }
            // A non-empty queue means no slot is free (dispatch runs on every release); checking
            // it keeps arrivals behind the queue even if that ever stops holding.
            if state.waiters.is_empty()
                && let Some(index) = self.pick(&state)
            {
                let slot = self.occupy(&mut state, index, false);
                drop(state);
                self.admitted(&slot, arrived);
                return Ok(slot);
            }
            let ticket = state.next_ticket;
            state.next_ticket += 1;
            let (tx, rx) = oneshot::channel();
            state.waiters.push_back(Waiter { ticket, tx });
            self.scale(&mut state);
            (QueueTicket { pool: self, ticket }, rx)
        };
        let outcome = tokio::time::timeout(self.config.queue_timeout, &mut rx).await;
        drop(ticket);
        let grant = match outcome {
            Ok(Ok(grant)) => grant,
            // Only `retire_all` drops waiters without an answer, and it answers them all.
            Ok(Err(_closed)) => Err(InvokeFailure::Shutdown {
                function: self.function.clone(),
            }),
            // A slot may have been granted between the timeout and leaving the queue.
            Err(_elapsed) => rx.try_recv().unwrap_or_else(|_| {
                Err(InvokeFailure::Throttled {
                    function: self.function.clone(),
                    waited: arrived.elapsed(),
                })
            }),
        };
        if let Ok(slot) = &grant {
            self.admitted(slot, arrived);
        }
        grant
    }

    fn admitted(&self, slot: &Slot, arrived: Instant) {
        if slot.cold {
            Counters::bump(&self.counters.cold_starts);
        }
        tracing::debug!(
            name: "admit",
            function = %self.function,
            instance = %slot.id,
            cold = slot.cold,
            queued_ms = arrived.elapsed().as_millis() as u64,
            "admitted invocation"
        );
    }

    /// Gives back one slot of instance `id`: hands it to the oldest queued request, or retires
    /// the instance if it is draining and this was its last invocation.
    pub(crate) fn release(self: &Arc<Self>, id: InstanceId) {
        let mut state = self.lock();
        let Some(index) = state.instances.iter().position(|e| e.id == id) else {
            return; // retired or exited meanwhile
        };
        let entry = &mut state.instances[index];
        entry.in_flight = entry.in_flight.saturating_sub(1);
        entry.served += 1;
        if entry.in_flight == 0 {
            entry.idle_since = Instant::now();
        }
        if entry.draining {
            if entry.in_flight == 0 {
                let entry = state.instances.remove(index);
                self.retire(entry, "drained");
            }
        } else {
            self.dispatch(&mut state, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use eddy_runtime::Instance;
    use tokio::task::JoinSet;
    use tokio::time::{Instant, sleep};

    use crate::InvokeFailure;
    use crate::fake::{FakeRuntime, call, config, invocation, pool, settle};

    #[tokio::test(start_paused = true)]
    async fn hundred_slow_requests_at_concurrency_fifty_start_exactly_two_instances() {
        let runtime = FakeRuntime::new(Duration::from_millis(100));
        let pool = pool(&runtime, config(50, 10));
        let mut calls = JoinSet::new();
        for _ in 0..100 {
            let pool = pool.clone();
            calls.spawn(async move { call(&pool, "/sleep/1000").await });
        }
        let mut per_instance = std::collections::BTreeMap::new();
        while let Some(done) = calls.join_next().await {
            let done = done.expect("task").expect("invocation succeeds");
            *per_instance.entry(done.instance).or_insert(0) += 1;
        }
        assert_eq!(runtime.spawn_calls(), 2);
        assert_eq!(per_instance.values().copied().collect::<Vec<_>>(), [50, 50]);
        assert_eq!(runtime.instance(0).peak(), 50);
        assert_eq!(runtime.instance(1).peak(), 50);
        assert_eq!(pool.snapshot().instances_started_total, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn classic_mode_starts_one_instance_per_concurrent_request() {
        let runtime = FakeRuntime::new(Duration::from_millis(100));
        let pool = pool(&runtime, config(1, 10));
        let mut calls = JoinSet::new();
        for _ in 0..5 {
            let pool = pool.clone();
            calls.spawn(async move { call(&pool, "/sleep/1000").await });
        }
        let mut instances = std::collections::BTreeSet::new();
        while let Some(done) = calls.join_next().await {
            let done = done.expect("task").expect("invocation succeeds");
            assert!(done.cold);
            instances.insert(done.instance);
        }
        assert_eq!(runtime.spawn_calls(), 5);
        assert_eq!(instances.len(), 5);
        for n in 0..5 {
            assert_eq!(runtime.instance(n).peak(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn new_invocations_go_to_the_busiest_instance_below_its_limit() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(3, 10);
        cfg.min_instances = 2;
        let pool = pool(&runtime, cfg);
        sleep(Duration::from_millis(20)).await;
        let (first, second) = (runtime.instance(0).id(), runtime.instance(1).id());
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(
                pool.invoke(invocation("/hold", ""))
                    .await
                    .expect("admitted"),
            );
        }
        let placed: Vec<_> = held.iter().map(|h| h.instance).collect();
        assert_eq!(placed, [first, first, first, second, second]);
        // Now the second instance is the busier one: 1 on the first, 2 on the second.
        held.drain(..2);
        settle().await;
        let next = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        assert_eq!(next.instance, second);
        assert!(!next.cold);
        assert_eq!(runtime.spawn_calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn queued_requests_take_freed_slots_in_arrival_order() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(1, 1));
        let holder = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut calls = JoinSet::new();
        for n in 0..3 {
            let (pool, order) = (pool.clone(), order.clone());
            calls.spawn(async move {
                let done = call(&pool, "/sleep/10").await.expect("served");
                order.lock().expect("order").push(n);
                done.queued
            });
            sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(pool.snapshot().queued, 3);
        sleep(Duration::from_millis(100)).await;
        drop(holder);
        let mut waits = Vec::new();
        while let Some(queued) = calls.join_next().await {
            waits.push(queued.expect("task"));
        }
        assert_eq!(*order.lock().expect("order"), [0, 1, 2]);
        assert_eq!(runtime.spawn_calls(), 1);
        waits.sort();
        assert!(waits[0] >= Duration::from_millis(100), "{waits:?}");
        assert!(
            waits[2] >= waits[0] + Duration::from_millis(18),
            "{waits:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn request_waiting_past_the_queue_timeout_fails_throttled() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(1, 1);
        cfg.queue_timeout = Duration::from_secs(2);
        let pool = pool(&runtime, cfg);
        let _holder = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let started = Instant::now();
        let failure = call(&pool, "/sleep/0").await.expect_err("no slot frees");
        match failure {
            InvokeFailure::Throttled { waited, .. } => assert_eq!(waited, Duration::from_secs(2)),
            other => panic!("expected Throttled, got {other:?}"),
        }
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(pool.snapshot().queued, 0);
        assert!(failure_message_names_function(
            &call(&pool, "/sleep/0").await
        ));
    }

    fn failure_message_names_function<T>(result: &Result<T, InvokeFailure>) -> bool {
        matches!(result, Err(e) if e.to_string().starts_with("function api/fake: "))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn thousands_of_requests_across_threads_all_complete_and_free_their_slots() {
        let runtime = FakeRuntime::new(Duration::from_millis(5));
        let pool = pool(&runtime, config(20, 4));
        let mut calls = JoinSet::new();
        for n in 0..3000 {
            let pool = pool.clone();
            // Every third caller gives up early, so cancelled waiters and bodies are exercised.
            calls.spawn(async move {
                let path = if n % 3 == 0 {
                    "/stream/1/3"
                } else {
                    "/sleep/1"
                };
                if n % 3 == 1 {
                    let _ = tokio::time::timeout(Duration::from_millis(2), call(&pool, path)).await;
                    return true;
                }
                call(&pool, path).await.is_ok()
            });
        }
        while let Some(ok) = calls.join_next().await {
            assert!(ok.expect("task"));
        }
        settle().await;
        let snapshot = pool.snapshot();
        assert_eq!(snapshot.queued, 0);
        assert!(snapshot.instances.len() <= 4);
        assert!(
            snapshot.instances.iter().all(|i| i.in_flight == 0),
            "{snapshot:?}"
        );
        assert!(runtime.spawn_calls() <= 4);
    }

    #[tokio::test(start_paused = true)]
    async fn cold_flag_and_queue_time_report_the_spawn_a_request_waited_for() {
        let runtime = FakeRuntime::new(Duration::from_millis(250));
        let pool = pool(&runtime, config(10, 10));
        let first = call(&pool, "/sleep/0").await.expect("served");
        assert!(first.cold);
        assert_eq!(first.queued, Duration::from_millis(250));
        let second = call(&pool, "/sleep/0").await.expect("served");
        assert!(!second.cold);
        assert_eq!(second.queued, Duration::ZERO);
        assert_eq!(second.body, first.instance.to_string());
        let snapshot = pool.snapshot();
        assert_eq!(snapshot.invocations_total, 2);
        assert_eq!(snapshot.cold_starts_total, 1);
    }
}
