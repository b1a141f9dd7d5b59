//! eddy-build: a project directory to the [`Deployment`](eddy_config::Deployment) eddy serves.
//!
//! [`plan`] detects the functions under `api/` (zero-config, by file extension), reads
//! `vercel.json` and each function's in-code config, transpiles TypeScript with esbuild into
//! a cache, resolves every function's settings and asks `eddy-router` for the routes. One
//! broken function never hides the others: it is reported in [`Plan::errors`].
//!
//! [`write_output`] writes a plan as a Build Output API v3 tree (`.vercel/output`) that serves
//! on its own. It does not run functions.
//! Neighbours: `eddy-config` parses and resolves configuration; `eddy-router` builds routes;
//! the cli's `eddy dev` calls [`plan`] on start and on every file save.

mod compile;
mod detect;
mod edge;
mod output;
mod plan;
mod transpile;

pub use output::{FunctionSummary, OutputSummary, Progress, WriteOutputError, write_output};
pub use plan::{BuildError, FunctionBuildError, FunctionError, Plan, PlanOptions, plan};
pub use transpile::TranspileError;
