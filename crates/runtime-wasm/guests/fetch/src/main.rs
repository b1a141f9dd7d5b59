//! Fetches the URL given as `?url=...` (or in env `FETCH_URL`) with a GET and answers with the
//! upstream status in `x-upstream-status` and the upstream body.

use wstd::http::{Body, Client, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let from_query = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("url=")))
        .map(str::to_owned);
    let Some(url) = from_query.or_else(|| std::env::var("FETCH_URL").ok()) else {
        return Ok(Response::builder()
            .status(400)
            .body("pass ?url= or set FETCH_URL\n".into())?);
    };
    let upstream = Client::new()
        .send(Request::get(url).body(Body::empty())?)
        .await?;
    let status = upstream.status();
    let mut body = upstream.into_body();
    let bytes = body.bytes_contents().await?;
    Ok(Response::builder()
        .header("x-upstream-status", status.as_str())
        .body(bytes.into())?)
}
