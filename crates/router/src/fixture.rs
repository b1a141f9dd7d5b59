//! Test fixtures: an in-memory [`Filesystem`] and request builders.

use std::collections::BTreeMap;

use http::HeaderMap;

use crate::{Filesystem, Hit, RequestInfo, Resolution, Router};

/// Outputs by path: names ending in `.html`, `.css`, ... are static files, others functions.
#[derive(Debug, Default)]
pub(crate) struct FakeFs(BTreeMap<String, Hit>);

impl FakeFs {
    pub(crate) fn new(files: &[&str], functions: &[&str]) -> FakeFs {
        let mut map = BTreeMap::new();
        for f in files {
            map.insert((*f).to_owned(), Hit::Static((*f).to_owned()));
        }
        for f in functions {
            map.insert((*f).to_owned(), Hit::Function((*f).to_owned()));
        }
        FakeFs(map)
    }
}

impl Filesystem for FakeFs {
    fn lookup(&self, path: &str) -> Option<Hit> {
        assert!(
            !path.is_empty() && !path.starts_with('/') && !path.split('/').any(|s| s == ".."),
            "router asked for an unsafe path {path:?}"
        );
        self.0.get(path).cloned()
    }
}

/// Resolves `GET target` (path and query) with `headers` on host `my.app`.
pub(crate) fn get_with(
    router: &Router,
    fs: &FakeFs,
    target: &str,
    headers: &HeaderMap,
) -> Resolution {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    router.resolve(
        &RequestInfo {
            method: "GET",
            path,
            query,
            host: "my.app",
            headers,
        },
        fs,
    )
}

pub(crate) fn get(router: &Router, fs: &FakeFs, target: &str) -> Resolution {
    get_with(router, fs, target, &HeaderMap::new())
}

/// A compact view of a resolution for assertions, e.g. `function api/x ?id=1 (200)`.
pub(crate) fn show(resolution: &Resolution) -> String {
    match resolution {
        Resolution::Function {
            function,
            query,
            status,
            ..
        } => format!("function {function} ?{query} ({})", status.unwrap_or(200)),
        Resolution::Static { file, status, .. } => format!("static {file} ({status})"),
        Resolution::Redirect {
            status, location, ..
        } => format!("redirect {status} {location}"),
        Resolution::External { url, .. } => format!("external {url}"),
        Resolution::NotFound { .. } => "not found".to_owned(),
        Resolution::Status { status, .. } => format!("status {status}"),
        Resolution::Error { status, code } => format!("error {status} {code}"),
    }
}

/// The response headers of a resolution (empty for errors).
pub(crate) fn headers_of(resolution: &Resolution) -> HeaderMap {
    match resolution {
        Resolution::Function { headers, .. }
        | Resolution::Static { headers, .. }
        | Resolution::Redirect { headers, .. }
        | Resolution::External { headers, .. }
        | Resolution::NotFound { headers }
        | Resolution::Status { headers, .. } => headers.clone(),
        Resolution::Error { .. } => HeaderMap::new(),
    }
}
