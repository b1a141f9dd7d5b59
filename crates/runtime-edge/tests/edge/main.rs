//! Edge isolates end to end through the `Runtime` trait, with real `http::Request`s.

mod build;
mod harness;
mod isolate;
mod limits;
mod webapi;
