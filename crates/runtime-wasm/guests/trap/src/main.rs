//! Panics (a wasm trap) unless the query is `?ok`, which answers `ok`.

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    if request.uri().query() == Some("ok") {
        return Ok(Response::new("ok\n".into()));
    }
    panic!("the trap guest was asked to fail");
}
