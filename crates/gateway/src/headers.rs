//! Platform headers (vercel-compat 2): what eddy sets on requests to functions and on every
//! response. Client-supplied `x-forwarded-*`, `x-real-ip` and `x-vercel-*` are replaced, never
//! trusted.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// Hop-by-hop headers, meaningful for one connection only; never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// A request id in Vercel's `x-vercel-id` shape: `<region>::<pod>-<unix ms>-<12 hex>`.
pub fn new_request_id(region: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let pod: String = (0..5)
        .map(|_| {
            let n = rand::random_range(0..36u8);
            char::from_digit(u32::from(n), 36).unwrap_or('0')
        })
        .collect();
    format!(
        "{region}::{pod}-{ms}-{:012x}",
        rand::random::<u64>() & 0xffff_ffff_ffff
    )
}

/// What the gateway knows about the client and the deployment, for request headers.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub host: &'a str,
    pub proto: &'a str,
    pub client_ip: IpAddr,
    pub request_id: &'a str,
}

/// Rewrites a client's request headers into the headers a function sees.
pub fn to_function(headers: &mut HeaderMap, origin: &Origin<'_>) {
    strip_hop_by_hop(headers);
    let untrusted: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let n = name.as_str();
            n.starts_with("x-vercel-")
                || n.starts_with("x-forwarded-")
                || n == "x-real-ip"
                || n.starts_with("x-middleware-")
        })
        .cloned()
        .collect();
    for name in untrusted {
        headers.remove(name);
    }
    let ip = origin.client_ip.to_string();
    set(headers, header::HOST, origin.host);
    set(
        headers,
        HeaderName::from_static("x-forwarded-host"),
        origin.host,
    );
    set(
        headers,
        HeaderName::from_static("x-forwarded-proto"),
        origin.proto,
    );
    set(headers, HeaderName::from_static("x-forwarded-for"), &ip);
    set(headers, HeaderName::from_static("x-real-ip"), &ip);
    set(
        headers,
        HeaderName::from_static("x-vercel-forwarded-for"),
        &ip,
    );
    set(
        headers,
        HeaderName::from_static("x-vercel-id"),
        origin.request_id,
    );
    set(
        headers,
        HeaderName::from_static("x-vercel-deployment-url"),
        origin.host,
    );
}

/// Adds the platform response headers. `default_cache_control` applies only when the function
/// (or route) did not set `cache-control`.
pub fn on_response(headers: &mut HeaderMap, request_id: &str, default_cache_control: bool) {
    strip_hop_by_hop(headers);
    headers.insert(header::SERVER, HeaderValue::from_static("Vercel"));
    set(headers, HeaderName::from_static("x-vercel-id"), request_id);
    if default_cache_control && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=0, must-revalidate"),
        );
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_spoofed_forwarding_headers_with_the_real_client() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.insert("x-vercel-ip-country", HeaderValue::from_static("XX"));
        headers.insert(
            "x-vercel-internal-request-id",
            HeaderValue::from_static("9"),
        );
        headers.insert("x-real-ip", HeaderValue::from_static("6.6.6.6"));
        headers.insert("cookie", HeaderValue::from_static("a=1"));
        let origin = Origin {
            host: "localhost:3000",
            proto: "http",
            client_ip: "127.0.0.1".parse().unwrap(),
            request_id: "dev1::x",
        };
        to_function(&mut headers, &origin);
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(headers["x-real-ip"], "127.0.0.1");
        assert_eq!(headers["x-vercel-forwarded-for"], "127.0.0.1");
        assert_eq!(headers["host"], "localhost:3000");
        assert_eq!(headers["x-vercel-id"], "dev1::x");
        assert!(!headers.contains_key("x-vercel-ip-country"));
        assert!(!headers.contains_key("x-vercel-internal-request-id"));
        assert_eq!(headers["cookie"], "a=1");
    }

    #[test]
    fn keeps_function_cache_control_and_adds_default_otherwise() {
        let mut own = HeaderMap::new();
        own.insert("cache-control", HeaderValue::from_static("s-maxage=60"));
        on_response(&mut own, "id", true);
        assert_eq!(own["cache-control"], "s-maxage=60");
        let mut none = HeaderMap::new();
        none.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        on_response(&mut none, "id", true);
        assert_eq!(none["cache-control"], "public, max-age=0, must-revalidate");
        assert_eq!(none["server"], "Vercel");
        assert!(!none.contains_key("transfer-encoding"));
    }

    #[test]
    fn request_ids_have_vercel_shape_and_differ() {
        let a = new_request_id("dev1");
        let b = new_request_id("dev1");
        assert!(a.starts_with("dev1::"), "{a}");
        assert_eq!(a.split('-').count(), 3, "{a}");
        assert_ne!(a, b);
    }
}
