//! `invoke`: admit, send to the instance under `maxDuration`, hand back the streaming response
//! with its slot, retry once when an instance refused an invocation it never started.

use std::sync::Arc;
use std::time::Duration;

use eddy_runtime::{Body, InstanceId, Invocation, InvokeError, SpawnError};
use tokio::time::Instant;

use crate::Pool;
use crate::admit::Slot;
use crate::body::{ReplayBody, SlotBody};
use crate::pool::Counters;

/// A response on its way back from an instance.
#[derive(Debug)]
pub struct Invoked {
    /// Head as the function sent it; the body streams as it writes it and holds the slot until
    /// it ends or is dropped.
    pub response: http::Response<Body>,
    /// The instance that served it.
    pub instance: InstanceId,
    /// The instance was started for this request (a cold start).
    pub cold: bool,
    /// Time spent waiting for a slot, cold start included.
    pub queued: Duration,
}

/// Why an invocation got no response. Every message names the function.
#[derive(Debug, thiserror::Error)]
pub enum InvokeFailure {
    /// No instance could be started; shared by every request that waited for that spawn (the
    /// message already names the function).
    #[error(transparent)]
    Spawn(Arc<SpawnError>),
    /// The function did not start responding within `maxDuration`: `FUNCTION_INVOCATION_TIMEOUT`.
    #[error(
        "function {function}: no response within maxDuration of {max_duration:?} (raise \
         maxDuration in vercel.json or make the handler respond sooner)"
    )]
    Timeout {
        function: String,
        max_duration: Duration,
    },
    /// The instance failed the invocation.
    #[error("function {function}: {source}")]
    Invoke {
        function: String,
        #[source]
        source: InvokeError,
    },
    /// No slot freed up within the queue timeout: `FUNCTION_THROTTLED`.
    #[error(
        "function {function}: no instance had room within {waited:?} (raise maxInstances or \
         maxConcurrency, or make the handler faster)"
    )]
    Throttled { function: String, waited: Duration },
    /// The pool has been retired (code change or shutdown).
    #[error("function {function}: its instances are shutting down (retry the request)")]
    Shutdown { function: String },
}

impl Pool {
    /// Runs one invocation: waits for a slot (see the crate docs for the policy), sends the
    /// request, and returns once the response head has arrived. Cancel-safe: dropping the future
    /// or the returned body cancels the invocation and frees its slot.
    pub async fn invoke(
        self: &Arc<Self>,
        invocation: Invocation,
    ) -> Result<Invoked, InvokeFailure> {
        Counters::bump(&self.counters.invocations);
        let arrived = Instant::now();
        let Invocation {
            id,
            request_id,
            request,
        } = invocation;
        let (head, body) = request.into_parts();
        let body = ReplayBody::new(body);
        let mut retried = false;
        loop {
            let slot = self.admit().await?;
            let queued = arrived.elapsed();
            let attempt = Invocation {
                id: id.clone(),
                request_id: request_id.clone(),
                request: http::Request::from_parts(head.clone(), body.share()),
            };
            let (slot, error) = match self.send(slot, attempt, queued).await {
                Sent::Responded(invoked) => return Ok(invoked),
                Sent::TimedOut => {
                    return Err(InvokeFailure::Timeout {
                        function: self.function.clone(),
                        max_duration: self.config.max_duration,
                    });
                }
                Sent::Failed(slot, error) => (slot, error),
            };
            if let InvokeError::Unavailable { reason, .. } = &error
                && !retried
                && body.rewind()
            {
                // The instance refused work while it looked ready: stop sending it more.
                self.begin_drain(slot.id, reason);
                drop(slot);
                retried = true;
                continue;
            }
            return Err(InvokeFailure::Invoke {
                function: self.function.clone(),
                source: error,
            });
        }
    }

    /// Sends one attempt on `slot` and waits for the response head, at most `max_duration`.
    async fn send(&self, slot: Slot, attempt: Invocation, queued: Duration) -> Sent {
        let id = attempt.id.clone();
        let max_duration = self.config.max_duration;
        tracing::debug!(name: "invoke", function = %self.function, instance = %slot.id, invocation = %id, "sending invocation");
        let deadline = Instant::now() + max_duration;
        match tokio::time::timeout_at(deadline, slot.instance.invoke(attempt)).await {
            Ok(Ok(response)) => {
                let (instance, cold) = (slot.id, slot.cold);
                let function: Arc<str> = Arc::from(self.function.as_str());
                let response = response
                    .map(|inner| SlotBody::wrap(inner, slot, deadline, function, max_duration));
                Sent::Responded(Invoked {
                    response,
                    instance,
                    cold,
                    queued,
                })
            }
            Ok(Err(error)) => {
                tracing::warn!(name: "invoke", function = %self.function, instance = %slot.id, invocation = %id, error = %error, "invocation failed");
                Sent::Failed(slot, error)
            }
            // Dropping the instance's future cancelled the invocation there.
            Err(_elapsed) => {
                tracing::warn!(
                    name: "invoke",
                    function = %self.function,
                    instance = %slot.id,
                    invocation = %id,
                    max_duration_ms = max_duration.as_millis() as u64,
                    "no response within maxDuration"
                );
                Sent::TimedOut
            }
        }
    }
}

/// How one attempt went.
enum Sent {
    Responded(Invoked),
    TimedOut,
    Failed(Slot, InvokeError),
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use eddy_runtime::{Instance, InvokeError};
    use http_body::Body as _;
    use http_body_util::BodyExt;
    use tokio::time::{Instant, sleep};

    use super::InvokeFailure;
    use crate::MaxDurationExceeded;
    use crate::fake::{FakeRuntime, call, config, invocation, pool, settle};

    #[tokio::test(start_paused = true)]
    async fn slot_is_held_until_the_streamed_body_ends() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(1, 1));
        let streaming = pool
            .invoke(invocation("/stream/100/5", ""))
            .await
            .expect("admitted");
        let next = tokio::spawn({
            let pool = pool.clone();
            async move { call(&pool, "/sleep/0").await }
        });
        sleep(Duration::from_millis(50)).await;
        let snapshot = pool.snapshot();
        assert_eq!(snapshot.instances[0].in_flight, 1);
        assert_eq!(snapshot.queued, 1);
        let started = Instant::now();
        let mut body = streaming.response.into_body();
        let mut chunks = 0;
        while let Some(frame) = body.frame().await {
            frame.expect("stream chunk");
            chunks += 1;
            if chunks < 5 {
                assert_eq!(pool.snapshot().instances[0].in_flight, 1);
            }
        }
        assert_eq!(chunks, 5);
        assert_eq!(started.elapsed(), Duration::from_millis(450));
        // The slot comes back when the body ends, even before the body is dropped.
        assert!(body.is_end_stream());
        let next = next.await.expect("task").expect("served after the stream");
        assert_eq!(next.queued, Duration::from_millis(500));
        drop(body);
        assert_eq!(runtime.spawn_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_streaming_body_frees_its_slot_and_cancels_it_on_the_instance() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(1, 1));
        let held = pool
            .invoke(invocation("/hold", ""))
            .await
            .expect("admitted");
        let next = tokio::spawn({
            let pool = pool.clone();
            async move { call(&pool, "/sleep/0").await }
        });
        sleep(Duration::from_secs(5)).await;
        assert!(!next.is_finished());
        drop(held);
        let next = next
            .await
            .expect("task")
            .expect("served once the body was dropped");
        assert_eq!(next.queued, Duration::from_secs(5));
        assert_eq!(runtime.instance(0).running(), 0);
        assert_eq!(pool.snapshot().instances[0].in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_ends_only_the_invocation_that_exceeded_max_duration() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(10, 1);
        cfg.max_duration = Duration::from_secs(1);
        let pool = pool(&runtime, cfg);
        let slow = tokio::spawn({
            let pool = pool.clone();
            async move { call(&pool, "/sleep/5000").await }
        });
        sleep(Duration::from_millis(600)).await;
        let held = pool
            .invoke(invocation("/stream/100/5", ""))
            .await
            .expect("admitted");
        match slow.await.expect("task") {
            Err(InvokeFailure::Timeout { max_duration, .. }) => {
                assert_eq!(max_duration, Duration::from_secs(1));
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
        // The slow invocation is cancelled on the instance; the other one keeps streaming.
        assert_eq!(runtime.instance(0).running(), 1);
        let body = held
            .response
            .into_body()
            .collect()
            .await
            .expect("the other body ends");
        assert_eq!(body.to_bytes().len(), 5);
        let after = call(&pool, "/sleep/0")
            .await
            .expect("instance still serves");
        assert_eq!(after.instance, runtime.instance(0).id());
        assert_eq!(runtime.spawn_calls(), 1);
        assert_eq!(pool.snapshot().instances[0].in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn body_still_streaming_at_max_duration_ends_with_an_error() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(10, 1);
        cfg.max_duration = Duration::from_secs(1);
        let pool = pool(&runtime, cfg);
        let invoked = pool
            .invoke(invocation("/stream/300/10", ""))
            .await
            .expect("admitted");
        let mut body = invoked.response.into_body();
        let mut chunks = 0;
        let error = loop {
            match body.frame().await {
                Some(Ok(_)) => chunks += 1,
                Some(Err(error)) => break error,
                None => panic!("body ended without the maxDuration error"),
            }
        };
        assert_eq!(chunks, 3);
        let exceeded = error
            .downcast_ref::<MaxDurationExceeded>()
            .expect("error is MaxDurationExceeded");
        assert_eq!(exceeded.max_duration, Duration::from_secs(1));
        assert!(body.frame().await.is_none());
        assert_eq!(runtime.instance(0).running(), 0);
        assert_eq!(pool.snapshot().instances[0].in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_nobody_reads_gives_its_slot_back_at_max_duration() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let mut cfg = config(1, 1);
        cfg.max_duration = Duration::from_secs(1);
        let pool = pool(&runtime, cfg);
        // A client that stopped reading: the body is held, never polled.
        let unread = pool
            .invoke(invocation("/stream/100/1000", ""))
            .await
            .expect("admitted");
        sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            runtime.instance(0).running(),
            0,
            "cancelled on the instance"
        );
        assert_eq!(pool.snapshot().instances[0].in_flight, 0);
        // The only slot of the only instance serves the next request.
        let next = call(&pool, "/sleep/0").await.expect("the slot came back");
        assert_eq!(next.instance, runtime.instance(0).id());
        // If the client reads again, it learns why the body ended.
        let mut body = unread.response.into_body();
        let error = body.frame().await.expect("a frame").expect_err("the error");
        assert!(error.downcast_ref::<MaxDurationExceeded>().is_some());
        assert!(body.frame().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn refused_invocation_is_retried_once_on_another_instance_with_its_body() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        let pool = pool(&runtime, config(10, 5));
        call(&pool, "/sleep/0")
            .await
            .expect("warms the first instance");
        let first = runtime.instance(0);
        first.refuse_next();
        let invoked = pool
            .invoke(invocation("/echo", "payload"))
            .await
            .expect("retried");
        assert_eq!(invoked.instance, runtime.instance(1).id());
        let body = invoked.response.into_body().collect().await.expect("echo");
        assert_eq!(body.to_bytes(), "payload");
        settle().await;
        // The refusing instance takes no more work and is drained.
        assert_eq!(first.drains(), 1);
        let snapshot = pool.snapshot();
        assert_eq!(snapshot.instances.len(), 1);
        assert_eq!(snapshot.instances[0].id, runtime.instance(1).id());
    }

    #[tokio::test(start_paused = true)]
    async fn second_refusal_fails_the_invocation_without_a_third_try() {
        let runtime = FakeRuntime::new(Duration::from_millis(10));
        runtime.refuse_everything();
        let pool = pool(&runtime, config(10, 5));
        let failure = call(&pool, "/sleep/0").await.expect_err("refused twice");
        assert!(matches!(
            failure,
            InvokeFailure::Invoke {
                source: InvokeError::Unavailable { .. },
                ..
            }
        ));
        assert!(
            failure
                .to_string()
                .starts_with("function api/fake: instance i2")
        );
        assert_eq!(runtime.spawn_calls(), 2);
    }
}
