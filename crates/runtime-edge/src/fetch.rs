//! `fetch` from an isolate: a hyper client on the isolate's thread, with the Edge limits —
//! ports other than 80/443 rewritten to the scheme's default port (unless the runtime allows
//! any port, as `eddy dev` and tests do), at most 6 open connections per invocation (more wait
//! in a queue), redirects followed up to 20 times. The count limit (950 per invocation) is
//! checked by `host` before a fetch starts.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

/// The client every fetch of one isolate goes through (plain HTTP; pooled connections).
pub(crate) type Client = HyperClient<HttpConnector, Full<Bytes>>;

pub(crate) fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    HyperClient::builder(TokioExecutor::new()).build(connector)
}

/// One outgoing request, as the prelude's `fetch` describes it.
#[derive(Debug)]
pub(crate) struct FetchRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// `follow`, `manual` or `error`.
    pub redirect: String,
}

/// The head of a response; its body streams separately as [`FetchEvent::Chunk`]s.
#[derive(Debug)]
pub(crate) struct FetchResponse {
    pub status: u16,
    pub status_text: String,
    pub headers: Vec<(String, String)>,
    pub url: String,
    pub redirected: bool,
}

/// What a fetch reports to its isolate, in order: `Head`, then `Chunk`s, then `End`; `Error`
/// instead of any of them.
#[derive(Debug)]
pub(crate) enum FetchEvent {
    Head(FetchResponse),
    Chunk(Bytes),
    End,
    Error(String),
}

/// Rewrites a port other than 80/443 to the scheme's default, as the Edge network does.
pub(crate) fn restrict_port(url: &mut url::Url) {
    if !matches!(url.port(), None | Some(80) | Some(443)) {
        // Only fails for URLs without a host, which fetch refuses anyway.
        let _ = url.set_port(None);
    }
}

/// Runs one fetch, holding one of the invocation's connection permits until its body is read,
/// and reports each step through `report`.
pub(crate) async fn run(
    client: Client,
    connections: Arc<Semaphore>,
    request: FetchRequest,
    restrict_ports: bool,
    report: impl Fn(FetchEvent),
) {
    let Ok(_permit) = connections.acquire_owned().await else {
        return report(FetchEvent::Error("the invocation ended".into()));
    };
    let (head, mut body) = match send(client, request, restrict_ports).await {
        Ok(response) => response,
        Err(message) => return report(FetchEvent::Error(message)),
    };
    let url = head.url.clone();
    report(FetchEvent::Head(head));
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && !data.is_empty()
                {
                    report(FetchEvent::Chunk(data));
                }
            }
            Err(e) => {
                return report(FetchEvent::Error(format!(
                    "reading the response of {url} failed: {e}"
                )));
            }
        }
    }
    report(FetchEvent::End);
}

/// Sends the request, following redirects; resolves with the final head and its body.
async fn send(
    client: Client,
    mut request: FetchRequest,
    restrict_ports: bool,
) -> Result<(FetchResponse, hyper::body::Incoming), String> {
    let mut redirected = false;
    for _ in 0..=20 {
        let mut url = url::Url::parse(&request.url).map_err(|e| format!("invalid url: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "fetch to {url} is not supported: eddy's edge runtime speaks plain http only"
            ));
        }
        if restrict_ports {
            restrict_port(&mut url);
        }
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let outgoing = builder
            .body(Full::new(request.body.clone().unwrap_or_default()))
            .map_err(|e| format!("invalid request: {e}"))?;
        let response = client
            .request(outgoing)
            .await
            .map_err(|e| format!("fetch to {url} failed: {e}"))?;
        let status = response.status();
        if status.is_redirection()
            && request.redirect != "manual"
            && let Some(location) = response.headers().get(http::header::LOCATION)
        {
            if request.redirect == "error" {
                return Err(format!("fetch to {url} was redirected (redirect: 'error')"));
            }
            let location = location.to_str().map_err(|e| e.to_string())?;
            let next = url.join(location).map_err(|e| e.to_string())?;
            if status == http::StatusCode::SEE_OTHER
                || (matches!(status.as_u16(), 301 | 302) && request.method == "POST")
            {
                request.method = "GET".into();
                request.body = None;
            }
            request.url = next.to_string();
            redirected = true;
            continue;
        }
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let status_text = status.canonical_reason().unwrap_or("").to_string();
        let head = FetchResponse {
            status: status.as_u16(),
            status_text,
            headers,
            url: url.to_string(),
            redirected,
        };
        return Ok((head, response.into_body()));
    }
    Err(format!(
        "fetch to {} redirected more than 20 times",
        request.url
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_other_than_80_and_443_are_rewritten() {
        let mut url = url::Url::parse("http://example.com:8080/x").expect("valid");
        restrict_port(&mut url);
        assert_eq!(url.as_str(), "http://example.com/x");
        let mut url = url::Url::parse("https://example.com:443/x").expect("valid");
        restrict_port(&mut url);
        assert_eq!(url.as_str(), "https://example.com/x");
    }
}
