//! Static files of a deployment: an in-memory index for the router's filesystem phase (built
//! once per deployment, so lookups never touch the disk), and serving with a content type, a
//! strong `etag` and conditional `304`s.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::time::UNIX_EPOCH;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use eddy_runtime::{Body, empty_body, full_body};

/// At most this many files are indexed; a root with more (a project root full of build output,
/// say) serves the first ones found and logs a warning.
const MAX_FILES: usize = 200_000;

/// The static files of one deployment.
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: Option<PathBuf>,
    /// Relative, `/`-separated paths of every servable file under `root`.
    files: HashSet<String>,
}

impl StaticFiles {
    /// Indexes the regular files under `root`, leaving out what `exclude` names (see
    /// `eddy_config::deployment::static_path_excluded`). Symlinks are not followed.
    pub fn new(root: Option<PathBuf>, exclude: Vec<String>) -> Self {
        let mut files = HashSet::new();
        if let Some(root) = &root {
            let excluded = |rel: &str| eddy_config::deployment::static_path_excluded(&exclude, rel);
            let walk = walkdir::WalkDir::new(root)
                .follow_links(false)
                .into_iter()
                .filter_entry(|entry| {
                    relative(root, entry.path()).is_none_or(|rel| rel.is_empty() || !excluded(&rel))
                });
            for entry in walk.filter_map(Result::ok) {
                if !entry.file_type().is_file() {
                    continue;
                }
                if files.len() == MAX_FILES {
                    tracing::warn!(root = %root.display(), "more than {MAX_FILES} static files; serving the first {MAX_FILES}");
                    break;
                }
                if let Some(rel) = relative(root, entry.path()) {
                    files.insert(rel);
                }
            }
        }
        Self { root, files }
    }

    /// The file for a URL path (`/css/site.css` → `css/site.css`) when it is in the index.
    pub fn lookup(&self, url_path: &str) -> Option<String> {
        let rel = url_path.trim_start_matches('/');
        self.files.contains(rel).then(|| rel.to_string())
    }

    /// Serves `rel` (as returned by [`lookup`](Self::lookup)) with `status`.
    pub async fn serve(
        &self,
        rel: &str,
        status: StatusCode,
        method: &Method,
        request_headers: &HeaderMap,
    ) -> std::io::Result<Response<Body>> {
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| std::io::Error::other("no static root"))?;
        let path =
            safe_join(root, rel).ok_or_else(|| std::io::Error::other("path escapes the root"))?;
        let meta = tokio::fs::metadata(&path).await?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let etag = format!("\"{:x}-{:x}\"", meta.len(), mtime);
        let mime = mime_guess::from_path(&path).first_or_octet_stream();
        let mut content_type = mime.essence_str().to_string();
        if mime.type_() == mime_guess::mime::TEXT
            || content_type == "application/javascript"
            || content_type == "application/json"
        {
            content_type.push_str("; charset=utf-8");
        }
        let not_modified = status == StatusCode::OK
            && request_headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        let mut response = if not_modified {
            let mut r = Response::new(empty_body());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else if method == Method::HEAD {
            let mut r = Response::new(empty_body());
            *r.status_mut() = status;
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
            r
        } else {
            let bytes = tokio::fs::read(&path).await?;
            let mut r = Response::new(full_body(bytes));
            *r.status_mut() = status;
            r
        };
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, v);
        }
        headers.insert("x-vercel-cache", HeaderValue::from_static("HIT"));
        Ok(response)
    }
}

/// `path` relative to `root`, `/`-separated; `None` for a name that is not UTF-8 (never served).
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// Joins a `/`-separated relative path under `root`, refusing `..`, absolute parts and
/// anything else that could leave the root.
fn safe_join(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for part in Path::new(rel).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (tempfile::TempDir, StaticFiles) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(dir.path().join("vercel.json"), "{}").unwrap();
        std::fs::write(dir.path().join(".env"), "SECRET=1").unwrap();
        std::fs::create_dir(dir.path().join("api")).unwrap();
        std::fs::write(dir.path().join("api/x.js"), "").unwrap();
        let exclude = vec!["vercel.json".into(), "api/".into(), ".*".into()];
        let files = StaticFiles::new(Some(dir.path().to_path_buf()), exclude);
        (dir, files)
    }

    #[test]
    fn finds_files_but_not_excluded_hidden_or_escaping_ones() {
        let (_dir, files) = fixture();
        assert_eq!(files.lookup("/index.html").as_deref(), Some("index.html"));
        assert_eq!(files.lookup("/vercel.json"), None);
        assert_eq!(files.lookup("/.env"), None);
        assert_eq!(files.lookup("/api/x.js"), None);
        assert_eq!(files.lookup("/../etc/passwd"), None);
        assert_eq!(files.lookup("/missing.txt"), None);
    }

    #[tokio::test]
    async fn answers_304_when_etag_matches() {
        let (_dir, files) = fixture();
        let first = files
            .serve(
                "index.html",
                StatusCode::OK,
                &Method::GET,
                &HeaderMap::new(),
            )
            .await
            .unwrap();
        assert_eq!(first.headers()["content-type"], "text/html; charset=utf-8");
        let etag = first.headers()["etag"].clone();
        let mut conditional = HeaderMap::new();
        conditional.insert(header::IF_NONE_MATCH, etag);
        let second = files
            .serve("index.html", StatusCode::OK, &Method::GET, &conditional)
            .await
            .unwrap();
        assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    }
}
