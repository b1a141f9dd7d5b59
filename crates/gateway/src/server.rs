//! The listener: accepts TCP connections and serves HTTP/1.1 and HTTP/2 (cleartext) with hyper,
//! one task per connection, until shutdown; then lets open connections finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::pipeline::Gateway;

/// Serves `gateway` on `listener` until `shutdown` resolves, then waits (at most `grace`) for
/// open connections to finish.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(gateway.options.limits.header_read_timeout)
        // Large enough for a 14 KB URL plus 32 KB of headers; eddy's own limits answer first.
        .max_buf_size(128 * 1024)
        .max_headers(128);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let gateway = gateway.clone();
            let request =
                request.map(|body| body.map_err(eddy_runtime::BoxError::from).boxed_unsync());
            async move { Ok::<_, std::convert::Infallible>(gateway.handle(request, peer).await) }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    // New connections are refused from now on; open ones finish what they are doing.
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after {grace:?}; closing them");
    }
}
