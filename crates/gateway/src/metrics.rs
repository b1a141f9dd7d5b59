//! Prometheus metrics at `/_eddy/metrics`. Counters of what the gateway sees (invocations,
//! cold starts, durations) live here; instance figures are read from the pools at scrape time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::app::App;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FunctionLabel {
    pub function: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
    ])
}

/// The gateway's metrics registry.
pub struct Metrics {
    registry: Registry,
    invocations: Family<FunctionLabel, Counter>,
    cold_starts: Family<FunctionLabel, Counter>,
    durations: Family<FunctionLabel, Histogram, fn() -> Histogram>,
    /// Instances started by pools that were already retired (their counters live on here).
    retired_started: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new(app: Arc<ArcSwap<App>>) -> Self {
        let mut registry = Registry::default();
        let invocations = Family::<FunctionLabel, Counter>::default();
        let cold_starts = Family::<FunctionLabel, Counter>::default();
        let durations = Family::<FunctionLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register(
            "eddy_invocations",
            "Function invocations",
            invocations.clone(),
        );
        registry.register(
            "eddy_cold_starts",
            "Invocations that waited for a new instance",
            cold_starts.clone(),
        );
        registry.register(
            "eddy_invocation_duration_seconds",
            "Invocation duration from admission to the end of the response body",
            durations.clone(),
        );
        let retired_started = Arc::new(Mutex::new(BTreeMap::new()));
        registry.register_collector(Box::new(PoolCollector {
            app,
            retired_started: retired_started.clone(),
        }));
        Self {
            registry,
            invocations,
            cold_starts,
            durations,
            retired_started,
        }
    }

    pub fn record_invocation(&self, function: &str, cold: bool, seconds: f64) {
        let label = FunctionLabel {
            function: function.to_string(),
        };
        self.invocations.get_or_create(&label).inc();
        if cold {
            self.cold_starts.get_or_create(&label).inc();
        }
        self.durations.get_or_create(&label).observe(seconds);
    }

    /// Carries the started-instance counts of an app that is being replaced.
    pub fn retire_app(&self, app: &App) {
        let Ok(mut retired) = self.retired_started.lock() else {
            return;
        };
        for pool in app.pools() {
            let snapshot = pool.snapshot();
            *retired.entry(snapshot.function.clone()).or_default() +=
                snapshot.instances_started_total;
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[derive(Debug)]
struct PoolCollector {
    app: Arc<ArcSwap<App>>,
    retired_started: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let app = self.app.load();
        let snapshots: Vec<_> = app.pools().map(|p| p.snapshot()).collect();
        let mut started: BTreeMap<String, u64> = self
            .retired_started
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        for s in &snapshots {
            *started.entry(s.function.clone()).or_default() += s.instances_started_total;
        }
        let mut family = encoder.encode_descriptor(
            "eddy_instances_started",
            "Instances started",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (function, count) in &started {
            let metric = ConstCounter::new(*count);
            metric.encode(family.encode_family(&FunctionLabel {
                function: function.clone(),
            })?)?;
        }
        let mut family = encoder.encode_descriptor(
            "eddy_instances",
            "Instances currently running (starting, ready or draining)",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for s in &snapshots {
            let metric = ConstGauge::new(s.instances.len() as i64);
            metric.encode(family.encode_family(&FunctionLabel {
                function: s.function.clone(),
            })?)?;
        }
        let mut family = encoder.encode_descriptor(
            "eddy_queued_invocations",
            "Invocations waiting for an instance slot",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for s in &snapshots {
            let metric = ConstGauge::new(s.queued as i64);
            metric.encode(family.encode_family(&FunctionLabel {
                function: s.function.clone(),
            })?)?;
        }
        Ok(())
    }
}
