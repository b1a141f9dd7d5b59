//! Request limits checked before any routing or user code (vercel-compat 10): URL length, header
//! sizes and count. The body limit is enforced while reading the body (see `pipeline`), the
//! head's read timeout by the listener (see `server`).

use http::request::Parts;

use crate::rescue::GatewayError;

/// Limits on what a client may send. Defaults are Vercel's.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_url_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers_total_bytes: usize,
    pub max_header_count: usize,
    pub max_body_bytes: usize,
    /// How long a client may take to send a request head (HTTP/1): a slow-loris client that
    /// trickles headers is disconnected after this.
    pub header_read_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        use eddy_config::limits;
        Self {
            max_url_bytes: limits::MAX_URL_BYTES,
            max_header_bytes: limits::MAX_HEADER_BYTES,
            max_headers_total_bytes: limits::MAX_HEADERS_TOTAL_BYTES,
            max_header_count: limits::MAX_HEADER_COUNT,
            max_body_bytes: limits::MAX_REQUEST_BODY_BYTES,
            header_read_timeout: std::time::Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Checks the request head; the first exceeded limit is the error.
    pub fn check_head(&self, parts: &Parts) -> Result<(), GatewayError> {
        let url_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
        if url_len > self.max_url_bytes {
            return Err(GatewayError::UrlTooLong {
                len: url_len,
                limit: self.max_url_bytes,
            });
        }
        if parts.headers.len() > self.max_header_count {
            return Err(GatewayError::HeaderTooLarge {
                detail: format!(
                    "{} headers, at most {} allowed",
                    parts.headers.len(),
                    self.max_header_count
                ),
            });
        }
        let mut total = 0;
        for (name, value) in &parts.headers {
            let size = name.as_str().len() + value.len();
            if size > self.max_header_bytes {
                return Err(GatewayError::HeaderTooLarge {
                    detail: format!(
                        "header {name} is {size} bytes, at most {} allowed",
                        self.max_header_bytes
                    ),
                });
            }
            total += size;
        }
        if total > self.max_headers_total_bytes {
            return Err(GatewayError::HeaderTooLarge {
                detail: format!(
                    "headers total {total} bytes, at most {} allowed",
                    self.max_headers_total_bytes
                ),
            });
        }
        if let Some(len) = parts.headers.get(http::header::CONTENT_LENGTH) {
            let len = len
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| GatewayError::MalformedRequest {
                    detail: "content-length is not a number".into(),
                })?;
            if len > self.max_body_bytes as u64 {
                return Err(GatewayError::PayloadTooLarge {
                    limit: self.max_body_bytes,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, String)]) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn rejects_url_longer_than_14_kb() {
        let long = format!("/{}", "a".repeat(14 * 1024));
        let err = Limits::default()
            .check_head(&parts(&long, &[]))
            .unwrap_err();
        assert_eq!(err.code(), "URL_TOO_LONG");
        assert!(
            Limits::default()
                .check_head(&parts(&long[..14 * 1024], &[]))
                .is_ok()
        );
    }

    #[test]
    fn rejects_one_header_over_16_kb_and_all_over_32_kb() {
        let big = "x".repeat(16 * 1024);
        let err = Limits::default()
            .check_head(&parts("/", &[("x-big", big)]))
            .unwrap_err();
        assert_eq!(err.code(), "REQUEST_HEADER_TOO_LARGE");
        let nine_kb = "y".repeat(9 * 1024);
        let many: Vec<_> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| (*n, nine_kb.clone()))
            .collect();
        let err = Limits::default()
            .check_head(&parts("/", &many))
            .unwrap_err();
        assert!(err.to_string().contains("headers total"), "{err}");
    }

    #[test]
    fn rejects_more_than_64_headers() {
        let names: Vec<String> = (0..65).map(|i| format!("x-h{i}")).collect();
        let headers: Vec<_> = names
            .iter()
            .map(|n| (n.as_str(), "v".to_string()))
            .collect();
        let err = Limits::default()
            .check_head(&parts("/", &headers))
            .unwrap_err();
        assert_eq!(err.code(), "REQUEST_HEADER_TOO_LARGE");
    }

    #[test]
    fn rejects_declared_body_over_limit_before_reading_it() {
        let err = Limits::default()
            .check_head(&parts("/", &[("content-length", "4500001".into())]))
            .unwrap_err();
        assert_eq!(err.code(), "FUNCTION_PAYLOAD_TOO_LARGE");
    }
}
