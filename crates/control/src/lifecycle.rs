//! Archiving: deployments nobody invoked for a while are archived (their instances stopped,
//! caches dropped by whoever runs them) and unarchived on the next request. The production
//! deployment of a project waits longer than the others.

use std::time::Duration;

use chrono::TimeDelta;

use crate::model::{DeploymentRecord, DeploymentState};
use crate::plane::{AliasError, ControlPlane};
use crate::store::StoreError;

/// Idle time after which a project's production deployment is archived: 2 weeks.
pub const PRODUCTION_IDLE: Duration = Duration::from_secs(14 * 24 * 3600);
/// Idle time after which any other deployment is archived: 48 hours.
pub const PREVIEW_IDLE: Duration = Duration::from_secs(48 * 3600);

impl ControlPlane {
    /// Ready deployments idle for longer than their limit: `production_idle` for the
    /// deployment a project's production alias points at, `preview_idle` for the others.
    /// Idle since the latest hour with usage, or since creation when never invoked.
    pub fn archive_candidates(
        &self,
        production_idle: Duration,
        preview_idle: Duration,
    ) -> Result<Vec<DeploymentRecord>, StoreError> {
        let now = self.clock().now();
        let limit = |idle: Duration| TimeDelta::from_std(idle).unwrap_or(TimeDelta::MAX);
        let mut candidates = Vec::new();
        for record in self.store().deployments(None)? {
            if record.state != DeploymentState::Ready {
                continue;
            }
            let production = self
                .store()
                .production(&record.project)?
                .is_some_and(|(id, _)| id == record.id);
            let idle = limit(if production {
                production_idle
            } else {
                preview_idle
            });
            // Usage buckets start at the hour: count the whole hour as used.
            let last_used = match self.store().last_usage(&record.id)? {
                Some(bucket) => bucket + TimeDelta::hours(1),
                None => record.created_at,
            };
            if now.signed_duration_since(last_used) > idle {
                candidates.push(record);
            }
        }
        Ok(candidates)
    }

    /// Marks a ready deployment archived (the caller stops its instances).
    pub fn archive(&self, id: &str) -> Result<DeploymentRecord, AliasError> {
        self.move_state(id, DeploymentState::Ready, DeploymentState::Archived)
    }

    /// Marks an archived deployment ready again (on its next request).
    pub fn unarchive(&self, id: &str) -> Result<DeploymentRecord, AliasError> {
        self.move_state(id, DeploymentState::Archived, DeploymentState::Ready)
    }

    fn move_state(
        &self,
        id: &str,
        from: DeploymentState,
        to: DeploymentState,
    ) -> Result<DeploymentRecord, AliasError> {
        let record = self.deployment(id)?;
        if record.state == to {
            return Ok(record);
        }
        if record.state != from {
            return Err(AliasError::NotServable {
                id: record.id,
                state: record.state,
            });
        }
        self.store().set_deployment_state(&record.id, to)?;
        self.refresh_hosts();
        tracing::info!(deployment = %record.id, state = %to, "deployment state");
        Ok(DeploymentRecord {
            state: to,
            ..record
        })
    }
}
