//! What the Node tests add to the shared harness (`tests/support/harness.rs`, re-exported
//! here): projects next to the repository's `node_modules` (so `@vercel/functions` resolves),
//! and a runtime with real `node`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eddy_runtime::{Instance, InstanceSpec, SpawnError};
use eddy_runtime_process::{NodeConfig, ProcessRuntime};

pub use crate::support::*;

/// Whether `node` runs here; tests that need it return early (with a note) when it does not.
pub fn node_available() -> bool {
    tool_runs(
        "node",
        &["--version"],
        "`node` is not installed; skipping this test",
    )
}

impl Project {
    pub fn new() -> Self {
        Self::in_target_dir("eddy-node-test-")
    }

    /// The spec of function `function` served by `handler`; `function` also names the
    /// function in captured logs, so tests pick unique names.
    pub fn spec(&self, function: &str, handler: &str) -> InstanceSpec {
        InstanceSpec {
            env: BTreeMap::from([("EDDY_TEST_VAR".to_string(), "from spec".to_string())]),
            ..spec(self.dir.path(), "nodejs20.x", function, handler)
        }
    }
}

pub fn runtime() -> ProcessRuntime {
    capture_logs();
    ProcessRuntime::node(NodeConfig {
        spawn_timeout: Duration::from_secs(20),
        ..NodeConfig::default()
    })
}

pub async fn spawn_spec(spec: InstanceSpec) -> Result<Arc<dyn Instance>, SpawnError> {
    spawn_with(&runtime(), spec).await
}

/// Spawns `handler` of `project` as function `function`; panics if it does not start.
pub async fn spawn(project: &Project, function: &str, handler: &str) -> Arc<dyn Instance> {
    must_spawn(&runtime(), project.spec(function, handler)).await
}
