//! Usage metering: what invocations used, added up per deployment, function and hour, and
//! the per-project cap that pauses a project when reached (the gateway then answers 503
//! `DEPLOYMENT_PAUSED` until the cap is raised or removed).

use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::model::{DeploymentId, ProjectName, UsageCap, UsageRow, UsageSample};
use crate::plane::ControlPlane;
use crate::store::{StoreError, UsageScope};

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

impl ControlPlane {
    /// Adds what an invocation (or a batch of them) used to the current hour; then, when the
    /// project has a cap, checks it and pauses the project when reached. Returns whether the
    /// project is paused now.
    pub fn record_invocation(
        &self,
        deployment: &DeploymentId,
        function: &str,
        sample: &UsageSample,
    ) -> Result<bool, StoreError> {
        let now = self.clock().now();
        self.store()
            .record_usage(deployment, function, now, sample)?;
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
            if over {
                tracing::warn!(project = %project, "usage cap reached: project paused");
            }
        }
        Ok(over)
    }
}
