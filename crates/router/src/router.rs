//! [`Router`]: a route list compiled once (regexes, templates, header names) and split by phase.
//! The per-request phase loop lives in [`crate::resolve`].

use eddy_config::route::{Phase, Route, SourceRoute};
use fancy_regex::Regex;
use http::{HeaderName, HeaderValue};
use percent_encoding::percent_decode_str;

use crate::RouteError;
use crate::condition::CompiledCondition;
use crate::template::Template;

/// Longest `src` accepted, as on Vercel.
const MAX_SRC_LEN: usize = 4096;

/// Routes compiled for [`Router::resolve`](crate::Router::resolve). Build it once per
/// deployment; it is immutable, `Send + Sync`, and never compiles a regex per request.
#[derive(Debug)]
pub struct Router {
    pub(crate) stages: [Vec<CompiledRoute>; Stage::COUNT],
    pub(crate) clean_urls: bool,
    /// The Routing Middleware route (`middlewarePath`): its `src` and the function it runs.
    middleware: Option<(Regex, String)>,
}

/// Where a route sits: before `{"handle":"filesystem"}` (`Main`) or after a phase marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Main,
    Filesystem,
    Rewrite,
    Miss,
    Hit,
    Error,
    Resource,
}

impl Stage {
    const COUNT: usize = 7;

    fn of(phase: Phase) -> Stage {
        match phase {
            Phase::Filesystem => Stage::Filesystem,
            Phase::Hit => Stage::Hit,
            Phase::Miss => Stage::Miss,
            Phase::Rewrite => Stage::Rewrite,
            Phase::Error => Stage::Error,
            Phase::Resource => Stage::Resource,
        }
    }
}

#[derive(Debug)]
pub(crate) struct CompiledRoute {
    pub(crate) src: Regex,
    pub(crate) methods: Option<Vec<String>>,
    pub(crate) has: Vec<CompiledCondition>,
    pub(crate) missing: Vec<CompiledCondition>,
    pub(crate) headers: Vec<HeaderRule>,
    pub(crate) dest: Option<Dest>,
    pub(crate) status: Option<u16>,
    pub(crate) continue_: bool,
    pub(crate) check: bool,
}

#[derive(Debug)]
pub(crate) struct HeaderRule {
    pub(crate) name: HeaderPart<HeaderName>,
    pub(crate) value: HeaderPart<HeaderValue>,
}

/// A header name or value: ready when it references no capture, else rendered per request.
#[derive(Debug)]
pub(crate) enum HeaderPart<T> {
    Ready(T),
    Template(Template),
}

#[derive(Debug)]
pub(crate) enum Dest {
    /// A path in this deployment; literal parts are percent-decoded like the routed path.
    Internal {
        path: Template,
        query: Option<Vec<(Template, Option<Template>)>>,
    },
    /// An absolute `http(s)://` URL: the gateway proxies to it.
    External(Template),
}

impl Router {
    /// Compiles `routes` (a Build Output v3 `routes` list, phase markers included).
    ///
    /// Routes without `caseSensitive: true` match case-insensitively, as legacy `routes` do on
    /// Vercel; [`crate::project_routes`] marks the routes it derives from `rewrites`,
    /// `redirects`, `headers` and `api/` as case-sensitive.
    pub fn new(routes: &[Route]) -> Result<Router, RouteError> {
        let mut stages: [Vec<CompiledRoute>; Stage::COUNT] = Default::default();
        let mut stage = Stage::Main;
        let mut middleware = None;
        for (index, route) in routes.iter().enumerate() {
            match route {
                Route::Handle(handle) => stage = Stage::of(handle.handle),
                Route::Source(route) => {
                    let compiled = CompiledRoute::compile(index, route)?;
                    if let (None, Some(function)) = (&middleware, &route.middleware_path) {
                        middleware = Some((compiled.src.clone(), function.clone()));
                    }
                    stages[stage as usize].push(compiled);
                }
            }
        }
        Ok(Router {
            stages,
            clean_urls: routes.iter().any(is_clean_urls_redirect),
            middleware,
        })
    }

    /// The Routing Middleware function of these routes, if any. It is no output of its own:
    /// requests reach it only through [`Router::middleware`].
    pub fn middleware_function(&self) -> Option<&str> {
        self.middleware
            .as_ref()
            .map(|(_, function)| function.as_str())
    }

    /// The Routing Middleware function to run before routing `path`, if the routes have a
    /// `middlewarePath` route whose `src` matches it (vercel-compat 7.4).
    pub fn middleware(&self, path: &str) -> Option<&str> {
        let (src, function) = self.middleware.as_ref()?;
        src.is_match(path)
            .unwrap_or(false)
            .then_some(function.as_str())
    }

    /// With `clean_urls`, the filesystem check also finds `/about` as `about.html`. It is on
    /// when the routes hold the redirect away from `.html` that vercel.json `cleanUrls: true`
    /// produces (here and in `vercel build` output); this overrides that guess.
    pub fn with_clean_urls(mut self, clean_urls: bool) -> Router {
        self.clean_urls = clean_urls;
        self
    }

    pub(crate) fn stage(&self, stage: Stage) -> &[CompiledRoute] {
        &self.stages[stage as usize]
    }
}

/// The `cleanUrls` redirect `^/(.*)\.html/?$` → `/$1` (or `/$1/`).
fn is_clean_urls_redirect(route: &Route) -> bool {
    let Route::Source(route) = route else {
        return false;
    };
    let redirects = route
        .headers
        .iter()
        .flatten()
        .any(|(name, value)| name.eq_ignore_ascii_case("location") && value.starts_with("/$1"));
    route.src == "^/(.*)\\.html/?$" && redirects
}

impl CompiledRoute {
    fn compile(index: usize, route: &SourceRoute) -> Result<CompiledRoute, RouteError> {
        let invalid = |src: &str, reason: String| RouteError::InvalidRegex {
            index,
            src: src.to_owned(),
            reason,
        };
        if route.src.len() > MAX_SRC_LEN {
            let head: String = route.src.chars().take(64).collect();
            return Err(invalid(
                &format!("{head}..."),
                format!("longer than {MAX_SRC_LEN} characters"),
            ));
        }
        // `.` also matches a newline: Vercel matches the still-encoded path, where `%0A` is
        // ordinary text, so `(.*)` must not stop at a decoded newline here.
        let flags = if route.case_sensitive == Some(true) {
            "(?s)"
        } else {
            "(?is)"
        };
        let src = crate::cost::compile(&format!("{flags}{}", route.src))
            .map_err(|reason| invalid(&route.src, reason))?;
        if let Some(status) = route.status.filter(|s| !(100..=999).contains(s)) {
            return Err(RouteError::InvalidStatus { index, status });
        }
        let conditions = |list: &Option<Vec<_>>| -> Result<Vec<CompiledCondition>, RouteError> {
            list.iter()
                .flatten()
                .map(|c| CompiledCondition::compile(c).map_err(|e| invalid(&e.pattern, e.reason)))
                .collect()
        };
        Ok(CompiledRoute {
            src,
            methods: route.methods.clone(),
            has: conditions(&route.has)?,
            missing: conditions(&route.missing)?,
            headers: compile_headers(index, route)?,
            dest: route.dest.as_deref().map(compile_dest),
            status: route.status,
            continue_: route.continue_ == Some(true),
            check: route.check == Some(true),
        })
    }
}

fn compile_headers(index: usize, route: &SourceRoute) -> Result<Vec<HeaderRule>, RouteError> {
    let mut rules = Vec::new();
    for (name, value) in route.headers.iter().flatten() {
        let invalid = |reason: String| RouteError::InvalidHeader {
            index,
            name: name.clone(),
            reason,
        };
        let name_template = Template::parse(name);
        let name_part = match name_template.as_literal() {
            Some(literal) => HeaderPart::Ready(
                HeaderName::from_bytes(literal.as_bytes()).map_err(|e| invalid(e.to_string()))?,
            ),
            None => HeaderPart::Template(name_template),
        };
        let value_template = Template::parse(value);
        let value_part = match value_template.as_literal() {
            Some(literal) => HeaderPart::Ready(
                HeaderValue::from_bytes(literal.as_bytes()).map_err(|e| invalid(e.to_string()))?,
            ),
            None => HeaderPart::Template(value_template),
        };
        rules.push(HeaderRule {
            name: name_part,
            value: value_part,
        });
    }
    Ok(rules)
}

fn compile_dest(dest: &str) -> Dest {
    let lower = dest.get(..8).unwrap_or(dest).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Dest::External(Template::parse(dest));
    }
    // An internal destination's fragment means nothing to routing.
    let dest = dest.split_once('#').map_or(dest, |(before, _)| before);
    let (path, query) = match dest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (dest, None),
    };
    let decode_path = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let decode_form = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
    };
    let query = query.map(|query| {
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (
                    Template::parse_with(k, decode_form),
                    Some(Template::parse_with(v, decode_form)),
                ),
                None => (Template::parse_with(pair, decode_form), None),
            })
            .collect()
    });
    Dest::Internal {
        path: Template::parse_with(path, decode_path),
        query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(json: &str) -> Vec<Route> {
        serde_json::from_str(json).expect("valid routes json")
    }

    #[test]
    fn the_middleware_route_names_the_function_for_matching_paths_only() {
        let router = Router::new(&routes(
            r#"[{"src":"^/(?:docs(?:/.*)?)$","middlewarePath":"middleware","continue":true,"override":true},
                {"handle":"filesystem"}]"#,
        ))
        .expect("compiles");
        assert_eq!(router.middleware("/docs/a"), Some("middleware"));
        assert_eq!(router.middleware("/other"), None);
        assert_eq!(router.middleware_function(), Some("middleware"));
        let none = Router::new(&routes(r#"[{"src":"/a"}]"#)).expect("compiles");
        assert_eq!(none.middleware("/a"), None);
    }

    #[test]
    fn routes_are_split_by_phase_markers() {
        let router = Router::new(&routes(
            r#"[{"src":"/a"},{"handle":"filesystem"},{"src":"/b"},{"src":"/c"},
                {"handle":"miss"},{"src":"/d","dest":"/e","check":true},{"handle":"error"},{"src":"/f"}]"#,
        ))
        .expect("valid");
        let sizes: Vec<usize> = router.stages.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 2, 0, 1, 0, 1, 0]);
    }

    #[test]
    fn invalid_regex_names_the_route_index_and_src() {
        let err = Router::new(&routes(r#"[{"handle":"filesystem"},{"src":"/(unclosed"}]"#))
            .expect_err("invalid regex");
        let message = err.to_string();
        assert!(
            message.starts_with("route 1: src \"/(unclosed\""),
            "{message}"
        );
    }

    #[test]
    fn invalid_has_regex_is_reported_with_the_route() {
        let err = Router::new(&routes(
            r#"[{"src":"/a","has":[{"type":"header","key":"x","value":"(["}]}]"#,
        ))
        .expect_err("invalid has regex");
        assert!(matches!(err, RouteError::InvalidRegex { index: 0, ref src, .. } if src == "(["));
    }

    #[test]
    fn invalid_header_names_and_statuses_are_rejected() {
        let err = Router::new(&routes(r#"[{"src":"/a","headers":{"bad name":"x"}}]"#))
            .expect_err("invalid header name");
        assert!(matches!(err, RouteError::InvalidHeader { index: 0, .. }));
        let err =
            Router::new(&routes(r#"[{"src":"/a","status":1000}]"#)).expect_err("invalid status");
        assert!(matches!(
            err,
            RouteError::InvalidStatus {
                index: 0,
                status: 1000
            }
        ));
    }

    #[test]
    fn clean_urls_are_recognised_from_their_redirect() {
        let plain = Router::new(&routes(r#"[{"src":"^/(.*)\\.html/?$"}]"#)).expect("valid");
        assert!(!plain.clean_urls);
        let clean = Router::new(&routes(
            r#"[{"src":"^/(.*)\\.html/?$","headers":{"Location":"/$1"},"status":308}]"#,
        ))
        .expect("valid");
        assert!(clean.clean_urls);
        assert!(!clean.with_clean_urls(false).clean_urls);
    }

    #[test]
    fn overlong_src_is_rejected() {
        let long = format!(r#"[{{"src":"/{}"}}]"#, "a".repeat(MAX_SRC_LEN));
        assert!(Router::new(&routes(&long)).is_err());
    }

    #[test]
    fn internal_dest_splits_path_and_decoded_query() {
        let Dest::Internal { path, query } = compile_dest("/a%20b?x=1+2&flag#frag") else {
            panic!("internal dest expected");
        };
        assert_eq!(path.as_literal(), Some("/a b"));
        let query = query.expect("has query");
        assert_eq!(query[0].0.as_literal(), Some("x"));
        assert_eq!(
            query[0].1.as_ref().and_then(Template::as_literal),
            Some("1 2")
        );
        assert!(query[1].1.is_none());
        assert!(matches!(
            compile_dest("HTTPS://x.dev/$1"),
            Dest::External(_)
        ));
    }
}
