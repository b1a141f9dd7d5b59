//! eddy-router: Build Output API v3 route semantics and vercel.json's conversion to routes.
//!
//! It owns [`project_routes`] (vercel.json + zero-config `api/` functions → one route list, in
//! Vercel's order, with a path-to-regexp converter for `source` patterns) and the [`Router`],
//! compiled once from routes, whose [`Router::resolve`] runs the phase loop (`filesystem`,
//! `rewrite`, `hit`, `miss`, `error`) for one request and answers a [`Resolution`].
//!
//! It knows nothing about runtimes or sockets: the gateway describes the request
//! ([`RequestInfo`]), answers filesystem checks ([`Filesystem`]) and turns the [`Resolution`]
//! into a response. `eddy-config` owns the route and vercel.json models.

mod api;
mod condition;
mod cost;
mod destination;
mod filesystem;
mod pattern;
mod project;
mod query;
mod request;
mod resolve;
mod router;
mod template;

#[cfg(test)]
mod fixture;

pub use filesystem::{Filesystem, Hit};
pub use pattern::{PatternError, SourceRegex, source_to_regex};
pub use project::project_routes;
pub use request::RequestInfo;
pub use resolve::{MAX_FILESYSTEM_CHECKS, Resolution};
pub use router::Router;

/// Why routes could not be built ([`project_routes`]) or compiled ([`Router::new`]).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A vercel.json `source` pattern is not valid path-to-regexp syntax.
    #[error(
        "vercel.json {key}[{index}]: source {source_pattern:?} is invalid: {reason} (use path-to-regexp syntax like /blog/:slug, /:path* or /(.*))"
    )]
    InvalidSource {
        key: &'static str,
        index: usize,
        source_pattern: String,
        reason: PatternError,
    },
    /// A vercel.json `destination` names a parameter its `source` and `has` do not define.
    #[error(
        "vercel.json {key}[{index}]: destination uses :{segment}, which is not a parameter of source or has (fix the name or add it to source)"
    )]
    UnknownSegment {
        key: &'static str,
        index: usize,
        segment: String,
    },
    /// A vercel.json redirect sets both `permanent` and `statusCode`.
    #[error(
        "vercel.json redirects[{index}]: both permanent and statusCode are set (keep one of them)"
    )]
    RedirectStatusConflict { index: usize },
    /// A route's `src` (or a `has`/`missing` value) is not a valid regex.
    #[error(
        "route {index}: src {src:?} is not a valid regex: {reason} (fix the pattern in vercel.json or config.json)"
    )]
    InvalidRegex {
        index: usize,
        src: String,
        reason: String,
    },
    /// A route's header name or value cannot be sent over HTTP.
    #[error(
        "route {index}: header {name:?} is invalid: {reason} (header names are tokens, values printable text)"
    )]
    InvalidHeader {
        index: usize,
        name: String,
        reason: String,
    },
    /// A route's `status` is outside 100–999.
    #[error("route {index}: status {status} is out of range (use 100 to 999)")]
    InvalidStatus { index: usize, status: u16 },
}
