//! Routing Middleware (vercel-compat 7.4): the stage between the limits and the router. When
//! the routes hold a `middlewarePath` route matching the request, the middleware function runs
//! first and its answer decides: `x-middleware-next` continues routing (its other response
//! headers join the final response, `x-middleware-override-headers` with
//! `x-middleware-request-*` replace the request headers), `x-middleware-rewrite` continues with
//! another path and query, and any other response goes to the client as is.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Response, header};

use eddy_runtime::Body;

use crate::rescue::GatewayError;

/// What the middleware decided.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response to the client.
    Respond(Response<Body>),
    /// Route the (possibly rewritten) request; add `headers` to the final response.
    Continue {
        parts: http::request::Parts,
        headers: HeaderMap,
    },
}

/// Turns the middleware's `response` into the next step for the request in `parts` (on
/// `host`).
pub fn decide(
    function: &str,
    response: Response<Body>,
    mut parts: http::request::Parts,
    host: &str,
) -> Result<Outcome, GatewayError> {
    let headers = response.headers();
    let next = headers.contains_key("x-middleware-next");
    let rewrite = headers
        .get("x-middleware-rewrite")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if !next && rewrite.is_none() {
        return Ok(Outcome::Respond(response));
    }
    if let Some(list) = headers
        .get("x-middleware-override-headers")
        .and_then(|v| v.to_str().ok())
    {
        parts.headers = overridden(list, headers, &parts.headers);
    }
    if let Some(target) = rewrite {
        let path_and_query = local_target(&target, host).ok_or_else(|| GatewayError::Routing {
            detail: format!(
                "middleware {function} rewrote to {target}, another host: external rewrites are not supported by eddy yet"
            ),
        })?;
        parts.uri = path_and_query
            .parse()
            .map_err(|_| GatewayError::MiddlewareFailed {
                function: function.to_string(),
                detail: format!("x-middleware-rewrite {target:?} is not a valid url"),
            })?;
    }
    let mut merged = HeaderMap::new();
    for (name, value) in headers {
        let skip = name.as_str().starts_with("x-middleware-")
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::CONNECTION;
        if !skip {
            merged.append(name.clone(), value.clone());
        }
    }
    tracing::debug!(target: "eddy::middleware", function, path = %parts.uri, headers = ?merged, "middleware continues");
    Ok(Outcome::Continue {
        parts,
        headers: merged,
    })
}

/// The request headers after `x-middleware-override-headers: a,b`: exactly the listed ones,
/// with the values of `x-middleware-request-a`, …; `host` is kept for routing.
fn overridden(list: &str, response: &HeaderMap, request: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let (Ok(target), Ok(source)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderName::from_bytes(format!("x-middleware-request-{name}").as_bytes()),
        ) else {
            continue;
        };
        for value in response.get_all(&source) {
            out.append(target.clone(), value.clone());
        }
    }
    if !out.contains_key(header::HOST)
        && let Some(host) = request.get(header::HOST)
    {
        out.insert(header::HOST, host.clone());
    }
    out
}

/// The path and query of a rewrite target on this deployment: a path, or an absolute URL on
/// `host`. `None` for another host.
fn local_target(target: &str, host: &str) -> Option<String> {
    if target.starts_with('/') {
        return Some(target.to_string());
    }
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if !authority.eq_ignore_ascii_case(host) {
        return None;
    }
    Some(if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    })
}

/// The request body the middleware and then the function both see.
pub fn body(bytes: &Bytes) -> Body {
    eddy_runtime::full_body(bytes.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_parts(uri: &str) -> http::request::Parts {
        let (parts, ()) = http::Request::builder()
            .uri(uri)
            .header("host", "site.test")
            .header("cookie", "a=1")
            .body(())
            .expect("valid")
            .into_parts();
        parts
    }

    fn response(headers: &[(&str, &str)]) -> Response<Body> {
        let mut builder = Response::builder();
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(eddy_runtime::empty_body()).expect("valid")
    }

    #[test]
    fn next_continues_and_merges_the_other_headers() {
        let r = response(&[("x-middleware-next", "1"), ("x-from-mw", "yes")]);
        let Ok(Outcome::Continue { parts, headers }) =
            decide("middleware", r, request_parts("/a"), "site.test")
        else {
            panic!("continues");
        };
        assert_eq!(parts.uri.path(), "/a");
        assert_eq!(headers["x-from-mw"], "yes");
        assert!(!headers.contains_key("x-middleware-next"));
    }

    #[test]
    fn a_rewrite_changes_path_and_query_on_the_same_host_only() {
        let r = response(&[("x-middleware-rewrite", "http://site.test/b?q=2")]);
        let Ok(Outcome::Continue { parts, .. }) =
            decide("middleware", r, request_parts("/a?q=1"), "site.test")
        else {
            panic!("continues");
        };
        assert_eq!(parts.uri.to_string(), "/b?q=2");
        let r = response(&[("x-middleware-rewrite", "https://elsewhere.test/b")]);
        assert!(decide("middleware", r, request_parts("/a"), "site.test").is_err());
    }

    #[test]
    fn override_headers_replace_the_request_headers() {
        let r = response(&[
            ("x-middleware-next", "1"),
            ("x-middleware-override-headers", "x-user,host"),
            ("x-middleware-request-x-user", "ada"),
        ]);
        let Ok(Outcome::Continue { parts, headers }) =
            decide("middleware", r, request_parts("/a"), "site.test")
        else {
            panic!("continues");
        };
        assert_eq!(parts.headers["x-user"], "ada");
        assert!(
            !parts.headers.contains_key("cookie"),
            "unlisted headers are dropped"
        );
        assert_eq!(parts.headers["host"], "site.test");
        assert!(!headers.contains_key("x-middleware-request-x-user"));
    }

    #[test]
    fn any_other_response_is_sent_as_is() {
        let r = response(&[("location", "/login")]);
        assert!(matches!(
            decide("middleware", r, request_parts("/a"), "site.test"),
            Ok(Outcome::Respond(_))
        ));
    }
}
