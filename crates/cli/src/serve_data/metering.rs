//! What `eddy serve --data` feeds the control plane from the request path: usage samples
//! ([`UsageMeter`]) and runtime log lines ([`LogSink`]), tagged with their deployment.
//!
//! Instances are tagged when they spawn: every runtime is wrapped in [`Tagged`], which reads
//! the deployment from the spec's `VERCEL_DEPLOYMENT_ID` (the control plane sets it on every
//! function of a deployment). Then:
//! - [`ControlLayer`] (a tracing layer installed by `logging::init`) turns `eddy::function`
//!   events (IPC `log`, stdout/stderr) and `eddy::request` lines into [`LogRecord`]s, and
//!   counts each request line as one invocation with its wall time;
//! - [`Tags::sample`] (every second) adds each instance's CPU time since the last sample, as
//!   measured by the runtime from the OS (cgroup), and its provisioned GB-seconds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

use eddy_control::{DeploymentId, Level, LogRecord, LogSink, UsageMeter, UsageSample};
use eddy_runtime::{BoxFuture, Instance, InstanceId, InstanceSpec, Runtime, SpawnError};

/// One instance's deployment and what was last sampled of it.
struct Tag {
    deployment: DeploymentId,
    function: String,
    memory_mb: u32,
    edge: bool,
    /// Set once the instance is ready; its CPU time then is the baseline (start-up is not
    /// active CPU).
    instance: Option<Weak<dyn Instance>>,
    last_cpu: Duration,
    last_sample: Instant,
}

/// Instance id → deployment, shared by the runtime wrappers, the sampler and the log layer.
#[derive(Default)]
pub(crate) struct Tags {
    by_instance: Mutex<HashMap<u64, Tag>>,
}

impl Tags {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Tag>> {
        self.by_instance
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The deployment and function of instance `i<n>`.
    fn owner(&self, instance: &str) -> Option<(DeploymentId, String)> {
        let n = instance.strip_prefix('i')?.parse::<u64>().ok()?;
        self.lock()
            .get(&n)
            .map(|tag| (tag.deployment.clone(), tag.function.clone()))
    }

    /// Adds every instance's CPU time and GB-seconds since the previous call to `meter`, and
    /// forgets instances that are gone.
    pub(crate) fn sample(&self, meter: &UsageMeter) {
        for (deployment, function, sample) in self.take_samples() {
            meter.add(&deployment, &function, &sample);
        }
    }

    fn take_samples(&self) -> Vec<(DeploymentId, String, UsageSample)> {
        let now = Instant::now();
        let mut samples = Vec::new();
        let mut tags = self.lock();
        tags.retain(|_, tag| {
            let Some(weak) = &tag.instance else {
                return true; // still starting
            };
            let Some(instance) = weak.upgrade() else {
                return false;
            };
            let cpu = instance.stats().cpu_time.unwrap_or_default();
            let cpu_ms = cpu.saturating_sub(tag.last_cpu).as_millis() as u64;
            let seconds = now.duration_since(tag.last_sample).as_secs_f64();
            tag.last_cpu = tag.last_cpu.max(cpu);
            tag.last_sample = now;
            let sample = UsageSample {
                active_cpu_ms: cpu_ms,
                gb_seconds: f64::from(tag.memory_mb) / 1024.0 * seconds,
                edge_units: if tag.edge { cpu_ms.div_ceil(50) } else { 0 },
                ..UsageSample::default()
            };
            samples.push((tag.deployment.clone(), tag.function.clone(), sample));
            true
        });
        samples
    }
}

/// A runtime whose instances are tagged with their deployment in [`Tags`].
pub(crate) struct Tagged {
    pub(crate) inner: Arc<dyn Runtime>,
    pub(crate) tags: Arc<Tags>,
}

impl Runtime for Tagged {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn spawn(
        &self,
        spec: Arc<InstanceSpec>,
        id: InstanceId,
    ) -> BoxFuture<'static, Result<Arc<dyn Instance>, SpawnError>> {
        let deployment = spec
            .env
            .get("VERCEL_DEPLOYMENT_ID")
            .and_then(|id| DeploymentId::parse(id));
        if let Some(deployment) = deployment {
            // Before the spawn, so lines printed while starting are attributed too.
            self.tags.lock().insert(
                id.0,
                Tag {
                    deployment,
                    function: spec.function.clone(),
                    memory_mb: spec.memory_mb,
                    edge: self.inner.name() == "edge",
                    instance: None,
                    last_cpu: Duration::ZERO,
                    last_sample: Instant::now(),
                },
            );
        }
        let spawned = self.inner.spawn(spec, id);
        let tags = self.tags.clone();
        Box::pin(async move {
            let result = spawned.await;
            let mut by_instance = tags.lock();
            match &result {
                Ok(instance) => {
                    if let Some(tag) = by_instance.get_mut(&id.0) {
                        tag.last_cpu = instance.stats().cpu_time.unwrap_or_default();
                        tag.last_sample = Instant::now();
                        tag.instance = Some(Arc::downgrade(instance));
                    }
                }
                Err(_) => {
                    by_instance.remove(&id.0);
                }
            }
            result
        })
    }
}

/// Where [`ControlLayer`] forwards to, set once by `eddy serve --data`.
pub(crate) struct Forward {
    pub(crate) tags: Arc<Tags>,
    pub(crate) sink: Arc<LogSink>,
    pub(crate) meter: Arc<UsageMeter>,
}

static FORWARD: OnceLock<Forward> = OnceLock::new();

/// Starts forwarding log lines and request counts (once per process).
pub(crate) fn forward_to(forward: Forward) {
    let _ = FORWARD.set(forward);
}

/// A tracing layer that does nothing until [`forward_to`] is called.
pub(crate) struct ControlLayer;

impl<S: tracing::Subscriber> Layer<S> for ControlLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let Some(forward) = FORWARD.get() else {
            return;
        };
        let target = event.metadata().target();
        let request = target == "eddy::request";
        if target != "eddy::function" && !request {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some((deployment, function)) = fields
            .instance
            .as_deref()
            .and_then(|instance| forward.tags.owner(instance))
        else {
            return;
        };
        if request {
            let wall_ms = fields
                .duration_ms
                .as_deref()
                .and_then(|ms| ms.parse::<f64>().ok())
                .unwrap_or(0.0);
            let sample = UsageSample {
                invocations: 1,
                wall_ms: wall_ms.round() as u64,
                ..UsageSample::default()
            };
            forward.meter.add(&deployment, &function, &sample);
        }
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        };
        forward.sink.push(LogRecord {
            deployment,
            function: Some(function),
            request_id: fields.request_id,
            level,
            time: Utc::now(),
            message: fields.message,
        });
    }
}

/// The fields of an `eddy::function` or `eddy::request` event.
#[derive(Default)]
struct Fields {
    instance: Option<String>,
    request_id: Option<String>,
    duration_ms: Option<String>,
    message: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }
}

impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "instance" if value != "-" => self.instance = Some(value),
            "request_id" => self.request_id = Some(value),
            "duration_ms" => self.duration_ms = Some(value),
            "message" => self.message = value,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use eddy_runtime::{Health, InstanceStats, Invocation, InvokeError};

    struct FakeInstance {
        cpu: Mutex<Duration>,
        health: tokio::sync::watch::Sender<Health>,
    }

    impl Instance for FakeInstance {
        fn id(&self) -> InstanceId {
            InstanceId(7)
        }
        fn invoke(
            &self,
            _invocation: Invocation,
        ) -> BoxFuture<'static, Result<http::Response<eddy_runtime::Body>, InvokeError>> {
            Box::pin(async {
                Err(InvokeError::NoResponse {
                    reason: "fake".into(),
                })
            })
        }
        fn health(&self) -> tokio::sync::watch::Receiver<Health> {
            self.health.subscribe()
        }
        fn drain(&self, _grace: Duration) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn kill(&self) {}
        fn stats(&self) -> InstanceStats {
            InstanceStats {
                cpu_time: Some(*self.cpu.lock().expect("test lock")),
                ..InstanceStats::default()
            }
        }
    }

    fn deployment() -> DeploymentId {
        DeploymentId::parse("dpl_0123456789abcdef01234567").expect("a valid id")
    }

    #[test]
    fn sampling_adds_cpu_used_since_the_instance_became_ready_then_forgets_it_when_gone() {
        let tags = Tags::default();
        let instance: Arc<dyn Instance> = Arc::new(FakeInstance {
            cpu: Mutex::new(Duration::from_millis(500)),
            health: tokio::sync::watch::channel(Health::Ready).0,
        });
        tags.lock().insert(
            7,
            Tag {
                deployment: deployment(),
                function: "api/busy".into(),
                memory_mb: 1024,
                edge: false,
                instance: Some(Arc::downgrade(&instance)),
                last_cpu: Duration::from_millis(40),
                last_sample: Instant::now(),
            },
        );
        let first = tags.take_samples();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].2.active_cpu_ms, 460);
        assert_eq!(
            tags.owner("i7"),
            Some((deployment(), "api/busy".to_owned()))
        );
        // Nothing used since: nothing added.
        assert_eq!(tags.take_samples()[0].2.active_cpu_ms, 0);
        drop(instance);
        assert!(tags.take_samples().is_empty());
        assert_eq!(tags.owner("i7"), None);
    }
}
