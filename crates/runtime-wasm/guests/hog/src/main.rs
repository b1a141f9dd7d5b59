//! Allocates (and touches) memory 1 MiB at a time until it is refused, unless the query is `?ok`.

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    if request.uri().query() == Some("ok") {
        return Ok(Response::new("ok\n".into()));
    }
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}
