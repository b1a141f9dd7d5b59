//! Integration tests of the Python runtime: the real `python3`, real handler files (the
//! `BaseHTTPRequestHandler`, WSGI and ASGI shapes), through `Runtime::spawn` and
//! `Instance::invoke`.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error, helpers included"
)]

mod failures;
mod harness;
mod lifecycle;
mod limits;
mod logs;
mod shapes;
mod streaming;
#[path = "../support/harness.rs"]
mod support;
