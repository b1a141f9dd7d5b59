//! Sends the request body back, with the method and path in `x-echo-request`.

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let (parts, mut body) = request.into_parts();
    let bytes = body.bytes_contents().await?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    Ok(Response::builder()
        .header("x-echo-request", format!("{} {path}", parts.method))
        .header("x-echo-length", bytes.len().to_string())
        .body(bytes.into())?)
}
