//! eddy-config: the project's configuration, parsed, validated and resolved.
//!
//! It owns the serde models of `vercel.json` ([`vercel_json`], read by [`parse_vercel_json`]),
//! of the Build Output API v3 `config.json` routes ([`route`]) and `.vc-config.json`, the
//! static reading of in-code `export const config` ([`read_code_config`]), the precedence
//! that turns them into one function's settings ([`resolve_function`]), the limits table
//! ([`limits`]), and the resolved model the server runs: [`Deployment`] and [`FunctionSpec`].
//! It does no I/O: callers read files and hand over their text.
//!
//! Neighbours: `eddy-build` detects a project's functions and produces a [`Deployment`];
//! `eddy-router` turns [`route::Route`]s into a resolver; the gateway serves a [`Deployment`].

pub mod code_config;
pub mod deployment;
pub mod error;
pub mod limits;
pub mod output;
pub mod resolve;
pub mod route;
pub mod vercel_json;

pub use code_config::{CodeConfig, CodeRuntime, read_code_config};
pub use deployment::{Deployment, FunctionSpec};
pub use error::ConfigError;
pub use output::{Output, OutputError, read_output};
pub use resolve::{FunctionEntry, ProjectConfig, resolve_function};
pub use vercel_json::{VercelJson, parse_vercel_json};
