//! The one place where errors become responses. Every failure on the request path ends up as a
//! [`GatewayError`]; [`rescue`] renders it as Vercel does: the status, the `x-vercel-error` code
//! header and a body negotiated by `Accept` (JSON, HTML or plain text).

use http::{HeaderValue, Response, StatusCode, header};

use eddy_runtime::{Body, full_body};

/// Everything that can go wrong between a client and a function, each with its Vercel code.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no route or file matches {path}")]
    NotFound { path: String },
    #[error("url of {len} bytes exceeds the limit of {limit} bytes")]
    UrlTooLong { len: usize, limit: usize },
    #[error("request headers too large: {detail}")]
    HeaderTooLarge { detail: String },
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("malformed request: {detail}")]
    MalformedRequest { detail: String },
    /// User code failed: threw, crashed, exited, or could not be loaded.
    #[error("function {function}: {detail}")]
    FunctionFailed { function: String, detail: String },
    #[error("function {function}: exceeded maxDuration of {seconds}s")]
    FunctionTimeout { function: String, seconds: u64 },
    /// An Edge function threw or returned no Response.
    #[error("edge function {function}: {detail}")]
    EdgeFunctionFailed { function: String, detail: String },
    /// The Edge function's isolate died during the invocation (it went past its memory limit):
    /// 502, and the pool replaces the isolate.
    #[error("edge function {function}: {detail}")]
    EdgeFunctionCrashed { function: String, detail: String },
    /// An Edge function did not start responding in time (25 s).
    #[error("edge function {function}: {detail}")]
    EdgeFunctionTimeout { function: String, detail: String },
    /// Routing Middleware threw, returned something unusable, or could not run.
    #[error("middleware {function}: {detail}")]
    MiddlewareFailed { function: String, detail: String },
    /// Routing Middleware did not respond in time.
    #[error("middleware {function}: {detail}")]
    MiddlewareTimeout { function: String, detail: String },
    #[error("function {function}: no response: {detail}")]
    NoResponse { function: String, detail: String },
    #[error("function {function}: too many requests waiting for an instance ({detail})")]
    Throttled { function: String, detail: String },
    #[error("routing failed: {detail}")]
    Routing { detail: String },
    #[error("eddy is shutting down")]
    ShuttingDown,
    /// No deployment answers to the request's host (`eddy serve --data`).
    #[error("no deployment answers to host {host}")]
    DeploymentNotFound { host: String },
    /// The deployment's project is paused (its usage cap was reached).
    #[error("the deployment for host {host} is paused")]
    DeploymentPaused { host: String },
}

impl GatewayError {
    /// The Vercel error code, also sent as `x-vercel-error`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "NOT_FOUND",
            Self::UrlTooLong { .. } => "URL_TOO_LONG",
            Self::HeaderTooLarge { .. } => "REQUEST_HEADER_TOO_LARGE",
            Self::PayloadTooLarge { .. } => "FUNCTION_PAYLOAD_TOO_LARGE",
            Self::MalformedRequest { .. } => "MALFORMED_REQUEST_HEADER",
            Self::FunctionFailed { .. } => "FUNCTION_INVOCATION_FAILED",
            Self::FunctionTimeout { .. } => "FUNCTION_INVOCATION_TIMEOUT",
            Self::EdgeFunctionFailed { .. } | Self::EdgeFunctionCrashed { .. } => {
                "EDGE_FUNCTION_INVOCATION_FAILED"
            }
            Self::EdgeFunctionTimeout { .. } => "EDGE_FUNCTION_INVOCATION_TIMEOUT",
            Self::MiddlewareFailed { .. } => "MIDDLEWARE_INVOCATION_FAILED",
            Self::MiddlewareTimeout { .. } => "MIDDLEWARE_INVOCATION_TIMEOUT",
            Self::NoResponse { .. } => "NO_RESPONSE_FROM_FUNCTION",
            Self::Throttled { .. } => "FUNCTION_THROTTLED",
            Self::Routing { .. } => "TOO_MANY_FILESYSTEM_CHECKS",
            Self::ShuttingDown => "INTERNAL_UNEXPECTED_ERROR",
            Self::DeploymentNotFound { .. } => "DEPLOYMENT_NOT_FOUND",
            Self::DeploymentPaused { .. } => "DEPLOYMENT_PAUSED",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } | Self::DeploymentNotFound { .. } => StatusCode::NOT_FOUND,
            Self::UrlTooLong { .. } => StatusCode::URI_TOO_LONG,
            Self::HeaderTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedRequest { .. } => StatusCode::BAD_REQUEST,
            Self::FunctionFailed { .. }
            | Self::EdgeFunctionFailed { .. }
            | Self::MiddlewareFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::FunctionTimeout { .. }
            | Self::EdgeFunctionTimeout { .. }
            | Self::MiddlewareTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::NoResponse { .. } | Self::Routing { .. } | Self::EdgeFunctionCrashed { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Self::Throttled { .. } | Self::ShuttingDown | Self::DeploymentPaused { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The human title Vercel shows above the code.
    fn title(&self) -> &'static str {
        match self {
            Self::DeploymentNotFound { .. } => return "The deployment could not be found",
            Self::DeploymentPaused { .. } => return "This deployment is currently paused",
            _ => {}
        }
        match self.status().as_u16() {
            404 => "The page could not be found",
            413 => "Request Entity Too Large",
            414 => "URI Too Long",
            431 => "Request Header Fields Too Large",
            400 => "Bad Request",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "An error occurred with your deployment",
            _ => "A server error has occurred",
        }
    }
}

/// Which body shape the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Json,
    Html,
    Text,
}

impl Flavor {
    /// Picks the body shape from an `Accept` header, as Vercel's error pages do.
    pub fn from_accept(accept: Option<&str>) -> Self {
        let accept = accept.unwrap_or("").to_ascii_lowercase();
        if accept.contains("application/json") {
            Flavor::Json
        } else if accept.contains("text/html") {
            Flavor::Html
        } else {
            Flavor::Text
        }
    }
}

/// Renders `error` for the client. `request_id` is the `x-vercel-id` of the request.
pub fn rescue(error: &GatewayError, flavor: Flavor, request_id: &str) -> Response<Body> {
    let status = error.status();
    let code = error.code();
    let title = error.title();
    let (content_type, body) = match flavor {
        Flavor::Json => (
            "application/json; charset=utf-8",
            serde_json::json!({ "error": { "code": status.as_u16(), "message": title, "id": code } })
                .to_string(),
        ),
        Flavor::Html => (
            "text/html; charset=utf-8",
            format!(
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{status_num}: {code}</title></head>\
                 <body><main><p><strong>{status_num}</strong>: {title}</p><p>Code: <code>{code}</code></p>\
                 <p>ID: <code>{id}</code></p></main></body></html>\n",
                status_num = status.as_u16(),
                id = html_escape(request_id),
            ),
        ),
        Flavor::Text => (
            "text/plain; charset=utf-8",
            format!("{title}\n\n{code}\n\n{request_id}\n"),
        ),
    };
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-vercel-error", HeaderValue::from_static(code));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, no-store, max-age=0, must-revalidate"),
    );
    response
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn renders_json_when_client_accepts_json() {
        let err = GatewayError::FunctionTimeout {
            function: "api/slow".into(),
            seconds: 1,
        };
        let response = rescue(
            &err,
            Flavor::from_accept(Some("application/json")),
            "dev1::abc",
        );
        assert_eq!(response.status(), 504);
        assert_eq!(
            response.headers()["x-vercel-error"],
            "FUNCTION_INVOCATION_TIMEOUT"
        );
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(body["error"]["code"], 504);
    }

    #[test]
    fn edge_failures_carry_the_edge_codes() {
        let failed = GatewayError::EdgeFunctionFailed {
            function: "api/e".into(),
            detail: "boom".into(),
        };
        assert_eq!(failed.code(), "EDGE_FUNCTION_INVOCATION_FAILED");
        assert_eq!(failed.status(), 500);
        let timeout = GatewayError::EdgeFunctionTimeout {
            function: "api/e".into(),
            detail: "no response within 25s".into(),
        };
        assert_eq!(timeout.code(), "EDGE_FUNCTION_INVOCATION_TIMEOUT");
        assert_eq!(timeout.status(), 504);
    }

    #[tokio::test]
    async fn renders_plain_text_with_code_and_request_id_by_default() {
        let err = GatewayError::NotFound {
            path: "/nope".into(),
        };
        let response = rescue(&err, Flavor::from_accept(None), "dev1::xyz");
        assert_eq!(response.status(), 404);
        let text = body_text(response).await;
        assert!(
            text.starts_with("The page could not be found\n\nNOT_FOUND\n"),
            "{text}"
        );
        assert!(text.contains("dev1::xyz"));
    }

    #[tokio::test]
    async fn renders_html_for_browsers_and_escapes_the_id() {
        let err = GatewayError::FunctionFailed {
            function: "api/x".into(),
            detail: "boom".into(),
        };
        let response = rescue(&err, Flavor::from_accept(Some("text/html,*/*")), "<id>");
        assert_eq!(response.status(), 500);
        let text = body_text(response).await;
        assert!(text.contains("FUNCTION_INVOCATION_FAILED"));
        assert!(text.contains("&lt;id&gt;"));
        assert!(
            !text.contains("boom"),
            "internal detail must not leak to clients"
        );
    }
}
