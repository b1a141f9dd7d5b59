//! Routes and a request: the first line is a `routes` JSON array, the second the request path,
//! the third a header value. `Router::new` and `resolve` never panic, and a request resolves
//! within a second whatever the patterns.
#![no_main]

use std::time::{Duration, Instant};

use eddy_config::route::Route;
use eddy_router::{Filesystem, Hit, RequestInfo, Router};
use libfuzzer_sys::fuzz_target;

struct Outputs;

impl Filesystem for Outputs {
    fn lookup(&self, path: &str) -> Option<Hit> {
        assert!(
            !path.is_empty()
                && !path
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == ".."),
            "router asked for an unsafe path {path:?}"
        );
        match path {
            "index.html" | "404.html" => Some(Hit::Static(path.to_owned())),
            "api/a" | "api/[id]" => Some(Hit::Function(path.to_owned())),
            _ => None,
        }
    }
}

fuzz_target!(|text: &str| {
    let mut lines = text.splitn(3, '\n');
    let routes = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or("/");
    let header = lines.next().unwrap_or_default();
    let Ok(routes) = serde_json::from_str::<Vec<Route>>(routes) else {
        return;
    };
    let Ok(router) = Router::new(&routes) else {
        return;
    };
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(header) {
        headers.insert("x-h", value.clone());
        headers.insert(http::header::COOKIE, value);
    }
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    let req = RequestInfo {
        method: "GET",
        path,
        query,
        host: "my.app",
        headers: &headers,
    };
    let started = Instant::now();
    let _ = router.resolve(&req, &Outputs);
    let _ = router.resolve_error(&req, &Outputs, 500);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "resolve took {:?}",
        started.elapsed()
    );
});
