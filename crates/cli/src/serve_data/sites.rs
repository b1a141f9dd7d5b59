//! [`Deployments`]: the gateway's [`Sites`] for `eddy serve --data`. The control plane says
//! which deployment a host means (from memory); the [`App`] serving it is built on its first
//! request from the deployment's tree and kept until the deployment is archived or removed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eddy_control::{ControlPlane, DeploymentId, DeploymentRecord, DeploymentState, HostRoute};
use eddy_gateway::{App, PoolDefaults, Runtimes, Site, Sites};
use eddy_runtime::BoxFuture;
use eddy_scheduler::InstanceIds;

/// The apps of the deployments served so far, by deployment id.
pub(crate) struct Deployments {
    plane: Arc<ControlPlane>,
    runtimes: Runtimes,
    defaults: PoolDefaults,
    ids: Arc<InstanceIds>,
    /// Looked up on every request; held only for a map operation.
    apps: std::sync::Mutex<HashMap<DeploymentId, Loaded>>,
    /// Held while an app is built, so two first requests build it once (requests to apps
    /// already built do not wait for it).
    building: tokio::sync::Mutex<()>,
}

/// An app and whether it was built as its project's production deployment (which keeps
/// warm instances).
struct Loaded {
    app: Arc<App>,
    production: bool,
}

impl Deployments {
    pub(crate) fn new(
        plane: Arc<ControlPlane>,
        runtimes: Runtimes,
        defaults: PoolDefaults,
    ) -> Self {
        Self {
            plane,
            runtimes,
            defaults,
            ids: Arc::new(InstanceIds::default()),
            apps: std::sync::Mutex::new(HashMap::new()),
            building: tokio::sync::Mutex::new(()),
        }
    }

    /// The app of `record`, built (and the deployment unarchived) on first use.
    pub(crate) async fn app(&self, record: &DeploymentRecord) -> anyhow::Result<Arc<App>> {
        if let Some(app) = self.loaded(&record.id) {
            return Ok(app);
        }
        let _building = self.building.lock().await;
        if let Some(app) = self.loaded(&record.id) {
            return Ok(app);
        }
        let plane = self.plane.clone();
        let record = record.clone();
        let (output, production) = tokio::task::spawn_blocking(move || {
            if record.state == DeploymentState::Archived {
                plane.unarchive(record.id.as_str())?;
            }
            let production = plane
                .store()
                .production(&record.project)?
                .is_some_and(|(id, _)| id == record.id);
            let output = plane.load(&record)?;
            anyhow::Ok((output, production))
        })
        .await
        .context("loading a deployment")??;
        let mut deployment = output.deployment;
        for spec in deployment.functions.values_mut() {
            // A default only: a function may set its own.
            spec.env
                .entry("NODE_ENV".to_owned())
                .or_insert_with(|| "production".to_owned());
        }
        let broken = output
            .errors
            .iter()
            .map(|error| (error.function.clone(), error.to_string()))
            .collect();
        // Production deployments keep one instance of each function warm.
        let defaults = PoolDefaults {
            min_instances: u32::from(production),
            ..self.defaults.clone()
        };
        let app = Arc::new(App::new(
            &deployment,
            broken,
            &self.runtimes,
            &defaults,
            &self.ids,
        )?);
        let id = DeploymentId::parse(&deployment.id).context("deployment id")?;
        tracing::info!(target: "eddy::serve", deployment = %id, production, functions = app.pools().count(), "deployment loaded");
        self.apps().insert(
            id,
            Loaded {
                app: app.clone(),
                production,
            },
        );
        Ok(app)
    }

    fn apps(&self) -> std::sync::MutexGuard<'_, HashMap<DeploymentId, Loaded>> {
        self.apps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn loaded(&self, id: &DeploymentId) -> Option<Arc<App>> {
        self.apps().get(id).map(|loaded| loaded.app.clone())
    }

    /// Retires the apps of deployments no longer served (removed, archived) or whose
    /// production status changed (promote, rollback: rebuilt on their next request with or
    /// without warm instances), and loads the production deployments not loaded yet (so
    /// their warm instances start before traffic).
    pub(crate) async fn reconcile(&self) {
        let production = self.production().await;
        let stale: Vec<(DeploymentId, Arc<App>)> = {
            let mut apps = self.apps();
            let gone: Vec<DeploymentId> = apps
                .iter()
                .filter(|(id, loaded)| {
                    let served = match self.plane.route_host(&format!("{id}.localhost")) {
                        HostRoute::Serve(record) | HostRoute::Paused(record) => {
                            record.state == DeploymentState::Ready
                        }
                        HostRoute::NotFound => false,
                    };
                    let is_production = production.iter().any(|record| record.id == **id);
                    !served || loaded.production != is_production
                })
                .map(|(id, _)| id.clone())
                .collect();
            gone.into_iter()
                .filter_map(|id| apps.remove(&id).map(|loaded| (id, loaded.app)))
                .collect()
        };
        for (id, app) in stale {
            tracing::info!(target: "eddy::serve", deployment = %id, "stopping the instances of a deployment no longer served as loaded");
            tokio::spawn(async move {
                // A request that took the app just before it left the cache still gets in.
                tokio::time::sleep(Duration::from_secs(5)).await;
                app.retire().await;
            });
        }
        for record in production {
            if let Err(error) = self.app(&record).await {
                tracing::warn!(target: "eddy::serve", deployment = %record.id, "cannot load: {error:#}");
            }
        }
    }

    /// The ready production deployment of every project.
    async fn production(&self) -> Vec<DeploymentRecord> {
        let plane = self.plane.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut records = Vec::new();
            for project in plane.store().projects()? {
                if let Some((id, _)) = plane.store().production(&project.name)?
                    && let Some(record) = plane.store().deployment(&id)?
                    && record.state == DeploymentState::Ready
                    && !project.paused
                {
                    records.push(record);
                }
            }
            anyhow::Ok(records)
        })
        .await;
        match found {
            Ok(Ok(records)) => records,
            Ok(Err(error)) => {
                tracing::warn!(target: "eddy::serve", "reading production deployments: {error:#}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// Archives deployments idle for longer than their limit and stops their instances.
    pub(crate) async fn archive_idle(&self, production_idle: Duration, preview_idle: Duration) {
        let plane = self.plane.clone();
        let archived = tokio::task::spawn_blocking(move || {
            let mut archived = Vec::new();
            for record in plane.archive_candidates(production_idle, preview_idle)? {
                plane.archive(record.id.as_str())?;
                archived.push(record.id);
            }
            anyhow::Ok(archived)
        })
        .await;
        match archived {
            Ok(Ok(ids)) if !ids.is_empty() => {
                tracing::info!(target: "eddy::serve", count = ids.len(), "archived idle deployments");
                self.reconcile().await;
            }
            Ok(Err(error)) => {
                tracing::warn!(target: "eddy::serve", "archiving: {error:#}");
            }
            _ => {}
        }
    }

    /// Drains every instance of every app (shutdown).
    pub(crate) async fn retire_all(&self) {
        let apps: Vec<Arc<App>> = self.apps().drain().map(|(_, loaded)| loaded.app).collect();
        futures_util::future::join_all(apps.iter().map(|app| app.retire())).await;
    }
}

impl Sites for Deployments {
    fn site(&self, host: &str) -> BoxFuture<'_, Site> {
        let route = self.plane.route_host(host);
        Box::pin(async move {
            match route {
                HostRoute::NotFound => Site::NotFound,
                HostRoute::Paused(_) => Site::Paused,
                HostRoute::Serve(record) => match self.app(&record).await {
                    Ok(app) => Site::Serve(app),
                    Err(error) => {
                        tracing::error!(target: "eddy::serve", deployment = %record.id, "cannot serve: {error:#}");
                        Site::NotFound
                    }
                },
            }
        })
    }
}
