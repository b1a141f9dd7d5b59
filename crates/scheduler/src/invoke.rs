//! `invoke`: admit, send to the instance under `maxDuration`, hand back the streaming response
//! with its slot, retry once when an instance refused an invocation it never started.

use std::sync::Arc;
use std::time::Duration;

use eddy_runtime::{Body, InstanceId, Invocation, InvokeError, SpawnError};
use tokio::time::Instant;

use crate::Pool;
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
        let max_duration = self.config.max_duration;
        let mut retried = false;
        loop {
            let slot = self.admit().await?;
            let queued = arrived.elapsed();
            let attempt = Invocation {
                id: id.clone(),
                request_id: request_id.clone(),
                request: http::Request::from_parts(head.clone(), body.share()),
            };
            tracing::debug!(name: "invoke", function = %self.function, instance = %slot.id, invocation = %id, "sending invocation");
            let deadline = Instant::now() + max_duration;
            let result = tokio::time::timeout_at(deadline, slot.instance.invoke(attempt)).await;
            let error = match result {
                Ok(Ok(response)) => {
                    let (instance, cold) = (slot.id, slot.cold);
                    let function: Arc<str> = Arc::from(self.function.as_str());
                    let response = response
                        .map(|inner| SlotBody::wrap(inner, slot, deadline, function, max_duration));
                    return Ok(Invoked {
                        response,
                        instance,
                        cold,
                        queued,
                    });
                }
                Ok(Err(error)) => error,
                Err(_elapsed) => {
                    tracing::warn!(
                        name: "invoke",
                        function = %self.function,
                        instance = %slot.id,
                        invocation = %id,
                        max_duration_ms = max_duration.as_millis() as u64,
                        "no response within maxDuration"
                    );
                    return Err(InvokeFailure::Timeout {
                        function: self.function.clone(),
                        max_duration,
                    });
                }
            };
            tracing::warn!(name: "invoke", function = %self.function, instance = %slot.id, invocation = %id, error = %error, "invocation failed");
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
}
