//! What the Python tests add to the shared harness (`tests/support/harness.rs`, re-exported
//! here): projects, a runtime with the real `python3`, and requests sent all at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eddy_runtime::{Body, Instance, InstanceSpec, InvokeError, SpawnError};
use eddy_runtime_process::{ProcessRuntime, PythonConfig};

pub use crate::support::*;

/// Whether `python3` runs here; tests that need it return early (with a note) when it does not.
pub fn python_available() -> bool {
    tool_runs(
        "python3",
        &["--version"],
        "`python3` is not installed; skipping this test",
    )
}

impl Project {
    pub fn new() -> Self {
        Self::in_target_dir("eddy-python-test-")
    }

    /// The spec of function `function` served by `handler`; `function` also names the
    /// function in captured logs, so tests pick unique names.
    pub fn spec(&self, function: &str, handler: &str) -> InstanceSpec {
        InstanceSpec {
            env: BTreeMap::from([("EDDY_TEST_VAR".to_string(), "from spec".to_string())]),
            options: serde_json::Value::Null,
            ..spec(self.dir.path(), "python3.11", function, handler)
        }
    }
}

pub fn runtime() -> ProcessRuntime {
    capture_logs();
    ProcessRuntime::python(PythonConfig {
        spawn_timeout: Duration::from_secs(20),
        ..PythonConfig::default()
    })
}

pub async fn spawn_spec(spec: InstanceSpec) -> Result<Arc<dyn Instance>, SpawnError> {
    spawn_with(&runtime(), spec).await
}

/// Spawns `handler` of `project` as function `function`; panics if it does not start.
pub async fn spawn(project: &Project, function: &str, handler: &str) -> Arc<dyn Instance> {
    must_spawn(&runtime(), project.spec(function, handler)).await
}

/// Sends every request at once (each on its own task) and returns the results in order.
pub async fn call_all(
    instance: &Arc<dyn Instance>,
    requests: Vec<(http::Request<Body>, &str)>,
) -> Vec<Result<Reply, InvokeError>> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(request, request_id)| {
            let instance = instance.clone();
            let request_id = request_id.to_string();
            tokio::spawn(async move { call_as(&instance, request, &request_id).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("request task"));
    }
    replies
}
