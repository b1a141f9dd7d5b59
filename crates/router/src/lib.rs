//! eddy-router: Build Output API v3 route semantics and vercel.json's conversion to routes.
//!
//! It owns [`project_routes`] (vercel.json + zero-config `api/` functions → one route list, in
//! Vercel's order) and the [`Router`], compiled once from routes, whose [`Router::resolve`] runs
//! the phase loop (`filesystem`, `rewrite`, `hit`, `miss`, `error`) for one request and answers a
//! [`Resolution`]. It knows nothing about runtimes or sockets: the gateway supplies the
//! [`Filesystem`] and turns the [`Resolution`] into a response.

use eddy_config::route::Route;
use eddy_config::vercel_json::VercelJson;

/// Why routes could not be built or compiled.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A vercel.json `source` pattern is not valid path-to-regexp syntax.
    #[error(
        "vercel.json {key}[{index}]: source {source_pattern:?} is invalid: {reason} (use path-to-regexp syntax like /blog/:slug or /:path*)"
    )]
    InvalidSource {
        key: &'static str,
        index: usize,
        source_pattern: String,
        reason: String,
    },
    /// A route's `src` (or a `has`/`missing` value) is not a valid regex.
    #[error(
        "route {index}: src {src:?} is not a valid regex: {reason} (fix the pattern in vercel.json or config.json)"
    )]
    InvalidRegex {
        index: usize,
        src: String,
        reason: String,
    },
}

/// The complete route list for a zero-config project, in Vercel's order.
///
/// `functions` are function paths without a leading slash, e.g. `api/users/[id]`, `api/index`.
pub fn project_routes(vercel: &VercelJson, functions: &[&str]) -> Result<Vec<Route>, RouteError> {
    let _ = (vercel, functions);
    Ok(Vec::new())
}
