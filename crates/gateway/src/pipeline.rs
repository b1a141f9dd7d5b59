//! The request path, stage by stage: check limits → resolve the route → serve a static file,
//! a redirect, or invoke a function through its Fluid pool → add platform headers. Every error
//! goes through the one [`rescue`](crate::rescue::rescue).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use eddy_router::{RequestInfo, Resolution};
use eddy_runtime::{Body, Invocation, InvocationId, InvokeError, full_body};
use eddy_scheduler::InvokeFailure;

use crate::app::{App, Target};
use crate::headers::{self, Origin};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::middleware;
use crate::observe::{ObservedBody, RequestRecord};
use crate::rescue::{Flavor, GatewayError, rescue};
use crate::sites::{Site, Sites, host_name};

/// Settings of the gateway itself.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Region label in `x-vercel-id` (`dev1` in dev, as `vercel dev`).
    pub region: String,
    /// Scheme clients use (`http` locally, `https` behind TLS termination).
    pub proto: String,
    pub limits: Limits,
    /// Serve eddy's own endpoints under `/_eddy/` (dev, or a node's admin listener).
    pub admin_routes: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            region: "dev1".into(),
            proto: "http".into(),
            limits: Limits::default(),
            admin_routes: true,
        }
    }
}

/// The HTTP front door: holds the current [`App`] and serves requests against it.
pub struct Gateway {
    pub(crate) app: Arc<ArcSwap<App>>,
    /// When set, the app is chosen per request by host instead ([`Gateway::serve_sites`]).
    sites: std::sync::OnceLock<Arc<dyn Sites>>,
    pub(crate) options: GatewayOptions,
    pub(crate) metrics: Metrics,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(app: App, options: GatewayOptions) -> Arc<Self> {
        let app = Arc::new(ArcSwap::from_pointee(app));
        let metrics = Metrics::new(app.clone());
        Arc::new(Self {
            app,
            sites: std::sync::OnceLock::new(),
            options,
            metrics,
        })
    }

    /// Serves `app` from now on; the previous app's instances drain in the background.
    pub fn replace_app(&self, app: App) {
        let old = self.app.swap(Arc::new(app));
        self.metrics.retire_app(&old);
        tokio::spawn(async move { old.retire().await });
    }

    /// Chooses the app of each request by its `Host` through `sites` from now on (many
    /// deployments behind one listener); the app given to [`Gateway::new`] is no longer served.
    /// Set once; a second call is ignored.
    pub fn serve_sites(&self, sites: Arc<dyn Sites>) {
        let _ = self.sites.set(sites);
    }

    /// The current app.
    pub fn app(&self) -> Arc<App> {
        self.app.load_full()
    }

    /// Drains every instance of the current app (shutdown).
    pub async fn retire(&self) {
        self.app.load_full().retire().await;
    }

    /// Handles one request from `peer`. Never fails: errors become Vercel error responses.
    pub async fn handle(
        self: &Arc<Self>,
        request: Request<Body>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let started = Instant::now();
        let request_id = headers::new_request_id(&self.options.region);
        let flavor = Flavor::from_accept(
            request
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok()),
        );
        let mut record = RequestRecord {
            request_id: request_id.clone(),
            method: request.method().to_string(),
            path: request.uri().path().to_string(),
            status: 0,
            started,
            function: None,
            instance: None,
            cold: false,
        };
        if self.options.admin_routes && request.uri().path().starts_with("/_eddy/") {
            return crate::admin::handle(self, request.uri().path());
        }
        let mut response = match self.route(request, peer, &request_id, &mut record).await {
            Ok(response) => response,
            Err(error) => {
                log_error(&error, &request_id);
                rescue(&error, flavor, &request_id)
            }
        };
        let below_500 = response.status().as_u16() < 500;
        headers::on_response(response.headers_mut(), &request_id, below_500);
        record.status = response.status().as_u16();
        let gateway = self.clone();
        response.map(|body| {
            ObservedBody::new(
                body,
                record,
                Box::new(move |record, completed| gateway.finish(record, completed)),
            )
            .boxed_unsync()
        })
    }

    fn finish(&self, record: &RequestRecord, completed: bool) {
        let elapsed = record.started.elapsed();
        if let Some(function) = &record.function {
            self.metrics
                .record_invocation(function, record.cold, elapsed.as_secs_f64());
        }
        tracing::info!(
            target: "eddy::request",
            request_id = %record.request_id,
            method = %record.method,
            path = %record.path,
            status = record.status,
            duration_ms = format_args!("{:.1}", elapsed.as_secs_f64() * 1000.0),
            function = record.function.as_deref().unwrap_or("-"),
            instance = record.instance.as_deref().unwrap_or("-"),
            cold = record.cold,
            completed,
            "{} {} {}",
            record.method,
            record.path,
            record.status,
        );
    }

    async fn route(
        &self,
        request: Request<Body>,
        peer: SocketAddr,
        request_id: &str,
        record: &mut RequestRecord,
    ) -> Result<Response<Body>, GatewayError> {
        let (parts, body) = request.into_parts();
        self.options.limits.check_head(&parts)?;
        let host = host_of(&parts).unwrap_or_else(|| "localhost".to_string());
        let app = match self.sites.get() {
            None => self.app.load_full(),
            Some(sites) => match sites.site(&host_name(&host)).await {
                Site::Serve(app) => app,
                Site::NotFound => return Err(GatewayError::DeploymentNotFound { host }),
                Site::Paused => return Err(GatewayError::DeploymentPaused { host }),
            },
        };
        let middleware = app.router.middleware(parts.uri.path()).map(str::to_string);
        let (parts, body, middleware_headers) = match middleware {
            Some(function) => {
                let bytes = read_body(body, self.options.limits.max_body_bytes).await?;
                let origin = Origin {
                    host: &host,
                    proto: &self.options.proto,
                    client_ip: peer.ip(),
                    request_id,
                };
                match self
                    .middleware(&app, &function, parts, &bytes, &origin, record)
                    .await?
                {
                    middleware::Outcome::Respond(response) => return Ok(response),
                    middleware::Outcome::Continue { parts, headers } => {
                        (parts, middleware::body(&bytes), headers)
                    }
                }
            }
            None => (parts, body, HeaderMap::new()),
        };
        let mut response = self
            .resolve(&app, parts, body, &host, peer, request_id, record)
            .await?;
        add_headers(response.headers_mut(), middleware_headers);
        Ok(response)
    }

    /// Runs Routing Middleware for the request; see [`middleware::decide`].
    async fn middleware(
        &self,
        app: &App,
        function: &str,
        parts: http::request::Parts,
        bytes: &bytes::Bytes,
        origin: &Origin<'_>,
        record: &mut RequestRecord,
    ) -> Result<middleware::Outcome, GatewayError> {
        let mut copy = Request::new(());
        *copy.method_mut() = parts.method.clone();
        *copy.uri_mut() = parts.uri.clone();
        *copy.headers_mut() = parts.headers.clone();
        let (copy, ()) = copy.into_parts();
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let response = self
            .invoke(
                app,
                function,
                copy,
                middleware::body(bytes),
                &path,
                &query,
                origin,
                record,
            )
            .await
            .map_err(|error| match error {
                GatewayError::FunctionFailed { detail, .. }
                | GatewayError::EdgeFunctionFailed { detail, .. }
                | GatewayError::EdgeFunctionCrashed { detail, .. }
                | GatewayError::NoResponse { detail, .. } => GatewayError::MiddlewareFailed {
                    function: function.to_string(),
                    detail,
                },
                GatewayError::FunctionTimeout { .. } | GatewayError::EdgeFunctionTimeout { .. } => {
                    GatewayError::MiddlewareTimeout {
                        function: function.to_string(),
                        detail: error.to_string(),
                    }
                }
                other => other,
            })?;
        middleware::decide(function, response, parts, origin.host)
    }

    /// Resolves the route of a request (after middleware) and serves it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; the pieces of one request"
    )]
    async fn resolve(
        &self,
        app: &App,
        parts: http::request::Parts,
        body: Body,
        host: &str,
        peer: SocketAddr,
        request_id: &str,
        record: &mut RequestRecord,
    ) -> Result<Response<Body>, GatewayError> {
        let host = host.to_string();
        let resolution = {
            let info = RequestInfo {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query(),
                host: &host,
                headers: &parts.headers,
            };
            app.router.resolve(&info, app)
        };
        match resolution {
            Resolution::Function {
                function,
                path,
                query,
                headers: route_headers,
                status,
                ..
            } => {
                record.function = Some(function.clone());
                let origin = Origin {
                    host: &host,
                    proto: &self.options.proto,
                    client_ip: peer.ip(),
                    request_id,
                };
                let mut response = self
                    .invoke(app, &function, parts, body, &path, &query, &origin, record)
                    .await?;
                if let Some(status) = status.and_then(|s| StatusCode::from_u16(s).ok()) {
                    *response.status_mut() = status;
                }
                add_headers(response.headers_mut(), route_headers);
                Ok(response)
            }
            Resolution::Static {
                file,
                status,
                headers: route_headers,
            } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                let mut response = app
                    .statics
                    .serve(&file, status, &parts.method, &parts.headers)
                    .await
                    .map_err(|_| GatewayError::NotFound {
                        path: parts.uri.path().to_string(),
                    })?;
                add_headers(response.headers_mut(), route_headers);
                Ok(response)
            }
            Resolution::Redirect {
                status,
                location,
                headers: route_headers,
            } => {
                let mut response = Response::new(full_body("Redirecting...\n"));
                *response.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::PERMANENT_REDIRECT);
                add_headers(response.headers_mut(), route_headers);
                if let Ok(v) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, v);
                }
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                Ok(response)
            }
            Resolution::Status {
                status,
                headers: route_headers,
            } => {
                let mut response = Response::new(eddy_runtime::empty_body());
                *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
                add_headers(response.headers_mut(), route_headers);
                Ok(response)
            }
            Resolution::NotFound { .. } => Err(GatewayError::NotFound {
                path: parts.uri.path().to_string(),
            }),
            Resolution::External { url, .. } => Err(GatewayError::Routing {
                detail: format!("external rewrite to {url} is not supported by eddy yet"),
            }),
            Resolution::Error { code, .. } => Err(GatewayError::Routing {
                detail: code.to_string(),
            }),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; the pieces of one request"
    )]
    async fn invoke(
        &self,
        app: &App,
        function: &str,
        parts: http::request::Parts,
        body: Body,
        path: &str,
        query: &str,
        origin: &Origin<'_>,
        record: &mut RequestRecord,
    ) -> Result<Response<Body>, GatewayError> {
        let pool = match app.functions.get(function) {
            Some(Target::Pool(pool)) => pool.clone(),
            Some(Target::Broken { message }) => {
                return Err(GatewayError::FunctionFailed {
                    function: function.to_string(),
                    detail: message.clone(),
                });
            }
            None => {
                return Err(GatewayError::NotFound {
                    path: path.to_string(),
                });
            }
        };
        // Vercel hands functions the whole request body (at most 4.5 MB); read it under the
        // limit so an oversized chunked body is refused without reading past the limit.
        let bytes = read_body(body, self.options.limits.max_body_bytes).await?;
        let mut headers = parts.headers;
        headers::to_function(&mut headers, origin);
        let target = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        let mut request = Request::new(full_body(bytes));
        *request.method_mut() = parts.method;
        *request.uri_mut() = target.parse().map_err(|_| GatewayError::MalformedRequest {
            detail: format!("cannot build the function url from {target:?}"),
        })?;
        *request.headers_mut() = headers;
        let invocation = Invocation {
            id: InvocationId::random(),
            request_id: origin.request_id.to_string(),
            request,
        };
        match pool.invoke(invocation).await {
            Ok(invoked) => {
                record.instance = Some(invoked.instance.to_string());
                record.cold = invoked.cold;
                Ok(invoked.response)
            }
            Err(failure) => Err(map_failure(function, pool.runtime(), failure)),
        }
    }
}

/// Maps a pool's failure to the error page; Edge functions get their own codes
/// (`EDGE_FUNCTION_INVOCATION_FAILED`/`_TIMEOUT`).
fn map_failure(function: &str, runtime: &str, failure: InvokeFailure) -> GatewayError {
    if runtime == "edge"
        && let InvokeFailure::Invoke {
            source: InvokeError::Crashed { reason, .. },
            ..
        } = &failure
    {
        return GatewayError::EdgeFunctionCrashed {
            function: function.to_string(),
            detail: reason.clone(),
        };
    }
    let error = map_any_failure(function, failure);
    if runtime != "edge" {
        return error;
    }
    match error {
        GatewayError::FunctionFailed { function, detail } => {
            GatewayError::EdgeFunctionFailed { function, detail }
        }
        GatewayError::FunctionTimeout { function, seconds } => GatewayError::EdgeFunctionTimeout {
            function,
            detail: format!("no response within {seconds}s"),
        },
        other => other,
    }
}

fn map_any_failure(function: &str, failure: InvokeFailure) -> GatewayError {
    let function = function.to_string();
    match failure {
        InvokeFailure::Timeout { max_duration, .. } => GatewayError::FunctionTimeout {
            function,
            seconds: max_duration.as_secs(),
        },
        InvokeFailure::Throttled { waited, .. } => GatewayError::Throttled {
            function,
            detail: format!("waited {:.1}s for a slot", waited.as_secs_f64()),
        },
        InvokeFailure::Shutdown { .. } => GatewayError::ShuttingDown,
        InvokeFailure::Invoke {
            source: InvokeError::NoResponse { reason },
            ..
        } => GatewayError::NoResponse {
            function,
            detail: reason,
        },
        InvokeFailure::Invoke {
            source: InvokeError::TimedOut { waited },
            ..
        } => GatewayError::FunctionTimeout {
            function,
            seconds: waited.as_secs(),
        },
        other => GatewayError::FunctionFailed {
            function,
            detail: other.to_string(),
        },
    }
}

/// Reads a request body whole, refusing it as soon as it passes `limit`.
async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, GatewayError> {
    let mut body = Limited::new(body, limit);
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return Err(GatewayError::PayloadTooLarge { limit });
            }
            Err(error) => {
                return Err(GatewayError::MalformedRequest {
                    detail: format!("reading the body: {error}"),
                });
            }
        }
    }
    Ok(out.freeze())
}

fn log_error(error: &GatewayError, request_id: &str) {
    if error.status().is_server_error() {
        tracing::error!(target: "eddy::request", request_id, code = error.code(), "{error}");
    } else {
        tracing::debug!(target: "eddy::request", request_id, code = error.code(), "{error}");
    }
}

fn host_of(parts: &http::request::Parts) -> Option<String> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
}

/// Route headers win over the function's (Vercel applies `headers` routes to the response).
fn add_headers(target: &mut HeaderMap, extra: HeaderMap) {
    let mut last = None;
    for (name, value) in extra {
        // `None` names continue the previous header (several values of one name).
        let name = match name {
            Some(name) => {
                target.remove(&name);
                last = Some(name.clone());
                name
            }
            None => match &last {
                Some(name) => name.clone(),
                None => continue,
            },
        };
        target.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::StreamBody;

    fn chunked(chunks: usize, size: usize) -> Body {
        let frames = (0..chunks).map(move |_| {
            Ok::<_, eddy_runtime::BoxError>(http_body::Frame::data(Bytes::from(vec![b'x'; size])))
        });
        StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
    }

    #[test]
    fn a_dead_isolate_is_a_502_for_edge_and_a_crash_is_a_500_elsewhere() {
        let crashed = || InvokeFailure::Invoke {
            function: "api/x".into(),
            source: InvokeError::Crashed {
                instance: eddy_runtime::InstanceId(1),
                reason: "the isolate went past its 128 MB memory limit".into(),
            },
        };
        let edge = map_failure("api/x", "edge", crashed());
        assert_eq!(
            (edge.status().as_u16(), edge.code()),
            (502, "EDGE_FUNCTION_INVOCATION_FAILED")
        );
        let node = map_failure("api/x", "node", crashed());
        assert_eq!(
            (node.status().as_u16(), node.code()),
            (500, "FUNCTION_INVOCATION_FAILED")
        );
    }

    #[tokio::test]
    async fn a_chunked_body_over_the_limit_is_refused() {
        let err = read_body(chunked(10, 1000), 5_000).await.unwrap_err();
        assert_eq!(err.code(), "FUNCTION_PAYLOAD_TOO_LARGE");
        let ok = read_body(chunked(5, 1000), 5_000).await.unwrap();
        assert_eq!(ok.len(), 5_000);
    }
}
