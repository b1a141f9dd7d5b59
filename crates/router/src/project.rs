//! [`project_routes`]: vercel.json plus the project's functions to one Build Output v3 route
//! list, in Vercel's order (`getTransformedRoutes` followed by the zero-config `api/` routes):
//!
//! ```text
//! cleanUrls redirects → trailingSlash redirects → legacy routes → redirects → headers
//!   → api cleanUrls redirects → {handle: filesystem} → rewrites → dynamic api routes → /api 404
//!   → {handle: miss} → /api/x.js as api/x → {handle: error} → /404.html
//! ```

use std::collections::BTreeMap;

use eddy_config::route::{Condition, HandleRoute, Matcher, Phase, Route, SourceRoute};
use eddy_config::vercel_json::{HeaderRule, Redirect, Rewrite, VercelJson};

use crate::pattern::{SourceRegex, source_to_regex};
use crate::{RouteError, api, destination};

/// The complete route list for a zero-config project, in Vercel's order.
///
/// `functions` are function paths without a leading slash, e.g. `api/users/[id]`, `api/index`.
/// Routes derived from `rewrites`, `redirects`, `headers`, `cleanUrls`, `trailingSlash` and
/// `api/` are case-sensitive (`caseSensitive: true`); legacy `routes` keep their own setting
/// (case-insensitive by default). Mixing `routes` with the new keys is rejected by
/// `eddy-config`, not here.
pub fn project_routes(vercel: &VercelJson, functions: &[&str]) -> Result<Vec<Route>, RouteError> {
    let clean_urls = vercel.clean_urls == Some(true);
    let trailing_slash = vercel.trailing_slash == Some(true);
    let has_api = functions.iter().any(|f| f.starts_with("api/"));
    let mut routes = Vec::new();
    if clean_urls {
        routes.extend(clean_url_redirects(trailing_slash));
    }
    if let Some(enabled) = vercel.trailing_slash {
        routes.extend(trailing_slash_redirects(enabled));
    }
    routes.extend(vercel.routes.iter().flatten().map(anchor_legacy));
    for (index, redirect) in vercel.redirects.iter().flatten().enumerate() {
        routes.push(convert_redirect(index, redirect)?);
    }
    for (index, rule) in vercel.headers.iter().flatten().enumerate() {
        routes.push(convert_headers(index, rule)?);
    }
    if clean_urls && has_api {
        routes.extend(api::clean_url_redirects(trailing_slash));
    }
    routes.push(handle(Phase::Filesystem));
    for (index, rewrite) in vercel.rewrites.iter().flatten().enumerate() {
        routes.push(convert_rewrite(index, rewrite)?);
    }
    routes.extend(api::dynamic_routes(functions));
    if has_api {
        routes.push(api::not_found());
        if !clean_urls {
            routes.push(handle(Phase::Miss));
            routes.push(api::extension_miss());
        }
    }
    routes.push(handle(Phase::Error));
    routes.push(not_found_page());
    Ok(routes)
}

fn handle(phase: Phase) -> Route {
    Route::Handle(HandleRoute { handle: phase })
}

/// A new-style (case-sensitive) route.
fn route(src: &str) -> SourceRoute {
    SourceRoute {
        src: src.to_owned(),
        case_sensitive: Some(true),
        ..SourceRoute::default()
    }
}

fn redirect(src: &str, location: &str) -> Route {
    Route::Source(SourceRoute {
        headers: Some(BTreeMap::from([(
            "Location".to_owned(),
            location.to_owned(),
        )])),
        status: Some(308),
        ..route(src)
    })
}

/// `/about.html` and `/about/index` redirect to `/about` (or `/about/`).
fn clean_url_redirects(trailing_slash: bool) -> Vec<Route> {
    let location = if trailing_slash { "/$1/" } else { "/$1" };
    vec![
        redirect("^/(?:(.+)/)?index(?:\\.html)?/?$", location),
        redirect("^/(.*)\\.html/?$", location),
    ]
}

/// `true`: `/a` → `/a/`, `/file.ext/` → `/file.ext`, `.well-known` untouched.
/// `false`: `/a/` → `/a`.
fn trailing_slash_redirects(enabled: bool) -> Vec<Route> {
    if enabled {
        vec![
            Route::Source(route("^/\\.well-known(?:/.*)?$")),
            redirect("^/((?:[^/]+/)*[^/\\.]+)$", "/$1/"),
            redirect("^/((?:[^/]+/)*[^/]+\\.\\w+)/$", "/$1"),
        ]
    } else {
        vec![redirect("^/(.*)/$", "/$1")]
    }
}

/// Legacy `routes` entries are anchored (`^…$`) as Vercel normalises them.
fn anchor_legacy(route: &Route) -> Route {
    let mut route = route.clone();
    if let Route::Source(source) = &mut route {
        if !source.src.starts_with('^') {
            source.src.insert(0, '^');
        }
        if !source.src.ends_with('$') {
            source.src.push('$');
        }
    }
    route
}

/// Converts a `source` and checks the destination's parameters.
fn prepare(
    key: &'static str,
    index: usize,
    source: &str,
    destination: Option<&str>,
    has: Option<&[Condition]>,
) -> Result<(SourceRegex, Vec<(String, String)>), RouteError> {
    let converted = source_to_regex(source).map_err(|reason| RouteError::InvalidSource {
        key,
        index,
        source_pattern: source.to_owned(),
        reason,
    })?;
    let params = destination::params(&converted.segments, &has_names(has));
    if let Some(segment) = destination.and_then(|d| destination::unknown_param(d, &params)) {
        return Err(RouteError::UnknownSegment {
            key,
            index,
            segment,
        });
    }
    Ok((converted, params))
}

fn convert_redirect(index: usize, rule: &Redirect) -> Result<Route, RouteError> {
    if rule.permanent.is_some() && rule.status_code.is_some() {
        return Err(RouteError::RedirectStatusConflict { index });
    }
    let (source, params) = prepare(
        "redirects",
        index,
        &rule.source,
        Some(&rule.destination),
        rule.has.as_deref(),
    )?;
    let status = match (rule.permanent, rule.status_code) {
        (Some(true), _) => 308,
        (Some(false), _) => 307,
        (None, Some(status)) => status,
        (None, None) => 308,
    };
    let location = destination::convert(&rule.destination, &params, true);
    Ok(Route::Source(SourceRoute {
        headers: Some(BTreeMap::from([("Location".to_owned(), location)])),
        status: Some(status),
        has: normalize_conditions(&rule.has),
        missing: normalize_conditions(&rule.missing),
        ..route(&source.src)
    }))
}

fn convert_headers(index: usize, rule: &HeaderRule) -> Result<Route, RouteError> {
    let (source, params) = prepare("headers", index, &rule.source, None, rule.has.as_deref())?;
    let headers = rule
        .headers
        .iter()
        .map(|kv| {
            (
                destination::convert_text(&kv.key, &params),
                destination::convert_text(&kv.value, &params),
            )
        })
        .collect();
    Ok(Route::Source(SourceRoute {
        headers: Some(headers),
        continue_: Some(true),
        has: normalize_conditions(&rule.has),
        missing: normalize_conditions(&rule.missing),
        ..route(&source.src)
    }))
}

fn convert_rewrite(index: usize, rule: &Rewrite) -> Result<Route, RouteError> {
    let (source, params) = prepare(
        "rewrites",
        index,
        &rule.source,
        Some(&rule.destination),
        rule.has.as_deref(),
    )?;
    Ok(Route::Source(SourceRoute {
        dest: Some(destination::convert(&rule.destination, &params, false)),
        check: Some(true),
        status: rule.status_code,
        has: normalize_conditions(&rule.has),
        missing: normalize_conditions(&rule.missing),
        ..route(&source.src)
    }))
}

/// Non-API misses show `/404.html` with status 404 when the project has one.
fn not_found_page() -> Route {
    Route::Source(SourceRoute {
        dest: Some("/404.html".to_owned()),
        status: Some(404),
        ..route("^(?!/api).*$")
    })
}

/// Header keys are lowercased, as Vercel does.
fn normalize_conditions(conditions: &Option<Vec<Condition>>) -> Option<Vec<Condition>> {
    conditions.as_ref().map(|list| {
        list.iter()
            .map(|c| match c {
                Condition::Header { key, value } => Condition::Header {
                    key: key.to_ascii_lowercase(),
                    value: value.clone(),
                },
                other => other.clone(),
            })
            .collect()
    })
}

/// The names `has` conditions capture: a value-less key, named groups of a value regex, and
/// `host` for a host check with a value.
fn has_names(has: Option<&[Condition]>) -> Vec<String> {
    let mut names = Vec::new();
    for condition in has.into_iter().flatten() {
        let (key, value) = match condition {
            Condition::Host { value } => (None, Some(value)),
            Condition::Header { key, value }
            | Condition::Cookie { key, value }
            | Condition::Query { key, value } => (Some(key), value.as_ref()),
        };
        let regex = match value {
            Some(Matcher::Regex(regex)) => Some(regex.as_str()),
            Some(Matcher::Object(object)) => object.re.as_deref(),
            None => None,
        };
        if let (Some(key), None) = (key, value) {
            names.push(key.clone());
        }
        names.extend(regex.into_iter().flat_map(named_groups));
        if matches!(condition, Condition::Host { .. }) {
            names.push("host".to_owned());
        }
    }
    names
}

/// Names of `(?<name>...)` groups.
fn named_groups(regex: &str) -> impl Iterator<Item = String> + '_ {
    regex.match_indices("(?<").filter_map(move |(at, _)| {
        let rest = &regex[at + 3..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let starts_alpha = rest.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
        (starts_alpha && rest[len..].starts_with('>')).then(|| rest[..len].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use eddy_config::vercel_json::VercelJson;
    use http::HeaderMap;

    use super::*;
    use crate::fixture::{FakeFs, get, get_with, headers_of, show};
    use crate::{RequestInfo, Resolution, Router};

    fn config(json: &str) -> VercelJson {
        serde_json::from_str(json).expect("valid vercel.json")
    }

    fn router_for(json: &str, functions: &[&str]) -> Router {
        let vercel = config(json);
        let routes = project_routes(&vercel, functions).expect("routes build");
        // No `with_clean_urls`: the router recognises `cleanUrls` from its redirect.
        Router::new(&routes).expect("routes compile")
    }

    fn srcs(routes: &[Route]) -> Vec<String> {
        routes
            .iter()
            .map(|r| match r {
                Route::Handle(h) => format!("{:?}", h.handle).to_lowercase(),
                Route::Source(s) => s.src.clone(),
            })
            .collect()
    }

    fn header(res: &Resolution, name: &str) -> Option<String> {
        headers_of(res)
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    #[test]
    fn routes_follow_vercels_order() {
        let vercel = config(
            r#"{"cleanUrls":true,"trailingSlash":false,
                "redirects":[{"source":"/old","destination":"/new"}],
                "headers":[{"source":"/(.*)","headers":[{"key":"x-a","value":"1"}]}],
                "rewrites":[{"source":"/r","destination":"/api/x"}]}"#,
        );
        let routes = project_routes(&vercel, &["api/x", "api/[id]"]).expect("valid");
        let ext = "(?:js|mjs|cjs|ts|tsx|mts|cts|py|go|rb|rs)";
        assert_eq!(
            srcs(&routes),
            vec![
                "^/(?:(.+)/)?index(?:\\.html)?/?$".to_owned(),
                "^/(.*)\\.html/?$".to_owned(),
                "^/(.*)/$".to_owned(),
                "^/old$".to_owned(),
                "^(?:/(.*))$".to_owned(),
                format!("^/(api(?:.+)?)/index(?:\\.{ext})?/?$"),
                format!("^/api/(.+)(?:\\.{ext})/?$"),
                "filesystem".to_owned(),
                "^/r$".to_owned(),
                "^/api/([^/]+)/?$".to_owned(),
                "^/api(/.*)?$".to_owned(),
                "error".to_owned(),
                "^(?!/api).*$".to_owned(),
            ]
        );
        let all_case_sensitive = routes.iter().all(|r| match r {
            Route::Source(s) => s.case_sensitive == Some(true),
            Route::Handle(_) => true,
        });
        assert!(all_case_sensitive);
    }

    #[test]
    fn clean_urls_redirect_html_and_serve_extensionless() {
        let r = router_for(r#"{"cleanUrls":true}"#, &[]);
        let fs = FakeFs::new(&["about.html", "index.html", "blog/index.html"], &[]);
        assert_eq!(show(&get(&r, &fs, "/about.html")), "redirect 308 /about");
        assert_eq!(show(&get(&r, &fs, "/index.html?x=1")), "redirect 308 /?x=1");
        assert_eq!(show(&get(&r, &fs, "/blog/index")), "redirect 308 /blog");
        assert_eq!(show(&get(&r, &fs, "/about")), "static about.html (200)");
        assert_eq!(show(&get(&r, &fs, "/blog")), "static blog/index.html (200)");
    }

    #[test]
    fn clean_urls_with_trailing_slash_redirect_to_the_slash_form() {
        let r = router_for(r#"{"cleanUrls":true,"trailingSlash":true}"#, &[]);
        let fs = FakeFs::new(&["about.html"], &[]);
        assert_eq!(show(&get(&r, &fs, "/about.html")), "redirect 308 /about/");
        assert_eq!(show(&get(&r, &fs, "/about")), "redirect 308 /about/");
        assert_eq!(show(&get(&r, &fs, "/about/")), "static about.html (200)");
    }

    #[test]
    fn trailing_slash_true_adds_a_slash_except_to_files_and_well_known() {
        let r = router_for(r#"{"trailingSlash":true}"#, &["api/hello"]);
        let files = ["docs/index.html", "file.txt", ".well-known/security"];
        let fs = FakeFs::new(&files, &["api/hello"]);
        assert_eq!(show(&get(&r, &fs, "/docs")), "redirect 308 /docs/");
        assert_eq!(
            show(&get(&r, &fs, "/docs/")),
            "static docs/index.html (200)"
        );
        assert_eq!(show(&get(&r, &fs, "/file.txt/")), "redirect 308 /file.txt");
        assert_eq!(show(&get(&r, &fs, "/file.txt")), "static file.txt (200)");
        assert_eq!(
            show(&get(&r, &fs, "/.well-known/security")),
            "static .well-known/security (200)"
        );
        assert_eq!(
            show(&get(&r, &fs, "/api/hello")),
            "redirect 308 /api/hello/"
        );
        assert_eq!(
            show(&get(&r, &fs, "/api/hello/")),
            "function api/hello ? (200)"
        );
    }

    #[test]
    fn trailing_slash_false_removes_the_slash_but_not_from_the_root() {
        let r = router_for(r#"{"trailingSlash":false}"#, &[]);
        let fs = FakeFs::new(&["index.html", "docs/index.html"], &[]);
        assert_eq!(show(&get(&r, &fs, "/docs/?a=b")), "redirect 308 /docs?a=b");
        assert_eq!(show(&get(&r, &fs, "/")), "static index.html (200)");
    }

    #[test]
    fn redirect_status_follows_permanent_then_status_code_then_308() {
        let r = router_for(
            r#"{"redirects":[
                {"source":"/p","destination":"/x","permanent":true},
                {"source":"/t","destination":"/x","permanent":false},
                {"source":"/s","destination":"/x","statusCode":301},
                {"source":"/d","destination":"https://example.com/"}]}"#,
            &[],
        );
        let fs = FakeFs::default();
        assert_eq!(show(&get(&r, &fs, "/p")), "redirect 308 /x");
        assert_eq!(show(&get(&r, &fs, "/t")), "redirect 307 /x");
        assert_eq!(show(&get(&r, &fs, "/s")), "redirect 301 /x");
        assert_eq!(
            show(&get(&r, &fs, "/d")),
            "redirect 308 https://example.com/"
        );
    }

    #[test]
    fn redirects_interpolate_parameters_and_numbered_groups() {
        let r = router_for(
            r#"{"redirects":[
                {"source":"/blog/:slug","destination":"/news/:slug"},
                {"source":"/docs/:path*","destination":"/guide/:path*"},
                {"source":"/old/(.*)","destination":"/new/$1"}]}"#,
            &[],
        );
        let fs = FakeFs::default();
        assert_eq!(
            show(&get(&r, &fs, "/blog/hello")),
            "redirect 308 /news/hello"
        );
        assert_eq!(show(&get(&r, &fs, "/docs/a/b")), "redirect 308 /guide/a/b");
        assert_eq!(show(&get(&r, &fs, "/old/x/y")), "redirect 308 /new/x/y");
        assert_eq!(show(&get(&r, &fs, "/blog/a/b")), "not found");
    }

    #[test]
    fn redirects_with_has_apply_only_when_the_condition_holds() {
        let r = router_for(
            r#"{"redirects":[{"source":"/:path*","destination":"/beta/:path*",
                "has":[{"type":"cookie","key":"beta","value":"yes"}]},
               {"source":"/home","destination":"https://:sub.example.com/",
                "has":[{"type":"host","value":"(?<sub>[a-z]+)\\.my\\.app"}]}]}"#,
            &[],
        );
        let fs = FakeFs::new(&["page.html"], &[]);
        assert_eq!(show(&get(&r, &fs, "/page.html")), "static page.html (200)");
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "beta=yes".parse().expect("ascii"));
        assert_eq!(
            show(&get_with(&r, &fs, "/page.html", &headers)),
            "redirect 308 /beta/page.html"
        );
        assert_eq!(
            show(&get(&r, &fs, "/home")),
            "not found",
            "my.app has no subdomain"
        );
        let host = RequestInfo {
            method: "GET",
            path: "/home",
            query: None,
            host: "shop.my.app",
            headers: &HeaderMap::new(),
        };
        assert_eq!(
            show(&r.resolve(&host, &fs)),
            "redirect 308 https://shop.example.com/"
        );
    }

    #[test]
    fn headers_interpolate_source_parameters() {
        let r = router_for(
            r#"{"headers":[
                {"source":"/blog/:slug","headers":[{"key":"x-slug","value":":slug"},
                                                   {"key":"cache-control","value":"max-age=60"}]},
                {"source":"/(.*)","headers":[{"key":"x-frame-options","value":"DENY"}]}]}"#,
            &[],
        );
        let fs = FakeFs::new(&["blog/hello"], &[]);
        let res = get(&r, &fs, "/blog/hello");
        assert_eq!(show(&res), "static blog/hello (200)");
        assert_eq!(header(&res, "x-slug").as_deref(), Some("hello"));
        assert_eq!(header(&res, "cache-control").as_deref(), Some("max-age=60"));
        assert_eq!(header(&res, "x-frame-options").as_deref(), Some("DENY"));
        let missing = get(&r, &fs, "/nope");
        assert_eq!(show(&missing), "not found");
        assert_eq!(header(&missing, "x-frame-options").as_deref(), Some("DENY"));
        assert!(header(&get(&r, &fs, "/blog/a/b"), "x-slug").is_none());
    }

    #[test]
    fn rewrites_reach_functions_and_static_files() {
        let r = router_for(
            r#"{"rewrites":[
                {"source":"/blog/:slug","destination":"/api/post"},
                {"source":"/app/(.*)","destination":"/index.html"},
                {"source":"/early","destination":"/api/post","statusCode":425}]}"#,
            &["api/post"],
        );
        let fs = FakeFs::new(&["index.html"], &["api/post"]);
        assert_eq!(
            show(&get(&r, &fs, "/blog/hi?x=1")),
            "function api/post ?slug=hi&x=1 (200)"
        );
        assert_eq!(
            show(&get(&r, &fs, "/blog/hi?slug=client")),
            "function api/post ?slug=client (200)"
        );
        assert_eq!(
            show(&get(&r, &fs, "/app/deep/link")),
            "static index.html (200)"
        );
        assert_eq!(show(&get(&r, &fs, "/early")), "function api/post ? (425)");
    }

    #[test]
    fn rewrites_to_dynamic_api_paths_carry_the_segment_value() {
        // cli/test/dev/fixtures/test-zero-config-rewrite: /echo/1 → api/echo/[id] → {"id":"1"}
        let r = router_for(
            r#"{"rewrites":[{"source":"/echo/:id","destination":"/api/echo/:id"}]}"#,
            &["api/echo/[id]"],
        );
        let fs = FakeFs::new(&[], &["api/echo/[id]"]);
        assert_eq!(
            show(&get(&r, &fs, "/echo/1")),
            "function api/echo/[id] ?id=1 (200)"
        );
    }

    #[test]
    fn legacy_route_query_is_merged_with_the_client_query() {
        // cli/test/dev/fixtures/node-query-invoke
        let r = router_for(
            r#"{"routes":[{"src":"/(.*)","dest":"/index.js?route-param=b"}]}"#,
            &[],
        );
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
    fn legacy_routes_are_case_insensitive_but_new_rules_are_not() {
        let legacy = router_for(r#"{"routes":[{"src":"/About","dest":"/about.html"}]}"#, &[]);
        let strict = router_for(
            r#"{"routes":[{"src":"/About","dest":"/about.html","caseSensitive":true}]}"#,
            &[],
        );
        let rewrites = router_for(
            r#"{"rewrites":[{"source":"/About","destination":"/about.html"}]}"#,
            &[],
        );
        let fs = FakeFs::new(&["about.html"], &[]);
        assert_eq!(
            show(&get(&legacy, &fs, "/aBoUt")),
            "static about.html (200)"
        );
        assert_eq!(show(&get(&strict, &fs, "/aBoUt")), "not found");
        assert_eq!(show(&get(&rewrites, &fs, "/aBoUt")), "not found");
        assert_eq!(
            show(&get(&rewrites, &fs, "/About")),
            "static about.html (200)"
        );
    }

    #[test]
    fn dynamic_segments_become_query_params_and_static_paths_win() {
        let functions = ["api/users/[id]", "api/users/me", "api/[team]/members"];
        let r = router_for("{}", &functions);
        let fs = FakeFs::new(&["api/users/list.json"], &functions);
        let cases = [
            ("/api/users/42", "function api/users/[id] ?id=42 (200)"),
            ("/api/users/42/", "function api/users/[id] ?id=42 (200)"),
            ("/api/users/a%20b", "function api/users/[id] ?id=a+b (200)"),
            ("/api/users/me", "function api/users/me ? (200)"),
            ("/api/users/list.json", "static api/users/list.json (200)"),
            (
                "/api/red/members?x=1",
                "function api/[team]/members ?team=red&x=1 (200)",
            ),
            ("/api/users/42?id=7", "function api/users/[id] ?id=7 (200)"),
        ];
        for (target, expected) in cases {
            assert_eq!(show(&get(&r, &fs, target)), expected, "{target}");
        }
    }

    #[test]
    fn unmatched_api_paths_are_not_found_even_with_a_404_page() {
        let r = router_for("{}", &["api/x"]);
        let fs = FakeFs::new(&["404.html"], &["api/x"]);
        assert_eq!(show(&get(&r, &fs, "/api/nope")), "not found");
        assert_eq!(show(&get(&r, &fs, "/api")), "not found");
        assert_eq!(show(&get(&r, &fs, "/nope")), "static 404.html (404)");
        let bare = FakeFs::new(&[], &["api/x"]);
        assert_eq!(show(&get(&r, &bare, "/nope")), "not found");
    }

    #[test]
    fn source_extensions_are_served_through_the_miss_phase() {
        let r = router_for("{}", &["api/x", "api/index"]);
        let fs = FakeFs::new(&[], &["api/x", "api/index"]);
        assert_eq!(show(&get(&r, &fs, "/api/x.js")), "function api/x ? (200)");
        assert_eq!(
            show(&get(&r, &fs, "/api/x.py?a=1")),
            "function api/x ?a=1 (200)"
        );
        assert_eq!(show(&get(&r, &fs, "/api/nope.js")), "not found");
        assert_eq!(show(&get(&r, &fs, "/api")), "function api/index ? (200)");
        assert_eq!(show(&get(&r, &fs, "/api/")), "function api/index ? (200)");
    }

    #[test]
    fn clean_urls_redirect_source_extensions_of_functions() {
        let r = router_for(r#"{"cleanUrls":true}"#, &["api/x", "api/index"]);
        let fs = FakeFs::new(&[], &["api/x", "api/index"]);
        assert_eq!(show(&get(&r, &fs, "/api/x.ts")), "redirect 308 /api/x");
        assert_eq!(show(&get(&r, &fs, "/api/index.js")), "redirect 308 /api");
        assert_eq!(show(&get(&r, &fs, "/api/x")), "function api/x ? (200)");
    }

    #[test]
    fn invalid_rules_are_rejected_with_their_key_and_index() {
        let err = |json: &str| {
            project_routes(&config(json), &[])
                .expect_err("invalid rule")
                .to_string()
        };
        let bad_source = err(
            r#"{"rewrites":[{"source":"/ok","destination":"/x"},{"source":"/:","destination":"/x"}]}"#,
        );
        assert!(
            bad_source.starts_with("vercel.json rewrites[1]: source \"/:\" is invalid"),
            "{bad_source}"
        );
        let unknown = err(r#"{"redirects":[{"source":"/:slug","destination":"/:sulg"}]}"#);
        assert!(
            unknown.contains("redirects[0]: destination uses :sulg"),
            "{unknown}"
        );
        let conflict = err(
            r#"{"redirects":[{"source":"/a","destination":"/b","permanent":true,"statusCode":301}]}"#,
        );
        assert!(
            conflict.contains("both permanent and statusCode"),
            "{conflict}"
        );
        let headers = err(r#"{"headers":[{"source":"/(a","headers":[]}]}"#);
        assert!(headers.contains("headers[0]"), "{headers}");
    }

    #[test]
    fn has_captures_can_be_used_in_destinations_and_headers() {
        let r = router_for(
            r#"{"rewrites":[{"source":"/profile","destination":"/api/user?id=:uid",
                "has":[{"type":"query","key":"uid"}]}],
                "headers":[{"source":"/profile","headers":[{"key":"x-lang","value":":lang"}],
                "has":[{"type":"header","key":"Accept-Language","value":"(?<lang>[a-z]{2}).*"}]}]}"#,
            &["api/user"],
        );
        let fs = FakeFs::new(&[], &["api/user"]);
        let mut headers = HeaderMap::new();
        headers.insert("accept-language", "de-CH".parse().expect("ascii"));
        let res = get_with(&r, &fs, "/profile?uid=7", &headers);
        assert_eq!(show(&res), "function api/user ?id=7&uid=7 (200)");
        assert_eq!(header(&res, "x-lang").as_deref(), Some("de"));
        assert_eq!(show(&get(&r, &fs, "/profile")), "not found");
    }
}
