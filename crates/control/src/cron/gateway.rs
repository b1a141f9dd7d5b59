//! [`GatewayInvoker`]: cron requests sent to the gateway over HTTP, addressed to the
//! deployment's host, so a cron run is routed, logged, metered and rescued like any request.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{CronRequest, Invoker};

/// How long a cron request may take: the longest `maxDuration` plus slack for a cold start.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

/// Sends `GET <path>` to the gateway at `gateway` with `Host: <deployment>.localhost:<port>`
/// and reads the whole answer (a streamed response counts until its end).
pub struct GatewayInvoker {
    client: Client<HttpConnector, Empty<Bytes>>,
    gateway: SocketAddr,
    timeout: Duration,
}

impl std::fmt::Debug for GatewayInvoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayInvoker")
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl GatewayInvoker {
    pub fn new(gateway: SocketAddr) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            client,
            gateway,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn send(&self, request: CronRequest) -> Result<u16, String> {
        let uri = format!("http://{}{}", self.gateway, request.path);
        let host = format!("{}.localhost:{}", request.deployment, self.gateway.port());
        let mut builder = http::Request::get(&uri).header(http::header::HOST, host);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let outgoing = builder
            .body(Empty::new())
            .map_err(|e| format!("cron request {uri} cannot be built: {e}"))?;
        let exchange = async {
            let response = self.client.request(outgoing).await.map_err(|e| {
                format!(
                    "gateway {} did not answer the cron request: {e}",
                    self.gateway
                )
            })?;
            let status = response.status().as_u16();
            response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("cron response body broke off: {e}"))?;
            Ok(status)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("cron request took longer than {} s", self.timeout.as_secs()))?
    }
}

impl Invoker for GatewayInvoker {
    fn invoke(
        &self,
        request: CronRequest,
    ) -> Pin<Box<dyn Future<Output = Result<u16, String>> + Send + '_>> {
        Box::pin(self.send(request))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::HeaderMap;

    use super::*;
    use crate::model::DeploymentId;

    #[tokio::test]
    async fn a_cron_request_reaches_the_deployment_host_with_its_headers() {
        let seen: Arc<Mutex<Vec<(String, HeaderMap)>>> = Arc::default();
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
            let record = record.clone();
            async move {
                record
                    .lock()
                    .expect("lock")
                    .push((uri.to_string(), headers));
                (axum::http::StatusCode::ACCEPTED, "done")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

        let deployment = DeploymentId::from_digest(&[7; 32]);
        let request = CronRequest {
            deployment: deployment.clone(),
            path: "/api/cron?x=1".into(),
            headers: vec![
                ("user-agent".into(), "vercel-cron/1.0".into()),
                ("authorization".into(), "Bearer s".into()),
            ],
        };
        let status = GatewayInvoker::new(address)
            .invoke(request)
            .await
            .expect("invoke");
        assert_eq!(status, 202);
        let seen = seen.lock().expect("lock");
        let (uri, headers) = &seen[0];
        assert_eq!(uri, "/api/cron?x=1");
        assert_eq!(
            headers["host"],
            format!("{deployment}.localhost:{}", address.port()).as_str()
        );
        assert_eq!(headers["user-agent"], "vercel-cron/1.0");
        assert_eq!(headers["authorization"], "Bearer s");
    }

    #[tokio::test]
    async fn a_gateway_that_is_not_there_is_an_error_not_a_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let request = CronRequest {
            deployment: DeploymentId::from_digest(&[1; 32]),
            path: "/".into(),
            headers: vec![],
        };
        let error = GatewayInvoker::new(address)
            .invoke(request)
            .await
            .expect_err("nothing listens");
        assert!(error.contains("did not answer"), "{error}");
    }
}
