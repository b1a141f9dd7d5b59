//! Streams five chunks, 200 ms apart, so a client can see them arrive one by one.

use std::convert::Infallible;

use futures_lite::stream::unfold;
use wstd::http::body::Bytes;
use wstd::http::{Body, Error, Request, Response};
use wstd::time::Duration;

const CHUNKS: usize = 5;

#[wstd::http_server]
async fn main(_request: Request<Body>) -> Result<Response<Body>, Error> {
    let chunks = unfold(0, |i| async move {
        if i == CHUNKS {
            return None;
        }
        if i > 0 {
            wstd::task::sleep(Duration::from_millis(200)).await;
        }
        Some((Ok::<_, Infallible>(Bytes::from(format!("chunk {i}\n"))), i + 1))
    });
    Ok(Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from_try_stream(chunks))?)
}
