//! Integration tests of the Node runtime: real `node`, real handler files, through
//! `Runtime::spawn` and `Instance::invoke`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error, helpers included"
)]

mod context;
mod failures;
mod harness;
mod lifecycle;
mod logs;
mod request_helpers;
mod shapes;
mod streaming;
#[path = "../support/harness.rs"]
mod support;
