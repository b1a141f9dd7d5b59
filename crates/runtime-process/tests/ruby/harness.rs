//! What the Ruby tests add to the shared harness (`tests/support/harness.rs`, re-exported
//! here): projects and a runtime with real `ruby`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eddy_runtime::{Instance, InstanceSpec, SpawnError};
use eddy_runtime_process::{ProcessRuntime, RubyConfig};

pub use crate::support::*;

/// Whether `ruby` with WEBrick and Rack runs here; tests return early (with a note) when not.
pub fn ruby_available() -> bool {
    tool_runs(
        "ruby",
        &["-e", "require 'webrick'; require 'rack'"],
        "`ruby` with webrick and rack is not installed (./x setup); skipping",
    )
}

impl Project {
    pub fn new() -> Self {
        Self::in_target_dir("eddy-ruby-test-")
    }

    /// The spec of function `function` served by `handler`; `function` also names the
    /// function in captured logs, so tests pick unique names.
    pub fn spec(&self, function: &str, handler: &str) -> InstanceSpec {
        InstanceSpec {
            env: BTreeMap::from([("EDDY_TEST_VAR".to_string(), "from spec".to_string())]),
            options: serde_json::Value::Null,
            ..spec(self.dir.path(), "ruby3.1", function, handler)
        }
    }
}

pub fn runtime() -> ProcessRuntime {
    capture_logs();
    ProcessRuntime::ruby(RubyConfig {
        spawn_timeout: Duration::from_secs(30),
        ..RubyConfig::default()
    })
}

pub async fn spawn_spec(spec: InstanceSpec) -> Result<Arc<dyn Instance>, SpawnError> {
    spawn_with(&runtime(), spec).await
}

/// Spawns `handler` of `project` as function `function`; panics if it does not start.
pub async fn spawn(project: &Project, function: &str, handler: &str) -> Arc<dyn Instance> {
    must_spawn(&runtime(), project.spec(function, handler)).await
}
