//! [`ControlPlane`]: the operations `eddy serve` and the admin API call: deploy, promote,
//! rollback, remove, env, Edge Config, host resolution and the env a deployment runs with.
//! Usage and logs live in [`crate::usage`] and [`crate::logs`] as more methods of it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::cron::{Clock, SystemClock};
use crate::deploy::{self, DEPLOYMENTS_DIR, DeployError, TMP_MARKER};
use crate::edge_config::{self, EdgeConfigReplica, PatchError};
use crate::hosts::HostTable;
use crate::model::{
    DeploymentId, DeploymentRecord, DeploymentState, EdgeConfigRecord, EnvSnapshot, EnvTarget,
    EnvType, EnvVar, ProjectName, Target,
};
use crate::store::{EdgeConfigOp, SqliteStore, Store, StoreError};

/// Where the server runs; used for the system env vars and the data dir layout.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Holds `eddy.sqlite` and `deployments/`.
    pub data_dir: PathBuf,
    /// The gateway's port: deployments are at `http://<id>.localhost:<port>`.
    pub gateway_port: u16,
    /// `VERCEL_REGION` of functions.
    pub region: String,
    /// Base URL where [`edge_config::router`] is reachable from functions (e.g.
    /// `http://127.0.0.1:4001/edge-config`); `None` sets no `EDGE_CONFIG`.
    pub edge_config_base: Option<String>,
}

impl Settings {
    pub fn new(data_dir: impl Into<PathBuf>, gateway_port: u16) -> Self {
        Self {
            data_dir: data_dir.into(),
            gateway_port,
            region: "dev1".to_owned(),
            edge_config_base: None,
        }
    }

    pub fn deployments_dir(&self) -> PathBuf {
        self.data_dir.join(DEPLOYMENTS_DIR)
    }
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("data dir {path}: {source} (pass a writable directory with --data)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why promote, rollback or remove was refused.
#[derive(Debug, thiserror::Error)]
pub enum AliasError {
    #[error("deployment {0} not found (list them with `eddy ls`)")]
    UnknownDeployment(String),
    #[error("deployment {id} is {state}; only ready or archived deployments can be promoted")]
    NotServable {
        id: DeploymentId,
        state: DeploymentState,
    },
    #[error("project {0} has no earlier production deployment to roll back to")]
    NothingToRollBack(ProjectName),
    #[error(
        "deployment {0} is the production deployment of its project; promote another one before removing it"
    )]
    IsProduction(DeploymentId),
    #[error("deployment {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a deployment could not be loaded for serving.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("deployment {id}: its tree cannot be read: {source}")]
    Output {
        id: DeploymentId,
        #[source]
        source: eddy_config::OutputError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an env var edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error(
        "env var name {0:?} is not valid (use letters, digits and `_`, not starting with a digit)"
    )]
    InvalidKey(String),
    #[error("env var {0} is set by the platform and cannot be overridden")]
    Reserved(String),
    #[error("env var {0}: name at least one target (production, preview, development)")]
    NoTarget(String),
    #[error(
        "env var {key} takes {size} bytes, more than the limit of {limit} bytes of a deployment's environment"
    )]
    TooLarge {
        key: String,
        size: usize,
        limit: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to deploy.
#[derive(Debug, Clone, Copy)]
pub enum Upload<'a> {
    /// A tar (optionally gzipped) of the `.vercel/output` tree's content.
    Tar(&'a [u8]),
    /// A `.vercel/output` directory on this machine.
    Directory(&'a Path),
}

/// What the gateway does with a request's `Host` ([`ControlPlane::route_host`]).
#[derive(Debug, Clone, PartialEq)]
pub enum HostRoute {
    /// Serve this deployment (archived ones are unarchived by whoever serves them).
    Serve(DeploymentRecord),
    /// The project reached its usage cap: answer 503 `DEPLOYMENT_PAUSED`.
    Paused(DeploymentRecord),
    /// No such deployment or project, or a removed one: 404 `DEPLOYMENT_NOT_FOUND`.
    NotFound,
}

/// Env var names the platform sets; users cannot override them.
pub const SYSTEM_ENV: &[&str] = &[
    "VERCEL",
    "VERCEL_ENV",
    "VERCEL_TARGET_ENV",
    "VERCEL_URL",
    "VERCEL_PROJECT_PRODUCTION_URL",
    "VERCEL_REGION",
    "VERCEL_DEPLOYMENT_ID",
    "EDGE_CONFIG",
];

/// The control plane. Share it in an `Arc`; every method is safe to call concurrently.
pub struct ControlPlane {
    store: Arc<dyn Store>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    edge_configs: Arc<EdgeConfigReplica>,
    /// What `route_host` answers from; see [`crate::hosts`].
    hosts: ArcSwap<HostTable>,
    /// Serialises the commit step of deploys (rename into place + insert), so two uploads
    /// of the same tree cannot remove each other's directory.
    deploy_lock: std::sync::Mutex<()>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Opens (creating) the data dir and its SQLite store, removes unfinished uploads and
    /// trees without a row (a crash between rename and insert), loads the Edge Config replica.
    pub fn open(settings: Settings) -> Result<Self, OpenError> {
        let dir = settings.deployments_dir();
        fs::create_dir_all(&dir).map_err(|source| OpenError::Io {
            path: dir.clone(),
            source,
        })?;
        let store = Arc::new(SqliteStore::open_in(&settings.data_dir)?);
        let plane = Self::with_store(store, settings, Arc::new(SystemClock))?;
        plane.sweep_deployments_dir()?;
        Ok(plane)
    }

    /// A control plane over any store and clock (tests, a cluster store later).
    pub fn with_store(
        store: Arc<dyn Store>,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let edge_configs = Arc::new(EdgeConfigReplica::load(store.as_ref())?);
        let hosts = ArcSwap::from_pointee(HostTable::load(store.as_ref())?);
        Ok(Self {
            store,
            settings,
            clock,
            edge_configs,
            hosts,
            deploy_lock: std::sync::Mutex::new(()),
        })
    }

    pub(crate) fn hosts(&self) -> &ArcSwap<HostTable> {
        &self.hosts
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The replica [`edge_config::router`] serves.
    pub fn edge_config_replica(&self) -> &Arc<EdgeConfigReplica> {
        &self.edge_configs
    }

    /// Removes what a crash can leave under `deployments/`: unfinished uploads, and trees
    /// without a row (or of removed deployments). A store error stops the sweep rather than
    /// risk deleting a live tree.
    fn sweep_deployments_dir(&self) -> Result<(), OpenError> {
        let dir = self.settings.deployments_dir();
        let io = |source| OpenError::Io {
            path: dir.clone(),
            source,
        };
        for entry in fs::read_dir(&dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let orphan = match DeploymentId::parse(&name) {
                Some(id) => self
                    .store
                    .deployment(&id)?
                    .is_none_or(|d| d.state == DeploymentState::Removed),
                None => name.contains(TMP_MARKER),
            };
            if orphan {
                tracing::info!(dir = %entry.path().display(), "removing unfinished deployment dir");
                fs::remove_dir_all(entry.path()).map_err(io)?;
            }
        }
        Ok(())
    }

    // --- admin token ---

    /// Creates the admin token on first start: returns it (to print once) and stores only
    /// its SHA-256. Returns `None` when a token exists.
    pub fn init_admin_token(&self) -> Result<Option<String>, StoreError> {
        let token = format!("eddy_{}", hex::encode(rand::random::<[u8; 24]>()));
        let stored = self
            .store
            .set_meta_if_absent(ADMIN_TOKEN_KEY, &token_hash(&token))?;
        Ok(stored.then_some(token))
    }

    /// Whether `presented` is the admin token.
    pub fn check_admin_token(&self, presented: &str) -> Result<bool, StoreError> {
        let Some(stored) = self.store.meta(ADMIN_TOKEN_KEY)? else {
            return Ok(false);
        };
        let presented = token_hash(presented);
        // Compare every byte so the time taken does not tell how much matched.
        let same = stored.len() == presented.len()
            && stored
                .bytes()
                .zip(presented.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        Ok(same)
    }

    // --- deployments ---

    /// Deploys an upload as a new immutable deployment (see [`crate::deploy`]). Returns the
    /// existing deployment when the same tree was deployed before to the same project and
    /// target with the same env vars. With `Target::Production` the deployment is also promoted.
    pub fn deploy(
        &self,
        project: &ProjectName,
        target: Target,
        upload: Upload<'_>,
    ) -> Result<DeploymentRecord, DeployError> {
        let now = self.clock.now();
        let deployments_dir = self.settings.deployments_dir();
        let staged = match upload {
            Upload::Tar(body) => deploy::stage_tar(&deployments_dir, body)?,
            Upload::Directory(dir) => deploy::stage_dir(&deployments_dir, dir)?,
        };
        let crons = deploy::validate_output(staged.path())?;
        let env = self.store.resolve_env(project, target.into())?;
        // The address covers what the deployment runs with: the tree and the env snapshot
        // (so a changed env var takes effect on the next deploy of the same tree).
        let mut address = Sha256::new();
        address.update(project.as_str().as_bytes());
        address.update([0]);
        address.update(target.as_str().as_bytes());
        address.update([0]);
        address.update(deploy::manifest_digest(staged.path())?);
        for (key, value) in &env {
            address.update(key.as_bytes());
            address.update([0]);
            address.update(value.as_bytes());
            address.update([0]);
        }
        let id = DeploymentId::from_digest(&address.finalize());

        let output_dir = deployments_dir.join(id.as_str());
        let record = DeploymentRecord {
            id: id.clone(),
            project: project.clone(),
            target,
            state: DeploymentState::Ready,
            created_at: now,
            output_dir: output_dir.clone(),
            crons,
        };
        let mut full_env = self.system_env(&record)?;
        full_env.extend(env.clone());
        deploy::check_env_size(&full_env)?;

        self.store.ensure_project(project, now)?;
        let _commit = self
            .deploy_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match self.store.deployment(&id)? {
            Some(existing) if existing.state != DeploymentState::Removed => {
                drop(staged);
                self.promote_if_production(&existing)?;
                self.refresh_hosts();
                return Ok(existing);
            }
            Some(_) => {
                // Deployed before and removed since: the same content comes back.
                remove_tree(&output_dir)?;
                staged.keep(&output_dir)?;
                self.store
                    .set_deployment_state(&id, DeploymentState::Ready)?;
            }
            None => {
                remove_tree(&output_dir)?;
                staged.keep(&output_dir)?;
                if let Err(error) = self.store.insert_deployment(&record, &env) {
                    let _ = fs::remove_dir_all(&output_dir);
                    return Err(error.into());
                }
            }
        }
        let record = self.store.deployment(&id)?.unwrap_or(record);
        self.promote_if_production(&record)?;
        self.refresh_hosts();
        tracing::info!(deployment = %id, project = %project, %target, "deploy");
        Ok(record)
    }

    fn promote_if_production(&self, record: &DeploymentRecord) -> Result<(), StoreError> {
        if record.target == Target::Production
            && self
                .store
                .production(&record.project)?
                .is_none_or(|(current, _)| current != record.id)
        {
            self.store
                .promote(&record.project, &record.id, self.clock.now())?;
        }
        Ok(())
    }

    /// A deployment by id text; `UnknownDeployment` when it does not parse or exist.
    pub fn deployment(&self, id: &str) -> Result<DeploymentRecord, AliasError> {
        DeploymentId::parse(id)
            .map(|id| self.store.deployment(&id))
            .transpose()?
            .flatten()
            .ok_or_else(|| AliasError::UnknownDeployment(id.to_owned()))
    }

    /// Makes a deployment its project's production deployment.
    pub fn promote(&self, id: &str) -> Result<DeploymentRecord, AliasError> {
        let record = self.deployment(id)?;
        if !matches!(
            record.state,
            DeploymentState::Ready | DeploymentState::Archived
        ) {
            return Err(AliasError::NotServable {
                id: record.id,
                state: record.state,
            });
        }
        self.store
            .promote(&record.project, &record.id, self.clock.now())?;
        self.refresh_hosts();
        tracing::info!(deployment = %record.id, project = %record.project, "promote");
        Ok(record)
    }

    /// Points production back at the deployment it served before the last promote.
    pub fn rollback(&self, project: &ProjectName) -> Result<DeploymentRecord, AliasError> {
        let id = self
            .store
            .rollback(project, self.clock.now())?
            .ok_or_else(|| AliasError::NothingToRollBack(project.clone()))?;
        self.refresh_hosts();
        tracing::info!(deployment = %id, project = %project, "rollback");
        self.deployment(id.as_str())
    }

    /// Removes a deployment that is not production: its tree is deleted, its row stays as
    /// `removed` (for history and logs).
    pub fn remove(&self, id: &str) -> Result<DeploymentRecord, AliasError> {
        let record = self.deployment(id)?;
        if self
            .store
            .production(&record.project)?
            .is_some_and(|(current, _)| current == record.id)
        {
            return Err(AliasError::IsProduction(record.id));
        }
        self.store
            .set_deployment_state(&record.id, DeploymentState::Removed)?;
        // Stop routing to it before its files go.
        self.refresh_hosts();
        fs::remove_dir_all(&record.output_dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|source| AliasError::Io {
                path: record.output_dir.clone(),
                source,
            })?;
        Ok(DeploymentRecord {
            state: DeploymentState::Removed,
            ..record
        })
    }

    /// Reads a deployment's tree as the server runs it: the Build Output read by
    /// [`eddy_config::read_output`], the deployment id set, and every function's env made of
    /// the project's vars (the deploy-time snapshot), then the function's own `.vc-config.json`
    /// `environment`, then the system vars, each layer overriding the one before.
    pub fn load(&self, record: &DeploymentRecord) -> Result<eddy_config::Output, LoadError> {
        let mut output =
            eddy_config::read_output(&record.output_dir).map_err(|source| LoadError::Output {
                id: record.id.clone(),
                source,
            })?;
        output.deployment.id = record.id.to_string();
        let project_env = self.store.deployment_env(&record.id)?;
        let system_env = self.system_env(record)?;
        for function in output.deployment.functions.values_mut() {
            let mut env = project_env.clone();
            env.append(&mut function.env);
            env.extend(system_env.clone());
            function.env = env;
        }
        Ok(output)
    }

    /// Every env var a deployment's functions get: the project's vars as they were at deploy
    /// (secrets included) plus the system vars. Never log the result.
    pub fn deployment_env(&self, id: &DeploymentId) -> Result<EnvSnapshot, StoreError> {
        let record = self
            .store
            .deployment(id)?
            .ok_or_else(|| StoreError::NotFound {
                what: "deployment",
                name: id.to_string(),
            })?;
        let mut env = self.store.deployment_env(id)?;
        env.extend(self.system_env(&record)?);
        Ok(env)
    }

    /// The system vars of vercel-compat §0.3 for a deployment.
    pub fn system_env(&self, record: &DeploymentRecord) -> Result<EnvSnapshot, StoreError> {
        let port = self.settings.gateway_port;
        let mut env = BTreeMap::new();
        let mut set = |key: &str, value: String| env.insert(key.to_owned(), value);
        set("VERCEL", "1".to_owned());
        set("VERCEL_ENV", record.target.to_string());
        set("VERCEL_TARGET_ENV", record.target.to_string());
        set("VERCEL_URL", format!("{}.localhost:{port}", record.id));
        set(
            "VERCEL_PROJECT_PRODUCTION_URL",
            format!("{}.localhost:{port}", record.project),
        );
        set("VERCEL_REGION", self.settings.region.clone());
        set("VERCEL_DEPLOYMENT_ID", record.id.to_string());
        if let Some(base) = &self.settings.edge_config_base
            && let Some(config) = self.store.edge_configs(Some(&record.project))?.first()
        {
            set(
                "EDGE_CONFIG",
                edge_config::connection_string(base, &config.id, &config.token),
            );
        }
        Ok(env)
    }

    // --- env vars ---

    /// Adds or replaces an env var for the given targets. Applies to deployments made after.
    pub fn add_env(
        &self,
        project: &ProjectName,
        key: &str,
        value: &str,
        targets: &[EnvTarget],
        kind: EnvType,
    ) -> Result<(), EnvError> {
        let valid = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(EnvError::InvalidKey(key.to_owned()));
        }
        if SYSTEM_ENV.contains(&key) {
            return Err(EnvError::Reserved(key.to_owned()));
        }
        if targets.is_empty() {
            return Err(EnvError::NoTarget(key.to_owned()));
        }
        let limit = eddy_config::limits::MAX_ENV_BYTES;
        if key.len() + value.len() > limit {
            return Err(EnvError::TooLarge {
                key: key.to_owned(),
                size: key.len() + value.len(),
                limit,
            });
        }
        self.store.ensure_project(project, self.clock.now())?;
        let var = EnvVar {
            key: key.to_owned(),
            value: Some(value.to_owned()),
            targets: targets.to_vec(),
            kind,
        };
        Ok(self.store.put_env(project, &var)?)
    }

    /// The vars of a target as `vercel env pull` writes them; secret values are empty
    /// (like Vercel's sensitive variables, they never leave the server).
    pub fn pull_env(
        &self,
        project: &ProjectName,
        target: EnvTarget,
    ) -> Result<EnvSnapshot, StoreError> {
        Ok(self
            .store
            .list_env(project)?
            .into_iter()
            .filter(|var| var.targets.contains(&target))
            .map(|var| (var.key, var.value.unwrap_or_default()))
            .collect())
    }

    // --- Edge Config ---

    /// Creates an Edge Config for a project with initial items.
    pub fn create_edge_config(
        &self,
        project: &ProjectName,
        items: serde_json::Map<String, serde_json::Value>,
    ) -> Result<EdgeConfigRecord, PatchError> {
        let items = edge_config::apply(items, &[])?;
        if let Some(key) = items.keys().find(|key| !edge_config::valid_key(key)) {
            return Err(PatchError::InvalidKey(key.clone()));
        }
        let now = self.clock.now();
        self.store.ensure_project(project, now)?;
        let record = EdgeConfigRecord {
            id: format!("ecfg_{}", hex::encode(rand::random::<[u8; 12]>())),
            project: project.clone(),
            token: hex::encode(rand::random::<[u8; 16]>()),
            digest: edge_config::digest(&items),
            items,
            version: 1,
            updated_at: now,
        };
        self.store.create_edge_config(&record)?;
        self.edge_configs.update(&record);
        Ok(record)
    }

    /// Applies `ops` (all or none) and updates the replica before returning.
    pub fn patch_edge_config(
        &self,
        id: &str,
        ops: &[EdgeConfigOp],
    ) -> Result<EdgeConfigRecord, PatchError> {
        let record = self.store.patch_edge_config(id, ops, self.clock.now())?;
        self.edge_configs.update(&record);
        Ok(record)
    }
}

const ADMIN_TOKEN_KEY: &str = "admin_token_sha256";

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn remove_tree(path: &Path) -> Result<(), DeployError> {
    match fs::remove_dir_all(path) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => Err(DeployError::Io {
            path: path.to_owned(),
            source,
        }),
        _ => Ok(()),
    }
}
