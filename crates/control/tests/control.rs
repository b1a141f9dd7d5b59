//! Integration tests of the control plane: a real SQLite store on a temporary data dir,
//! real uploads, the cron engine on a manual clock, the admin API over HTTP and the real npm
//! `@vercel/edge-config` client against the Edge Config endpoints.

mod control {
    pub mod admin;
    pub mod client;
    pub mod crons;
    pub mod deployments;
    pub mod edge_config_npm;
    pub mod support;
}
