//! eddy-control: the control plane behind `eddy serve`.
//!
//! It owns the state of a long-running server: projects, immutable content-addressed
//! deployments and their production aliases, env vars, cron jobs and their runs, Edge Config
//! stores, usage metering and runtime logs, all behind the [`Store`] trait ([`SqliteStore`]
//! embedded under the data dir); and the admin HTTP API that edits them. It does not serve
//! user traffic: the gateway asks it which deployment a `Host` means
//! ([`ControlPlane::route_host`], answered from memory) and reads a deployment to serve
//! ([`ControlPlane::load`]: the Build Output with the env layered in); the scheduler runs it.
//!
//! Stages, as modules: [`deploy`] (upload → validated, content-addressed tree) →
//! [`plane`] (promote, rollback, remove, env, Edge Config writes) → [`hosts`] (routing
//! table) → [`cron`], [`usage`], [`logs`], [`lifecycle`] (what runs beside the traffic) →
//! [`admin`] (the HTTP API over all of it); [`edge_config`] serves reads to functions.
//!
//! Neighbours: `eddy-config` reads the Build Output tree a deployment holds; the cli wires a
//! [`ControlPlane`] to the gateway (host routing, [`UsageMeter`], [`LogSink`]), runs the
//! [`CronEngine`] with a [`GatewayInvoker`] and serves [`admin::router`] and
//! [`edge_config::router`].

pub mod admin;
pub mod cron;
pub mod deploy;
pub mod edge_config;
pub mod hosts;
pub mod lifecycle;
pub mod logs;
pub mod model;
mod periodic;
pub mod plane;
pub mod store;
pub mod usage;

pub use cron::{Clock, CronEngine, CronRequest, GatewayInvoker, Invoker, ManualClock, SystemClock};
pub use deploy::DeployError;
pub use edge_config::EdgeConfigReplica;
pub use logs::LogSink;
pub use model::*;
pub use plane::{
    AliasError, ControlPlane, EnvError, HostRoute, LoadError, OpenError, Settings, Upload,
};
pub use store::{EdgeConfigOp, SqliteStore, Store, StoreError, UsageScope};
pub use usage::UsageMeter;
