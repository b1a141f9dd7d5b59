//! Answers `hello` and nothing else: the benchmark's hello world, byte for byte the same answer
//! as the other runtimes' hello projects in benches/.

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(_request: Request<Body>) -> Result<Response<Body>, Error> {
    Ok(Response::new("hello".into()))
}
