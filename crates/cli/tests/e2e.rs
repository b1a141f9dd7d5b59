#![allow(
    clippy::unwrap_used,
    reason = "test harness: a failed unwrap is a failed test"
)]

//! End-to-end tests: the real `eddy` binary serving real projects with real Node.js processes,
//! driven over real HTTP on loopback.

mod e2e {
    pub mod bun;
    pub mod cli;
    pub mod control;
    pub mod fixtures;
    pub mod fluid;
    pub mod go;
    pub mod output;
    pub mod python;
    pub mod ruby;
    pub mod rust;
    pub mod soak;
    pub mod support;
}
