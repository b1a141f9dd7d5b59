//! What the router needs to know about a request ([`RequestInfo`]), and the lazily parsed view
//! of it (query pairs, cookies, host name) that `has`/`missing` conditions read.

use std::borrow::Cow;
use std::cell::OnceCell;

use http::HeaderMap;
use percent_encoding::percent_decode_str;

/// One request as the router sees it. All fields are borrowed from the gateway's request.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// e.g. `GET`.
    pub method: &'a str,
    /// The path exactly as the client sent it (still percent-encoded), e.g. `/api/users/42`.
    /// The router matches routes against its percent-decoded form; functions see it as is.
    pub path: &'a str,
    /// The raw query string without the `?`, if any.
    pub query: Option<&'a str>,
    /// The public host (the `Host` header), possibly with a port.
    pub host: &'a str,
    pub headers: &'a HeaderMap,
}

impl<'a> RequestInfo<'a> {
    /// Takes method, path, query and host (the `Host` header, else the URI authority) from `req`.
    pub fn from_request<B>(req: &'a http::Request<B>) -> RequestInfo<'a> {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        RequestInfo {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query(),
            host,
            headers: req.headers(),
        }
    }
}

/// The parts of a request conditions read, parsed on first use and at most once per resolve.
pub(crate) struct RequestView<'a> {
    pub(crate) info: RequestInfo<'a>,
    query: OnceCell<Vec<(Cow<'a, str>, Cow<'a, str>)>>,
    cookies: OnceCell<Vec<(&'a str, Cow<'a, str>)>>,
    hostname: OnceCell<String>,
}

impl<'a> RequestView<'a> {
    pub(crate) fn new(info: RequestInfo<'a>) -> RequestView<'a> {
        RequestView {
            info,
            query: OnceCell::new(),
            cookies: OnceCell::new(),
            hostname: OnceCell::new(),
        }
    }

    /// The host name without port, lowercased.
    pub(crate) fn hostname(&self) -> &str {
        self.hostname.get_or_init(|| {
            let host = self.info.host;
            // `[::1]:3000` keeps its brackets; `example.com:3000` loses the port.
            let name = match host.rfind(':') {
                Some(colon) if !host[colon..].contains(']') => &host[..colon],
                _ => host,
            };
            name.to_ascii_lowercase()
        })
    }

    /// The last value of a header (as Vercel reads repeated headers).
    pub(crate) fn header(&self, key: &str) -> Option<Cow<'a, str>> {
        let value = self.info.headers.get_all(key).iter().next_back()?;
        Some(match value.to_str() {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value.as_bytes()),
        })
    }

    /// The last value of a query parameter, percent-decoded.
    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        let pairs = self.query.get_or_init(|| {
            url::form_urlencoded::parse(self.info.query.unwrap_or("").as_bytes()).collect()
        });
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    pub(crate) fn cookie(&self, key: &str) -> Option<&str> {
        let cookies = self
            .cookies
            .get_or_init(|| parse_cookies(self.info.headers));
        cookies
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    }
}

/// `a=1; b="two"` from every `cookie` header; values percent-decoded, quotes removed.
fn parse_cookies(headers: &HeaderMap) -> Vec<(&str, Cow<'_, str>)> {
    let mut cookies = Vec::new();
    for value in headers.get_all(http::header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            cookies.push((key.trim(), percent_decode_str(value).decode_utf8_lossy()));
        }
    }
    cookies
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view_with(headers: &HeaderMap, host: &'static str, query: Option<&'static str>) -> String {
        let view = RequestView::new(RequestInfo {
            method: "GET",
            path: "/",
            query,
            host,
            headers,
        });
        format!(
            "{}|{:?}|{:?}|{:?}|{:?}",
            view.hostname(),
            view.query("a"),
            view.cookie("session"),
            view.cookie("q"),
            view.header("x-multi")
        )
    }

    #[test]
    fn parses_host_query_cookies_and_headers_lazily() {
        let mut headers = HeaderMap::new();
        headers.append(
            "cookie",
            "theme=dark; session=abc%20def".parse().expect("ascii"),
        );
        headers.append("cookie", "q=\"quoted\"".parse().expect("ascii"));
        headers.append("x-multi", "first".parse().expect("ascii"));
        headers.append("x-multi", "last".parse().expect("ascii"));
        assert_eq!(
            view_with(&headers, "Example.COM:3000", Some("a=1&a=two%21&b")),
            "example.com|Some(\"two!\")|Some(\"abc def\")|Some(\"quoted\")|Some(\"last\")"
        );
    }

    #[test]
    fn absent_parts_read_as_none() {
        let headers = HeaderMap::new();
        assert_eq!(
            view_with(&headers, "[::1]:8080", None),
            "[::1]|None|None|None|None"
        );
    }

    #[test]
    fn from_request_reads_the_host_header_and_uri() {
        let req = http::Request::builder()
            .method("POST")
            .uri("/a%20b?x=1")
            .header("host", "my.app")
            .body(())
            .expect("valid request");
        let info = RequestInfo::from_request(&req);
        assert_eq!(
            (info.method, info.path, info.query, info.host),
            ("POST", "/a%20b", Some("x=1"), "my.app")
        );
    }
}
