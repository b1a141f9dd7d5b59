//! Property tests ("fuzzing" that runs in CI): arbitrary route lists, arbitrary requests and
//! hostile regexes must never make [`Router::new`] or [`Router::resolve`] panic, and a request
//! must resolve within a time bound whatever the deployment's patterns.
//!
//! Case counts are bounded so the suite stays well under 20 s in a debug build.

use std::time::{Duration, Instant};

use eddy_config::route::{
    Condition, HandleRoute, Matcher, MatcherObject, Phase, Route, SourceRoute,
};
use eddy_router::{
    Filesystem, Hit, RequestInfo, Resolution, Router, project_routes, source_to_regex,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

/// The longest a single resolve may take in these tests (debug build, shared CI machine).
const RESOLVE_BOUND: Duration = Duration::from_secs(2);

/// `cases` per property, or `PROPTEST_CASES` when set (to fuzz longer by hand, e.g.
/// `PROPTEST_CASES=20000 cargo test -p eddy-router --release --test fuzz`).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// A deployment with a few statics and functions that checks every path the router asks for.
struct StrictFs;

impl Filesystem for StrictFs {
    fn lookup(&self, path: &str) -> Option<Hit> {
        assert!(!path.is_empty(), "router asked for an empty path");
        assert!(
            !path.starts_with('/'),
            "router asked for an absolute path {path:?}"
        );
        assert!(
            !path
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".."),
            "router asked for an unsafe path {path:?}"
        );
        match path {
            "index.html" | "a.html" | "404.html" | "a/index.html" => {
                Some(Hit::Static(path.to_owned()))
            }
            "api/a" | "api/[id]" | "index" => Some(Hit::Function(path.to_owned())),
            _ => None,
        }
    }
}

/// Regex text from a small grammar that reaches fancy-regex's backtracking VM: lookarounds,
/// backreferences, atomic groups, nested repetitions.
fn regex_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just("[^/]".to_owned()),
        Just(r"\d".to_owned()),
        Just(r"\w".to_owned()),
        Just(String::new()),
        Just("$".to_owned()),
        Just(r"\1".to_owned()),
        Just(r"\k<n>".to_owned()),
        "[a-z/()|*+?^$.\\[\\]{}\\\\-]{0,6}",
    ];
    leaf.prop_recursive(5, 48, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|parts| parts.concat()),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("(?:{a}|{b})")),
            inner.clone().prop_map(|a| format!("({a})")),
            inner.clone().prop_map(|a| format!("(?<n>{a})")),
            inner.clone().prop_map(|a| format!("(?:{a})*")),
            inner.clone().prop_map(|a| format!("(?:{a})+")),
            inner.clone().prop_map(|a| format!("(?:{a})*?")),
            inner.clone().prop_map(|a| format!("(?:{a}){{0,40}}")),
            inner.clone().prop_map(|a| format!("(?={a})")),
            inner.clone().prop_map(|a| format!("(?!{a})")),
            inner.clone().prop_map(|a| format!("(?<=a{a})")),
            inner.clone().prop_map(|a| format!("(?<!{a})")),
            inner.clone().prop_map(|a| format!("(?>{a})")),
        ]
    })
}

fn route_src() -> impl Strategy<Value = String> {
    prop_oneof![
        regex_text().prop_map(|re| format!("^/{re}$")),
        regex_text(),
        any::<String>(),
        Just("^/(.*)$".to_owned()),
        Just("^/api/(?<id>[^/]+)$".to_owned()),
    ]
}

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        "(/|https://x\\.dev/)?[a-z$1-9/?&=#%.\\[\\]]{0,16}",
        "/\\$(1|2|9|n|id|0)[a-z/]{0,4}(\\?q=\\$1)?",
        any::<String>(),
    ]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![
        regex_text().prop_map(Matcher::Regex),
        (
            proptest::option::of("[a-z]{0,4}"),
            proptest::option::of(regex_text()),
            proptest::option::of(prop::collection::vec("[a-z]{0,3}", 0..3)),
            proptest::option::of(any::<f64>()),
            proptest::option::of("[a-z]{0,3}"),
        )
            .prop_map(|(eq, re, inc, gt, pre)| {
                Matcher::Object(MatcherObject {
                    eq: eq.map(serde_json::Value::String),
                    re,
                    inc,
                    gt,
                    pre,
                    ..MatcherObject::default()
                })
            }),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    let key = "[a-zA-Z_-]{0,6}";
    prop_oneof![
        matcher().prop_map(|value| Condition::Host { value }),
        (key, proptest::option::of(matcher()))
            .prop_map(|(key, value)| Condition::Header { key, value }),
        (key, proptest::option::of(matcher()))
            .prop_map(|(key, value)| Condition::Cookie { key, value }),
        (key, proptest::option::of(matcher()))
            .prop_map(|(key, value)| Condition::Query { key, value }),
    ]
}

fn source_route() -> impl Strategy<Value = SourceRoute> {
    (
        route_src(),
        proptest::option::of(template()),
        proptest::option::of(prop::collection::btree_map(template(), template(), 0..3)),
        proptest::option::of(prop::collection::vec("GET|POST|[a-z]{0,3}", 0..3)),
        (
            any::<Option<bool>>(),
            any::<Option<bool>>(),
            any::<Option<bool>>(),
        ),
        proptest::option::of(prop_oneof![
            Just(307u16),
            Just(404),
            Just(500),
            any::<u16>()
        ]),
        proptest::option::of(prop::collection::vec(condition(), 0..3)),
        proptest::option::of(prop::collection::vec(condition(), 0..2)),
    )
        .prop_map(
            |(
                src,
                dest,
                headers,
                methods,
                (continue_, check, case_sensitive),
                status,
                has,
                missing,
            )| {
                SourceRoute {
                    src,
                    dest,
                    headers,
                    methods,
                    continue_,
                    check,
                    status,
                    case_sensitive,
                    has,
                    missing,
                    ..SourceRoute::default()
                }
            },
        )
}

fn routes() -> impl Strategy<Value = Vec<Route>> {
    let phase = prop_oneof![
        Just(Phase::Filesystem),
        Just(Phase::Hit),
        Just(Phase::Miss),
        Just(Phase::Rewrite),
        Just(Phase::Error),
        Just(Phase::Resource),
    ];
    let route = prop_oneof![
        1 => phase.prop_map(|handle| Route::Handle(HandleRoute { handle })),
        4 => source_route().prop_map(Route::Source),
    ];
    prop::collection::vec(route, 0..12)
}

/// A request: path (encoded or not), query, host and a few headers, arbitrary but sendable.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    query: Option<String>,
    host: String,
    headers: Vec<(String, String)>,
}

fn request() -> impl Strategy<Value = Request> {
    (
        prop_oneof![
            Just("GET".to_owned()),
            Just("POST".to_owned()),
            "[A-Z]{0,7}"
        ],
        prop_oneof![
            "/[a-zA-Z0-9%./?#:$&=+ \\[\\]-]{0,40}",
            "(/|%2[fF]|%00|%0[aA]|%[0-9a-fA-F]{0,2}|\\.\\.|\\.|a|é|\u{0}){0,24}",
            any::<String>(),
        ],
        proptest::option::of("[a-z0-9%=&+$;]{0,24}"),
        "[a-z0-9.:\\[\\]-]{0,20}",
        prop::collection::vec(
            (
                prop_oneof![
                    Just("cookie".to_owned()),
                    Just("x-h".to_owned()),
                    "[a-z-]{1,6}"
                ],
                "[ -~]{0,24}",
            ),
            0..4,
        ),
    )
        .prop_map(|(method, path, query, host, headers)| Request {
            method,
            path,
            query,
            host,
            headers,
        })
}

/// Resolves `req` and fails the property when it takes longer than [`RESOLVE_BOUND`].
fn resolve_in_bound(router: &Router, req: &Request) -> Result<Resolution, TestCaseError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &req.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    let info = RequestInfo {
        method: &req.method,
        path: &req.path,
        query: req.query.as_deref(),
        host: &req.host,
        headers: &headers,
    };
    let started = Instant::now();
    let resolution = router.resolve(&info, &StrictFs);
    let _ = router.resolve_error(&info, &StrictFs, 500);
    let _ = router.middleware(&req.path);
    let took = started.elapsed();
    prop_assert!(
        took < RESOLVE_BOUND,
        "resolve took {took:?} for {req:?} with {router:?}"
    );
    Ok(resolution)
}

proptest! {
    #![proptest_config(config(384))]

    #[test]
    fn arbitrary_routes_compile_or_fail_with_a_message_and_resolve_in_bound(
        routes in routes(),
        requests in prop::collection::vec(request(), 1..4),
    ) {
        match Router::new(&routes) {
            Ok(router) => {
                for req in &requests {
                    resolve_in_bound(&router, req)?;
                }
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }

    #[test]
    fn routes_from_arbitrary_json_never_panic(json in arbitrary_json()) {
        if let Ok(routes) = serde_json::from_value::<Vec<Route>>(json) {
            let _ = Router::new(&routes);
        }
    }

    #[test]
    fn accepted_source_patterns_become_regexes_the_router_compiles(source in source_text()) {
        let Ok(converted) = source_to_regex(&source) else {
            return Ok(());
        };
        let route = Route::Source(SourceRoute {
            src: converted.src.clone(),
            dest: Some("/api/a".to_owned()),
            case_sensitive: Some(true),
            ..SourceRoute::default()
        });
        let compiled = Router::new(&[route]);
        prop_assert!(compiled.is_ok(), "{source:?} -> {:?}: {:?}", converted.src, compiled.err());
    }

    #[test]
    fn project_routes_from_arbitrary_vercel_json_compile_or_fail_cleanly(
        sources in prop::collection::vec(source_text(), 0..4),
        destinations in prop::collection::vec(template(), 0..4),
        functions in prop::collection::vec("api/[a-z\\[\\]./]{0,12}", 0..4),
        req in request(),
    ) {
        let rewrites: Vec<_> = sources
            .iter()
            .zip(destinations.iter().cycle())
            .map(|(source, destination)| serde_json::json!({"source": source, "destination": destination}))
            .collect();
        let text = serde_json::json!({
            "rewrites": rewrites,
            "headers": sources.iter().map(|s| serde_json::json!({"source": s, "headers": [{"key": "x-a", "value": "b"}]})).collect::<Vec<_>>(),
            "redirects": sources.iter().map(|s| serde_json::json!({"source": s, "destination": "/"})).collect::<Vec<_>>(),
        })
        .to_string();
        let Ok(vercel) = eddy_config::parse_vercel_json(&text, std::path::Path::new("vercel.json")) else {
            return Ok(());
        };
        let functions: Vec<&str> = functions.iter().map(String::as_str).collect();
        match project_routes(&vercel, &functions) {
            Ok(routes) => {
                let router = Router::new(&routes);
                prop_assert!(router.is_ok(), "derived routes do not compile: {:?}", router.err());
                if let Ok(router) = router {
                    resolve_in_bound(&router, &req)?;
                }
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn hostile_patterns_on_long_paths_resolve_in_bound(
        pattern in regex_text(),
        unit in "[ab/]{1,3}",
        repeat in 1usize..1500,
    ) {
        let route = |src: String| Route::Source(SourceRoute { src, dest: Some("/api/a".to_owned()), ..SourceRoute::default() });
        let Ok(router) = Router::new(&[route(format!("^/{pattern}$")), route(pattern.clone())]) else {
            return Ok(());
        };
        let req = Request {
            method: "GET".to_owned(),
            path: format!("/{}", unit.repeat(repeat)),
            query: None,
            host: "h".to_owned(),
            headers: vec![("x-h".to_owned(), unit.repeat(repeat))],
        };
        resolve_in_bound(&router, &req)?;
    }
}

/// path-to-regexp-like text: parameters, modifiers, custom patterns and stray syntax.
fn source_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(/|:[a-z]{0,3}|\\*|\\+|\\?|\\(|\\)|\\(\\.\\*\\)|\\(\\?:|\\{|\\}|\\\\|[a-z.-]{1,3}|\\[|\\]|\\$|\\^|\\|){0,12}",
        any::<String>(),
    ]
}

/// Structured-but-random JSON: routes-like objects with random values and keys.
fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![
            "[ -~]{0,8}",
            Just("^/(.*)$".to_owned()),
            Just("filesystem".to_owned())
        ]
        .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        let key = prop_oneof![
            Just("src".to_owned()),
            Just("dest".to_owned()),
            Just("handle".to_owned()),
            Just("headers".to_owned()),
            Just("status".to_owned()),
            Just("has".to_owned()),
            Just("type".to_owned()),
            Just("key".to_owned()),
            Just("value".to_owned()),
            Just("continue".to_owned()),
            "[a-z]{0,4}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Patterns found slow while writing these tests: before the router's cost check, the first
/// took 24 s for one request on a 4 KB path (n³ forward work the backtrack limit never sees),
/// the next two hundreds of milliseconds per route (n²).
#[test]
fn hostile_routes_are_refused_or_resolve_in_bound_on_a_14_kb_path() {
    let hostile = [
        r"^/(?:(?=(?:(?=a*$)a)*$)a)*x",
        r"^/(?:(?=a*$)a|(?=a*$)a)*x",
        r"^/(a*?)(?=a*$)b",
        r"^/((a|a)*)\1b$",
        r"^/(.*)(.*)(.*)(.*)(.*)\5x$",
        r"(?:a|(?=[a]{0,20000}$)a)*(?=[a]{0,20000}b)(\w)\1",
    ];
    let path = format!("/{}", "a".repeat(14 * 1024));
    for src in hostile {
        let has = Condition::Header {
            key: "x-h".to_owned(),
            value: Some(Matcher::Regex(src.to_owned())),
        };
        let routes = [
            Route::Source(SourceRoute {
                src: src.to_owned(),
                dest: Some("/api/a".to_owned()),
                ..SourceRoute::default()
            }),
            Route::Source(SourceRoute {
                src: "^/(.*)$".to_owned(),
                has: Some(vec![has]),
                dest: Some("/api/a".to_owned()),
                ..SourceRoute::default()
            }),
        ];
        let req = Request {
            method: "GET".to_owned(),
            path: path.clone(),
            query: None,
            host: "h".to_owned(),
            headers: vec![("x-h".to_owned(), path.clone())],
        };
        for routes in [&routes[..1], &routes[1..]] {
            match Router::new(routes) {
                Ok(router) => {
                    if let Err(failure) = resolve_in_bound(&router, &req) {
                        panic!("{src}: {failure}");
                    }
                }
                Err(error) => assert!(error.to_string().contains("lookaround"), "{src}: {error}"),
            }
        }
    }
}
