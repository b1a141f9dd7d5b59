//! Integration tests of the Ruby runtime: real `ruby`, real handler files, through
//! `Runtime::spawn` and `Instance::invoke`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error, helpers included"
)]

mod failures;
mod handler;
mod harness;
mod lifecycle;
mod rack;
#[path = "../support/harness.rs"]
mod support;
