//! [`Router::resolve`]: the Build Output v3 phase loop for one request.
//!
//! ```text
//!  main routes ──▶ filesystem check ──▶ filesystem routes ──▶ check ──▶ resource routes
//!      │ found          │ found               │ found          │ found      │ nothing
//!      ▼                ▼                     ▼                ▼            ▼
//!   hit routes (headers only) ──▶ Static | Function      error routes (status ≥ 400)
//!
//!  check (a `check: true` route, or the end of the filesystem phase):
//!      filesystem check ──miss──▶ rewrite routes ──nothing──▶ miss routes ──nothing──▶ go on
//! ```
//! A route that matches adds its headers, applies its `dest`, sets its `status`; then
//! `continue: true` goes on with the next route, `check: true` runs the check above, a
//! redirect status ends routing, and any other route ends its phase after a filesystem check.
//! A phase run from a check starts without a status and gives it back if it finds nothing.
//! Filesystem checks are bounded ([`MAX_FILESYSTEM_CHECKS`]).

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::percent_decode_str;

use crate::filesystem::{Filesystem, Hit, lookup_path};
use crate::query;
use crate::request::{RequestInfo, RequestView};
use crate::router::{CompiledRoute, Dest, HeaderPart, Router, Stage};
use crate::template::{Captures, Encoding};

/// Filesystem checks one request may make before it resolves to
/// [`Resolution::Error`] `TOO_MANY_FILESYSTEM_CHECKS`.
pub const MAX_FILESYSTEM_CHECKS: u32 = 32;

/// What to answer a request with. `headers` are response headers the routes added.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Invoke `function` with the original client `path` and the merged, encoded `query`
    /// (route query params, e.g. dynamic segments, plus the client's; the client wins).
    Function {
        function: String,
        path: String,
        query: String,
        headers: HeaderMap,
        /// The output that matched, for `x-matched-path`, e.g. `/api/users/[id]`.
        matched_path: String,
        /// A status the routes set (e.g. a rewrite's `statusCode`), to replace the function's.
        status: Option<u16>,
    },
    /// Serve a static file with `status` (200, or e.g. 404 for a custom error page).
    Static {
        file: String,
        status: u16,
        headers: HeaderMap,
    },
    /// Redirect; `location` already carries the client's query.
    Redirect {
        status: u16,
        location: String,
        headers: HeaderMap,
    },
    /// Proxy to an absolute URL (`dest` was `https://...`); `url` carries the client's query.
    External { url: String, headers: HeaderMap },
    /// Nothing matched: answer Vercel's `NOT_FOUND` (404).
    NotFound { headers: HeaderMap },
    /// A route set this status and no output serves it (e.g. `{"src":"/x","status":403}`).
    Status { status: u16, headers: HeaderMap },
    /// Routing itself failed, e.g. `TOO_MANY_FILESYSTEM_CHECKS` (502).
    Error { status: u16, code: &'static str },
}

impl Router {
    /// Resolves one request. Never panics, whatever the path, query or headers; allocates a
    /// few small strings; never compiles a regex.
    pub fn resolve(&self, req: &RequestInfo<'_>, fs: &dyn Filesystem) -> Resolution {
        let mut run = Run::new(self, *req, fs);
        let outcome = run.route();
        run.finish(outcome)
    }

    /// Runs only the `error` phase for a response that already has `status` (e.g. a function
    /// answered 500): `Some` when an error route serves a custom page for it.
    pub fn resolve_error(
        &self,
        req: &RequestInfo<'_>,
        fs: &dyn Filesystem,
        status: u16,
    ) -> Option<Resolution> {
        let mut run = Run::new(self, *req, fs);
        run.status = Some(status);
        match run.phase(Stage::Error)? {
            Outcome::Found(hit) => Some(run.serve(hit)),
            _ => None,
        }
    }
}

/// How routing ended.
enum Outcome {
    Found(Hit),
    Redirect(u16),
    External(String),
    Exhausted,
}

/// What one route decided.
enum Flow {
    Next,
    EndPhase,
    Done(Outcome),
}

/// The state of one resolve.
struct Run<'r, 'a> {
    router: &'r Router,
    req: RequestView<'a>,
    fs: &'r dyn Filesystem,
    /// The percent-decoded path being routed; `dest` rewrites it.
    path: String,
    /// The encoded query of the latest `dest` that had one.
    query: Option<String>,
    headers: HeaderMap,
    status: Option<u16>,
    checks: u32,
    /// The last path a filesystem check found nothing at (so it is not checked twice).
    missed: Option<String>,
}

impl<'r, 'a> Run<'r, 'a> {
    fn new(router: &'r Router, req: RequestInfo<'a>, fs: &'r dyn Filesystem) -> Run<'r, 'a> {
        let mut path = percent_decode_str(req.path)
            .decode_utf8_lossy()
            .into_owned();
        if path.is_empty() {
            path.push('/');
        }
        Run {
            router,
            req: RequestView::new(req),
            fs,
            path,
            query: None,
            headers: HeaderMap::new(),
            status: None,
            checks: 0,
            missed: None,
        }
    }

    fn route(&mut self) -> Option<Outcome> {
        if let Some(outcome) = self.phase(Stage::Main) {
            return Some(outcome);
        }
        if let Some(outcome) = self.lookup() {
            return Some(outcome);
        }
        if let Some(outcome) = self.phase(Stage::Filesystem) {
            return Some(outcome);
        }
        if let Some(outcome) = self.check() {
            return Some(outcome);
        }
        self.phase(Stage::Resource)
    }

    fn phase(&mut self, stage: Stage) -> Option<Outcome> {
        let router = self.router;
        for route in router.stage(stage) {
            match self.apply(route, stage) {
                Flow::Next => continue,
                Flow::EndPhase => return None,
                Flow::Done(outcome) => return Some(outcome),
            }
        }
        None
    }

    /// `check: true`: the current path must exist, else the rewrite and miss phases may find
    /// something. Statuses set by those phases count only if they find something.
    fn check(&mut self) -> Option<Outcome> {
        if let Some(outcome) = self.lookup() {
            return Some(outcome);
        }
        let saved = self.status.take();
        if let Some(outcome) = self.phase(Stage::Rewrite) {
            return Some(outcome);
        }
        if let Some(outcome) = self.phase(Stage::Miss) {
            return Some(outcome);
        }
        self.status = saved;
        None
    }

    fn apply(&mut self, route: &CompiledRoute, stage: Stage) -> Flow {
        if stage == Stage::Hit && !route.continue_ {
            return Flow::Next;
        }
        if stage == Stage::Error && route.status.is_some_and(|s| Some(s) != self.status) {
            return Flow::Next;
        }
        if let Some(methods) = &route.methods {
            let method = self.req.info.method;
            if !methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
                return Flow::Next;
            }
        }
        let rendered = {
            let Some(caps) = match_route(route, &self.path, &self.req) else {
                return Flow::Next;
            };
            let keep_existing = matches!(stage, Stage::Hit | Stage::Miss);
            apply_headers(route, &caps, keep_existing, &mut self.headers);
            if stage == Stage::Hit {
                return Flow::Next;
            }
            route.dest.as_ref().map(|dest| render_dest(dest, &caps))
        };
        match rendered {
            Some(Rendered::External(url)) => return Flow::Done(Outcome::External(url)),
            Some(Rendered::Path { path, query }) => {
                self.path = path;
                if query.is_some() {
                    self.query = query;
                }
            }
            None => {}
        }
        if let Some(status) = route.status {
            if is_redirect(status) {
                return Flow::Done(Outcome::Redirect(status));
            }
            self.status = Some(status);
        }
        if route.check {
            let outcome = match stage {
                Stage::Main | Stage::Filesystem | Stage::Resource => self.check(),
                _ => self.lookup(),
            };
            return outcome.map_or(Flow::Next, Flow::Done);
        }
        if route.continue_ {
            return Flow::Next;
        }
        self.lookup().map_or(Flow::EndPhase, Flow::Done)
    }

    /// Checks the filesystem at the current path: `Found`, `None`, or `Exhausted` when the
    /// request used up its checks.
    fn lookup(&mut self) -> Option<Outcome> {
        if self.missed.as_deref() == Some(self.path.as_str()) {
            return None;
        }
        if self.checks >= MAX_FILESYSTEM_CHECKS {
            return Some(Outcome::Exhausted);
        }
        self.checks += 1;
        match lookup_path(self.fs, &self.path, self.router.clean_urls) {
            Some(hit) => Some(Outcome::Found(hit)),
            None => {
                self.missed = Some(self.path.clone());
                None
            }
        }
    }

    fn finish(mut self, outcome: Option<Outcome>) -> Resolution {
        match outcome {
            Some(Outcome::Found(hit)) => {
                let router = self.router;
                for route in router.stage(Stage::Hit) {
                    self.apply(route, Stage::Hit);
                }
                self.serve(hit)
            }
            Some(outcome) => self.end(outcome),
            None => {
                let status = self.status.filter(|s| *s >= 400).unwrap_or(404);
                self.error(status)
            }
        }
    }

    /// Runs the error phase for `status`: a custom error page, or a bare status.
    fn error(mut self, status: u16) -> Resolution {
        self.status = Some(status);
        match self.phase(Stage::Error) {
            Some(Outcome::Found(hit)) => self.serve(hit),
            Some(outcome) => self.end(outcome),
            None if status == 404 => Resolution::NotFound {
                headers: self.headers,
            },
            None => Resolution::Status {
                status,
                headers: self.headers,
            },
        }
    }

    fn serve(self, hit: Hit) -> Resolution {
        match hit {
            Hit::Static(file) => Resolution::Static {
                file,
                status: self.status.unwrap_or(200),
                headers: self.headers,
            },
            Hit::Function(function) => Resolution::Function {
                matched_path: format!("/{function}"),
                function,
                path: self.req.info.path.to_owned(),
                query: query::merge(self.query.as_deref(), self.req.info.query),
                headers: self.headers,
                status: self.status,
            },
        }
    }

    /// Outcomes other than a found output.
    fn end(mut self, outcome: Outcome) -> Resolution {
        let client_query = self.req.info.query;
        match outcome {
            Outcome::Found(hit) => self.serve(hit),
            Outcome::Redirect(status) => match self.headers.remove(http::header::LOCATION) {
                Some(location) => Resolution::Redirect {
                    status,
                    location: query::merge_into_url(
                        &String::from_utf8_lossy(location.as_bytes()),
                        client_query,
                    ),
                    headers: self.headers,
                },
                None => Resolution::Status {
                    status,
                    headers: self.headers,
                },
            },
            Outcome::External(url) => Resolution::External {
                url: query::merge_into_url(&url, client_query),
                headers: self.headers,
            },
            Outcome::Exhausted => Resolution::Error {
                status: 502,
                code: "TOO_MANY_FILESYSTEM_CHECKS",
            },
        }
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The route's `src` against `path` (and, for `/`, against the empty string, so that
/// `/:path*` matches the root as in `vercel dev`), then its `has`/`missing` conditions.
fn match_route<'t>(
    route: &CompiledRoute,
    path: &'t str,
    req: &RequestView<'_>,
) -> Option<Captures<'t>> {
    // Most routes do not match: `is_match` answers without allocating capture slots. A regex
    // that hits its backtrack limit counts as not matching.
    let text = if route.src.is_match(path).unwrap_or(false) {
        path
    } else if path == "/" && route.src.is_match("").unwrap_or(false) {
        ""
    } else {
        return None;
    };
    let found = route.src.captures(text).ok().flatten()?;
    let mut caps = Captures {
        path: Some(found),
        extra: Vec::new(),
    };
    if !route.has.iter().all(|c| c.test(req, &mut caps.extra)) {
        return None;
    }
    let mut ignored = Vec::new();
    if route.missing.iter().any(|c| c.test(req, &mut ignored)) {
        return None;
    }
    Some(caps)
}

/// Adds the route's headers (later routes replace earlier values, except in the `hit` and
/// `miss` phases). Headers whose rendered name or value is invalid are skipped.
fn apply_headers(
    route: &CompiledRoute,
    caps: &Captures<'_>,
    keep_existing: bool,
    headers: &mut HeaderMap,
) {
    for rule in &route.headers {
        let name = match &rule.name {
            HeaderPart::Ready(name) => Cow::Borrowed(name),
            HeaderPart::Template(t) => {
                match HeaderName::from_bytes(t.render_to_string(caps, Encoding::Url).as_bytes()) {
                    Ok(name) => Cow::Owned(name),
                    Err(_) => continue,
                }
            }
        };
        if keep_existing && headers.contains_key(name.as_ref()) {
            continue;
        }
        let value = match &rule.value {
            HeaderPart::Ready(value) => value.clone(),
            HeaderPart::Template(t) => {
                match HeaderValue::from_bytes(t.render_to_string(caps, Encoding::Url).as_bytes()) {
                    Ok(value) => value,
                    Err(_) => continue,
                }
            }
        };
        headers.insert(name.into_owned(), value);
    }
}

enum Rendered {
    Path { path: String, query: Option<String> },
    External(String),
}

fn render_dest(dest: &Dest, caps: &Captures<'_>) -> Rendered {
    match dest {
        Dest::External(url) => Rendered::External(url.render_to_string(caps, Encoding::Url)),
        Dest::Internal { path, query } => {
            let raw = path.render_to_string(caps, Encoding::Raw);
            let query = query.as_ref().map(|pairs| {
                let mut out = String::new();
                for (key, value) in pairs {
                    let key = key.render_to_string(caps, Encoding::Raw);
                    let value = value
                        .as_ref()
                        .map(|v| v.render_to_string(caps, Encoding::Raw));
                    query::push_pair(&mut out, &key, value.as_deref());
                }
                out
            });
            Rendered::Path {
                path: normalize_path(&raw),
                query,
            }
        }
    }
}

/// A leading `/`, and runs of `/` collapsed.
fn normalize_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 1);
    out.push('/');
    for c in raw.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use eddy_config::route::Route;
    use http::HeaderMap;
    use proptest::prelude::*;

    use super::*;
    use crate::fixture::{FakeFs, get, get_with, headers_of, show};

    fn router(json: &str) -> Router {
        let routes: Vec<Route> = serde_json::from_str(json).expect("valid routes json");
        Router::new(&routes).expect("routes compile")
    }

    fn header(resolution: &Resolution, name: &str) -> Option<String> {
        headers_of(resolution)
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    #[test]
    fn filesystem_hits_win_over_routes_after_the_filesystem_marker() {
        let r = router(
            r#"[{"handle":"filesystem"},{"src":"^/(.*)$","dest":"/index.html","check":true}]"#,
        );
        let fs = FakeFs::new(&["index.html", "style.css"], &[]);
        assert_eq!(show(&get(&r, &fs, "/style.css")), "static style.css (200)");
        assert_eq!(show(&get(&r, &fs, "/app/page")), "static index.html (200)");
    }

    #[test]
    fn continue_routes_accumulate_headers_and_later_values_win() {
        let r = router(
            r#"[{"src":"^/(.*)$","headers":{"x-a":"1","x-path":"$1"},"continue":true},
                {"src":"^/docs/(?<page>.*)$","headers":{"x-a":"2","x-page":"$page"},"continue":true}]"#,
        );
        let fs = FakeFs::new(&["docs/intro.html"], &[]);
        let res = get(&r, &fs, "/docs/intro.html");
        assert_eq!(show(&res), "static docs/intro.html (200)");
        assert_eq!(header(&res, "x-a").as_deref(), Some("2"));
        assert_eq!(header(&res, "x-path").as_deref(), Some("docs/intro.html"));
        assert_eq!(header(&res, "x-page").as_deref(), Some("intro.html"));
    }

    #[test]
    fn captures_are_escaped_in_header_values() {
        let r = router(r#"[{"src":"^/(.*)$","headers":{"x-path":"$1"},"continue":true}]"#);
        let fs = FakeFs::new(&[], &[]);
        let res = get(&r, &fs, "/a%0D%0Aset-cookie:%20x");
        assert_eq!(
            header(&res, "x-path").as_deref(),
            Some("a%0D%0Aset-cookie:%20x")
        );
        assert!(header(&res, "set-cookie").is_none());
    }

    #[test]
    fn redirects_interpolate_captures_and_keep_the_client_query() {
        let r = router(r#"[{"src":"^/old/(.*)$","status":308,"headers":{"Location":"/new/$1"}}]"#);
        let fs = FakeFs::new(&[], &[]);
        let res = get(&r, &fs, "/old/a/b?x=1");
        assert_eq!(show(&res), "redirect 308 /new/a/b?x=1");
        assert!(
            header(&res, "location").is_none(),
            "location is not repeated in headers"
        );
    }

    #[test]
    fn redirect_status_without_location_is_a_bare_status() {
        let r = router(r#"[{"src":"^/gone$","status":301}]"#);
        assert_eq!(show(&get(&r, &FakeFs::default(), "/gone")), "status 301");
    }

    #[test]
    fn a_failed_check_runs_the_rewrite_then_the_miss_phase() {
        let r = router(
            r#"[{"handle":"filesystem"},{"src":"^/a/(.*)$","dest":"/b/$1","check":true},
                {"handle":"rewrite"},{"src":"^/b/x$","dest":"/rewritten.html","check":true},
                {"handle":"miss"},{"src":"^/b/(.*)$","dest":"/missed.html","check":true}]"#,
        );
        let fs = FakeFs::new(&["rewritten.html", "missed.html"], &[]);
        assert_eq!(show(&get(&r, &fs, "/a/x")), "static rewritten.html (200)");
        assert_eq!(show(&get(&r, &fs, "/a/y")), "static missed.html (200)");
    }

    #[test]
    fn routing_continues_with_the_rewritten_path_when_a_check_finds_nothing() {
        let r = router(
            r#"[{"handle":"filesystem"},{"src":"^/echo/(.*)$","dest":"/api/echo/$1","check":true},
                {"src":"^/api/echo/([^/]+)$","dest":"/api/echo/[id]?id=$1","check":true}]"#,
        );
        let fs = FakeFs::new(&[], &["api/echo/[id]"]);
        let res = get(&r, &fs, "/echo/1");
        assert_eq!(show(&res), "function api/echo/[id] ?id=1 (200)");
        let Resolution::Function {
            path, matched_path, ..
        } = res
        else {
            panic!("function expected");
        };
        assert_eq!(
            (path.as_str(), matched_path.as_str()),
            ("/echo/1", "/api/echo/[id]")
        );
    }

    #[test]
    fn hit_routes_add_headers_without_replacing_existing_ones() {
        let r = router(
            r#"[{"src":"^/.*$","headers":{"x-a":"main"},"continue":true},{"handle":"filesystem"},
                {"handle":"hit"},{"src":"^/.*$","headers":{"x-a":"hit","x-b":"hit"},"continue":true}]"#,
        );
        let fs = FakeFs::new(&["a.txt"], &[]);
        let res = get(&r, &fs, "/a.txt");
        assert_eq!(header(&res, "x-a").as_deref(), Some("main"));
        assert_eq!(header(&res, "x-b").as_deref(), Some("hit"));
        let missing = get(&r, &fs, "/nope");
        assert!(
            header(&missing, "x-b").is_none(),
            "hit routes run only on a hit"
        );
    }

    #[test]
    fn error_routes_serve_a_custom_page_for_their_status_only() {
        let r = router(
            r#"[{"src":"^/secret$","status":403},{"handle":"filesystem"},{"handle":"error"},
                {"src":"^.*$","dest":"/404.html","status":404},
                {"src":"^.*$","dest":"/403.html","status":403}]"#,
        );
        let fs = FakeFs::new(&["404.html", "403.html"], &[]);
        assert_eq!(show(&get(&r, &fs, "/nope")), "static 404.html (404)");
        assert_eq!(show(&get(&r, &fs, "/secret")), "static 403.html (403)");
        let bare = FakeFs::default();
        assert_eq!(show(&get(&r, &bare, "/nope")), "not found");
        assert_eq!(show(&get(&r, &bare, "/secret")), "status 403");
    }

    #[test]
    fn resolve_error_finds_the_page_for_a_function_status() {
        let r = router(
            r#"[{"handle":"filesystem"},{"handle":"error"},{"src":"^.*$","dest":"/500.html","status":500}]"#,
        );
        let fs = FakeFs::new(&["500.html"], &[]);
        let headers = HeaderMap::new();
        let req = RequestInfo {
            method: "GET",
            path: "/api/boom",
            query: None,
            host: "my.app",
            headers: &headers,
        };
        let page = r.resolve_error(&req, &fs, 500).map(|res| show(&res));
        assert_eq!(page.as_deref(), Some("static 500.html (500)"));
        assert!(r.resolve_error(&req, &fs, 502).is_none());
    }

    #[test]
    fn methods_restrict_a_route() {
        let r = router(r#"[{"src":"^/form$","methods":["POST"],"dest":"/api/form"}]"#);
        let fs = FakeFs::new(&["form"], &["api/form"]);
        let headers = HeaderMap::new();
        let req = |method| RequestInfo {
            method,
            path: "/form",
            query: None,
            host: "my.app",
            headers: &headers,
        };
        assert_eq!(
            show(&r.resolve(&req("post"), &fs)),
            "function api/form ? (200)"
        );
        assert_eq!(show(&r.resolve(&req("GET"), &fs)), "static form (200)");
    }

    #[test]
    fn has_and_missing_gate_routes_and_feed_captures() {
        let r = router(
            r#"[{"src":"^/$","has":[{"type":"cookie","key":"team","value":"(?<team>[a-z]+)"}],
                 "missing":[{"type":"header","key":"x-preview"}],"dest":"/teams/$team.html"}]"#,
        );
        let fs = FakeFs::new(&["teams/red.html", "index.html"], &[]);
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "team=red".parse().expect("ascii"));
        assert_eq!(
            show(&get_with(&r, &fs, "/", &headers)),
            "static teams/red.html (200)"
        );
        headers.insert("x-preview", "1".parse().expect("ascii"));
        assert_eq!(
            show(&get_with(&r, &fs, "/", &headers)),
            "static index.html (200)"
        );
        assert_eq!(show(&get(&r, &fs, "/")), "static index.html (200)");
    }

    #[test]
    fn routes_are_case_insensitive_unless_marked_case_sensitive() {
        let r = router(
            r#"[{"src":"^/legacy$","dest":"/a.html"},
                {"src":"^/strict$","dest":"/b.html","caseSensitive":true}]"#,
        );
        let fs = FakeFs::new(&["a.html", "b.html"], &[]);
        assert_eq!(show(&get(&r, &fs, "/LEGACY")), "static a.html (200)");
        assert_eq!(show(&get(&r, &fs, "/STRICT")), "not found");
        assert_eq!(show(&get(&r, &fs, "/strict")), "static b.html (200)");
    }

    #[test]
    fn absolute_destinations_are_external_with_the_client_query() {
        let r = router(r#"[{"src":"^/proxy/(.*)$","dest":"https://upstream.dev/$1?via=eddy"}]"#);
        let res = get(&r, &FakeFs::default(), "/proxy/a%20b?q=1");
        assert_eq!(
            show(&res),
            "external https://upstream.dev/a%20b?via=eddy&q=1"
        );
    }

    #[test]
    fn dest_query_merges_with_the_client_query_and_the_client_wins() {
        let r = router(r#"[{"src":"^/(.*)$","dest":"/index.js?route-param=b&url-param=route"}]"#);
        let fs = FakeFs::new(&[], &["index.js"]);
        let res = get(&r, &fs, "/something?url-param=a");
        assert_eq!(
            show(&res),
            "function index.js ?route-param=b&url-param=a (200)"
        );
        let Resolution::Function { path, .. } = res else {
            panic!("function expected");
        };
        assert_eq!(path, "/something");
    }

    #[test]
    fn routes_match_the_decoded_path_and_functions_see_the_original() {
        let r = router(r#"[{"src":"^/caf\u00e9 menu$","dest":"/api/menu"}]"#);
        let fs = FakeFs::new(&["my file.txt"], &["api/menu"]);
        let res = get(&r, &fs, "/caf%C3%A9%20menu");
        assert_eq!(show(&res), "function api/menu ? (200)");
        let Resolution::Function { path, .. } = res else {
            panic!("function expected");
        };
        assert_eq!(path, "/caf%C3%A9%20menu");
        assert_eq!(
            show(&get(&r, &fs, "/my%20file.txt")),
            "static my file.txt (200)"
        );
    }

    #[test]
    fn the_root_also_matches_patterns_for_an_empty_path() {
        let r = router(
            r#"[{"src":"^(?:/((?:[^/]+?)(?:/(?:[^/]+?))*))?$","headers":{"x-all":"1"},"continue":true}]"#,
        );
        let fs = FakeFs::new(&["index.html"], &[]);
        let res = get(&r, &fs, "/");
        assert_eq!(show(&res), "static index.html (200)");
        assert_eq!(header(&res, "x-all").as_deref(), Some("1"));
    }

    #[test]
    fn directories_serve_their_index_and_functions_their_trailing_slash() {
        let r = router(r#"[{"handle":"filesystem"}]"#);
        let fs = FakeFs::new(
            &["docs/index.html", "index.html", "a.txt"],
            &["api/index", "api/x"],
        );
        assert_eq!(show(&get(&r, &fs, "/")), "static index.html (200)");
        assert_eq!(show(&get(&r, &fs, "/docs")), "static docs/index.html (200)");
        assert_eq!(
            show(&get(&r, &fs, "/docs/")),
            "static docs/index.html (200)"
        );
        assert_eq!(show(&get(&r, &fs, "/api")), "function api/index ? (200)");
        assert_eq!(show(&get(&r, &fs, "/api/")), "function api/index ? (200)");
        assert_eq!(show(&get(&r, &fs, "/api/x/")), "function api/x ? (200)");
        assert_eq!(show(&get(&r, &fs, "/a.txt/")), "not found");
        assert_eq!(show(&get(&r, &fs, "//a.txt")), "static a.txt (200)");
    }

    #[test]
    fn dot_segments_are_never_looked_up() {
        let r = router(r#"[{"src":"^/x/(.*)$","dest":"/$1"}]"#);
        let fs = FakeFs::new(&["secret"], &[]);
        assert_eq!(show(&get(&r, &fs, "/x/..%2fsecret")), "not found");
        assert_eq!(show(&get(&r, &fs, "/%2e%2e/secret")), "not found");
    }

    #[test]
    fn too_many_filesystem_checks_end_in_an_error() {
        let mut json = String::from(r#"[{"handle":"filesystem"}"#);
        for i in 0..40 {
            json.push_str(&format!(
                r#",{{"src":"^/(.*)$","dest":"/try{i}/$1","check":true}}"#
            ));
        }
        json.push(']');
        let r = router(&json);
        let res = get(&r, &FakeFs::default(), "/x");
        assert_eq!(show(&res), "error 502 TOO_MANY_FILESYSTEM_CHECKS");
    }

    #[test]
    fn rewrite_status_applies_to_the_served_output() {
        let r = router(
            r#"[{"handle":"filesystem"},{"src":"^/early$","dest":"/api/hints","status":425,"check":true}]"#,
        );
        let fs = FakeFs::new(&[], &["api/hints"]);
        assert_eq!(show(&get(&r, &fs, "/early")), "function api/hints ? (425)");
    }

    proptest! {
        #[test]
        fn resolve_never_panics(
            path in "/[a-zA-Z0-9%./?#:$&=+ \\-\\[\\]]{0,40}",
            query in proptest::option::of("[a-z0-9%=&+$]{0,20}"),
            header_value in "[ -~]{0,20}",
            cookie in "[ -~]{0,20}",
        ) {
            let r = router(
                r#"[{"src":"^/(.*)$","headers":{"x-p":"$1","$1":"v"},"continue":true},
                    {"src":"^/r/(.*)$","status":307,"headers":{"Location":"/$1?x=$1"}},
                    {"src":"^/(?<a>[^/]*)/(.*)$","has":[{"type":"header","key":"x-h","value":"(?<h>.*)"}],
                     "dest":"/$a/$h/$2?q=$h","continue":true},
                    {"src":"^/e/(.*)$","dest":"https://e.dev/$1"},
                    {"handle":"filesystem"},
                    {"src":"^/(.*)$","dest":"/api/[id]?id=$1","check":true,
                     "has":[{"type":"cookie","key":"c","value":{"re":"(?<c>.+)"}}]},
                    {"handle":"miss"},{"src":"^/(.*)$","dest":"/$1.html","check":true},
                    {"handle":"error"},{"src":"^.*$","dest":"/404.html","status":404}]"#,
            );
            let fs = FakeFs::new(&["index.html", "a/b.html", "404.html"], &["api/[id]"]);
            let mut headers = HeaderMap::new();
            if let Ok(value) = header_value.parse() {
                headers.insert("x-h", value);
            }
            if let Ok(value) = format!("c={cookie}").parse() {
                headers.insert("cookie", value);
            }
            let req = RequestInfo { method: "GET", path: &path, query: query.as_deref(), host: "h", headers: &headers };
            let _ = r.resolve(&req, &fs);
        }
    }
}
