//! The Go launcher: runs the function's own binary, built by eddy's Go build step around a
//! generated `main` that speaks the instance protocol itself (binds 127.0.0.1:0, reports the
//! port, strips the `x-vercel-internal-*` headers, sends `end` per request). Each request runs
//! on its own goroutine, so one instance serves many at once.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use super::{Launch, Prepared, own_binary};
use crate::ProcessRuntime;

/// How eddy runs Go functions.
#[derive(Debug, Clone)]
pub struct GoConfig {
    /// How long an instance may take from spawn to `server-started` (the user package's
    /// `init` functions included).
    pub spawn_timeout: Duration,
}

impl Default for GoConfig {
    fn default() -> Self {
        Self {
            spawn_timeout: Duration::from_secs(10),
        }
    }
}

impl ProcessRuntime {
    /// Go functions (runtime `go1.x`): each runs its own binary (`spec.handler`, the build
    /// step's output).
    pub fn go(config: GoConfig) -> Self {
        Self::with_launcher(config)
    }
}

impl Launch for GoConfig {
    fn name(&self) -> &'static str {
        "go"
    }

    fn spawn_timeout(&self) -> Duration {
        self.spawn_timeout
    }

    /// Nothing to find or write: `go` was needed only to build the binary, and the build step
    /// reports a missing toolchain.
    fn prepare<'a>(
        &'a self,
        _spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Prepared, SpawnError>> {
        Box::pin(async { Ok(Prepared::nothing()) })
    }

    fn env(&self, _spec: &InstanceSpec) -> Vec<(String, String)> {
        Vec::new()
    }

    fn command(&self, _prepared: &Prepared, spec: &InstanceSpec) -> (PathBuf, Vec<OsString>) {
        own_binary(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_built_binary_relative_to_the_function_root() {
        let spec = InstanceSpec {
            function: "api/x".into(),
            runtime: "go1.x".into(),
            root: PathBuf::from("/srv/project"),
            handler: ".vercel/eddy/go/api/x/bootstrap".into(),
            source: PathBuf::from("/srv/project/api/x.go"),
            env: Default::default(),
            memory_mb: 1024,
            max_duration: Duration::from_secs(10),
            options: serde_json::Value::Null,
        };
        let prepared = Prepared::nothing();
        let (program, args) = GoConfig::default().command(&prepared, &spec);
        assert_eq!(
            program,
            PathBuf::from("/srv/project/.vercel/eddy/go/api/x/bootstrap")
        );
        assert!(args.is_empty());
    }
}
