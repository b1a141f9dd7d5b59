//! The host table: which deployment a request's `Host` means, held in memory so the gateway
//! resolves every request without a store round trip. Rebuilt from the store after every
//! change made through [`ControlPlane`] (deploy, promote, rollback, remove, archive, pause)
//! and by [`ControlPlane::run_host_refresh`] for changes made by another process.

use crate::periodic::{Extra, run_every};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::model::{DeploymentId, DeploymentRecord, DeploymentState, ProjectName};
use crate::plane::{ControlPlane, HostRoute};
use crate::store::{Store, StoreError};

/// A snapshot of the routing state.
#[derive(Debug, Default)]
pub struct HostTable {
    deployments: HashMap<DeploymentId, DeploymentRecord>,
    production: HashMap<ProjectName, DeploymentId>,
    paused: HashSet<ProjectName>,
}

impl HostTable {
    /// Reads the routing state from the store (removed deployments are left out).
    pub fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let mut table = Self::default();
        for record in store.deployments(None)? {
            if record.state != DeploymentState::Removed {
                table.deployments.insert(record.id.clone(), record);
            }
        }
        for project in store.projects()? {
            if let Some((id, _)) = store.production(&project.name)? {
                table.production.insert(project.name.clone(), id);
            }
            if project.paused {
                table.paused.insert(project.name);
            }
        }
        Ok(table)
    }

    /// What to do with a request for `host`: `<deployment-id>.localhost[:port]` or
    /// `<project>.localhost[:port]` (the production alias); anything else is not found.
    pub fn route(&self, host: &str) -> HostRoute {
        let name = host
            .rsplit_once(':')
            .map_or(host, |(name, _)| name)
            .to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name);
        let Some(label) = name.strip_suffix(".localhost") else {
            return HostRoute::NotFound;
        };
        let id = match DeploymentId::parse(label) {
            Some(id) => Some(id),
            None => label
                .parse::<ProjectName>()
                .ok()
                .and_then(|project| self.production.get(&project).cloned()),
        };
        match id.and_then(|id| self.deployments.get(&id)) {
            None => HostRoute::NotFound,
            Some(record) if self.paused.contains(&record.project) => {
                HostRoute::Paused(record.clone())
            }
            Some(record) => HostRoute::Serve(record.clone()),
        }
    }
}

impl ControlPlane {
    /// Rebuilds the host table from the store. Called after every routing change made
    /// through this control plane; a failure keeps the previous table (and is logged).
    pub fn refresh_hosts(&self) {
        match HostTable::load(self.store().as_ref()) {
            Ok(table) => self.hosts().store(Arc::new(table)),
            Err(error) => {
                tracing::warn!(%error, "host table refresh failed; routing with the previous one")
            }
        }
    }

    /// Refreshes the host table every `every` until `shutdown` ends (for writes of other
    /// processes on the same store).
    pub async fn run_host_refresh(
        self: Arc<Self>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        run_every(every, shutdown, Extra::None, || self.refresh_hosts()).await;
    }

    /// What the gateway does with a request's `Host`, from memory: serve a deployment,
    /// answer 503 `DEPLOYMENT_PAUSED`, or 404 `DEPLOYMENT_NOT_FOUND`.
    pub fn route_host(&self, host: &str) -> HostRoute {
        self.hosts().load().route(host)
    }

    /// The deployment a `Host` means, paused or not (see [`ControlPlane::route_host`]).
    pub fn resolve_host(&self, host: &str) -> Option<DeploymentRecord> {
        match self.route_host(host) {
            HostRoute::Serve(record) | HostRoute::Paused(record) => Some(record),
            HostRoute::NotFound => None,
        }
    }
}
