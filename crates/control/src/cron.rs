//! Cron jobs of production deployments: `crons: [{path, schedule}]` of `config.json`, 5-field
//! UTC expressions, each tick run exactly once.
//!
//! [`CronEngine::run_due`] looks at every project's production deployment, computes the most
//! recent tick of each schedule at or before now, and *claims* it in the store (a row unique
//! per project, path, schedule and tick). Only the engine whose claim inserted the row runs
//! it, so two engines on one store, or an engine restarted within the minute, never run a
//! tick twice. The run is `GET <path>` through the injected [`Invoker`] with
//! `user-agent: vercel-cron/1.0` and, when the deployment's env has `CRON_SECRET`,
//! `authorization: Bearer <CRON_SECRET>`; status and duration are recorded.
//!
//! Missed ticks: after downtime only the most recent missed tick runs (once), because
//! `run_due` only ever looks at the latest tick; older ones are skipped, as a cron daemon
//! that was off would. Ticks from before the deployment became production never run.

mod gateway;

pub use gateway::GatewayInvoker;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::model::{CronRun, CronSpec, CronTrigger, DeploymentId, DeploymentState, ProjectName};
use crate::store::{CronClaim, Store, StoreError};

/// The user agent of cron requests, as Vercel sends it.
pub const USER_AGENT: &str = "vercel-cron/1.0";

/// Why a schedule was refused.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0} (write 5 fields in UTC: minute hour day-of-month month day-of-week, e.g. \"0 5 * * *\")"
)]
pub struct ScheduleError(String);

/// Parses a 5-field cron expression (no seconds, no years).
pub fn parse_schedule(schedule: &str) -> Result<Cron, ScheduleError> {
    let fields = schedule.split_whitespace().count();
    if fields != 5 {
        return Err(ScheduleError(format!(
            "{schedule:?} has {fields} fields, not 5"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(schedule)
        .map_err(|e| ScheduleError(format!("{schedule:?} does not parse: {e}")))
}

/// Where the engine reads the time; tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(now))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A cron request to a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronRequest {
    pub deployment: DeploymentId,
    /// Path and query, e.g. `/api/cron?x=1`.
    pub path: String,
    /// Lowercase header names.
    pub headers: Vec<(String, String)>,
}

/// Runs a cron request (`GET`) through the gateway and tells the response status, or why
/// there was none. Implemented by the server wiring; tests record the calls.
pub trait Invoker: Send + Sync {
    fn invoke(
        &self,
        request: CronRequest,
    ) -> Pin<Box<dyn Future<Output = Result<u16, String>> + Send + '_>>;
}

/// Why a cron operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    #[error("project {0} has no production deployment (deploy with --prod or promote one)")]
    NoProduction(ProjectName),
    #[error(
        "the production deployment of {project} has no cron with path {path:?} (see `eddy crons ls`)"
    )]
    UnknownCron { project: ProjectName, path: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The cron scheduler. Cheap to share (`Arc`); see the module docs.
pub struct CronEngine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    invoker: Arc<dyn Invoker>,
}

impl std::fmt::Debug for CronEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CronEngine").finish_non_exhaustive()
    }
}

/// A cron of a production deployment, ready to claim.
struct Due {
    project: ProjectName,
    deployment: DeploymentId,
    cron: CronSpec,
    tick: DateTime<Utc>,
}

impl CronEngine {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, invoker: Arc<dyn Invoker>) -> Self {
        Self {
            store,
            clock,
            invoker,
        }
    }

    /// Claims and runs every tick due now that no one ran yet; returns the runs this call
    /// made (all finished). Invocations run concurrently.
    pub async fn run_due(&self) -> Result<Vec<CronRun>, CronError> {
        let now = self.clock.now();
        let mut claimed = Vec::new();
        for due in self.due(now)? {
            let claim = CronClaim {
                project: due.project,
                deployment: due.deployment,
                path: due.cron.path,
                schedule: due.cron.schedule,
                tick: due.tick,
                trigger: CronTrigger::Schedule,
                started_at: now,
            };
            if let Some(id) = self.store.claim_cron_run(&claim)? {
                claimed.push((id, claim));
            }
        }
        let runs = claimed
            .into_iter()
            .map(|(id, claim)| self.execute(id, claim));
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .collect()
    }

    /// Runs the production deployment's cron with `path` now, outside its schedule.
    pub async fn run_now(&self, project: &ProjectName, path: &str) -> Result<CronRun, CronError> {
        let (deployment, _) = self
            .store
            .production(project)?
            .ok_or_else(|| CronError::NoProduction(project.clone()))?;
        let record = self
            .store
            .deployment(&deployment)?
            .ok_or_else(|| CronError::NoProduction(project.clone()))?;
        let cron = record
            .crons
            .iter()
            .find(|cron| cron.path == path)
            .ok_or_else(|| CronError::UnknownCron {
                project: project.clone(),
                path: path.to_owned(),
            })?;
        let now = self.clock.now();
        let claim = CronClaim {
            project: project.clone(),
            deployment,
            path: cron.path.clone(),
            schedule: cron.schedule.clone(),
            tick: now,
            trigger: CronTrigger::Manual,
            started_at: now,
        };
        // Two manual runs in the same millisecond are one run.
        let Some(id) = self.store.claim_cron_run(&claim)? else {
            let runs = self.store.cron_runs(project, 20)?;
            return runs
                .into_iter()
                .find(|run| {
                    run.trigger == CronTrigger::Manual && run.tick == now && run.path == path
                })
                .ok_or_else(|| CronError::UnknownCron {
                    project: project.clone(),
                    path: path.to_owned(),
                });
        };
        self.execute(id, claim).await
    }

    /// Calls [`CronEngine::run_due`] at the start of every minute until `shutdown` ends.
    /// Each round runs in its own task, so a slow cron does not delay the next minute.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(error) = engine.run_due().await {
                    tracing::warn!(%error, "cron round failed");
                }
            });
            let now = self.clock.now();
            let into_minute = now.timestamp().rem_euclid(60).unsigned_abs() * 1000
                + u64::from(now.timestamp_subsec_millis());
            // Wake 50 ms into the next minute so the tick is not missed by rounding.
            let wait = std::time::Duration::from_millis(60_000 - into_minute.min(60_000) + 50);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// The latest tick of every production cron, if it is not older than the promotion.
    fn due(&self, now: DateTime<Utc>) -> Result<Vec<Due>, StoreError> {
        let mut due = Vec::new();
        for project in self.store.projects()? {
            let Some((deployment, since)) = self.store.production(&project.name)? else {
                continue;
            };
            let Some(record) = self.store.deployment(&deployment)? else {
                continue;
            };
            if !matches!(
                record.state,
                DeploymentState::Ready | DeploymentState::Archived
            ) {
                continue;
            }
            for cron in record.crons {
                let Ok(schedule) = parse_schedule(&cron.schedule) else {
                    tracing::warn!(deployment = %deployment, schedule = %cron.schedule, "cron schedule no longer parses");
                    continue;
                };
                let Ok(tick) = schedule.find_previous_occurrence(&now, true) else {
                    continue;
                };
                if tick >= since {
                    due.push(Due {
                        project: project.name.clone(),
                        deployment: deployment.clone(),
                        cron,
                        tick,
                    });
                }
            }
        }
        Ok(due)
    }

    /// Invokes a claimed run and records how it went.
    async fn execute(&self, id: i64, claim: CronClaim) -> Result<CronRun, CronError> {
        let mut headers = vec![("user-agent".to_owned(), USER_AGENT.to_owned())];
        if let Some(secret) = self
            .store
            .deployment_env(&claim.deployment)?
            .get("CRON_SECRET")
        {
            headers.push(("authorization".to_owned(), format!("Bearer {secret}")));
        }
        let request = CronRequest {
            deployment: claim.deployment.clone(),
            path: claim.path.clone(),
            headers,
        };
        let started = Instant::now();
        let outcome = self.invoker.invoke(request).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error) = match outcome {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        self.store
            .finish_cron_run(id, status, error.as_deref(), duration_ms)?;
        tracing::info!(project = %claim.project, path = %claim.path, tick = %claim.tick, ?status, duration_ms, "cron run");
        Ok(CronRun {
            id,
            project: claim.project,
            deployment: claim.deployment,
            path: claim.path,
            schedule: claim.schedule,
            tick: claim.tick,
            trigger: claim.trigger,
            started_at: claim.started_at,
            status,
            error,
            duration_ms: Some(duration_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_field_expressions_parse_and_others_explain_themselves() {
        assert!(parse_schedule("*/5 * * * 1-5").is_ok());
        let six = parse_schedule("0 */5 * * * *").expect_err("six fields");
        assert!(six.to_string().contains("6 fields, not 5"), "{six}");
        let bad = parse_schedule("99 * * * *").expect_err("minute 99");
        assert!(bad.to_string().contains("does not parse"), "{bad}");
    }

    #[test]
    fn the_latest_tick_is_at_or_before_now() {
        let cron = parse_schedule("*/15 * * * *").expect("parse");
        let now: DateTime<Utc> = "2026-01-01T10:29:59Z".parse().expect("time");
        let tick = cron.find_previous_occurrence(&now, true).expect("tick");
        assert_eq!(
            tick,
            "2026-01-01T10:15:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time")
        );
        let on_tick: DateTime<Utc> = "2026-01-01T10:30:00Z".parse().expect("time");
        assert_eq!(
            cron.find_previous_occurrence(&on_tick, true).expect("tick"),
            on_tick
        );
    }
}
