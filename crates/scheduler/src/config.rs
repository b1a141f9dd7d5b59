//! The knobs of one pool. The gateway fills them from the resolved function (`maxConcurrency`,
//! `fluid`, `maxDuration`) and from the mode it runs in (`eddy dev` keeps nothing warm).

use std::time::Duration;

/// How one function's pool admits, scales and retires instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Invocations one instance serves at the same time; `1` is classic mode (`fluid: false`).
    /// `0` is read as `1`.
    pub max_concurrency: u32,
    /// Instances of the function that may run (or start) at once; beyond it requests queue.
    /// Draining instances do not count: their replacements start while they finish. `0` is read
    /// as `1`.
    pub max_instances: u32,
    /// An instance without an invocation for this long retires.
    pub idle_timeout: Duration,
    /// Instances kept warm: started eagerly, never retired for idleness, replaced after exits.
    /// `0` in dev. Capped at `max_instances`.
    pub min_instances: u32,
    /// A request waiting this long for a slot (a cold start it waits for included) fails with
    /// `Throttled`.
    pub queue_timeout: Duration,
    /// Passed to `Instance::drain` when an instance retires: how long in-flight and `waitUntil`
    /// work may still run.
    pub drain_grace: Duration,
    /// Per invocation, counted from the moment it is sent to an instance (queue time excluded).
    pub max_duration: Duration,
}

impl PoolConfig {
    /// Default invocations per instance in Fluid mode: 250.
    ///
    /// Fluid bets that handlers spend most of their time awaiting I/O (databases, upstream APIs,
    /// LLM streams), during which one Node event loop or async runtime serves other requests at
    /// almost no cost: a parked request holds tens of kilobytes, so 250 of them fit easily in the
    /// default 1 GB instance. The target "500 concurrent awaiting requests on at most 2 instances"
    /// needs at least 250; going much higher makes one instance the blast radius of a crash or an
    /// uncaught exception for too many requests, and CPU-bound handlers would queue behind each
    /// other inside a single event loop. Functions that know better set `maxConcurrency`.
    pub const DEFAULT_MAX_CONCURRENCY: u32 = 250;

    /// Default `max_instances` per function on one machine.
    pub const DEFAULT_MAX_INSTANCES: u32 = 32;

    /// Default keep-alive of an idle instance (Vercel keeps idle Fluid instances for minutes).
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

    /// Default time a request may wait for a slot before failing `FUNCTION_THROTTLED`.
    pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

    /// Default grace given to a retiring instance.
    pub const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(30);

    /// Default `maxDuration` of Fluid functions on Vercel: 300 s.
    pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(300);

    /// The config with `max_concurrency` and `max_instances` at least 1 and `min_instances` at
    /// most `max_instances`, so the pool can always make progress.
    pub(crate) fn normalized(mut self) -> Self {
        self.max_concurrency = self.max_concurrency.max(1);
        self.max_instances = self.max_instances.max(1);
        self.min_instances = self.min_instances.min(self.max_instances);
        self
    }
}

impl Default for PoolConfig {
    /// Fluid defaults for production: nothing pre-warmed (the gateway raises `min_instances` for
    /// production deployments that ask for it).
    fn default() -> Self {
        Self {
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            max_instances: Self::DEFAULT_MAX_INSTANCES,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            min_instances: 0,
            queue_timeout: Self::DEFAULT_QUEUE_TIMEOUT,
            drain_grace: Self::DEFAULT_DRAIN_GRACE,
            max_duration: Self::DEFAULT_MAX_DURATION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_concurrency_fits_500_awaiting_requests_on_two_instances() {
        let config = PoolConfig::default();
        assert!(500_u32.div_ceil(config.max_concurrency) <= 2);
    }

    #[test]
    fn normalizing_turns_zero_limits_into_one_and_caps_the_warm_minimum() {
        let config = PoolConfig {
            max_concurrency: 0,
            max_instances: 0,
            min_instances: 3,
            ..PoolConfig::default()
        }
        .normalized();
        assert_eq!(config.max_concurrency, 1);
        assert_eq!(config.max_instances, 1);
        assert_eq!(config.min_instances, 1);
    }
}
