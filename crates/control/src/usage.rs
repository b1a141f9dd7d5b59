//! Usage metering: what invocations used, added up per deployment, function and hour, and
//! the per-project cap that pauses a project when reached (the gateway then answers 503
//! `DEPLOYMENT_PAUSED` until the cap is raised or removed).

use crate::periodic::{Extra, run_every};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::model::{DeploymentId, ProjectName, UsageCap, UsageRow, UsageSample};
use crate::plane::ControlPlane;
use crate::store::{StoreError, UsageEntry, UsageScope};

/// Start of the calendar month (UTC) `at` falls in: the period a [`UsageCap`] counts.
pub fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

/// The sum of some usage rows.
pub fn total(rows: &[UsageRow]) -> UsageSample {
    let mut sum = UsageSample::default();
    for row in rows {
        sum.add(&row.usage);
    }
    sum
}

/// Whether `usage` reached any limit of `cap`.
pub fn exceeds(cap: &UsageCap, usage: &UsageSample) -> bool {
    cap.invocations
        .is_some_and(|limit| usage.invocations >= limit)
        || cap
            .active_cpu_ms
            .is_some_and(|limit| usage.active_cpu_ms >= limit)
        || cap
            .gb_seconds
            .is_some_and(|limit| usage.gb_seconds >= limit)
}

/// Collects usage in memory on the request path (a map insert under a short lock);
/// [`ControlPlane::flush_usage`] writes it to the store in one transaction. Samples are
/// attributed to the hour of the flush, so keep the flush interval short (seconds).
#[derive(Debug, Default)]
pub struct UsageMeter {
    pending: Mutex<HashMap<(DeploymentId, String), UsageSample>>,
}

impl UsageMeter {
    /// Adds what an invocation (or a batch) of `function` used.
    pub fn add(&self, deployment: &DeploymentId, function: &str, sample: &UsageSample) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending
            .entry((deployment.clone(), function.to_owned()))
            .or_default()
            .add(sample);
    }

    fn take(&self) -> HashMap<(DeploymentId, String), UsageSample> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts samples back after a failed flush, so none is lost.
    fn restore(&self, taken: HashMap<(DeploymentId, String), UsageSample>) {
        for ((deployment, function), sample) in taken {
            self.add(&deployment, &function, &sample);
        }
    }
}

impl ControlPlane {
    /// Writes what `meter` collected since the last flush (all or nothing: on an error the
    /// samples stay in the meter for the next flush), then checks the caps of the projects
    /// concerned. Returns the projects paused now.
    pub fn flush_usage(&self, meter: &UsageMeter) -> Result<Vec<ProjectName>, StoreError> {
        let taken = meter.take();
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let at = self.clock().now();
        let entries: Vec<UsageEntry> = taken
            .iter()
            .map(|((deployment, function), sample)| UsageEntry {
                deployment: deployment.clone(),
                function: function.clone(),
                at,
                sample: *sample,
            })
            .collect();
        if let Err(error) = self.store().record_usage(&entries) {
            meter.restore(taken);
            return Err(error);
        }
        let mut projects = BTreeSet::new();
        for deployment in taken
            .keys()
            .map(|(deployment, _)| deployment)
            .collect::<BTreeSet<_>>()
        {
            if let Some(record) = self.store().deployment(deployment)? {
                projects.insert(record.project);
            }
        }
        let mut paused = Vec::new();
        for project in projects {
            if self.check_cap(&project)? {
                paused.push(project);
            }
        }
        Ok(paused)
    }

    /// Flushes `meter` every `every` until `shutdown` ends, and once more then.
    pub async fn run_usage_flush(
        self: Arc<Self>,
        meter: Arc<UsageMeter>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        run_every(every, shutdown, Extra::AtStop, || {
            if let Err(error) = self.flush_usage(&meter) {
                tracing::warn!(%error, "usage flush failed; the samples are kept for the next one");
            }
        })
        .await;
    }

    /// Adds what an invocation (or a batch of them) used to the current hour; then, when the
    /// project has a cap, checks it and pauses the project when reached. Returns whether the
    /// project is paused now.
    pub fn record_invocation(
        &self,
        deployment: &DeploymentId,
        function: &str,
        sample: &UsageSample,
    ) -> Result<bool, StoreError> {
        let entry = UsageEntry {
            deployment: deployment.clone(),
            function: function.to_owned(),
            at: self.clock().now(),
            sample: *sample,
        };
        self.store().record_usage(&[entry])?;
        let Some(record) = self.store().deployment(deployment)? else {
            return Ok(false);
        };
        self.check_cap(&record.project)
    }

    /// Usage rows of a project or deployment within `[from, to)`.
    pub fn usage(
        &self,
        scope: &UsageScope,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageRow>, StoreError> {
        self.store().usage(scope, from, to)
    }

    /// Sets or clears a project's cap and re-checks it at once: raising or clearing the cap
    /// unpauses a paused project. Returns whether the project is paused now.
    pub fn set_usage_cap(
        &self,
        project: &ProjectName,
        cap: Option<UsageCap>,
    ) -> Result<bool, StoreError> {
        self.store().ensure_project(project, self.clock().now())?;
        self.store().set_usage_cap(project, cap)?;
        self.check_cap(project)
    }

    /// Whether a project is paused (unknown projects are not).
    pub fn is_paused(&self, project: &ProjectName) -> Result<bool, StoreError> {
        Ok(self.store().project(project)?.is_some_and(|p| p.paused))
    }

    fn check_cap(&self, project: &ProjectName) -> Result<bool, StoreError> {
        let Some(current) = self.store().project(project)? else {
            return Ok(false);
        };
        let over = match &current.usage_cap {
            None => false,
            Some(cap) => {
                let now = self.clock().now();
                let rows = self.store().usage(
                    &UsageScope::Project(project.clone()),
                    month_start(now),
                    now + chrono::TimeDelta::hours(1),
                )?;
                exceeds(cap, &total(&rows))
            }
        };
        if over != current.paused {
            self.store().set_paused(project, over)?;
            self.refresh_hosts();
            if over {
                tracing::warn!(project = %project, "usage cap reached: project paused");
            }
        }
        Ok(over)
    }
}
