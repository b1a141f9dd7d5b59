//! One deployment, ready to serve: its compiled router, static files and a Fluid pool per
//! function. The gateway swaps whole `App`s (a new deployment, or a file saved in `eddy dev`);
//! the old one's instances drain in the background.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use eddy_config::{Deployment, FunctionSpec};
use eddy_router::{Filesystem, Hit, Router};
use eddy_runtime::{InstanceSpec, Runtime};
use eddy_scheduler::{InstanceIds, Pool, PoolConfig};

use crate::statics::StaticFiles;

/// The runtimes eddy can start, by family (`node`, ...).
#[derive(Default, Clone)]
pub struct Runtimes {
    by_family: HashMap<&'static str, Arc<dyn Runtime>>,
}

impl std::fmt::Debug for Runtimes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_family.keys()).finish()
    }
}

impl Runtimes {
    pub fn with(mut self, family: &'static str, runtime: Arc<dyn Runtime>) -> Self {
        self.by_family.insert(family, runtime);
        self
    }

    /// The runtime for a `.vc-config.json` runtime id such as `nodejs20.x`.
    pub fn for_id(&self, runtime_id: &str) -> Option<Arc<dyn Runtime>> {
        self.by_family.get(family_of(runtime_id)).cloned()
    }
}

/// Maps a runtime id to its family: `nodejs22.x` → `node`, `python3.12` → `python`.
pub fn family_of(runtime_id: &str) -> &str {
    const FAMILIES: &[(&str, &str)] = &[
        ("nodejs", "node"),
        ("bun", "bun"),
        ("python", "python"),
        ("ruby", "ruby"),
        ("go", "go"),
        ("rust", "rust"),
        ("edge", "edge"),
        ("wasm", "wasm"),
        ("wasi-http", "wasm"),
    ];
    FAMILIES
        .iter()
        .find(|(prefix, _)| runtime_id.starts_with(prefix))
        .map_or(runtime_id, |(_, family)| family)
}

/// Pool settings that do not come from the function's own config.
#[derive(Debug, Clone)]
pub struct PoolDefaults {
    pub max_concurrency: u32,
    pub max_instances: u32,
    pub idle_timeout: Duration,
    pub min_instances: u32,
    pub queue_timeout: Duration,
    pub drain_grace: Duration,
}

impl Default for PoolDefaults {
    fn default() -> Self {
        Self {
            max_concurrency: PoolConfig::DEFAULT_MAX_CONCURRENCY,
            max_instances: 64,
            idle_timeout: Duration::from_secs(300),
            min_instances: 0,
            queue_timeout: Duration::from_secs(30),
            drain_grace: Duration::from_secs(30),
        }
    }
}

/// What serves one function path.
pub enum Target {
    Pool(Arc<Pool>),
    /// The function could not be built or its runtime is unavailable; every request to it fails
    /// with this message (logged) while the rest of the deployment serves.
    Broken {
        message: String,
    },
}

/// A deployment ready to serve.
pub struct App {
    pub deployment_id: String,
    pub(crate) router: Router,
    pub(crate) statics: StaticFiles,
    pub(crate) functions: BTreeMap<String, Target>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("deployment_id", &self.deployment_id)
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl App {
    /// Builds the app for `deployment`. `broken` lists functions that failed to build, with
    /// their error, so they answer 500 while the rest serves.
    pub fn new(
        deployment: &Deployment,
        broken: BTreeMap<String, String>,
        runtimes: &Runtimes,
        defaults: &PoolDefaults,
        ids: &Arc<InstanceIds>,
    ) -> Result<Self, eddy_router::RouteError> {
        let router = Router::new(&deployment.routes)?;
        let mut functions = BTreeMap::new();
        for (path, spec) in &deployment.functions {
            let target = match runtimes.for_id(&spec.runtime) {
                Some(runtime) => Target::Pool(Pool::new(
                    path.clone(),
                    Arc::new(instance_spec(spec)),
                    runtime,
                    pool_config(spec, defaults),
                    ids.clone(),
                )),
                None => Target::Broken {
                    message: format!(
                        "function {path}: runtime {} is not supported by this eddy yet (supported: {:?})",
                        spec.runtime, runtimes
                    ),
                },
            };
            functions.insert(path.clone(), target);
        }
        for (path, message) in broken {
            functions.insert(path, Target::Broken { message });
        }
        Ok(Self {
            deployment_id: deployment.id.clone(),
            router,
            statics: StaticFiles::new(
                deployment.static_root.clone(),
                deployment.static_exclude.clone(),
            ),
            functions,
        })
    }

    pub fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.functions.values().filter_map(|t| match t {
            Target::Pool(pool) => Some(pool),
            Target::Broken { .. } => None,
        })
    }

    /// Drains every instance of every pool; used when the app is replaced or on shutdown.
    pub async fn retire(&self) {
        let all = self.pools().map(|pool| pool.retire_all());
        futures_util::future::join_all(all).await;
    }
}

impl Filesystem for App {
    fn lookup(&self, path: &str) -> Option<Hit> {
        let rel = path.trim_start_matches('/');
        if self.functions.contains_key(rel) && self.router.middleware_function() != Some(rel) {
            return Some(Hit::Function(rel.to_string()));
        }
        self.statics.lookup(path).map(Hit::Static)
    }
}

fn instance_spec(spec: &FunctionSpec) -> InstanceSpec {
    InstanceSpec {
        function: spec.path.clone(),
        runtime: spec.runtime.clone(),
        root: spec.root.clone(),
        handler: spec.handler.clone(),
        source: spec.source.clone(),
        env: spec.env.clone(),
        memory_mb: spec.memory_mb,
        max_duration: spec.max_duration,
        options: serde_json::json!({
            "shouldAddHelpers": spec.should_add_helpers,
            "useWebApi": spec.use_web_api,
            "awsLambdaHandler": spec.aws_lambda_handler,
        }),
    }
}

fn pool_config(spec: &FunctionSpec, defaults: &PoolDefaults) -> PoolConfig {
    let max_concurrency = if spec.fluid {
        spec.max_concurrency
            .unwrap_or(defaults.max_concurrency)
            .max(1)
    } else {
        1
    };
    PoolConfig {
        max_concurrency,
        max_instances: defaults.max_instances,
        idle_timeout: defaults.idle_timeout,
        min_instances: defaults.min_instances,
        queue_timeout: defaults.queue_timeout,
        drain_grace: defaults.drain_grace,
        max_duration: spec.max_duration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_runtime_ids_to_families() {
        assert_eq!(family_of("nodejs20.x"), "node");
        assert_eq!(family_of("python3.12"), "python");
        assert_eq!(family_of("bun1.x"), "bun");
        assert_eq!(family_of("provided.al2023"), "provided.al2023");
    }
}
