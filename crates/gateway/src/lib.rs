//! eddy-gateway: the HTTP front door.
//!
//! It owns ingress (hyper, HTTP/1.1 and h2c), request limits, the platform headers, static
//! files, streaming responses back, the per-request log line and metrics, and the one
//! [`rescue`](rescue::rescue) that turns every error into a Vercel error response. It does not
//! parse project config (eddy-config), decide routes (eddy-router) or scale instances
//! (eddy-scheduler); it asks each of them.
//!
//! Request path: [`server`] accepts → [`pipeline`] checks [`limits`], resolves the route, and
//! serves a static file ([`statics`]), a redirect, or invokes the function's pool from the
//! current [`app`] → [`headers`] adds platform headers → [`observe`] logs when the body ends.

mod admin;
pub mod app;
pub mod headers;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod observe;
pub mod pipeline;
pub mod rescue;
pub mod server;
pub mod sites;
pub mod statics;

pub use app::{App, PoolDefaults, Runtimes};
pub use pipeline::{Gateway, GatewayOptions};
pub use sites::{Site, Sites};
