//! The Rust launcher: runs the function's own binary, built by eddy's build step with the real
//! `vercel_runtime` 2.x crate, which speaks the instance protocol itself (vercel-compat 6.1).
//!
//! The crate binds `127.0.0.1:$VERCEL_DEV_PORT` and reports that number in `server-started`,
//! so every instance gets a port that was free a moment before it starts. It does not strip
//! the `x-vercel-internal-*` headers; eddy strips any a client sent, so user code sees only the
//! platform's own.

use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use eddy_runtime::{BoxFuture, InstanceSpec, SpawnError};

use super::{Launch, Prepared, own_binary};
use crate::ProcessRuntime;

/// How eddy runs Rust functions.
#[derive(Debug, Clone)]
pub struct RustConfig {
    /// How long an instance may take from spawn to `server-started`.
    pub spawn_timeout: Duration,
}

impl Default for RustConfig {
    fn default() -> Self {
        Self {
            spawn_timeout: Duration::from_secs(15),
        }
    }
}

impl ProcessRuntime {
    /// Rust functions (runtime `rust`): each runs its own binary (`spec.handler`, the build step's
    /// output), with a fresh `VERCEL_DEV_PORT` per instance.
    pub fn rust(config: RustConfig) -> Self {
        Self::with_launcher(config)
    }
}

impl Launch for RustConfig {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn spawn_timeout(&self) -> Duration {
        self.spawn_timeout
    }

    /// Nothing to find or write: the toolchain was needed only to build the binary.
    fn prepare<'a>(
        &'a self,
        _spec: &'a InstanceSpec,
    ) -> BoxFuture<'a, Result<Prepared, SpawnError>> {
        Box::pin(async { Ok(Prepared::nothing()) })
    }

    fn env(&self, _spec: &InstanceSpec) -> Vec<(String, String)> {
        // Without a port the crate binds 3000, which a second instance cannot. If none can be
        // picked, port 0 makes the crate report 0, and the spawn fails with that said.
        let port = free_port().unwrap_or(0);
        vec![("VERCEL_DEV_PORT".into(), port.to_string())]
    }

    fn command(&self, _prepared: &Prepared, spec: &InstanceSpec) -> (PathBuf, Vec<OsString>) {
        own_binary(spec)
    }
}

/// A loopback port that is free now: bound to port 0, read, and released for the instance. Another
/// process could take it in between; the instance then fails to start and is retried by the
/// scheduler.
fn free_port() -> Option<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    Some(listener.local_addr().ok()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(handler: &str) -> InstanceSpec {
        InstanceSpec {
            function: "api/hello".into(),
            runtime: "rust".into(),
            root: PathBuf::from("/project"),
            handler: handler.into(),
            source: PathBuf::from("/project/api/hello.rs"),
            env: Default::default(),
            memory_mb: 1024,
            max_duration: Duration::from_secs(10),
            options: serde_json::Value::Null,
        }
    }

    #[test]
    fn every_instance_gets_its_own_free_loopback_port() {
        let config = RustConfig::default();
        let port_of = |env: Vec<(String, String)>| -> u16 {
            let (name, value) = env.into_iter().next().expect("one variable");
            assert_eq!(name, "VERCEL_DEV_PORT");
            value.parse().expect("a port number")
        };
        let first = port_of(config.env(&spec("bin")));
        assert_ne!(first, 0);
        // The port is released: an instance can bind it.
        let bound = TcpListener::bind((Ipv4Addr::LOCALHOST, first));
        assert!(bound.is_ok(), "port {first} is not free: {bound:?}");
        let second = port_of(config.env(&spec("bin")));
        assert_ne!(first, second, "a port still held is not handed out again");
    }

    #[test]
    fn runs_the_built_binary_whether_its_path_is_absolute_or_relative() {
        let config = RustConfig::default();
        let prepared = Prepared::nothing();
        let (program, args) = config.command(&prepared, &spec("/cache/rust/target/release/hello"));
        assert_eq!(program, PathBuf::from("/cache/rust/target/release/hello"));
        assert!(args.is_empty());
        let (program, _) = config.command(&prepared, &spec("bin/hello"));
        assert_eq!(program, PathBuf::from("/project/bin/hello"));
    }
}
