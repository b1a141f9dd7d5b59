//! eddy-config: the project's configuration, parsed, validated and resolved.
//!
//! It owns the serde models of `vercel.json` ([`vercel_json`]), of the Build Output API v3
//! `config.json` routes ([`route`]) and `.vc-config.json`, the static reading of in-code
//! `export const config`, the limits table, and the resolved model the server runs:
//! [`Deployment`] and [`FunctionSpec`]. It does no I/O beyond reading the files it is given.
//!
//! Neighbours: `eddy-build` detects a project's functions and produces a [`Deployment`];
//! `eddy-router` turns [`route::Route`]s into a resolver; the gateway serves a [`Deployment`].

pub mod deployment;
pub mod route;
pub mod vercel_json;

pub use deployment::{Deployment, FunctionSpec};
